"""Feedback seconds after Submit, on a real JupyterHub: the grading service that the hub runs (a
managed service, as the instructor: hub.py) collects, grades and releases every submission with no
instructor action, as the course's policy allows.

The term runs once, in order, in the module's fixture; the tests then check what it recorded:

1. the instructor generates and releases ``embeddings`` with the due date a day away; the service,
   waiting since the hub started, starts serving (policy: the visible tests before the due date,
   everything after; at most 4 graded per student per hour);
2. alice, in Chromium: Fetch, an answer whose visible tests pass and hidden tests fail, Submit, then
   Fetch Feedback until she sees her receipt, and again until her graded page (visible level);
3. a burst on the command line, all at once: bob 5 times (one over the cap), carol 3 times, mallory a
   broken notebook, an endless loop, a right answer and two hand-made hostile entries, alice three
   times more (once the hand-in that used to make the service pause the assignment for everyone);
   the service is killed with SIGKILL while it grades; the hub starts it again; then
   mallory submits once more and her grading's worker is killed twice (retried, then flagged);
4. the due date is moved to now: every graded page shows everything (alice's ``nbgrader
   fetch_feedback``);
5. carol submits once more, late, while the instructor's ``python -m labgrader autograde`` grades
   alice beside the service; ``serve --status`` as the instructor.
"""
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import nbformat
import psutil
import pytest

from conftest import ASSIGNMENT, CORPUS, REPO
from hub import make_classroom, login
import snippets
from labgrader.exchange.times import parse_time
from labgrader.reports.gradebook import cell_scores
from labgrader.service import journal as J
from test_round_trip import (answer, hidden_test_lines, mallory_makes_entry, open_assignments, page_text, row,
                             save_through_server, write_as)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "jupyterlab"))
from lab import browser_page, keep  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.browser]  # the hub, its grading service, Chromium, about 20 gradings

CAP = 4
ALICE_FIRST = "wrong/fresh_embedding"  # visible tests pass, hidden tests fail
CLASSWIDE = "hostile/classwide_empties_pinned"  # one line that used to pause the assignment for everyone
RIGHT = "correct/list_and_flatten"
HIDDEN_FAILURE = "does not contain the embedding layer"  # the judge's message for alice's first answer
POLICY = f"""
# ---- the grading service under test (labgrader/service/) ----
c.Execute.timeout = 8
c.GradingService.before_due = "visible"
c.GradingService.after_due = "full"
c.GradingService.max_per_hour = {CAP}
c.GradingService.rescan_seconds = 3
c.GradingService.workers = 2
"""


def journal(room):
    """The service's journal, read as it is (root reads it; the service keeps writing)."""
    return J.Journal(J.journal_path(room.course), readonly=True)


def snapshot(room):
    db = journal(room)
    try:
        return {"rows": db.rows(), "meta": db.meta(), "graded": db.count_events("graded"), "events": db.events()}
    finally:
        db.close()


def wait_for(what, check, timeout, step=0.3):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def serving(room, not_pid=None):
    """The running service's process (its pid from the journal, alive and fresh), or None."""
    meta = snapshot(room)["meta"]
    if not meta.get("pid") or meta["pid"] == not_pid or time.time() - meta.get("heartbeat", 0) > 10:
        return None
    try:
        return psutil.Process(meta["pid"])
    except psutil.Error:
        return None


def inbound_entries(room):
    return set(os.listdir(room.course_exchange / "inbound"))


def submit(room, who, text):
    """Write ``text`` as the user's notebook and ``nbgrader submit`` it; returns the new entry's name."""
    room.run(who, ["mkdir", "-p", room.users[who].home / ASSIGNMENT], check=True)
    write_as(room, who, room.users[who].home / ASSIGNMENT / snippets.NOTEBOOK, text)
    before = inbound_entries(room)
    room.nbgrader(who, "submit", ASSIGNMENT, check=True)
    return (inbound_entries(room) - before).pop()


def notebook_of(name):
    return answer(name)[1]


