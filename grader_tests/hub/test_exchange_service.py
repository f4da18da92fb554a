"""The exchange service on a real JupyterHub (the Kubernetes-style hub of hub.py: every server as one
uid, the service managed by the hub as the course's owner), through the proxy, with real tokens.

1. The term on the command line, nbgrader's own commands over HTTP: the instructor generates and
   releases; alice and bob fetch and submit (their tokens; bob's ``--student=alice`` is refused); the
   instructor lists and collects (the service's names and times); the grading service grades each
   upload meanwhile (into the gradebook); the instructor generates and releases nbgrader's
   feedback; each student fetches their own.
2. The hostile corpus for the API: every request below is refused with its status and leaves the
   store as it was (no submission row, no blob, no partial upload), and the instructor can list
   the refusals. A request that only *names* someone else is still taken as its token's owner.
"""
import io
import json
import os
import secrets
import sqlite3
import stat
import sys
import time
import zipfile
from pathlib import Path

import pytest
import requests

from conftest import ASSIGNMENT, CORPUS, REPO
from hub import COURSE_ID, POD_STUDENT_BYTES, POD_UPLOAD_BYTES, POD_UPLOADS_PER_HOUR
import snippets
from labgrader.reports.gradebook import cell_scores

pytestmark = pytest.mark.slow  # a hub, its services, nbgrader commands, gradings on upload

RIGHT, WRONG = "correct/list_and_flatten", "wrong/model3_is_model2"


def notebook(name):
    release = __import__("nbformat").read(REPO / "release" / ASSIGNMENT / snippets.NOTEBOOK, as_version=4)
    return __import__("nbformat").writes(snippets.build_notebook(release, snippets.load(CORPUS / f"{name}.py")))


def zipped(members, mode=stat.S_IFREG | 0o644):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = mode << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def auth(token):
    return {"Authorization": f"token {token}"} if token else {}


def upload(hub, token, body, assignment=ASSIGNMENT, upload_id=None, params=None, headers=None):
    head = {**auth(token), "Content-Type": "application/zip", **(headers or {})}
    if upload_id is not False:
        head["Upload-Id"] = upload_id or secrets.token_urlsafe(24)
    return requests.post(hub.api_url("assignments", assignment, "submissions"), data=body, headers=head,
                         params=params, timeout=120)


def state(hub):
    """What the store holds: submission rows, blobs, uploads in progress (read as root)."""
    db = sqlite3.connect(f"file:{hub.store / 'exchange.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT id FROM submissions ORDER BY id").fetchall()
    finally:
        db.close()
    return {"submissions": [r[0] for r in rows], "blobs": sorted(os.listdir(hub.store / "blobs")),
            "incoming": sorted(os.listdir(hub.store / "incoming"))}


# ---------------------------------------------------------------------------------------------
# The term


