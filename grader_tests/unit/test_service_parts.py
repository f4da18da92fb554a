"""Fast tests of the grading service's pure parts (no kernel, no hub): the policy (levels, the
per-hour cap, which submission the gradebook keeps, queue order), the journal (restart, crash
accounting, page names), the student's page at each level, the per-student lock, the watcher's
entry names. The service end to end: grader_tests/hub/test_service.py."""
import datetime as dt
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import asdict, replace

import pytest

from labgrader import locks
from labgrader.record import CheckResult, SubmissionRecord
from labgrader.service import doorbell
from labgrader.service import journal as J
from labgrader.service.pages import PageView, render
from labgrader.service.intake import valid_secret
from labgrader.service.policy import (GradingService, Lanes, Running, cap_decision, keeps_in_gradebook, level_at, plan,
                                      queue_order, shows)
from labgrader.service.watch import entry_of

UTC = dt.timezone.utc
DUE = dt.datetime(2026, 12, 1, 17, 0, tzinfo=UTC)


# ------------------------------------------------------------------ policy

def test_levels_before_and_after_the_due_date():
    policy = GradingService()
    assert (policy.before_due, policy.after_due) == ("visible", "full")  # hidden outcomes only after the due date
    assert level_at(policy, DUE - dt.timedelta(seconds=1), DUE) == "visible"
    assert level_at(policy, DUE, DUE) == "visible"  # at the due date itself a hand-in is on time
    assert level_at(policy, DUE + dt.timedelta(seconds=1), DUE) == "full"
    assert level_at(policy, DUE + dt.timedelta(days=9), None) == "visible"  # no due date: still open
    custom = GradingService(before_due="receipt", after_due="score")
    assert level_at(custom, DUE - dt.timedelta(hours=1), DUE) == "receipt"
    assert level_at(custom, DUE + dt.timedelta(hours=1), DUE) == "score"
    with pytest.raises(Exception):
        GradingService(before_due="everything")


def test_levels_are_ordered():
    assert shows("full", "score") and shows("score", "visible") and shows("visible", "receipt")
    assert not shows("visible", "score") and not shows("receipt", "visible")


def test_the_cap_counts_the_last_hour_and_says_when_a_slot_frees_up():
    now = 100_000.0
    assert cap_decision([], now, 3).allowed
    assert cap_decision([now - 10, now - 20], now, 3) == cap_decision([now - 10, now - 20], now, 3)
    full = cap_decision([now - 3000, now - 100, now - 10], now, 3)
    assert not full.allowed and full.used == 3 and full.next_slot == pytest.approx(now - 3000 + 3600)
    old = cap_decision([now - 3700, now - 100, now - 10], now, 3)  # one fell out of the hour
    assert old.allowed and old.used == 2
    assert cap_decision([now] * 50, now, 0).allowed  # 0: no cap
    many = cap_decision([now - 500, now - 400, now - 300, now - 200], now, 2)
    assert not many.allowed and many.next_slot == pytest.approx(now - 300 + 3600)  # the second newest must leave


def test_the_gradebook_keeps_the_newest_on_time_submission_else_the_newest_late_one():
    before, after = DUE - dt.timedelta(minutes=5), DUE + dt.timedelta(minutes=5)
    assert keeps_in_gradebook(before, None, DUE)
    assert keeps_in_gradebook(after, None, DUE)  # no other: the late one counts (nbgrader --before-duedate)
    assert not keeps_in_gradebook(after, before, DUE)  # on time beats late
    assert keeps_in_gradebook(before, after, DUE)
    assert keeps_in_gradebook(before + dt.timedelta(seconds=1), before, DUE)
    assert not keeps_in_gradebook(before, before + dt.timedelta(seconds=1), DUE)  # an older one arriving late
    assert keeps_in_gradebook(after + dt.timedelta(seconds=1), after, DUE)
    assert keeps_in_gradebook(after, before, None)  # no due date: the newest
    # the same submission again (its grading was interrupted after its copy was put in place): it
    # goes in, or the gradebook would keep that interrupted grading's half-written rows
    assert keeps_in_gradebook(before, before, DUE) and keeps_in_gradebook(after, after, DUE)