def rows_of(snap, entries):
    by_entry = {r["entry"]: r for r in snap["rows"]}
    return [by_entry.get(e) for e in entries]


# ---------------------------------------------------------------------------------------------
# Alice in Chromium


def fetched_pages(room, who):
    """{submission timestamp: page text} of what Fetch Feedback put in the student's folder."""
    folder = room.users[who].home / ASSIGNMENT / "feedback"
    return {p.parent.name: p.read_text() for p in folder.glob("*/*.html")} if folder.is_dir() else {}


def fetch_feedback_until(page, room, want, timeout):
    """Click Fetch Feedback (the Assignments tab) until alice's fetched page contains ``want``."""
    def fetched():
        open_assignments(page)
        button = row(page, "submitted_assignments_list").locator("button:text-is('Fetch Feedback')")
        button.click()
        with_link = page.locator("#submitted_assignments_list a:has-text('view feedback')")
        try:
            with_link.first.wait_for(timeout=3000)
        except Exception:
            return None
        pages = fetched_pages(room, "alice")
        return next((text for text in pages.values() if want in text), None)
    return wait_for(f"alice's page with {want!r}", fetched, timeout, step=0.5)


def alice_submits_in_chromium(page, hub_url, room, seen, shots):
    alice = room.users["alice"]
    login(page, hub_url, "alice", alice.password)
    page.wait_for_selector("#jp-main-dock-panel", timeout=240_000)
    open_assignments(page)
    row(page, "released_assignments_list").locator("button:text-is('Fetch')").click()
    row(page, "fetched_assignments_list").wait_for()
    save_through_server(page, hub_url, "alice", f"{ASSIGNMENT}/{snippets.NOTEBOOK}", notebook_of(ALICE_FIRST))
    before = inbound_entries(room)
    open_assignments(page)
    row(page, "fetched_assignments_list").locator("button:text-is('Submit')").click()
    row(page, "submitted_assignments_list").wait_for()
    submitted = time.monotonic()
    seen["alice_entry"] = wait_for("alice's entry", lambda: (inbound_entries(room) - before) or None, 30).pop()
    seen["alice_receipt"] = fetch_feedback_until(page, room, "Received:", 120)
    seen["t_receipt"] = time.monotonic() - submitted
    page.screenshot(path=str(shots / "service-alice-receipt.png"))
    seen["alice_graded"] = fetch_feedback_until(page, room, "Graded.", 300)
    seen["t_graded"] = time.monotonic() - submitted
    snap = snapshot(room)
    row_ = next(r for r in snap["rows"] if r["entry"] == seen["alice_entry"])
    released = [(e["at"], e["detail"]) for e in snap["events"] if e["key"] == row_["key"] and e["event"] == "released"]
    seen["alice_releases"] = released
    seen["t_receipt_out"] = released[0][0] - row_["time_ns"] / 1e9  # Submit -> receipt in the exchange
    seen["t_feedback_out"] = released[-1][0] - row_["time_ns"] / 1e9  # Submit -> graded page in the exchange
    stamp = next(iter(fetched_pages(room, "alice")))
    page.goto(f"{hub_url}/user/alice/files/{ASSIGNMENT}/feedback/{urllib.parse.quote(stamp)}/{snippets.NOTEBOOK[:-6]}.html")
    seen["alice_graded_in_browser"] = page.content()
    page.screenshot(path=str(shots / "service-alice-feedback.png"), full_page=True)


# ---------------------------------------------------------------------------------------------
# The burst, and the kill


def burst_streams(room):
    """Each student's submissions, in order: what they hand in, one after another."""
    broken = '{"cells": [ this is not JSON'
    return {
        "bob": [notebook_of(RIGHT)] * (CAP + 1),
        "carol": [notebook_of("correct/add_method"), notebook_of("wrong/no_flatten"), notebook_of(RIGHT)],
        "mallory": [broken, notebook_of("hostile/infinite_loop"), notebook_of(RIGHT)],
        "alice": [notebook_of("wrong/model3_is_model2"), notebook_of(CLASSWIDE), notebook_of(RIGHT)],
    }