@pytest.fixture(scope="module")
def term(pod_hub):
    hub, seen = pod_hub, {}
    tokens = {who: hub.token(who) for who in ("instructor", "alice", "bob", "mallory")}
    seen["tokens"] = tokens
    inst = lambda *a, **kw: hub.nbgrader("instructor", *a, token=tokens["instructor"], **kw)  # noqa: E731
    inst("generate_assignment", ASSIGNMENT, "--force", check=True)
    seen["release"] = inst("release_assignment", ASSIGNMENT, "--force", check=True)
    seen["release_again"] = inst("release_assignment", ASSIGNMENT)
    earlier = {who: {r["id"] for r in submissions_of(hub, tokens[who])} for who in ("alice", "bob")}
    for who, answer in (("alice", RIGHT), ("bob", WRONG)):
        user = hub.users[who]
        user.run(["rm", "-rf", user.home / ASSIGNMENT])
        seen[f"{who}_list"] = hub.nbgrader(who, "list", token=tokens[who], check=True)
        hub.nbgrader(who, "fetch_assignment", ASSIGNMENT, token=tokens[who], check=True)
        user.run([hub.python, "-c", "import sys; open(sys.argv[1], 'w').write(sys.stdin.read())",
                  user.home / ASSIGNMENT / snippets.NOTEBOOK], input=notebook(answer), check=True)
        before = time.time()
        seen[f"{who}_submit"] = hub.nbgrader(who, "submit", ASSIGNMENT, token=tokens[who], check=True)
        seen[f"{who}_window"] = (before, time.time())
        # what a student writes after Submit changes nothing handed in (the uploaded bytes are the submission)
        user.run([hub.python, "-c", "import sys; open(sys.argv[1], 'w').write(sys.stdin.read())",
                  user.home / ASSIGNMENT / snippets.NOTEBOOK], input=notebook("wrong/untouched"), check=True)
    seen["bob_as_alice"] = hub.nbgrader("bob", "submit", ASSIGNMENT, "--student=alice", token=tokens["bob"])
    seen["alice_cached"] = hub.nbgrader("alice", "list", "--cached", token=tokens["alice"], check=True)
    seen["inbound"] = inst("list", "--inbound", ASSIGNMENT, check=True)
    seen["collect"] = inst("collect", ASSIGNMENT, check=True)
    seen["collected"] = {p.parent.parent.name: p.read_text()
                         for p in hub.course.glob(f"submitted/*/{ASSIGNMENT}/timestamp.txt")}
    seen["collected_notebooks"] = {p.parent.parent.name: p.read_text()
                                   for p in hub.course.glob(f"submitted/*/{ASSIGNMENT}/{snippets.NOTEBOOK}")}
    # graded on upload meanwhile (the grading service beside the exchange): the gradebook has both
    graded_on_upload(hub, {who: tokens[who] for who in ("alice", "bob")})
    seen["scores"] = cell_scores(f"sqlite:///{hub.course}/gradebook.db", ASSIGNMENT)
    inst("generate_feedback", ASSIGNMENT, check=True)
    seen["release_feedback"] = inst("release_feedback", ASSIGNMENT, check=True)
    for who in ("alice", "bob"):
        seen[f"{who}_fetch_feedback"] = hub.nbgrader(who, "fetch_feedback", ASSIGNMENT, token=tokens[who], check=True)
        seen[f"{who}_feedback"] = {p.parent.name: p.read_text() for p in
                                   (hub.users[who].home / ASSIGNMENT / "feedback").glob("*/*.html")}
    seen["receipts"] = {who: [r for r in submissions_of(hub, tokens[who]) if r["id"] not in earlier[who]]
                        for who in ("alice", "bob")}  # this term's: the pod hub is the session's, other modules hand in too
    return hub, seen


def submissions_of(hub, token):
    """The token owner's submissions as the service lists them, oldest first."""
    return requests.get(hub.api_url("assignments", ASSIGNMENT, "submissions"), headers=auth(token), timeout=60).json()


def graded_on_upload(hub, tokens, timeout=600):
    """Until each student's newest submission has a graded page (the grading service's)."""
    deadline = time.monotonic() + timeout
    for who, token in tokens.items():
        while True:
            newest = submissions_of(hub, token)[-1]
            if any(page.get("state") == "graded" for page in newest["feedback"]):
                break
            assert time.monotonic() < deadline, f"{who}'s upload was not graded:\n{hub.log.read_text()[-3000:]}"
            time.sleep(1)


def said(result):
    return result.stdout + result.stderr


def test_nbgrader_commands_work_over_http(term):
    hub, seen = term
    assert "Released as: categorical-embeddings embeddings" in said(seen["release"])
    assert seen["release_again"].returncode != 0 and "add --force" in said(seen["release_again"])
    assert "categorical-embeddings embeddings" in said(seen["alice_list"])
    assert "(no feedback available)" in said(seen["alice_cached"]) or "feedback" in said(seen["alice_cached"])
    assert "alice" in said(seen["inbound"]) and "bob" in said(seen["inbound"])


