"""What the grading service does with submissions as they arrive, without a hub or a grading: the
real intake (labgrader/service/intake.py) and its file-system adapter (inbound.py) over a real
gradebook and a temporary exchange: the per-hour cap, an entry taken once, one copy per distinct
content, the per-student share of the store, the trusted time, and the collector's bounds on what
one entry costs to look at. Found by red-team passes on the service."""
import datetime as dt
import mmap
import os
import time

from service_course import ASSIGNMENT, NOTEBOOK, SECRET, Served, me, set_due

from labgrader.exchange import entries
from labgrader.service import journal as J
from labgrader.service.intake import Submission
from labgrader.service.store import content_digest

MiB = 1024 ** 2


def test_a_late_submission_does_not_replace_an_on_time_one_waiting_for_the_cap(tmp_path):
    s = Served(tmp_path, max_per_hour=1)
    s.hand_in("first")                         # on time: graded (queued)
    time.sleep(0.02)
    s.hand_in("second")                        # on time, over the cap: waits
    time.sleep(0.02)
    set_due(s.course, dt.datetime.now(dt.timezone.utc))  # the due date passes
    time.sleep(0.02)
    s.hand_in("late")                          # late, over the cap: waits too
    assert s.states() == {"first": J.QUEUED, "second": J.DEFERRED, "late": J.DEFERRED}
    time.sleep(0.02)
    s.hand_in("later")                         # a newer late one replaces the older late one only
    assert s.states() == {"first": J.QUEUED, "second": J.DEFERRED, "late": J.SUPERSEDED, "later": J.DEFERRED}


def test_a_newer_on_time_submission_replaces_one_waiting(tmp_path):
    s = Served(tmp_path, max_per_hour=1)
    for tag in ("first", "second", "third"):
        s.hand_in(tag)
        time.sleep(0.02)
    assert s.states() == {"first": J.QUEUED, "second": J.SUPERSEDED, "third": J.DEFERRED}


def test_an_entry_is_taken_once_and_later_changes_are_ignored(tmp_path):
    """#26: 'every ctime change of an entry is a new submission, copied into kept/': 8 chmods of one
    40 MiB entry added 320 MiB. Now an entry is one submission whatever happens to it afterwards."""
    s = Served(tmp_path)
    data = os.urandom(2 * MiB)
    name = s.hand_in("big", {"embeddings.ipynb": NOTEBOOK, "data.bin": data, "submission_secret.txt": SECRET})
    before = s.blobs()
    entry = s.inbound / name
    for mode in (0o700, 0o750, 0o755, 0o700, 0o750, 0o755, 0o700, 0o750):  # each moves the entry's ctime
        os.chmod(entry, mode)
        os.chmod(entry / "data.bin", 0o600 if mode == 0o700 else 0o644)
        (entry / "embeddings.ipynb").write_bytes(NOTEBOOK + b" ")
        assert s.adapter.look(name) is True  # taken already: nothing to do
    assert len(s.journal.rows()) == 1 and s.blobs() == before
    assert s.journal.bytes_of(me()) == len(data) + len(NOTEBOOK) + len(SECRET)


def test_one_copy_per_distinct_content_and_a_share_per_student(tmp_path):
    s = Served(tmp_path, max_bytes_per_student=5 * MiB)
    data = os.urandom(2 * MiB)
    for i in range(4):  # the same data file in four entries (each with its own secret): kept once
        s.hand_in(f"same{i}", {"embeddings.ipynb": NOTEBOOK, "data.bin": data,
                               "submission_secret.txt": f"{i:032x}".encode()})
    assert list(s.states().values()) == [J.QUEUED] * 4
    assert len([b for b in s.blobs()]) == 2 + 4  # the notebook, the data, four secrets
    s.hand_in("other", {"embeddings.ipynb": NOTEBOOK, "data.bin": os.urandom(2 * MiB)})
    s.hand_in("third", {"embeddings.ipynb": NOTEBOOK, "data.bin": os.urandom(2 * MiB)})  # over 5 MiB
    states = s.states()
    assert states["other"] == J.QUEUED and states["third"] == J.REFUSED
    row = next(r for r in s.journal.rows() if r["entry"].endswith("+third"))
    assert "at most 5242880 per student" in row["reason"]
    assert s.journal.bytes_of(me()) <= 5 * MiB and len(s.blobs()) == 2 + 4 + 1  # the refused copy is gone


def test_content_is_read_once_at_receipt_a_dirty_mapping_changes_nothing(tmp_path):
    """#26: bytes written through a shared memory mapping dirtied before the due date move no ctime.
    The service graded (and collect takes) what it copied when it took the entry."""
    s = Served(tmp_path)
    name = s.hand_in("mapped", take=False)
    path = s.inbound / name / "embeddings.ipynb"
    fd = os.open(path, os.O_RDWR)
    mapping = mmap.mmap(fd, len(NOTEBOOK))
    mapping[:] = NOTEBOOK  # every page dirty now, before the entry is taken
    receipt = s.adapter.look(name)
    ctime = os.stat(path).st_ctime_ns
    mapping[:] = NOTEBOOK.replace(b"cells", b"CELLS")  # "the answers", after the receipt
    assert os.stat(path).st_ctime_ns == ctime and path.read_bytes() != NOTEBOOK  # the kernel saw no change
    mapping.close()
    os.close(fd)
    assert s.adapter.look(name) is True  # never looked at again
    files = {p: sha for p, sha, _ in s.journal.refs(receipt.key, J.CONTENT)}
    assert s.store.read(files["embeddings.ipynb"]) == NOTEBOOK