SUBMIT = ("import sys\nfrom nbgrader.apps.submitapp import SubmitApp\nprint('ready', flush=True)\n"
          "sys.stdin.readline()\nSubmitApp.launch_instance(argv=['embeddings'])\n")


def ready_to_submit(room, who, folder, text):
    """A process of ``who``'s that has imported nbgrader and submits ``~/<folder>/embeddings`` when
    told: the Assignments tab's Submit runs in the student's running server (no interpreter to
    start), so a class can really submit at once."""
    user = room.users[who]
    room.run(who, ["mkdir", "-p", user.home / folder / ASSIGNMENT], check=True)
    write_as(room, who, user.home / folder / ASSIGNMENT / snippets.NOTEBOOK, text)
    env = room.env(who)
    process = subprocess.Popen(["runuser", "-u", who, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()),
                                room.python, "-c", SUBMIT], cwd=user.home / folder, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready", process.stderr.read()[-2000:]
    return process


def run_burst(room, seen):
    streams = burst_streams(room)
    rounds = [[(who, ready_to_submit(room, who, f"burst{k}", texts[k])) for who, texts in streams.items() if k < len(texts)]
              for k in range(max(map(len, streams.values())))]
    first = wait_for("the service", lambda: serving(room), 60)
    seen["pid_before"], seen["uid_of_service"] = first.pid, first.uids().real
    entries = {who: [] for who in streams}
    for submitters in rounds:  # each student's k-th Submit, everyone at once; then the next round
        before = inbound_entries(room)
        for _, process in submitters:
            process.stdin.write("go\n")
            process.stdin.flush()
        for who, process in submitters:
            _, err = process.communicate(timeout=300)
            assert process.returncode == 0, f"{who}: {err[-2000:]}"
        for name in sorted(inbound_entries(room) - before):
            entries[name.split("+")[0]].append(name)
    # mallory's hand-made entries: one claiming alice, one whose notebook is a FIFO
    seen["hostile"] = [mallory_makes_entry(room, "claims", {"embeddings.ipynb": "{}"}, claimed="alice",
                                           stamp="2026-01-01 00:00:00.000000 UTC"),
                       mallory_makes_entry(room, "fifo", script="mkfifo {entry}/embeddings.ipynb")]

    def mid_burst():  # some graded, some waiting, some being graded now
        snap = snapshot(room)
        states = [r["state"] for r in snap["rows"] if r["time_ns"] > seen["burst_started_ns"]]
        return (states.count(J.GRADED) >= 1 and states.count(J.QUEUED) >= 2 and J.GRADING in states
                and snap["meta"].get("pid") == first.pid) or None
    wait_for("the middle of the burst", mid_burst, 300, step=0.05)
    os.kill(first.pid, signal.SIGKILL)
    killed = time.monotonic()
    first.wait(30)
    seen["grading_at_kill"] = {r["key"] for r in snapshot(room)["rows"] if r["state"] == J.GRADING}  # (frozen now)
    seen["burst"] = entries
    second = wait_for("the hub to start the service again", lambda: serving(room, not_pid=first.pid), 180)
    seen["pid_after"], seen["t_restart"] = second.pid, time.monotonic() - killed
    every = [e for names in entries.values() for e in names]

    def drained():
        snap = snapshot(room)
        rows = rows_of(snap, every)
        return snap if all(r and r["state"] in J.DONE + (J.DEFERRED,) for r in rows) else None
    seen["after_burst"] = wait_for("the burst to drain", drained, 600, step=1.0)
    seen["t_burst_drained"] = time.monotonic() - killed


def pool_processes(room):
    """The service's pool workers (forked by multiprocessing's fork server, a child of the service)
    and its kernels' fork server, with that server's kernels."""
    try:
        children = psutil.Process(snapshot(room)["meta"]["pid"]).children()
    except psutil.Error:
        children = []
    forkers = [p for p in children if any("multiprocessing.forkserver" in part for part in p.cmdline())]
    workers = [w for forker in forkers for w in forker.children()]
    servers = [p for p in children if "labgrader.kernels.forkserver" in p.cmdline()]
    kernels = [k for server in servers for k in server.children(recursive=True)]
    return workers, servers, kernels