def test_the_submission_time_is_the_servers(term):
    hub, seen = term
    from labgrader.exchange.times import parse_time
    for who in ("alice", "bob"):
        (receipt,) = seen["receipts"][who]
        start, end = seen[f"{who}_window"]
        assert start - 1 <= parse_time(receipt["timestamp"]).timestamp() <= end + 1, receipt["timestamp"]
        assert f"Submitted as: {COURSE_ID} {ASSIGNMENT} {receipt['timestamp']}" in said(seen[f"{who}_submit"])
        assert seen["collected"][who] == receipt["timestamp"]  # what collect wrote for the late penalty


def test_submitting_as_another_student_is_refused(term):
    hub, seen = term
    result = seen["bob_as_alice"]
    assert result.returncode != 0 and "without --student" in said(result)
    assert [r["student"] for r in seen["receipts"]["alice"]] == ["alice"]  # one: her own


def test_collect_and_the_grader_take_what_each_student_uploaded(term):
    """Each student's notebook was replaced by an untouched one after Submit: what is collected and
    graded (on upload, into the gradebook) is what was sent. ``collect`` writes nbgrader's usual
    ``submitted/<student>/<assignment>/``, the layout every grading command reads."""
    hub, seen = term
    assert sorted(seen["collected"]) == ["alice", "bob"]
    for who, answer in (("alice", RIGHT), ("bob", WRONG)):
        assert seen["collected_notebooks"][who] == notebook(answer)
        assert seen["scores"][who] == snippets.load(CORPUS / f"{answer}.py").expected


def test_each_student_fetches_their_own_feedback(term):
    hub, seen = term
    for who, answer in (("alice", RIGHT), ("bob", WRONG)):
        (receipt,) = seen["receipts"][who]
        pages = seen[f"{who}_feedback"]
        assert list(pages) == [receipt["timestamp"]], pages.keys()
        full = sum(snippets.load(CORPUS / f"{answer}.py").expected.values())
        assert f"Score: {full:.1f} / 8.0" in pages[receipt["timestamp"]]
    assert "Releasing feedback for student 'alice'" in said(seen["release_feedback"])


def test_the_store_is_private_to_the_service(term):
    hub, seen = term
    st = hub.store.stat()
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == hub.users["instructor"].uid
    for path in [hub.store, *hub.store.iterdir()]:
        assert not stat.S_IMODE(path.stat().st_mode) & 0o077, path
    for who in ("alice", "mallory"):  # a student's unix account, and the pods' one uid
        result = hub.users[who].run(["ls", hub.store / "blobs"])
        assert result.returncode != 0 and "Permission denied" in result.stderr
    result = hub.pod.run(["ls", hub.store / "blobs"], cwd="/")  # the one uid of every student's server
    assert result.returncode != 0 and "Permission denied" in result.stderr


# ---------------------------------------------------------------------------------------------
# The hostile corpus: each refused, with its status, storing nothing