def queued(*items):
    return [{"key": f"k{i}", "time_ns": t, "assignment": "a", "student": s, "suspect": 0}
            for i, (t, s) in enumerate(items)]


def test_a_burst_drains_in_arrival_order_one_grading_per_student_at_a_time():
    rows = queued((5, "bob"), (1, "alice"), (3, "alice"), (2, "carol"), (4, "dave"))
    assert [r["time_ns"] for r in queue_order(rows)] == [1, 2, 4, 5, 3]  # each student's first, then the seconds
    chosen = plan(rows, [], {}, 0.0, Lanes(3))
    assert [(r["student"], r["time_ns"]) for r in chosen] == [("alice", 1), ("carol", 2), ("dave", 4)]
    chosen = plan(rows, [Running("a", "carol", 0.0)], {}, 0.0, Lanes(5))
    assert [r["student"] for r in chosen] == ["alice", "dave", "bob"]
    assert plan(rows, [Running("a", "x", 0.0), Running("a", "y", 0.0)], {}, 0.0, Lanes(2)) == []


def test_round_robin_serves_the_student_who_used_least_first():
    """Three students who used minutes of grading this hour, each with submissions queued before a
    fourth student's first: the fourth goes first, then the others by what they used."""
    rows = queued((1, "slow1"), (2, "slow2"), (3, "slow3"), (4, "slow1"), (9, "fresh"))
    usage = {"slow1": 90.0, "slow2": 30.0, "slow3": 60.0}
    order = [(r["student"], r["time_ns"]) for r in queue_order(rows, usage, Lanes(1))]
    assert order == [("fresh", 9), ("slow2", 2), ("slow3", 3), ("slow1", 1), ("slow1", 4)]


def test_long_gradings_leave_the_workers_to_others_up_to_the_burst():
    lanes = Lanes(workers=2, burst=2, long_after=10.0)
    now = 1000.0
    long_ones = [Running("a", f"slow{i}", now - 30) for i in range(2)]
    rows = queued((1, "slow2"), (2, "fresh"))
    # two gradings have run for 30 s: they no longer count against the 2 workers
    assert [r["student"] for r in plan(rows, long_ones, {}, now, lanes)] == ["slow2", "fresh"]
    # four in flight (the workers and the burst): nobody starts, however long they have run
    four = long_ones + [Running("a", "slow2", now - 30), Running("a", "slow3", now - 30)]
    assert plan(queued((2, "fresh")), four, {}, now, lanes) == []
    # two young gradings hold the workers: a third waits (at most long_after) even with burst free
    young = [Running("a", "x", now - 1), Running("a", "y", now - 1)]
    assert plan(queued((2, "fresh")), young, {}, now, lanes) == []


def test_students_over_budget_never_take_the_last_free_worker():
    lanes = Lanes(workers=2, burst=1, long_after=10.0, budget=60.0, reserved=1)
    now = 1000.0
    running = [Running("a", "slow1", now - 30)]  # long: one of three in flight
    rows = queued((1, "slow2"), (2, "slow3"))
    usage = {"slow2": 100.0, "slow3": 100.0}
    chosen = plan(rows, running, usage, now, lanes)
    assert [r["student"] for r in chosen] == ["slow2"]  # the last free one stays free
    fresh = dict(queued((5, "fresh"))[0], key="kf")
    assert [r["student"] for r in plan(rows + [fresh], running, usage, now, lanes)] == ["fresh"]  # first, and alone