def crash_twice(room, seen):
    """mallory submits once more, and her grading's worker is killed twice (SIGKILL): it is retried
    once, alone, then flagged; the kernels the dead workers left are ended with their fork server."""
    entry = submit(room, "mallory", notebook_of(RIGHT))
    seen["crashed_entry"], seen["orphans"] = entry, []
    for attempt in (1, 2):
        def grading():
            row_ = next((r for r in snapshot(room)["rows"] if r["entry"] == entry), None)
            return row_ if row_ and row_["state"] == J.GRADING and row_["attempts"] == attempt else None
        wait_for(f"mallory's grading, attempt {attempt}", grading, 180, step=0.02)
        time.sleep(0.3)  # its kernel forked
        workers, servers, kernels = pool_processes(room)
        seen["orphans"] += servers + kernels
        for worker in workers:
            worker.kill()

    def flagged():
        snap = snapshot(room)
        row_ = next(r for r in snap["rows"] if r["entry"] == entry)
        return snap if row_["state"] == J.FLAGGED and not snap["meta"].get("inflight") else None
    seen["after_crashes"] = wait_for("mallory's submission flagged", flagged, 300)
    wait_for("the pool started again", lambda: len(pool_processes(room)[1]) == 1 or None, 120)
    seen["orphans_alive"] = [p.pid for p in seen["orphans"] if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    room.nbgrader("mallory", "fetch_feedback", ASSIGNMENT, check=True)
    seen["mallory_pages"] = fetched_pages(room, "mallory")
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{room.course}/gradebook.db") as gb:
        seen["mallory_needs_manual"] = gb.find_submission(ASSIGNMENT, "mallory").needs_manual_grade


# ---------------------------------------------------------------------------------------------
# The term


@pytest.fixture(scope="module")
def term(hub_site, hub, tmp_path_factory):
    room = make_classroom(hub_site, hub_site.service_course.name)  # the course the hub's service serves
    seen = {}
    try:
        yield room, run_term(room, hub, tmp_path_factory, seen)
    except BaseException:
        dump = REPO / "grader_tests" / "artifacts" / "hub-service-failure.txt"
        dump.parent.mkdir(exist_ok=True)
        (dump.parent / ".gitignore").write_text("*\n")
        with open(dump, "w") as fh:
            for key, value in seen.items():
                fh.write(f"==== {key}\n{repr(value)[-6000:]}\n")
            if (room.course / ".labgrader" / "service" / "journal.sqlite").exists():
                fh.write("==== journal events\n" + json.dumps(snapshot(room)["events"], indent=0)[-20000:])
        raise
    finally:
        import shutil
        shutil.rmtree(room.course, ignore_errors=True)


def run_term(room, hub_url, tmp_path_factory, seen):
    shots = tmp_path_factory.mktemp("service-shots")
    with open(room.course / "nbgrader_config.py", "a") as fh:
        fh.write(POLICY)
    # 1. the instructor
    room.nbgrader("instructor", "generate_assignment", ASSIGNMENT, "--force", check=True)
    room.nbgrader("instructor", "release_assignment", ASSIGNMENT, check=True)
    tomorrow = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    room.nbgrader("instructor", "db", "assignment", "add", ASSIGNMENT, f"--duedate={tomorrow} UTC", check=True)
    started = time.monotonic()
    wait_for("the service to serve the course", lambda: J.journal_path(room.course) and
             os.path.exists(J.journal_path(room.course)) and snapshot(room)["meta"].get("heartbeat"), 300)
    seen["t_service_ready"] = time.monotonic() - started

    # 2. alice in Chromium
    with browser_page() as page:
        alice_submits_in_chromium(page, hub_url, room, seen, shots)
    for shot in shots.iterdir():
        keep(shot, shot.name)

    # 3. the burst, killed in the middle
    seen["burst_started_ns"] = time.time_ns()
    run_burst(room, seen)
    seen["scores_after_burst"] = cell_scores(f"sqlite:///{room.course}/gradebook.db", ASSIGNMENT)
    seen["gradebook_times"] = gradebook_times(room)
    room.nbgrader("bob", "fetch_feedback", ASSIGNMENT, check=True)
    seen["bob_pages"] = fetched_pages(room, "bob")
    crash_twice(room, seen)

    # 4. the due date passes
    now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2)
    seen["due"] = now
    room.nbgrader("instructor", "db", "assignment", "add", ASSIGNMENT, f"--duedate={now:%Y-%m-%d %H:%M:%S} UTC", check=True)
    time.sleep(3)

    def upgraded():
        snap = snapshot(room)
        row_ = next(r for r in snap["rows"] if r["entry"] == seen["alice_entry"])
        return row_["shown"].startswith("graded:full") or None
    wait_for("alice's page to show everything", upgraded, 60)
    room.nbgrader("alice", "fetch_feedback", ASSIGNMENT, check=True)
    seen["alice_pages_after_due"] = fetched_pages(room, "alice")

    # 5. a late resubmission, with the instructor's batch grading alice beside the service
    batch = threading.Thread(target=lambda: seen.__setitem__("batch", room.run(
        "instructor", [room.python, "-m", "labgrader", "autograde", ASSIGNMENT, "--student", "alice", "--workers", "1"],
        timeout=900)))
    batch.start()
    seen["carol_late"] = submit(room, "carol", notebook_of(RIGHT))

    def late_done():
        snap = snapshot(room)
        row_ = next((r for r in snap["rows"] if r["entry"] == seen["carol_late"]), None)
        return snap if row_ and row_["state"] == J.GRADED and row_["shown"].startswith("graded") else None
    seen["final"] = wait_for("carol's late submission", late_done, 300)
    batch.join(900)
    room.nbgrader("carol", "fetch_feedback", ASSIGNMENT, check=True)
    seen["carol_pages"] = fetched_pages(room, "carol")
    seen["final_times"] = gradebook_times(room)
    seen["final_scores"] = cell_scores(f"sqlite:///{room.course}/gradebook.db", ASSIGNMENT)
    seen["status"] = room.run("instructor", [room.python, "-m", "labgrader", "serve", "--status"], check=True).stdout
    timings = {k: round(v, 2) for k, v in seen.items() if k.startswith("t_")}
    (REPO / "grader_tests" / "artifacts").mkdir(exist_ok=True)
    (REPO / "grader_tests" / "artifacts" / "hub-service-timings.json").write_text(json.dumps(timings, indent=1))
    print("service timings (s):", timings)
    return seen


