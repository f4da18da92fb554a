"""What the grading service does with entries as they arrive, without a hub or a grading: the
real ``Service._take`` (survey, collect, admit, journal, pages) over a temporary exchange, and the
collector's bounds on what one entry costs to look at. Found by a red-team pass on the service."""
import datetime as dt
import os
import pwd
import time
import types

from labgrader.exchange import entries
from labgrader.service import journal as J
from labgrader.service import server as S
from labgrader.service.policy import GradingService

ASSIGNMENT = "embeddings"
NOTEBOOK = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def service(tmp_path, cap):
    """A Service with a journal, a policy and a temporary exchange, as ``run`` would set it up."""
    root = tmp_path / "course"
    (root / S.SERVICE_DIR).mkdir(parents=True)
    inbound, feedback = tmp_path / "exchange" / "inbound", tmp_path / "exchange" / "feedback"
    inbound.mkdir(parents=True)
    feedback.mkdir()
    s = S.Service(root)
    s.inbound, s.feedback = str(inbound), str(feedback)
    s.journal = J.Journal(J.journal_path(s.root))
    s.policy = GradingService(max_per_hour=cap, before_due="visible", settle_seconds=0.0)
    s.caps = entries.Caps()
    s.coursedir = types.SimpleNamespace(ignore=[".ipynb_checkpoints", "__pycache__"], submitted_directory="submitted",
                                        format_path=lambda *parts: os.path.join(s.root, *parts[1:]))
    s.assignments, s.notebooks = [ASSIGNMENT], {ASSIGNMENT: ["embeddings"]}
    return s


def hand_in(s, tag):
    """One entry of the user running the tests (its owner is its student), written now."""
    me = pwd.getpwuid(os.getuid()).pw_name
    name = f"{me}+{ASSIGNMENT}+2026-11-30 04:00:00.000000 UTC+{tag}"
    folder = os.path.join(s.inbound, name)
    os.mkdir(folder)
    for file, data in (("embeddings.ipynb", NOTEBOOK), ("submission_secret.txt", b"0123456789abcdef" * 2)):
        with open(os.path.join(folder, file), "wb") as fh:
            fh.write(data)
    s._take(name)
    return name


def states(s):
    return {row["entry"].rsplit("+", 1)[1]: row["state"] for row in s.journal.rows()}


def test_a_late_submission_does_not_replace_an_on_time_one_waiting_for_the_cap(tmp_path):
    s = service(tmp_path, cap=1)
    hand_in(s, "first")                        # on time: graded (queued)
    time.sleep(0.02)
    hand_in(s, "second")                       # on time, over the cap: waits
    time.sleep(0.02)
    s.due[ASSIGNMENT] = dt.datetime.now(dt.timezone.utc)  # the due date passes
    time.sleep(0.02)
    hand_in(s, "late")                         # late, over the cap: waits too
    assert states(s) == {"first": J.QUEUED, "second": J.DEFERRED, "late": J.DEFERRED}
    time.sleep(0.02)
    hand_in(s, "later")                        # a newer late one replaces the older late one only
    assert states(s) == {"first": J.QUEUED, "second": J.DEFERRED, "late": J.SUPERSEDED, "later": J.DEFERRED}


def test_a_newer_on_time_submission_replaces_one_waiting(tmp_path):
    s = service(tmp_path, cap=1)
    for tag in ("first", "second", "third"):
        hand_in(s, tag)
        time.sleep(0.02)
    assert states(s) == {"first": J.QUEUED, "second": J.SUPERSEDED, "third": J.DEFERRED}


def test_an_entry_of_endless_folders_is_refused_after_a_bounded_walk(tmp_path):
    inbound = tmp_path / "inbound"
    me = pwd.getpwuid(os.getuid()).pw_name
    entry = inbound / f"{me}+{ASSIGNMENT}+2026-11-30 04:00:00.000000 UTC+x"
    for i in range(300):
        (entry / f"d{i:04d}" / "inner").mkdir(parents=True)
    caps = entries.Caps(max_names=200)
    fd = entries.open_inbound(str(inbound))
    try:
        surveyed = entries.survey(fd, entry.name, ASSIGNMENT, caps)
    finally:
        os.close(fd)
    assert surveyed.student is None
    assert surveyed.refusals == ["the entry holds more than 200 names (files and folders)"]


def test_refusal_reasons_are_capped_with_a_count(tmp_path):
    inbound = tmp_path / "inbound"
    me = pwd.getpwuid(os.getuid()).pw_name
    entry = inbound / f"{me}+{ASSIGNMENT}+2026-11-30 04:00:00.000000 UTC+x"
    entry.mkdir(parents=True)
    for i in range(50):
        (entry / f"link{i:02d}").symlink_to("/etc/passwd")
    fd = entries.open_inbound(str(inbound))
    try:
        surveyed = entries.survey(fd, entry.name, ASSIGNMENT)
    finally:
        os.close(fd)
    assert len(surveyed.refusals) == 21 and surveyed.refusals[-1] == "and 30 more reasons"
    assert all("links are never followed" in r for r in surveyed.refusals[:20])
