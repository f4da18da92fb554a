"""Two students in Chromium on the Kubernetes-style hub (hub.py ``pod_hub``): every server runs as
the SAME unix uid, each in its own mount and PID namespaces showing only its own home (PodSpawner),
and the exchange is the service on the hub (upload over HTTP, graded on upload).

1. the instructor generates and releases ``embeddings`` (command line, over HTTP);
2. alice and bob, each in their own browser: log in, *Assignments* -> Fetch, answer, Validate (a
   plain kernel in their pod), Submit, then Fetch Feedback until their graded page arrives (the
   grading service graded the upload: no instructor action, no folder watched);
3. bob attacks alice, from what his own server holds: his server's token with alice's id in the
   request, alice's submission id for her feedback and archive, then no token at all; and inside
   his pod: other servers' processes, alice's home, the exchange's store.
"""
import time

import pytest
import requests

from conftest import ASSIGNMENT, CORPUS, REPO
from hub import EXCHANGE_SERVICE, login
import snippets
from test_exchange_service import auth, notebook, upload, zipped
from test_round_trip import open_assignments, row, save_through_server, validate

import sys
sys.path.insert(0, str(REPO / "grader_tests" / "jupyterlab"))
from lab import browser_page, keep  # noqa: E402

pytestmark = pytest.mark.slow  # a hub, two pods, Chromium, two Validates, gradings on upload

ANSWERS = {"alice": "correct/list_and_flatten", "bob": "wrong/model3_is_model2"}


def feedback_pages(hub, who):
    """{submission time: page} that Fetch Feedback put in the student's pod home (read on the host)."""
    folder = hub.homes / who / ASSIGNMENT / "feedback"
    return {p.parent.name: p.read_text() for p in folder.glob("*/*.html")} if folder.is_dir() else {}