def gradebook_times(room):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{room.course}/gradebook.db") as gb:
        return {s.student_id: s.timestamp for s in gb.assignment_submissions(ASSIGNMENT)}


def entry_time(snap, entry):
    return parse_time(next(r["time"] for r in snap["rows"] if r["entry"] == entry)).replace(tzinfo=None)


# ---------------------------------------------------------------------------------------------
# The tests


def test_alice_sees_her_receipt_then_her_feedback_with_no_instructor_action(term):
    room, seen = term
    (receipt_at, receipt), (_, graded_page) = seen["alice_releases"][0], seen["alice_releases"][-1]
    assert receipt.startswith("queued") and graded_page.startswith("graded:visible")  # a receipt first, then the page
    assert "Received:" in seen["alice_receipt"]
    graded = page_text(seen["alice_graded"])
    assert "Graded." in graded and "visible tests passed" in graded
    browser = page_text(seen["alice_graded_in_browser"])
    assert "Received:" in browser and "visible tests passed" in browser  # what her browser showed


def test_before_the_due_date_the_policy_hides_the_hidden_tests_outcomes(term):
    room, seen = term
    text = " ".join(page_text(seen["alice_graded"]).split())
    # her answer passes the visible tests and fails the hidden ones (the grader says so)...
    first = next(r for r in seen["final"]["rows"] if r["entry"] == seen["alice_entry"])
    assert first["result"]["record"]["score"] == sum(snippets.load(CORPUS / f"{ALICE_FIRST}.py").expected.values()) == 3
    for check in ("q1_param_count", "q2_structure"):
        assert f"{check} visible tests passed" in text, text[:1500]
    for check in ("q2_shares_layer", "q2_same_predictions", "q2_follows_shared_weights"):
        assert f"{check} hidden tests: checked, outcome not shown yet" in text
    # ...and nothing says how the hidden ones went: no message, no points, no score
    assert HIDDEN_FAILURE not in text and "Score" not in text and "/ 8" not in text and "points" not in text
    assert [line for line in hidden_test_lines() if line in text] == []