@pytest.fixture(scope="module")
def hostile(term):
    """Every attack, in order, as (name, response, store before, store after)."""
    hub, seen = term
    tokens = seen["tokens"]
    right = notebook(RIGHT).encode()
    alice_sub = seen["receipts"]["alice"][0]
    replay_id = secrets.token_urlsafe(24)
    first = upload(hub, tokens["mallory"], zipped({"embeddings.ipynb": right}), upload_id=replay_id)
    assert first.status_code == 201, first.text
    scopeless = hub.token("mallory", scopes=["read:users:name!user"])
    bomb = zipped({"embeddings.ipynb": b"\0" * (300 * 1024 ** 2)})
    attacks = {
        "no_token": lambda: upload(hub, None, zipped({"embeddings.ipynb": right})),
        "forged_token": lambda: upload(hub, secrets.token_hex(16), zipped({"embeddings.ipynb": right})),
        "token_without_the_scope": lambda: upload(hub, scopeless, zipped({"embeddings.ipynb": right})),
        "another_students_id": lambda: upload(hub, tokens["mallory"], zipped({"embeddings.ipynb": right}),
                                              params={"student": "alice"}),
        "oversize": lambda: upload(hub, tokens["mallory"], os.urandom(POD_UPLOAD_BYTES + 1)),
        "no_length": lambda: upload(hub, tokens["mallory"], iter([zipped({"embeddings.ipynb": right})])),
        "replayed": lambda: upload(hub, tokens["mallory"], zipped({"embeddings.ipynb": right}), upload_id=replay_id),
        "no_upload_id": lambda: upload(hub, tokens["mallory"], zipped({"embeddings.ipynb": right}), upload_id=False),
        "dotdot_member": lambda: upload(hub, tokens["mallory"], zipped({"../../gradebook.db": b"x", "embeddings.ipynb": right})),
        "absolute_member": lambda: upload(hub, tokens["mallory"], zipped({"/etc/cron.d/x": b"x"})),
        "long_name_member": lambda: upload(hub, tokens["mallory"], zipped({"x" * 300 + ".ipynb": right})),
        "glob_member": lambda: upload(hub, tokens["mallory"], zipped({"*.ipynb": right})),
        "link_member": lambda: upload(hub, tokens["mallory"], zipped({"embeddings.ipynb": b"/home/instructor/pod-course/gradebook.db"},
                                                                    mode=stat.S_IFLNK | 0o777)),
        "zip_bomb": lambda: upload(hub, tokens["mallory"], bomb),
        "not_a_zip": lambda: upload(hub, tokens["mallory"], right),
        "dotdot_assignment": lambda: upload(hub, tokens["mallory"], zipped({"embeddings.ipynb": right}), assignment="..%2Fsecret"),
        "unreleased_assignment": lambda: upload(hub, tokens["mallory"], zipped({"embeddings.ipynb": right}), assignment="exam"),
        "other_course": lambda: requests.get(hub.api_url("whoami").replace(COURSE_ID, "other-course"),
                                              headers=auth(tokens["mallory"]), timeout=60),
        "students_feedback": lambda: requests.get(hub.api_url("submissions", alice_sub["id"], "feedback"),
                                                  headers=auth(tokens["mallory"]), timeout=60),
        "students_feedback_page": lambda: requests.get(hub.api_url("submissions", alice_sub["id"], "feedback", "embeddings"),
                                                       headers=auth(tokens["mallory"]), timeout=60),
        "students_feedback_without_token": lambda: requests.get(
            hub.api_url("submissions", alice_sub["id"], "feedback", "embeddings"), timeout=60),
        "students_archive": lambda: requests.get(hub.api_url("submissions", alice_sub["id"]),
                                                 headers=auth(tokens["mallory"]), timeout=60),
        "students_list": lambda: requests.get(hub.api_url("assignments", ASSIGNMENT, "submissions"),
                                              params={"student": "alice"}, headers=auth(tokens["mallory"]), timeout=60),
        "release_as_student": lambda: requests.put(hub.api_url("assignments", ASSIGNMENT), params={"force": "1"},
                                                   data=zipped({"embeddings.ipynb": b"{}"}), headers=auth(tokens["mallory"]),
                                                   timeout=60),
        "feedback_as_student": lambda: requests.put(hub.api_url("submissions", first.json()["id"], "feedback", "embeddings"),
                                                    data=b"<p>8/8</p>", headers=auth(tokens["mallory"]), timeout=60),
        "feedback_path_trick": lambda: requests.get(hub.api_url("submissions", alice_sub["id"], "feedback", "..%2F..%2Fx"),
                                                    headers=auth(tokens["alice"]), timeout=60),
        "refusals_as_student": lambda: requests.get(hub.api_url("refusals"), headers=auth(tokens["mallory"]), timeout=60),
        "around_the_proxy_without_token": lambda: requests.get(
            hub.api_url("whoami").replace(hub.url, f"http://127.0.0.1:{hub.exchange_port}"), timeout=60),
    }
    found = {}
    for name, attack in attacks.items():
        before = state(hub)
        response = attack()
        found[name] = (response, before, state(hub))
    # the upload rate: mallory goes on (refused uploads count too) until the door closes
    statuses = [upload(hub, tokens["mallory"], b"not a zip").status_code for _ in range(POD_UPLOADS_PER_HOUR)]
    before = state(hub)
    found["upload_rate"] = (upload(hub, tokens["mallory"], zipped({"embeddings.ipynb": right})), before, state(hub))
    seen["rate_statuses"] = statuses
    return hub, seen, found