def test_an_entry_taken_long_after_its_last_change_gets_the_time_it_was_read(tmp_path):
    s = Served(tmp_path, receipt_grace_seconds=0.05)
    name = s.hand_in("old", take=False)
    time.sleep(0.3)  # (the service was not running)
    receipt = s.adapter.look(name)
    changed = os.stat(s.inbound / name).st_ctime_ns / 1e9
    assert receipt.received_at.timestamp() >= changed + 0.2  # not the entry's ctime: when it was read, less the grace
    prompt = Served(tmp_path / "prompt")
    name = prompt.hand_in("new", take=False)
    receipt = prompt.adapter.look(name)
    assert abs(receipt.received_at.timestamp() - os.stat(prompt.inbound / name).st_ctime_ns / 1e9) < 1e-3


def test_an_entry_is_taken_only_once_nbgrader_finished_writing_it(tmp_path):
    s = Served(tmp_path, settle_seconds=0.0, incomplete_seconds=30.0)
    name = s.hand_in("writing", {"embeddings.ipynb": NOTEBOOK}, take=False)  # no secret yet
    assert s.adapter.look(name) is False and not s.journal.rows()
    (s.inbound / name / "submission_secret.txt").write_bytes(SECRET)  # nbgrader's last write
    assert s.adapter.look(name).state == J.QUEUED


def test_uploads_are_idempotent_and_checked_against_their_digest(tmp_path):
    s = Served(tmp_path)
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "embeddings.ipynb").write_bytes(NOTEBOOK)
    (upload / "timestamp.txt").write_text("1999-01-01 00:00:00 UTC")  # the student's clock: ignored
    now = dt.datetime.now(dt.timezone.utc)
    first = s.intake.accept(Submission("alice", ASSIGNMENT, now, str(upload), content_digest(str(upload)),
                                       submission_id="u-1"))
    again = s.intake.accept(Submission("alice", ASSIGNMENT, now, str(upload), content_digest(str(upload)),
                                       submission_id="u-1"))
    assert first.state == J.QUEUED and again.duplicate and again.key == first.key == "upload:u-1"
    assert [p for p, _, _ in s.journal.refs(first.key, J.CONTENT)] == ["embeddings.ipynb"]
    changed = s.intake.accept(Submission("alice", ASSIGNMENT, now, str(upload), "0" * 64, submission_id="u-2"))
    assert changed.state == J.REFUSED and "changed while it was received" in changed.reason
    for student, why in (("a*", "glob characters"), ("../bob", "not a student id")):
        refused = s.intake.accept(Submission(student, ASSIGNMENT, now, str(upload), content_digest(str(upload))))
        assert refused.state == J.REFUSED and why in refused.reason


def test_an_entry_of_endless_folders_is_refused_after_a_bounded_walk(tmp_path):
    inbound = tmp_path / "inbound"
    entry = inbound / f"{me()}+{ASSIGNMENT}+2026-11-30 04:00:00.000000 UTC+x"
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
    entry = inbound / f"{me()}+{ASSIGNMENT}+2026-11-30 04:00:00.000000 UTC+x"
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


def test_collect_takes_an_entry_the_service_received_only_as_it_was_received(tmp_path):
    """``nbgrader collect`` (TrustedCollect) asks the service's journal: an entry the service took is
    collected under the service's time, and only if its files are byte for byte what was received;
    one the service refused is never collected."""
    from nbgrader.coursedir import CourseDirectory

    from labgrader.exchange.collect import TrustedCollect
    s = Served(tmp_path)
    name = s.hand_in("taken")
    received = s.journal.get(f"inbound:{name}")
    collect = TrustedCollect(coursedir=CourseDirectory(root=s.course.root))
    entry = entries.Entry(name)
    refused, verify = collect._as_received(entry)
    assert refused == "" and abs(entry.time.timestamp() - received["time_ns"] / 1e9) < 2e-6  # (microseconds, as floats)
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in ("embeddings.ipynb", "submission_secret.txt"):
        (copy / file).write_bytes((s.inbound / name / file).read_bytes())
    (copy / "timestamp.txt").write_text("the collector's own")
    assert verify(str(copy)) == ""
    (copy / "embeddings.ipynb").write_bytes(NOTEBOOK.replace(b"cells", b"CELLS"))  # the same size, other bytes
    assert "its files changed after the grading service received it" in verify(str(copy))
    (copy / "embeddings.ipynb").write_bytes(NOTEBOOK)
    (copy / "extra.py").write_text("x = 1")
    assert "extra.py" in verify(str(copy))
    bad = s.hand_in("bad", {"embeddings.ipynb": NOTEBOOK, "link": b""}, take=False)
    os.unlink(s.inbound / bad / "link")
    os.symlink("/etc/passwd", s.inbound / bad / "link")
    s.adapter.look(bad)
    assert s.journal.get(f"inbound:{bad}")["state"] == J.REFUSED
    refused, _ = collect._as_received(entries.Entry(bad))
    assert "the grading service refused it when it was received" in refused
    assert collect._as_received(entries.Entry("never+embeddings+t+seen")) == ("", None)


def test_a_gradebook_is_made_only_once_it_has_this_courses_row(tmp_path):
    """nbgrader makes the tables first and inserts the course's row after: a service that opened the
    gradebook in between inserted the row itself, and the instructor's first ``generate_assignment``
    then failed with "UNIQUE constraint failed: course.id" (seen on the pod hub)."""
    import contextlib
    import sqlite3

    from service_course import make_course
    course = make_course(tmp_path)
    assert course.gradebook_made()
    with contextlib.closing(sqlite3.connect(tmp_path / "course" / "gradebook.db")) as db, db:
        db.execute("DELETE FROM course")
    assert not course.gradebook_made()  # tables, no row yet: nbgrader is still making it