def test_after_the_due_date_every_page_shows_everything(term):
    room, seen = term
    first = next(t for t in seen["alice_pages_after_due"].values() if HIDDEN_FAILURE in t)
    text = " ".join(page_text(first).split())
    assert "Received:" in text and "Score: 3.0 / 8.0" in text  # nbgrader's page, with the receipt on top
    assert [line for line in hidden_test_lines() if line in text] == []


def test_a_burst_killed_in_the_middle_is_graded_exactly_once_and_nothing_is_lost(term):
    room, seen = term
    snap = seen["after_burst"]
    burst = [e for names in seen["burst"].values() for e in names]
    rows = rows_of(snap, burst)
    assert all(rows), [e for e, r in zip(burst, rows) if r is None]  # every hand-in journaled
    graded = [r for r in rows if r["state"] in (J.GRADED, J.FAILED)]
    assert len(graded) == len(burst) - 1  # all but bob's one over the cap
    final = seen["final"]["graded"]
    assert all(final.get(r["key"]) == 1 for r in rows if r["state"] == J.GRADED), final  # exactly once each
    assert not [k for k, n in final.items() if n > 1]
    assert seen["pid_after"] != seen["pid_before"]  # the hub started it again
    interrupted = {e["key"] for e in snap["events"] if e["event"] == "interrupted"}
    assert interrupted and interrupted == seen["grading_at_kill"]  # it was killed while grading those
    assert all(snap["graded"].get(k) == 1 for k in interrupted)  # ...graded again after the restart, once
    # the gradebook holds each student's newest submission: its time and its scores (a grading
    # killed half-way leaves the new time beside the old scores until it is graded again)
    for who in ("carol", "mallory", "alice"):
        assert seen["gradebook_times"][who] == entry_time(snap, seen["burst"][who][-1]), who
    for who in ("bob", "carol", "mallory", "alice"):
        assert seen["scores_after_burst"][who] == snippets.load(CORPUS / f"{RIGHT}.py").expected, who


def test_a_grading_that_crashes_is_retried_once_alone_then_flagged(term):
    room, seen = term
    snap = seen["after_crashes"]
    row_ = next(r for r in snap["rows"] if r["entry"] == seen["crashed_entry"])
    assert row_["state"] == J.FLAGGED and "grading crashed twice" in row_["reason"] and row_["attempts"] == 2
    events = [e["event"] for e in snap["events"] if e["key"] == row_["key"]]
    assert events.count("started") == 2 and "retry" in events and events[-2:] == ["flagged", "released"], events
    assert snap["graded"].get(row_["key"]) is None  # never recorded as graded
    assert seen["mallory_needs_manual"]  # the gradebook asks for her manual grading...
    page = next(t for t in seen["mallory_pages"].values() if "Could not be graded automatically" in t)
    assert "Your instructor has been told" in page_text(page)  # ...and she is told
    assert seen["orphans"] and seen["orphans_alive"] == []  # no kernel outlives its dead worker
    # the queue went on: carol's late submission was graded after it
    assert next(r for r in seen["final"]["rows"] if r["entry"] == seen["carol_late"])["state"] == J.GRADED


def test_the_service_runs_as_the_instructor_not_root(term):
    room, seen = term
    assert seen["uid_of_service"] == room.users["instructor"].uid != 0