def test_a_submission_that_crashed_runs_alone():
    rows = queued((1, "alice"), (2, "bob"))
    rows[1]["suspect"] = 1
    assert [r["student"] for r in plan(rows, [], {}, 0.0, Lanes(3))] == ["bob"]
    assert plan(rows, [Running("a", "carol", 0.0)], {}, 0.0, Lanes(3)) == []
    assert plan(queued((1, "alice")), [Running("a", "bob", 0.0, suspect=True)], {}, 0.0, Lanes(3)) == []


# ------------------------------------------------------------------ journal

def row(key, time_ns, student="alice", state=J.QUEUED, **extra):
    return {"key": key, "entry": key.split("@")[0], "assignment": "embeddings", "student": student, "uid": 1000,
            "time": f"2026-12-01 10:00:0{time_ns % 10}.000000 UTC", "time_ns": time_ns, "state": state, **extra}


def test_the_journal_survives_a_restart_and_requeues_what_was_being_graded(tmp_path):
    path = str(tmp_path / "journal.sqlite")
    journal = J.Journal(path)
    journal.add(row("e1@1", 1, admitted=10.0), "queued")
    journal.add(row("e2@2", 2, student="bob", admitted=11.0), "queued")
    journal.update("e1@1", "started", state=J.GRADING, attempts=1)
    journal.update("e2@2", "started", state=J.GRADING, attempts=1)
    journal.update("e2@2", "graded", state=J.GRADED, result={"ok": True, "score": 8})
    del journal  # a SIGKILL: no close, no cleanup

    again = J.Journal(path)
    assert again.recover() == ["e1@1"]
    first = again.get("e1@1")
    assert first["state"] == J.QUEUED and first["suspect"] == 1 and first["attempts"] == 1
    assert again.get("e2@2")["state"] == J.GRADED and again.get("e2@2")["result"]["score"] == 8
    assert again.count_events("graded") == {"e2@2": 1}
    assert [e["event"] for e in again.events("e1@1")] == ["queued", "started", "interrupted"]
    assert again.admitted_times("embeddings", "alice") == [10.0]
    assert again.entries() == {"e1", "e2"}


def test_a_submission_interrupted_twice_is_flagged_not_retried_forever(tmp_path):
    journal = J.Journal(str(tmp_path / "j.sqlite"))
    journal.add(row("e1@1", 1), "queued")
    journal.update("e1@1", "started", state=J.GRADING, attempts=J.MAX_ATTEMPTS)
    journal.recover()
    flagged = journal.get("e1@1")
    assert flagged["state"] == J.FLAGGED and "interrupted twice" in flagged["reason"]


def test_a_page_name_belongs_to_the_first_student_who_submitted_with_it(tmp_path):
    journal = J.Journal(str(tmp_path / "j.sqlite"))
    assert journal.claim_page("abc", "carol", "c@1", "submission") == ""
    assert journal.claim_page("abc", "carol", "c@2", "submission") == ""  # her own again: fine
    stolen = journal.claim_page("abc", "mallory", "m@1", "submission")
    assert "carol's" in stolen and "not released" in stolen
    assert journal.claim_page("abc", "mallory", "m@2", "refusal")  # a refusal page never takes one either
    # a refusal page gives its name up to a real submission
    assert journal.claim_page("xyz", "mallory", "m@3", "refusal") == ""
    assert journal.claim_page("xyz", "alice", "a@1", "submission") == ""
    assert journal.claim_page("xyz", "mallory", "m@4", "refusal")


def test_meta_and_missing_rows(tmp_path):
    journal = J.Journal(str(tmp_path / "j.sqlite"))
    journal.set_meta(pid=42, paused={"embeddings": "broken"})
    assert journal.meta() == {"pid": 42, "paused": {"embeddings": "broken"}}
    assert not journal.has("nope")
    with pytest.raises(KeyError):
        journal.get("nope")


# ------------------------------------------------------------------ pages

CHECKS = [CheckResult("q1", 2, 2, True),
          CheckResult("q2", 1, 0, True, "model3 is a Functional", "model3 is a Functional, not a Sequential model"),
          CheckResult("q3", 5, 1, False, "HIDDEN-SECRET-MESSAGE")]
