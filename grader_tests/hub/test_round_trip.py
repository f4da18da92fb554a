"""A class hands in through nbgrader's exchange on a real JupyterHub, and the exchange's word holds.

One hub (PAM, LocalProcessSpawner, the project's configurable-http-proxy) on 127.0.0.1, real unix
users (users.py), the README's recipe (hub.py). The whole term runs once, in order, in the
module's fixture; the tests then check what it recorded:

1. the instructor generates and releases ``embeddings`` (command line, as ``instructor``);
2. alice, in Chromium: logs in, *Assignments* -> Fetch, answers (the corpus's right answer, saved
   through her server), Validate, Submit; bob fetches and submits a wrong answer from the command
   line; carol submits twice with stock nbgrader's submit (0777 entries);
3. mallory attacks, each on the real exchange as herself: another student's id, links, a FIFO,
   sparse and oversized files, dangerous names, replacing files in carol's entry, renaming or
   squatting the course folder, listing inbound; bob tries to replace alice's files;
4. the due date is set (an IANA zone) just after the on-time hand-ins; mallory then forges times:
   ``--timezone=Etc/GMT+12``, past and future times in the folder name, an edited and a deleted
   ``timestamp.txt``, an edit of her on-time entry after the deadline;
5. the instructor collects, grades the class in ONE ``python -m labgrader autograde``, generates
   and releases feedback; alice clicks Fetch Feedback and sees 8/8 and no hidden test code; bob
   fetches his on the command line; mallory cannot read alice's; the due date is moved and
   mallory re-graded, which clears her penalty.
"""
import datetime as dt
import html
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import nbformat
import pytest

from conftest import ASSIGNMENT, CORPUS, REPO
from hub import COURSE_ID, login  # the fixtures (classroom, hub): a plugin of grader_tests/conftest.py
import snippets
from labgrader.exchange import refusals
from labgrader.reports.gradebook import cell_scores

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "jupyterlab"))
from lab import browser_page, keep  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.browser]  # a hub, five users' commands, Chromium, one autograde of the class

ALICE_ANSWER = "correct/list_and_flatten"
BOB_ANSWER = "wrong/model3_is_model2"
CAROL_ANSWER = "correct/add_method"
STOCK_SUBMIT = "--ExchangeFactory.submit=nbgrader.exchange.default.submit.ExchangeSubmit"
BERLIN = ZoneInfo("Europe/Berlin")
CAP = 4 * 1024 ** 2  # the test course's per-file cap (README: 64 MiB by default)


def answer(name):
    snippet = snippets.load(CORPUS / f"{name}.py")
    release = nbformat.read(REPO / "release" / ASSIGNMENT / snippets.NOTEBOOK, as_version=4)
    return snippet, nbformat.writes(snippets.build_notebook(release, snippet))


def write_as(room, who, path, text):
    """A file written by the user's own process (its owner and ctime are theirs)."""
    room.run(who, [room.python, "-c", "import sys; open(sys.argv[1], 'w').write(sys.stdin.read())", path],
             input=text, check=True)


# ---------------------------------------------------------------------------------------------
# Alice in Chromium


def open_assignments(page):
    page.click(".lm-MenuBar-itemLabel:text-is('Nbgrader')")
    page.click(".lm-Menu-item[data-command='nbgrader:open-assignment-list']")
    page.wait_for_selector("#released_assignments_list")


def row(page, listing, name=ASSIGNMENT):
    return page.locator(f"#{listing} .list_item").filter(has_text=name).first


def save_through_server(page, hub_url, user, path, text):
    """What the editor's Save does: PUT the notebook to the user's server (contents API)."""
    status = page.evaluate("""async ([url, body]) => {
        const xsrf = (document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1] || '';
        const r = await fetch(url, {method: 'PUT', headers: {'Content-Type': 'application/json',
                                    'X-XSRFToken': decodeURIComponent(xsrf)}, body});
        return r.status; }""", [f"{hub_url}/user/{user}/api/contents/{path}",
                                json.dumps({"type": "notebook", "format": "json", "content": json.loads(text)})])
    assert status in (200, 201), status


def validate(page):
    page.click(".jp-NotebookPanel-toolbar :text-is('Validate')")  # saves the notebook, then validates it
    page.wait_for_selector(".jp-Dialog #validation-message", timeout=300_000)
    text = page.inner_text(".jp-Dialog-content")
    page.click(".jp-Dialog .jp-mod-accept")
    return text