def test_broken_and_hostile_submissions_never_block_the_queue(term):
    room, seen = term
    snap = seen["after_burst"]
    broken, endless, right = rows_of(snap, seen["burst"]["mallory"])
    assert broken["state"] == J.FAILED and "not JSON" in broken["reason"], broken
    assert endless["state"] == J.GRADED and endless["result"]["record"]["score"] == 2  # q1 kept, the loop interrupted
    assert right["state"] == J.GRADED and right["result"]["record"]["score"] == 8
    refused = {r["entry"]: r for r in snap["rows"] if r["state"] == J.REFUSED}
    claims, fifo = seen["hostile"]
    assert "claims to be alice's but is owned by mallory" in refused[claims]["reason"]
    assert "named pipe" in refused[fifo]["reason"]


def test_a_hand_in_reaches_only_its_own_grade_and_pauses_no_one(term):
    """alice's second hand-in empties the export module's pinned objects: a lab error once, which
    paused the assignment's grading for the whole class; now it is her cells that are malformed."""
    room, seen = term
    snap = seen["after_burst"]
    _, attack, right = rows_of(snap, seen["burst"]["alice"])
    assert attack["state"] == J.GRADED and attack["result"]["record"]["score"] == 2, attack
    assert attack["result"]["record"]["flags"], attack
    assert right["state"] == J.GRADED and right["result"]["record"]["score"] == 8
    assert not snap["meta"].get("paused") and not seen["final"]["meta"].get("paused")
    events = [e["event"] for e in snap["events"]]
    assert "paused" not in events


def test_the_per_hour_cap_holds_and_says_so(term):
    room, seen = term
    snap = seen["after_burst"]
    bob = rows_of(snap, seen["burst"]["bob"])
    assert [r["state"] for r in bob] == [J.GRADED] * CAP + [J.DEFERRED]
    assert "over the cap" in bob[-1]["reason"]
    pages = seen["bob_pages"]
    assert len(pages) == CAP + 1
    waiting = [t for t in pages.values() if "Not graded yet" in t]
    assert len(waiting) == 1 and f"at most {CAP} submissions of yours per hour" in page_text(waiting[0])
    assert seen["gradebook_times"]["bob"] == entry_time(snap, seen["burst"]["bob"][CAP - 1])  # the newest graded


def test_a_late_resubmission_is_graded_but_the_gradebook_keeps_the_on_time_one(term):
    room, seen = term
    final = seen["final"]
    late = next(r for r in final["rows"] if r["entry"] == seen["carol_late"])
    assert late["result"]["target"] == "shadow" and late["result"]["kept_on_time"]
    assert seen["final_times"]["carol"] == seen["gradebook_times"]["carol"]  # unchanged
    assert seen["final_scores"]["carol"] == seen["scores_after_burst"]["carol"]
    page = next(t for t in seen["carol_pages"].values() if "graded for your information only" in t)
    assert "Score" in page_text(page)  # after the due date: everything


def test_the_instructors_batch_works_beside_the_service(term):
    room, seen = term
    result = seen["batch"]
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert seen["final_scores"]["alice"] == seen["scores_after_burst"]["alice"]


def test_the_instructor_sees_the_queue_failures_and_refusals(term):
    room, seen = term
    status = seen["status"]
    assert "Grading service: running" in status
    assert "deferred" in status and "over the cap" in status
    assert "Failures" in status and "mallory" in status
    assert "Refused at collection" in status and "claims to be alice's" in status
    assert "GRADED MORE THAN ONCE" not in status


def test_the_services_log_is_the_hubs_without_nbgraders_expected_checksum_warnings(term, hub_site):
    """The grader puts the instructor's test cells back in every submission, so nbgrader says
    "Attribute 'checksum' ... has changed!" for each graded test cell: expected, kept out of the log
    (labgrader/__main__.py); the service's own lines are there."""
    log = hub_site.hub_log.read_text(errors="replace")
    assert "labgrader.service INFO serving embeddings" in log and "is private to its instructor" in log
    assert "Attribute 'checksum'" not in log