EXPECTED = {  # attack: (status, words of the message)
    "no_token": (403, "no valid JupyterHub token"),
    "forged_token": (403, "no valid JupyterHub token"),
    "token_without_the_scope": (403, "lacks the scope access:services!service=labgrader-exchange"),
    "another_students_id": (403, "you are mallory"),
    "oversize": (413, f"at most {POD_UPLOAD_BYTES} bytes"),
    "no_length": (411, "Content-Length"),
    "replayed": (409, "replayed upload"),
    "no_upload_id": (400, "Upload-Id"),
    "dotdot_member": (400, "zip-slip"),
    "absolute_member": (400, "zip-slip"),
    "glob_member": (400, "glob or path characters"),
    "long_name_member": (400, "longer than 255 bytes"),
    "link_member": (400, "symbolic link"),
    "zip_bomb": (400, "zip bomb"),
    "not_a_zip": (400, "not a readable zip archive"),
    "dotdot_assignment": (400, "not an assignment id"),
    "unreleased_assignment": (404, "not released"),
    "other_course": (404, "this exchange serves the course"),
    "students_feedback": (404, "no such submission of yours"),
    "students_feedback_page": (404, "no such submission of yours"),
    "students_feedback_without_token": (403, "no valid JupyterHub token"),
    "students_archive": (404, "no such submission of yours"),
    "students_list": (403, "you are mallory"),
    "release_as_student": (403, "only the course's instructors"),
    "feedback_as_student": (403, "only the course's instructors"),
    "feedback_path_trick": (400, "not a notebook name"),
    "refusals_as_student": (403, "only the course's instructors"),
    "around_the_proxy_without_token": (403, "no valid JupyterHub token"),
    "upload_rate": (429, f"{POD_UPLOADS_PER_HOUR} uploads in the last hour"),
}


@pytest.mark.parametrize("attack", sorted(EXPECTED))
def test_each_attack_is_refused_and_stores_nothing(hostile, attack):
    hub, seen, found = hostile
    response, before, after = found[attack]
    status, words = EXPECTED[attack]
    assert response.status_code == status, (response.status_code, response.text[:500])
    if words:
        assert words in response.json()["message"], response.text[:500]
    assert after == before, (before, after)
    assert after["incoming"] == []


def test_the_rate_limit_counts_every_upload_and_says_when(hostile):
    hub, seen, found = hostile
    response = found["upload_rate"][0]
    assert 0 < int(response.headers["Retry-After"]) <= 3601
    assert seen["rate_statuses"].count(400) >= 1 and seen["rate_statuses"][-1] == 429, seen["rate_statuses"]


def test_a_name_or_time_in_the_request_is_never_taken(term):
    """Headers and files that claim another student or an old time: stored as the token's owner, now."""
    hub, seen = term
    tokens = seen["tokens"]
    before = time.time()
    response = upload(hub, tokens["bob"], zipped({"embeddings.ipynb": notebook(WRONG).encode(),
                                                  "timestamp.txt": b"2000-01-01 00:00:00.000000 UTC"}),
                      headers={"X-Forwarded-User": "alice", "JupyterHub-User": "alice", "Date": "Sat, 01 Jan 2000 00:00:00 GMT"})
    assert response.status_code == 201, response.text
    receipt = response.json()
    from labgrader.exchange.times import parse_time
    assert receipt["student"] == "bob" and parse_time(receipt["timestamp"]).timestamp() >= before - 1