def alice_hands_in(page, hub_url, room, timings, shots):
    alice = room.users["alice"]
    timings["loadavg_1min_at_start"] = os.getloadavg()[0]
    started = time.monotonic()
    login(page, hub_url, "alice", alice.password)
    page.wait_for_selector("#jp-main-dock-panel", timeout=240_000)
    timings["login_to_lab"] = time.monotonic() - started
    response = page.request.get(f"{hub_url}/user/alice/lab")
    timings["csp"] = response.headers.get("content-security-policy", "")
    open_assignments(page)
    fetch = row(page, "released_assignments_list").locator("button:text-is('Fetch')")
    started = time.monotonic()
    fetch.click()
    row(page, "fetched_assignments_list").wait_for()
    timings["fetch"] = time.monotonic() - started
    _, text = answer(ALICE_ANSWER)
    save_through_server(page, hub_url, "alice", f"{ASSIGNMENT}/{snippets.NOTEBOOK}", text)
    page.goto(f"{hub_url}/user/alice/lab/tree/{ASSIGNMENT}/{snippets.NOTEBOOK}")
    page.wait_for_selector(".jp-NotebookPanel-toolbar :text-is('Validate')")
    started = time.monotonic()
    timings["validate_text"] = validate(page)
    timings["validate"] = time.monotonic() - started
    open_assignments(page)
    submit = row(page, "fetched_assignments_list").locator("button:text-is('Submit')")
    started = time.monotonic()
    submit.click()
    row(page, "submitted_assignments_list").wait_for()
    timings["submit"] = time.monotonic() - started
    page.screenshot(path=str(shots / "alice-submitted.png"))


def alice_fetches_feedback(page, hub_url, timings, shots):
    page.goto(f"{hub_url}/user/alice/lab")
    page.wait_for_selector("#jp-main-dock-panel")
    open_assignments(page)
    submitted = row(page, "submitted_assignments_list")
    started = time.monotonic()
    submitted.locator("button:text-is('Fetch Feedback')").click()
    link = page.locator("#submitted_assignments_list a:has-text('view feedback')").first
    link.wait_for(timeout=120_000)
    timings["fetch_feedback"] = time.monotonic() - started
    page.screenshot(path=str(shots / "alice-feedback-fetched.png"))
    link.click()  # the file browser goes to the feedback folder


# ---------------------------------------------------------------------------------------------
# The attacks (each as its user, on the real exchange)


def inbound_entries(room):
    return sorted(p.name for p in (room.course_exchange / "inbound").iterdir())


def mallory_makes_entry(room, label, files=None, claimed="mallory", stamp="2026-01-01 00:00:00.000000 UTC",
                        script=""):
    """An entry mallory makes by hand (what any student can do with a shell); returns its name."""
    name = f"{claimed}+{ASSIGNMENT}+{stamp}+{label}"
    path = room.course_exchange / "inbound" / name
    lines = [f"mkdir {sh_quote(path)}"]
    for rel, content in (files or {}).items():
        lines.append(f"printf %s {sh_quote(content)} > {sh_quote(path / rel)}")
    lines.append(script.format(entry=sh_quote(path)))
    room.run("mallory", ["sh", "-c", "\n".join(lines)], check=True)
    return name


def sh_quote(value):
    return "'" + str(value).replace("'", "'\"'\"'") + "'"


def denied(result):
    return result.returncode != 0 and ("Permission denied" in result.stderr or "Operation not permitted" in result.stderr)


# ---------------------------------------------------------------------------------------------
# The term


@pytest.fixture(scope="module")
def term(classroom, hub, tmp_path_factory):
    seen = {}
    try:
        return run_term(classroom, hub, tmp_path_factory, seen)
    except BaseException:
        dump = REPO / "grader_tests" / "artifacts" / "hub-round-trip-failure.txt"
        dump.parent.mkdir(exist_ok=True)
        (dump.parent / ".gitignore").write_text("*\n")
        with open(dump, "w") as fh:  # what each step said, to see where the term broke
            for key, value in seen.items():
                text = f"{value.stdout}\n{value.stderr}" if isinstance(value, subprocess.CompletedProcess) else repr(value)
                fh.write(f"==== {key}\n{text[-6000:]}\n")
        raise