RECORD = SubmissionRecord("alice", "embeddings", ok=True, score=3.0, max_score=8.0,
                          checks={"nb": [asdict(c) for c in CHECKS]}, faults_by_notebook={"nb": []})
FULL_PAGE = b"<html><head><title>nbgrader</title></head><body class='x'><p>Score: 3.0 / 8.0 HIDDEN-SECRET-MESSAGE</p></body></html>"


def page(level, state=J.GRADED, **kw):
    view = PageView("embeddings", "nb", "2026-12-01 10:00:00.000000 UTC", state, level, due=DUE, record=RECORD,
                    full_page=FULL_PAGE, **kw)
    return render(view).decode()


def test_before_the_due_date_the_visible_level_hides_every_hidden_outcome_and_the_score():
    text = page("visible")
    assert "Received" in text and "2026-12-01 10:00:00.000000 UTC" in text
    assert "q1" in text and "visible tests passed" in text
    assert "model3 is a Functional, not a Sequential model" in text  # the visible test's own message
    assert "HIDDEN-SECRET-MESSAGE" not in text and "Score" not in text and "3 / 8" not in text
    assert "hidden tests: checked, outcome not shown yet" in text
    assert "2026-12-01 17:00 UTC" in text  # when the rest is shown


def test_receipt_score_and_full_levels():
    receipt = page("receipt")
    assert "Received" in receipt and "q1" not in receipt and "Score" not in receipt
    score = page("score")
    assert "Score: 3 / 8" in score and "HIDDEN-SECRET-MESSAGE" not in score
    full = page("full")
    assert full.startswith("<html><head><title>nbgrader</title></head><body class='x'>")  # nbgrader's page...
    assert full.index("Received") < full.index("HIDDEN-SECRET-MESSAGE")  # ...with the receipt on top


def test_pages_for_submissions_not_graded_say_why():
    assert "Being graded (4 ahead of it)" in page("visible", state=J.QUEUED, ahead=4)
    deferred = page("visible", state=J.DEFERRED, cap=3, not_before=DUE.timestamp())
    assert "at most 3 submissions of yours per hour" in deferred and "17:00 UTC" in deferred
    assert "Not accepted: a.ipynb is a symbolic link" in page("visible", state=J.REFUSED,
                                                                reason="a.ipynb is a symbolic link")
    assert "Could not be graded automatically" in page("full", state=J.FLAGGED, reason="grading crashed twice")
    assert "newer submission is graded instead" in page("visible", state=J.SUPERSEDED)
    assert "Grading is paused" in page("visible", state=J.QUEUED, paused=True)


def test_late_resubmissions_say_which_submission_counts():
    text = render(PageView("embeddings", "nb", "t", J.GRADED, "full", due=DUE, record=RECORD,
                           kept_instead="2026-12-01 16:59:00.000000 UTC")).decode()
    assert "graded for your information only" in text and "2026-12-01 16:59:00" in text
    penalised = replace(RECORD, seconds_late=300.0, late_penalty=3.0)
    text = render(PageView("embeddings", "nb", "t", J.GRADED, "score", due=DUE, record=penalised)).decode()
    assert "5 min after the due date" in text and "late penalty 3: 0 counts" in text


def test_student_made_text_is_escaped_on_every_page():
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    record = SubmissionRecord(hostile, hostile, ok=True, faults_by_notebook={hostile: [hostile]},
                              checks={hostile: [asdict(CheckResult(hostile, 1, 0, True, hostile, hostile))]})
    for level in ("visible", "score", "full"):
        text = render(PageView(hostile, hostile, hostile, J.GRADED, level, reason=hostile, record=record,
                               kept_instead=hostile)).decode()
        assert "<script>" not in text and "<img" not in text, level
        assert "&lt;script&gt;" in text
    refused = render(PageView("a", "nb", "t", J.REFUSED, "visible", reason=hostile)).decode()
    assert "<script>" not in refused