def test_the_total_bytes_quota(term):
    hub, seen = term
    token = hub.token("carol")
    big = zipped({"embeddings.ipynb": os.urandom(POD_UPLOAD_BYTES - 64 * 1024)})
    statuses = []
    for _ in range(POD_STUDENT_BYTES // len(big) + 2):
        before = state(hub)
        response = upload(hub, token, big + b"")
        statuses.append(response.status_code)
        if response.status_code != 201:
            assert response.status_code == 413 and "quota" in response.json()["message"], response.text
            assert state(hub) == before
            break
    assert statuses[-1] == 413 and statuses.count(201) == POD_STUDENT_BYTES // len(big)


def stalled_upload(hub, token, size):
    """An upload whose headers arrive and whose body does not (a raw socket through the proxy)."""
    import socket
    import urllib.parse
    url = urllib.parse.urlsplit(hub.api_url("assignments", ASSIGNMENT, "submissions"))
    sock = socket.create_connection((url.hostname, url.port), timeout=60)
    sock.sendall((f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: token {token}\r\n"
                  f"Upload-Id: {secrets.token_urlsafe(24)}\r\nContent-Type: application/zip\r\n"
                  f"Content-Length: {size}\r\n\r\n").encode() + b"PK" + b"\0" * 1000)
    return sock


def test_uploads_under_way_count_against_the_quota(term):
    """Parallel uploads cannot pass the quota together; a dropped one gives its share back."""
    hub, seen = term
    token = seen["tokens"]["bob"]
    whoami = lambda: requests.get(hub.api_url("whoami"), headers=auth(token), timeout=60).json()["used"]  # noqa: E731
    share = POD_UPLOAD_BYTES - 4096
    stalled = []
    while whoami()["bytes"] + whoami()["in_flight"] + share <= POD_STUDENT_BYTES:
        stalled.append(stalled_upload(hub, token, share))
        deadline = time.monotonic() + 30
        while whoami()["in_flight"] < share * len(stalled):
            assert time.monotonic() < deadline, "the stalled upload was not admitted"
            time.sleep(0.2)
    before, used = state(hub), whoami()
    room = POD_STUDENT_BYTES - used["bytes"] - used["in_flight"]
    refused = upload(hub, token, zipped({"embeddings.ipynb": os.urandom(room + 1024)}))  # fits alone, not with them
    assert refused.status_code == 413 and "being received" in refused.json()["message"], refused.text
    assert state(hub)["submissions"] == before["submissions"]
    for sock in stalled:
        sock.close()
    deadline = time.monotonic() + 30
    while whoami()["in_flight"]:
        assert time.monotonic() < deadline, "a dropped upload kept its share of the quota"
        time.sleep(0.2)
    assert state(hub)["incoming"] == []


def test_the_instructor_sees_every_refusal(hostile):
    hub, seen, found = hostile
    listed = requests.get(hub.api_url("refusals"), headers=auth(seen["tokens"]["instructor"]), timeout=60).json()
    statuses = {(r["who"], r["status"]) for r in listed}
    assert ("mallory", 413) in statuses and ("mallory", 429) in statuses and ("mallory", 409) in statuses
    assert ("(no valid token)", 403) in statuses
    printed = hub.users["instructor"].run([hub.python, "-m", "labgrader.hubexchange", "refusals", "--course", hub.course],
                                          check=True)
    assert "replayed upload" in printed.stdout and "uploads in the last hour" in printed.stdout


def test_the_instructor_fetches_every_page_and_a_student_only_theirs(term):
    hub, seen = term
    tokens = seen["tokens"]
    alice = seen["receipts"]["alice"][0]
    page = ("submissions", alice["id"], "feedback", "embeddings")
    assert requests.get(hub.api_url(*page), headers=auth(tokens["alice"]), timeout=60).status_code == 200
    by_instructor = requests.get(hub.api_url(*page), headers=auth(tokens["instructor"]), timeout=60)
    assert by_instructor.status_code == 200 and b"Score" in by_instructor.content
    assert requests.get(hub.api_url(*page), headers=auth(tokens["bob"]), timeout=60).status_code == 404