def fetch_feedback_until_graded(page, hub, who, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        open_assignments(page)
        row(page, "submitted_assignments_list").locator("button:text-is('Fetch Feedback')").click()
        page.wait_for_timeout(400)
        graded = [text for text in feedback_pages(hub, who).values() if "Graded." in text]
        if graded:
            return graded[0]
    raise AssertionError(f"{who}'s graded page never arrived; log:\n{hub.log.read_text()[-3000:]}")


def student_in_chromium(browser, hub, who, seen, shots):
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(120_000)
    login(page, hub.url, who, hub.users[who].password)
    page.wait_for_selector("#jp-main-dock-panel", timeout=240_000)
    open_assignments(page)
    row(page, "released_assignments_list").locator("button:text-is('Fetch')").click()
    row(page, "fetched_assignments_list").wait_for()
    save_through_server(page, hub.url, who, f"{ASSIGNMENT}/{snippets.NOTEBOOK}", notebook(ANSWERS[who]))
    page.goto(f"{hub.url}/user/{who}/lab/tree/{ASSIGNMENT}/{snippets.NOTEBOOK}")
    page.wait_for_selector(".jp-NotebookPanel-toolbar :text-is('Validate')")
    seen[f"{who}_validate"] = validate(page)
    open_assignments(page)
    row(page, "fetched_assignments_list").locator("button:text-is('Submit')").click()
    submitted = time.monotonic()
    row(page, "submitted_assignments_list").wait_for()
    seen[f"{who}_page"] = fetch_feedback_until_graded(page, hub, who)
    seen[f"{who}_latency"] = time.monotonic() - submitted
    page.locator("#submitted_assignments_list a:has-text('view feedback')").first.wait_for()
    page.screenshot(path=str(shots / f"pods-{who}-feedback.png"))
    seen[f"{who}_listed"] = page.inner_text("#submitted_assignments_list")


@pytest.fixture(scope="module")
def pods_term(pod_hub, tmp_path_factory):
    hub, seen = pod_hub, {}
    shots = tmp_path_factory.mktemp("shots")
    instructor = hub.token("instructor")
    hub.nbgrader("instructor", "generate_assignment", ASSIGNMENT, "--force", token=instructor, check=True)
    hub.nbgrader("instructor", "release_assignment", ASSIGNMENT, "--force", token=instructor, check=True)
    with browser_page() as first:
        for who in ("alice", "bob"):
            student_in_chromium(first.context.browser, hub, who, seen, shots)
    for shot in shots.iterdir():
        keep(shot, shot.name)
    seen["processes"] = {who: hub.server_process(who) for who in ("alice", "bob")}
    seen["bob_token"] = seen["processes"]["bob"].environ()["JUPYTERHUB_API_TOKEN"]  # what bob's own server holds
    alice_token = seen["processes"]["alice"].environ()["JUPYTERHUB_API_TOKEN"]
    seen["alice_receipts"] = requests.get(hub.api_url("assignments", ASSIGNMENT, "submissions"),
                                          headers=auth(alice_token), timeout=60).json()
    seen["bob_token_model"] = requests.get(f"{hub.url}/hub/api/user", headers=auth(seen["bob_token"]), timeout=60).json()
    bob_attacks(hub, seen)
    return hub, seen


def bob_attacks(hub, seen):
    token, alice = seen["bob_token"], seen["alice_receipts"][-1]
    body = zipped({"embeddings.ipynb": notebook(ANSWERS["alice"]).encode()})
    seen["as_alice"] = upload(hub, token, body, params={"student": "alice"})
    seen["as_alice_no_token"] = upload(hub, None, body)
    seen["alice_list"] = requests.get(hub.api_url("assignments", ASSIGNMENT, "submissions"), params={"student": "alice"},
                                      headers=auth(token), timeout=60)
    for label, parts in (("alice_feedback", ("submissions", alice["id"], "feedback", "embeddings")),
                         ("alice_feedback_list", ("submissions", alice["id"], "feedback")),
                         ("alice_archive", ("submissions", alice["id"]))):
        seen[label] = requests.get(hub.api_url(*parts), headers=auth(token), timeout=60)
        seen[label + "_no_token"] = requests.get(hub.api_url(*parts), timeout=60)
    seen["bob_pod"] = hub.in_pod("bob", f"""
        echo "pids: $(ls /proc | grep -c '^[0-9]')"
        for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/environ 2>/dev/null | grep '^JUPYTERHUB_USER='; done | sort -u
        ls -a /home/jovyan/{ASSIGNMENT}
        for path in {hub.homes / 'alice'} {hub.store} {hub.course} {hub.users['alice'].home}; do
            test -e "$path" && echo "SEES $path" || echo "no $path"
        done
        cat {hub.store / 'exchange.sqlite'} >/dev/null 2>&1 && echo "READ the store" || echo "store unreadable"
    """)


def test_both_students_fetch_validate_submit_and_get_their_graded_page(pods_term):
    hub, seen = pods_term
    for who, answer in ANSWERS.items():
        assert "Validation Results" in seen[f"{who}_validate"]
        full = sum(snippets.load(CORPUS / f"{answer}.py").expected.values())
        assert f"Score: {full:g} / 8" in seen[f"{who}_page"], seen[f"{who}_page"][:3000]
        assert "(view feedback)" in seen[f"{who}_listed"]
        print(f"{who}: Submit -> graded page fetched in {seen[f'{who}_latency']:.1f} s")
    assert "Success! Your notebook passes all the tests." in seen["alice_validate"]


def test_every_server_runs_as_the_same_uid_in_its_own_namespaces(pods_term):
    hub, seen = pods_term
    alice, bob = seen["processes"]["alice"], seen["processes"]["bob"]
    assert alice.uids().real == bob.uids().real == hub.pod.uid
    ns = lambda proc, kind: __import__("os").readlink(f"/proc/{proc.pid}/ns/{kind}")  # noqa: E731
    assert ns(alice, "mnt") != ns(bob, "mnt") and ns(alice, "pid") != ns(bob, "pid")
    said = seen["bob_pod"].stdout
    assert seen["bob_pod"].returncode == 0, seen["bob_pod"].stderr
    assert "JUPYTERHUB_USER=bob" in said and "JUPYTERHUB_USER=alice" not in said  # no other server's process (or token)
    assert "SEES" not in said and "store unreadable" in said, said
    assert "embeddings.ipynb" in said


def test_a_servers_own_token_carries_the_exchange_scope(pods_term):
    """c.Spawner.server_token_scopes + load_roles: what the Assignments tab sends may reach the service."""
    hub, seen = pods_term
    model = seen["bob_token_model"]
    assert model["name"] == "bob" and f"access:services!service={EXCHANGE_SERVICE}" in model["scopes"], model


def test_bob_cannot_submit_as_alice_with_his_token_or_none(pods_term):
    hub, seen = pods_term
    assert seen["as_alice"].status_code == 403 and "you are bob" in seen["as_alice"].json()["message"]
    assert seen["as_alice_no_token"].status_code == 403
    assert seen["alice_list"].status_code == 403
    assert all(r["student"] == "alice" for r in seen["alice_receipts"])


def test_bob_cannot_fetch_alices_feedback_with_his_token_or_none(pods_term):
    hub, seen = pods_term
    for label in ("alice_feedback", "alice_feedback_list", "alice_archive"):
        assert seen[label].status_code == 404, (label, seen[label].text)
        assert seen[label + "_no_token"].status_code == 403, (label, seen[label + "_no_token"].text)
        assert "Score" not in seen[label].text and "Score" not in seen[label + "_no_token"].text


def test_the_service_is_reached_through_the_proxy(pods_term):
    hub, seen = pods_term
    routes = hub.hub_api("GET", "services").json()
    assert EXCHANGE_SERVICE in routes and routes[EXCHANGE_SERVICE]["prefix"] == f"/services/{EXCHANGE_SERVICE}/"
    assert routes[EXCHANGE_SERVICE]["url"].startswith("http://127.0.0.1:")