# ------------------------------------------------------------------ the per-student lock

def _hold(root, started, release_file):
    with locks.student_lock(root, "embeddings", "alice"):
        started.set()
        deadline = time.monotonic() + 30
        while not os.path.exists(release_file) and time.monotonic() < deadline:
            time.sleep(0.02)


def _holder(tmp_path):
    ctx = multiprocessing.get_context("fork")
    started, release = ctx.Event(), tmp_path / "release"
    process = ctx.Process(target=_hold, args=(str(tmp_path), started, str(release)))
    process.start()
    assert started.wait(20)
    return process, release


def test_the_lock_is_per_student_reentrant_and_freed_when_its_holder_dies(tmp_path):
    holder, release = _holder(tmp_path)
    try:
        assert locks.is_locked(tmp_path, "embeddings", "alice")
        assert not locks.is_locked(tmp_path, "embeddings", "bob")
        with locks.student_lock(tmp_path, "embeddings", "bob"):  # another student: not blocked
            with locks.student_lock(tmp_path, "embeddings", "bob"):  # reentrant in one process
                pass
        os.kill(holder.pid, signal.SIGKILL)  # a grader killed while holding it
        holder.join(10)
        began = time.monotonic()
        with locks.student_lock(tmp_path, "embeddings", "alice"):
            assert time.monotonic() - began < 5
    finally:
        release.touch()
        holder.join(5)
    assert not locks.is_locked(tmp_path, "embeddings", "alice")
    names = os.listdir(tmp_path / ".labgrader" / "locks")
    assert all("alice" not in n and n.endswith(".lock") for n in names)  # no student id in a file name


def test_a_second_grader_waits_for_the_lock(tmp_path):
    holder, release = _holder(tmp_path)
    try:
        timer = threading.Timer(0.5, release.touch)
        timer.start()
        began = time.monotonic()
        with locks.student_lock(tmp_path, "embeddings", "alice"):
            assert time.monotonic() - began >= 0.4
    finally:
        release.touch()
        holder.join(5)


# ------------------------------------------------------------------ small helpers

def test_watched_paths_name_their_entry():
    assert entry_of("/x/inbound", "/x/inbound/alice+a+t+r/embeddings.ipynb") == "alice+a+t+r"
    assert entry_of("/x/inbound", "/x/inbound/alice+a+t+r") == "alice+a+t+r"
    assert entry_of("/x/inbound", "/x/inbound") is None
    assert entry_of("/x/inbound", "/x/other/f") is None


def test_secrets():
    assert valid_secret(b"0123456789abcdef0123\n") == "0123456789abcdef0123"
    for bad in (b"../../etc", b"short", b"<html>" * 10, "é".encode() * 20):
        assert valid_secret(bad) == ""


def test_the_watcher_watches_inbound_itself_not_the_folders_in_it(tmp_path):
    """#26: a watch per folder let one entry of 200,000 folders take every inotify watch of the
    instructor's uid. One watch, on inbound; new entries are named all the same."""
    import queue as queue_module
    from pathlib import Path

    from labgrader.service.watch import InboundWatcher
    inbound = tmp_path / "inbound"
    inbound.mkdir()
    names, stop = queue_module.Queue(), threading.Event()
    watcher = InboundWatcher(str(inbound), names, stop)
    watcher.start()
    try:
        time.sleep(0.5)
        entry = inbound / "alice+embeddings+t+r"
        for i in range(300):
            (entry / f"d{i:03d}" / "inner").mkdir(parents=True)
        assert names.get(timeout=10) == entry.name
        time.sleep(0.5)
        watches = sum(line.startswith("inotify wd:") for fd in Path("/proc/self/fdinfo").iterdir()
                      for line in _lines(fd))
        assert watches == 1
    finally:
        stop.set()
        watcher.join(10)