def run_term(classroom, hub, tmp_path_factory, seen):
    room, timings = classroom, {}
    shots = tmp_path_factory.mktemp("shots")
    with open(room.course / "nbgrader_config.py", "a") as fh:  # caps small enough to test cheaply
        fh.write(f"\nc.TrustedCollect.max_file_bytes = {CAP}\n")

    # 1. the instructor releases
    room.nbgrader("instructor", "generate_assignment", ASSIGNMENT, "--force", check=True)
    seen["release"] = room.nbgrader("instructor", "release_assignment", ASSIGNMENT, check=True)

    # 2. alice in Chromium, bob and carol on the command line
    with browser_page() as page:
        seen["page"] = page
        alice_hands_in(page, hub, room, timings, shots)
        seen["bad_password"] = login(page.context.browser.new_page(), hub, "alice", "not-her-password")
        bob_page = page.context.browser.new_context().new_page()
        login(bob_page, hub, "bob", room.users["bob"].password)
        bob_page.wait_for_selector("#jp-main-dock-panel", timeout=240_000)
        seen["alice_to_bob"] = page.request.get(f"{hub}/user/bob/api/contents")
        seen["alice_to_bob_text"] = seen["alice_to_bob"].text()
        seen["alice_to_bob_lab"] = page.request.get(f"{hub}/user/bob/lab")
        seen["alice_to_bob_lab_text"] = seen["alice_to_bob_lab"].text()
        print("alice->bob:", seen["alice_to_bob"].status, seen["alice_to_bob"].url, seen["alice_to_bob_text"][:300])
        print("alice->bob lab:", seen["alice_to_bob_lab"].status, seen["alice_to_bob_lab"].url)

        room.nbgrader("bob", "fetch_assignment", ASSIGNMENT, check=True)
        write_as(room, "bob", room.users["bob"].home / ASSIGNMENT / snippets.NOTEBOOK, answer(BOB_ANSWER)[1])
        room.nbgrader("bob", "submit", ASSIGNMENT, check=True)
        room.nbgrader("carol", "fetch_assignment", ASSIGNMENT, check=True)
        write_as(room, "carol", room.users["carol"].home / ASSIGNMENT / snippets.NOTEBOOK, answer(CAROL_ANSWER)[1])
        before = set(inbound_entries(room))
        room.nbgrader("carol", "submit", ASSIGNMENT, STOCK_SUBMIT, check=True)
        carol_first = set(inbound_entries(room))
        seen["carol_first"] = (carol_first - before).pop()
        time.sleep(0.05)
        room.nbgrader("carol", "submit", ASSIGNMENT, STOCK_SUBMIT, check=True)
        seen["carol_second"] = (set(inbound_entries(room)) - carol_first).pop()

        # 3. attacks before the due date
        attacks(room, seen)
        room.nbgrader("mallory", "fetch_assignment", ASSIGNMENT, check=True)
        write_as(room, "mallory", room.users["mallory"].home / ASSIGNMENT / snippets.NOTEBOOK, answer(ALICE_ANSWER)[1])
        before = set(inbound_entries(room))
        room.nbgrader("mallory", "submit", ASSIGNMENT, check=True)
        seen["mallory_on_time"] = (set(inbound_entries(room)) - before).pop()

        # 4. the due date, then forged times
        time.sleep(1.1)
        due = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)).replace(microsecond=0)
        seen["due"] = due
        local = due.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M:%S")
        seen["numeric_duedate"] = room.nbgrader("instructor", "db", "assignment", "add", ASSIGNMENT,
                                                f"--duedate={local} +0100")
        room.nbgrader("instructor", "db", "assignment", "add", ASSIGNMENT, f"--duedate={local} Europe/Berlin", check=True)
        time.sleep(max(0.0, (due - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 1.1)
        seen["forged"] = forge_times(room, seen)

        # 5. collect, grade, feedback
        started = time.monotonic()
        seen["collect"] = room.nbgrader("instructor", "collect", ASSIGNMENT, check=True)
        timings["collect_command"] = time.monotonic() - started
        seen["collected_at"] = {p.parent.parent.name: p.read_text()
                                for p in room.course.glob(f"submitted/*/{ASSIGNMENT}/timestamp.txt")}
        seen["autograde"] = room.run("instructor", [room.python, "-m", "labgrader", "autograde", ASSIGNMENT,
                                                    "--workers", "2"], timeout=1800)
        timings["autograde_command"] = time.monotonic() - started - timings["collect_command"]
        seen["scores"] = cell_scores(f"sqlite:///{room.course}/gradebook.db", ASSIGNMENT)
        seen["late"] = lateness(room)
        room.nbgrader("instructor", "generate_feedback", ASSIGNMENT, check=True)
        seen["release_feedback"] = room.nbgrader("instructor", "release_feedback", ASSIGNMENT, check=True)
        timings["loadavg_1min_at_feedback"] = os.getloadavg()[0]
        try:
            alice_fetches_feedback(page, hub, timings, shots)
        except BaseException:
            page.screenshot(path=str(REPO / "grader_tests" / "artifacts" / "hub-fetch-feedback-failure.png"))
            seen["exchange_feedback"] = sorted(os.listdir(room.course_exchange / "feedback"))
            seen["course_feedback"] = sorted(str(p) for p in room.course.glob("feedback/**/*"))
            raise
        fetched = sorted((room.users["alice"].home / ASSIGNMENT / "feedback").glob("*/*.html"))
        assert len(fetched) == 1, fetched
        page.goto(f"{hub}/user/alice/files/{fetched[0].relative_to(room.users['alice'].home)}")
        seen["alice_feedback"] = page.content()
        page.screenshot(path=str(shots / "alice-feedback.png"), full_page=True)
    del seen["page"]
    for shot in shots.iterdir():
        keep(shot, f"hub-{shot.name}")

    room.nbgrader("instructor", "export", "--to", "grades.csv", check=True)
    seen["export"] = (room.course / "grades.csv").read_text()
    seen["bob_messages"] = failure_messages(room.course / "autograded" / "bob" / ASSIGNMENT / snippets.NOTEBOOK)
    room.nbgrader("bob", "fetch_feedback", ASSIGNMENT, check=True)
    seen["bob_feedback"] = [p.read_text() for p in (room.users["bob"].home / ASSIGNMENT / "feedback").rglob("*.html")]
    seen["mallory_reads_feedback"] = mallory_reads_alice_feedback(room)

    # the due date moves a day later: re-grading clears mallory's penalty
    later = (due + dt.timedelta(days=1)).astimezone(BERLIN).strftime("%Y-%m-%d %H:%M:%S")
    room.nbgrader("instructor", "db", "assignment", "add", ASSIGNMENT, f"--duedate={later} Europe/Berlin", check=True)
    room.run("instructor", [room.python, "-m", "labgrader", "autograde", ASSIGNMENT, "--student", "mallory"], timeout=1800)
    seen["late_after_move"] = lateness(room)
    seen["timings"] = timings
    (REPO / "grader_tests" / "artifacts").mkdir(exist_ok=True)
    (REPO / "grader_tests" / "artifacts" / "hub-round-trip-timings.json").write_text(
        json.dumps({k: v for k, v in timings.items() if isinstance(v, float)}, indent=1))
    print("round trip timings (s):", {k: round(v, 2) for k, v in timings.items() if isinstance(v, float)})
    return room, seen


def attacks(room, seen):
    inbound = room.course_exchange / "inbound"
    course = room.course
    # another student's id: our submit refuses it; stock nbgrader's submit makes the entry
    room.nbgrader("mallory", "fetch_assignment", ASSIGNMENT, check=True)
    seen["as_alice_private"] = room.nbgrader("mallory", "submit", ASSIGNMENT, "--student=alice")
    before = set(inbound_entries(room))
    room.nbgrader("mallory", "submit", ASSIGNMENT, "--student=alice", STOCK_SUBMIT, check=True)
    seen["as_alice_stock"] = (set(inbound_entries(room)) - before).pop()
    room.run("mallory", ["rm", "-rf", room.users["mallory"].home / ASSIGNMENT], check=True)
    notebook = answer(ALICE_ANSWER)[1]
    hostile = {
        "by_hand_as_alice": mallory_makes_entry(room, "hand", {"embeddings.ipynb": notebook}, claimed="alice"),
        "entry_link": None,
        "link_gradebook": mallory_makes_entry(room, "gb", {"embeddings.ipynb": notebook},
                                              script=f"ln -s {course}/gradebook.db {{entry}}/gradebook.db"),
        "link_source": mallory_makes_entry(room, "src", script=f"ln -s {course}/source/{ASSIGNMENT}/{snippets.NOTEBOOK} "
                                                                "{entry}/embeddings.ipynb"),
        "dev_zero": mallory_makes_entry(room, "zero", script="ln -s /dev/zero {entry}/embeddings.ipynb"),
        "fifo": mallory_makes_entry(room, "fifo", script="mkfifo {entry}/embeddings.ipynb"),
        "sparse": mallory_makes_entry(room, "sparse", script="truncate -s 2G {entry}/embeddings.ipynb"),
        "oversized": mallory_makes_entry(room, "big", {"embeddings.ipynb": notebook},
                                         script=f"head -c {CAP + 1} /dev/urandom > {{entry}}/data.bin"),
        "dotdot": mallory_makes_entry(room, "dots", {"embeddings.ipynb": notebook}, claimed=".."),
        "glob": mallory_makes_entry(room, "glob", {"embeddings.ipynb": notebook}, claimed="a*"),
        "control": mallory_makes_entry(room, "ctl", {"embeddings.ipynb": notebook}, claimed="mal\x1b[2Jlory"),
        "glob_file": mallory_makes_entry(room, "globfile", {"*.ipynb": notebook}),
        "control_file": mallory_makes_entry(room, "ctlfile", {"\x07embeddings.ipynb": notebook}),
        "device": mallory_makes_entry(room, "dev", {"embeddings.ipynb": notebook}),
        "unreadable": mallory_makes_entry(room, "shut", {"embeddings.ipynb": notebook},
                                          script="mkdir {entry}/private && chmod 000 {entry}/private"),
    }
    link_name = f"mallory+{ASSIGNMENT}+2026-01-01 00:00:00.000000 UTC+entrylink"
    room.run("mallory", ["ln", "-s", course / "source" / ASSIGNMENT, inbound / link_name], check=True)
    hostile["entry_link"] = link_name
    # a student cannot make a device node: root makes one in mallory's entry and gives it to her
    device = inbound / hostile["device"] / "null"
    os.mknod(device, 0o20666, os.makedev(1, 3))
    os.chown(device, room.users["mallory"].uid, room.users["mallory"].gid)
    seen["hostile"] = hostile

    alice_entry = next(n for n in inbound_entries(room) if n.startswith(f"alice+{ASSIGNMENT}+")
                       and (inbound / n).stat().st_uid == room.users["alice"].uid)
    seen["alice_entry"] = alice_entry
    # bob knows the name of alice's entry (say she shared it): he can neither change nor move it
    seen["bob_replaces"] = room.run("bob", ["sh", "-c", f"echo '{{}}' > {sh_quote(inbound / alice_entry / snippets.NOTEBOOK)}"])
    seen["bob_adds"] = room.run("bob", ["touch", inbound / alice_entry / "extra.py"])
    seen["bob_moves"] = room.run("bob", ["mv", inbound / alice_entry, inbound / f"bob+{ASSIGNMENT}+x+y"])
    seen["bob_reads"] = room.run("bob", ["cat", inbound / alice_entry / snippets.NOTEBOOK])
    # carol's second entry is 0777 (stock submit): mallory can replace her notebook there...
    seen["mallory_replaces_carol"] = room.run("mallory", ["sh", "-c", f"rm -f {sh_quote(inbound / seen['carol_second'] / snippets.NOTEBOOK)} && "
                                                          f"echo '{{}}' > {sh_quote(inbound / seen['carol_second'] / snippets.NOTEBOOK)}"])
    # listing inbound, renaming or squatting the course folder, replacing its folders
    seen["list_inbound"] = room.run("mallory", ["ls", inbound])
    seen["list_feedback"] = room.run("mallory", ["ls", room.course_exchange / "feedback"])
    seen["rename_course"] = room.run("mallory", ["mv", room.course_exchange, room.exchange / "stolen"])
    seen["squat_outbound"] = room.run("mallory", ["mkdir", room.course_exchange / "outbound" / "evil"])
    seen["replace_inbound"] = room.run("mallory", ["mv", room.course_exchange / "inbound", room.course_exchange / "old"])
    seen["squat_new_course"] = room.run("mallory", ["mkdir", room.exchange / "squatted-course"])


def forge_times(room, seen):
    """After the due date: every way mallory can claim an earlier time. Returns entry names."""
    inbound = room.course_exchange / "inbound"
    notebook = answer(ALICE_ANSWER)[1]
    forged = {}
    mallory_home = room.users["mallory"].home
    room.run("mallory", ["rm", "-rf", mallory_home / ASSIGNMENT], check=True)
    room.nbgrader("mallory", "fetch_assignment", ASSIGNMENT, check=True)
    write_as(room, "mallory", mallory_home / ASSIGNMENT / snippets.NOTEBOOK, notebook)
    for label, args in (("timezone", ["--timezone=Etc/GMT+12"]), ("deleted_timestamp", [])):
        before = set(inbound_entries(room))
        room.nbgrader("mallory", "submit", ASSIGNMENT, *args, check=True)
        forged[label] = (set(inbound_entries(room)) - before).pop()
    room.run("mallory", ["rm", inbound / forged["deleted_timestamp"] / "timestamp.txt"], check=True)
    forged["past_name"] = mallory_makes_entry(room, "past", {"embeddings.ipynb": notebook,
                                                             "timestamp.txt": "2000-01-01 00:00:00.000000 UTC"},
                                              stamp="2000-01-01 00:00:00.000000 UTC")
    forged["future_name"] = mallory_makes_entry(room, "future", {"embeddings.ipynb": notebook},
                                                stamp="2099-01-01 00:00:00.000000 UTC")
    on_time = inbound / seen["mallory_on_time"]
    # ...and carol's feedback key, read from her stock (0777, 0644) entry, in place of her own
    room.run("mallory", ["sh", "-c", f"echo 'edited after the deadline' > {sh_quote(on_time / 'timestamp.txt')} && "
                                     f"echo ' ' >> {sh_quote(on_time / snippets.NOTEBOOK)} && "
                                     f"cat {sh_quote(inbound / seen['carol_first'] / 'submission_secret.txt')} "
                                     f"> {sh_quote(on_time / 'submission_secret.txt')}"], check=True)
    forged["edited_on_time"] = seen["mallory_on_time"]
    return forged


def lateness(room):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{room.course}/gradebook.db") as gb:
        # (seconds late, penalty, the grade nbgrader exports: score - penalty, at least 0)
        return {s.student_id: (s.total_seconds_late, s.late_submission_penalty, max(0.0, s.score - s.late_submission_penalty))
                for s in gb.assignment_submissions(ASSIGNMENT)}


def mallory_reads_alice_feedback(room):
    from nbgrader.utils import notebook_hash
    secret = (room.course / "submitted" / "alice" / ASSIGNMENT / "submission_secret.txt").read_text().strip()
    page = room.course_exchange / "feedback" / f"{notebook_hash(secret=secret, notebook_id='embeddings')}.html"
    assert page.exists()
    return {"exists": page.exists(), "mallory": room.run("mallory", ["cat", page]),
            "alice": room.run("alice", ["cat", page]), "mode": oct(page.stat().st_mode & 0o777)}


def failure_messages(autograded):
    """What the grader told the student in each graded cell that failed (the errors' values)."""
    nb = nbformat.read(autograded, as_version=4)
    return [output.get("evalue", "") for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade")
            for output in cell.get("outputs", []) if output.get("output_type") == "error" and output.get("evalue")]


def hidden_test_lines():
    source = nbformat.read(REPO / "source" / ASSIGNMENT / "embeddings.ipynb", as_version=4)
    lines, inside = [], False
    for cell in source.cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and line.strip():
                lines.append(line.strip())
    return lines


def page_text(page):
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def total(name):
    return sum(snippets.load(CORPUS / f"{name}.py").expected.values())


# ---------------------------------------------------------------------------------------------
# The tests


def test_the_hub_recipe_login_and_isolation(term):
    room, seen = term
    assert "/hub/login" in seen["bad_password"]  # a wrong password is refused: still the login form
    assert seen["alice_to_bob"].status in (302, 403, 404), seen["alice_to_bob"].status
    assert seen["alice_to_bob_lab"].status in (403, 404) or "/user/alice" in seen["alice_to_bob_lab"].url, \
        seen["alice_to_bob_lab"].url
    assert "frame-ancestors 'self'" in seen["timings"]["csp"]  # the formgrader's header, from the recipe


def test_alice_fetches_validates_and_submits_in_the_assignments_tab(term):
    room, seen = term
    assert "Success! Your notebook passes all the tests." in seen["timings"]["validate_text"]
    alice = room.course_exchange / "inbound" / seen["alice_entry"]
    st = alice.stat()
    assert st.st_uid == room.users["alice"].uid and oct(st.st_mode & 0o7777) == "0o750"  # PrivateSubmit
    assert alice.stat().st_gid == room.users["instructor"].gid  # inbound is setgid: the instructor reads it


def test_the_class_is_collected_as_the_owners_with_trusted_times(term):
    room, seen = term
    submitted = sorted(p.name for p in (room.course / "submitted").iterdir())
    assert submitted == ["alice", "bob", "carol", "mallory"], submitted
    assert not (room.course / ASSIGNMENT).exists()  # the `..` entry wrote nothing outside submitted/
    for path in (room.course / "submitted").rglob("*"):
        assert path.is_dir() and not path.is_symlink() or path.is_file() and not path.is_symlink(), path
    due = seen["due"].replace(tzinfo=None)
    from nbgrader.utils import parse_utc
    for student in ("alice", "bob", "carol"):
        assert parse_utc(seen["collected_at"][student]) < due, (student, seen["collected_at"][student])
    assert parse_utc(seen["collected_at"]["mallory"]) > due
    out = seen["collect"].stdout + seen["collect"].stderr
    assert "Quarantined" in out and "collect_report_embeddings.json" in out


def test_another_students_id_is_refused_and_quarantined(term):
    room, seen = term
    said = seen["as_alice_private"].stdout + seen["as_alice_private"].stderr
    assert seen["as_alice_private"].returncode != 0 and "You are logged in as mallory" in said
    reasons = reasons_by_entry(room)
    for name in (seen["as_alice_stock"], seen["hostile"]["by_hand_as_alice"]):
        assert "claims to be alice's but is owned by mallory" in reasons[name], reasons[name]
    # alice's own hand-in is what was graded as alice
    assert seen["scores"]["alice"] == snippets.load(CORPUS / f"{ALICE_ANSWER}.py").expected


EXPECTED = {
    "entry_link": "the entry is a symbolic link",
    "link_gradebook": "gradebook.db is a symbolic link",
    "link_source": "embeddings.ipynb is a symbolic link",
    "dev_zero": "(to /dev/zero",
    "fifo": "named pipe",
    "sparse": "sparse file",
    "oversized": f"more than {CAP}",
    "dotdot": "not a student id",
    "glob": "glob characters",
    "control": "control characters",
    "glob_file": "glob or path characters",
    "control_file": "control characters",
    "device": "character device",
    "unreadable": "cannot be read whole (Permission denied",
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_each_hostile_entry_is_quarantined_with_its_reason(term, case):
    room, seen = term
    reasons = reasons_by_entry(room)
    from labgrader.student_ids import printable
    name = printable(seen["hostile"][case])
    assert EXPECTED[case] in reasons[name], reasons[name]


def test_nothing_of_the_instructor_reached_submitted(term):
    room, seen = term
    secret = (room.course / "source" / ASSIGNMENT / snippets.NOTEBOOK).read_bytes()
    gradebook_head = b"SQLite format 3"
    for path in (room.course / "submitted").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert data != secret and not data.startswith(gradebook_head), path


def test_no_student_can_touch_another_entry_or_the_course_folders(term):
    room, seen = term
    for key in ("bob_replaces", "bob_adds", "bob_moves", "bob_reads", "list_inbound", "list_feedback",
                "rename_course", "squat_outbound", "replace_inbound"):
        assert denied(seen[key]), (key, seen[key].returncode, seen[key].stderr)
    assert (room.course_exchange / "inbound").is_dir() and (room.course_exchange / "outbound" / ASSIGNMENT).is_dir()
    # a new folder in the root is possible (it is 1777): it is not this course's, nobody fetches from it
    assert seen["squat_new_course"].returncode == 0


def test_a_tampered_stock_entry_is_quarantined_and_the_earlier_one_graded(term):
    room, seen = term
    assert seen["mallory_replaces_carol"].returncode == 0  # stock submit's 0777 entry: possible before collect
    reasons = reasons_by_entry(room)
    assert "owned by mallory, not by the entry's owner carol" in reasons[seen["carol_second"]]
    assert seen["scores"]["carol"] == snippets.load(CORPUS / f"{CAROL_ANSWER}.py").expected


def test_forged_times_change_nothing(term):
    room, seen = term
    report = json.loads((room.course / "collect_report_embeddings.json").read_text())["exchange"]["entries"]
    times = {r["entry"]: r["time"] for r in report}
    from nbgrader.utils import parse_utc
    due = seen["due"].replace(tzinfo=None)
    for label, name in seen["forged"].items():
        assert parse_utc(times[name]) > due, (label, times[name])
    late, penalty, score = seen["late"]["mallory"]
    assert late > 0 and penalty == total(ALICE_ANSWER) and score == 0, seen["late"]["mallory"]
    import csv
    exported = {row["student_id"]: row for row in csv.DictReader(seen["export"].splitlines())}
    assert float(exported["mallory"]["score"]) == 0 and float(exported["mallory"]["late_submission_penalty"]) == 8
    for student in ("alice", "bob", "carol"):
        assert seen["late"][student][:2] == (0, 0), (student, seen["late"][student])


def test_moving_the_due_date_and_regrading_clears_the_penalty(term):
    room, seen = term
    late, penalty, score = seen["late_after_move"]["mallory"]
    assert (late, penalty, score) == (0, 0, total(ALICE_ANSWER))


def test_duedates_nbgrader_would_misread_are_refused(term):
    room, seen = term
    result = seen["numeric_duedate"]
    assert result.returncode != 0 and "IANA" in result.stderr, result.stderr[-2000:]


def test_the_class_is_graded_in_one_call_and_the_gradebook_agrees(term):
    room, seen = term
    assert seen["scores"]["alice"] == snippets.load(CORPUS / f"{ALICE_ANSWER}.py").expected
    assert seen["scores"]["bob"] == snippets.load(CORPUS / f"{BOB_ANSWER}.py").expected
    assert set(seen["scores"]) == {"alice", "bob", "carol", "mallory"}


def test_alice_sees_her_feedback_with_full_marks_and_no_hidden_tests(term):
    room, seen = term
    text = page_text(seen["alice_feedback"])
    full = total(ALICE_ANSWER)
    assert f"Score: {full:.1f} / {full:.1f}" in text, text[:2000]
    leaks = [line for line in hidden_test_lines() if line in text]
    assert leaks == [], leaks[:3]


def test_bob_sees_his_messages_and_his_score(term):
    room, seen = term
    assert len(seen["bob_feedback"]) == 1
    text = page_text(seen["bob_feedback"][0])
    assert f"Score: {total(BOB_ANSWER):.1f} / 8.0" in text, text[:2000]
    assert seen["bob_messages"], "bob's wrong answer failed no check?"
    flat = " ".join(text.split())
    for message in seen["bob_messages"]:
        assert " ".join(message.split()) in flat, message
    assert [line for line in hidden_test_lines() if line in text] == []


def test_released_feedback_is_private_to_its_student(term):
    room, seen = term
    reads = seen["mallory_reads_feedback"]
    assert reads["alice"].returncode == 0 and "Score" in reads["alice"].stdout
    assert denied(reads["mallory"]), reads["mallory"].stderr
    assert reads["mode"] == "0o640"  # owner rw, the ACL's mask r for alice alone, others nothing
    assert "readable by alice only" in seen["release_feedback"].stdout + seen["release_feedback"].stderr


def test_a_stolen_feedback_key_releases_neither_page(term):
    room, seen = term
    said = seen["release_feedback"].stdout + seen["release_feedback"].stderr
    assert "Not released for carol" in said and "Not released for mallory" in said, said
    from nbgrader.utils import notebook_hash
    secret = (room.course / "submitted" / "carol" / ASSIGNMENT / "submission_secret.txt").read_text().strip()
    assert not (room.course_exchange / "feedback" / f"{notebook_hash(secret=secret, notebook_id='embeddings')}.html").exists()


def test_the_lead_can_list_what_was_refused(term):
    room, seen = term
    found = refusals(str(room.course), ASSIGNMENT)
    assert {r["who"] for r in found} == {"mallory", "carol"}  # carol: her entry mallory tampered with
    assert all(r["reasons"] for r in found)
    assert len(found) >= len(EXPECTED) + 2


def reasons_by_entry(room):
    report = json.loads((room.course / "collect_report_embeddings.json").read_text())["exchange"]["entries"]
    return {r["entry"]: " ".join(r["reasons"]) for r in report}