def _lines(path):
    try:
        return path.read_text().splitlines()
    except OSError:
        return []


def test_a_journal_of_the_first_version_is_migrated_and_its_entries_never_taken_again(tmp_path):
    import sqlite3
    path = tmp_path / "journal.sqlite"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE submissions (key TEXT PRIMARY KEY, entry TEXT NOT NULL, assignment TEXT NOT NULL,
            student TEXT NOT NULL, uid INTEGER NOT NULL DEFAULT -1, time TEXT NOT NULL, time_ns INTEGER NOT NULL,
            seen REAL NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            suspect INTEGER NOT NULL DEFAULT 0, admitted REAL, not_before REAL, started REAL, graded REAL,
            kept TEXT NOT NULL DEFAULT '', secret TEXT NOT NULL DEFAULT '', notebooks TEXT NOT NULL DEFAULT '[]',
            reason TEXT NOT NULL DEFAULT '', result TEXT NOT NULL DEFAULT '{}', shown TEXT NOT NULL DEFAULT '');
        CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, key TEXT NOT NULL,
            event TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
        INSERT INTO submissions (key, entry, assignment, student, time, time_ns, seen, state, shown)
            VALUES ('e1@5', 'e1', 'embeddings', 'alice', 't', 5, 1.0, 'graded', 'graded:full@');
    """)
    old.close()
    journal = J.Journal(str(path))
    assert journal.db.execute("PRAGMA user_version").fetchone()[0] == J.VERSION
    row = journal.get("e1@5")
    assert row["source"] == "inbound" and row["charge"] == 0 and row["state"] == J.GRADED
    assert journal.entries() == {"e1"}
    journal.add_refs("e1@5", J.PAGE, [("embeddings", "ab" * 32, 10)])
    assert journal.bytes_of("alice") == 10
    journal.close()
    assert J.Journal(str(path)).get("e1@5")["entry"] == "e1"  # opened again: nothing to migrate


def _open_and_close_the_journal(path, stop):
    while not stop.is_set():  # each last close removes the WAL, as the service's connections do
        J.Journal(path).close()


def test_a_reader_opens_the_journal_while_the_service_opens_and_closes_it(tmp_path):
    path = str(tmp_path / "journal.sqlite")
    J.Journal(path).close()
    stop = multiprocessing.Event()
    writer = multiprocessing.Process(target=_open_and_close_the_journal, args=(path, stop))
    writer.start()
    try:
        deadline = time.monotonic() + 1
        opened = 0
        while time.monotonic() < deadline:
            J.Journal(path, readonly=True).close()  # never "unable to open database file"
            opened += 1
        assert opened > 20
    finally:
        stop.set()
        writer.join(10)


def test_the_doorbell_wakes_the_service_at_once_and_a_ring_without_it_is_dropped(tmp_path):
    """An intake in another process rings after journaling; the service's loop looks at once."""
    os.makedirs(os.path.dirname(J.journal_path(tmp_path)))
    doorbell.ring(tmp_path)  # nobody listens yet: dropped, no error
    rung, stop = threading.Event(), threading.Event()
    try:
        assert doorbell.listen(tmp_path, rung.set, stop)
        assert oct(os.stat(doorbell.doorbell_path(tmp_path)).st_mode & 0o777) == "0o600"  # the owner's alone
        started = time.monotonic()
        doorbell.ring(tmp_path)
        assert rung.wait(5) and time.monotonic() - started < 1.0
    finally:
        stop.set()
    deadline = time.monotonic() + 5
    while os.path.exists(doorbell.doorbell_path(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(doorbell.doorbell_path(tmp_path))  # gone with the service
    doorbell.ring(tmp_path)  # again nobody: dropped
    deep = tmp_path / ("x" * 120)  # too long a path for a Unix socket: no doorbell, the service looks as before
    os.makedirs(os.path.dirname(J.journal_path(deep)))
    assert not doorbell.listen(deep, rung.set, stop)
