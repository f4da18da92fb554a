"""Fast tests of the exchange's pure parts: reading one inbound entry (owners, times, links,
special files, names, caps), the report, time parsing, the private feedback ACL. Owners other than
root need root (the suite's CI runs as root); they use the system users nobody and daemon."""
import datetime as dt
import json
import os
import pwd
import subprocess
import time

import pytest

from labgrader.exchange import entries, report
from labgrader.exchange.layout import SetupRefused
from labgrader.exchange.release_feedback import readable_only_by
from labgrader.exchange.times import AmbiguousTime, duedate_problem, format_timestamp, parse_time

ASSIGNMENT = "embeddings"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="files owned by other users need root")


def _user(name):
    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def make_entry(inbound, name, owner="nobody", files=None):
    uid, gid = _user(owner)
    path = inbound / name
    path.mkdir(parents=True)
    for rel, text in (files or {"embeddings.ipynb": "{}", "timestamp.txt": "2000-01-01 00:00:00 UTC"}).items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    for p in [path, *path.rglob("*")]:
        os.chown(p, uid, gid, follow_symlinks=False)
    return path


def collect(inbound, name, tmp_path, caps=entries.Caps()):
    return entries.collect_entry(str(inbound), name, ASSIGNMENT, str(tmp_path / "submitted"), caps)


@as_root
def test_clean_entry_is_collected_as_its_owner_with_the_kernels_time(tmp_path):
    inbound = tmp_path / "inbound"
    before = dt.datetime.now(dt.timezone.utc)
    make_entry(inbound, "nobody+embeddings+2000-01-01 00:00:00.000000 UTC+abc")
    result = collect(inbound, "nobody+embeddings+2000-01-01 00:00:00.000000 UTC+abc", tmp_path)
    assert result.status == "collected" and result.student == "nobody", result.refusals
    assert before - dt.timedelta(seconds=1) <= result.time <= dt.datetime.now(dt.timezone.utc)
    dest = tmp_path / "submitted" / "nobody" / ASSIGNMENT
    assert (dest / "embeddings.ipynb").read_text() == "{}"
    assert (dest / "timestamp.txt").read_text() == format_timestamp(result.time)  # never the student's 2000
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".collecting")]


@as_root
def test_a_newer_entry_replaces_the_copy_an_older_one_does_not(tmp_path):
    inbound = tmp_path / "inbound"
    make_entry(inbound, "nobody+embeddings+old+r", files={"embeddings.ipynb": "old"})
    time.sleep(0.02)
    make_entry(inbound, "nobody+embeddings+new+r", files={"embeddings.ipynb": "new"})
    assert collect(inbound, "nobody+embeddings+new+r", tmp_path).status == "collected"
    assert collect(inbound, "nobody+embeddings+old+r", tmp_path).status == "superseded"
    assert (tmp_path / "submitted" / "nobody" / ASSIGNMENT / "embeddings.ipynb").read_text() == "new"


@as_root
def test_an_edit_after_submitting_moves_the_time(tmp_path):
    inbound = tmp_path / "inbound"
    path = make_entry(inbound, "nobody+embeddings+t+r")
    first = entries.survey(entries.open_inbound(str(inbound)), "nobody+embeddings+t+r", ASSIGNMENT).time
    time.sleep(0.05)
    os.utime(path / "embeddings.ipynb", (0, 0))  # mtime back to 1970: ctime moves to now
    second = entries.survey(entries.open_inbound(str(inbound)), "nobody+embeddings+t+r", ASSIGNMENT).time
    assert second > first
    time.sleep(0.05)
    (path / "timestamp.txt").unlink()  # deleting the student's clock is a change too
    assert entries.survey(entries.open_inbound(str(inbound)), "nobody+embeddings+t+r", ASSIGNMENT).time > second


@as_root
@pytest.mark.parametrize("name, reason", [
    ("daemon+embeddings+t+r", "claims to be daemon's but is owned by nobody"),
    ("..+embeddings+t+r", "not a student id"),
    ("a*+embeddings+t+r", "glob characters"),
    ("nob\x1b[31mody+embeddings+t+r", "control characters"),
])
def test_claimed_ids_that_are_not_the_owner_are_quarantined(tmp_path, name, reason):
    inbound = tmp_path / "inbound"
    make_entry(inbound, name)
    result = collect(inbound, name, tmp_path)
    assert result.status == "quarantined" and result.student is None
    assert reason in " ".join(result.refusals)
    assert not (tmp_path / "submitted").exists() or not any((tmp_path / "submitted").rglob("*.ipynb"))


@as_root
def test_hostile_contents_are_refused_with_reasons(tmp_path):
    inbound = tmp_path / "inbound"
    secret = tmp_path / "gradebook.db"
    secret.write_text("grades")
    cases = {
        "link": lambda p: os.symlink(secret, p / "gradebook.db"),
        "devzero": lambda p: os.symlink("/dev/zero", p / "zero.ipynb"),
        "fifo": lambda p: os.mkfifo(p / "pipe.ipynb"),
        "device": lambda p: os.mknod(p / "null", 0o20644, os.makedev(1, 3)),
        "big": lambda p: (p / "big.bin").write_bytes(b"x" * 3000),
        "sparse": lambda p: os.truncate(p / "embeddings.ipynb", 1 << 30),
        "glob": lambda p: (p / "[a].ipynb").write_text("{}"),
        "control": lambda p: (p / "\x07bell.ipynb").write_text("{}"),
        "foreign": lambda p: ((p / "extra.py").write_text("x"), os.chown(p / "extra.py", *_user("daemon"))),
        "many": lambda p: [(p / f"f{i}").write_text("x") for i in range(12)],
    }
    expected = {"link": "symbolic link (to", "devzero": "symbolic link (to /dev/zero", "fifo": "named pipe",
                "device": "character device", "big": "3000 bytes", "sparse": "sparse", "glob": "glob or path",
                "control": "control characters", "foreign": "owned by daemon", "many": "more than 10 files"}
    for case, make in cases.items():
        name = f"nobody+embeddings+{case}+r"
        path = make_entry(inbound, name)
        make(path)
        for p in path.iterdir():
            if p.name != "extra.py":
                os.chown(p, *_user("nobody"), follow_symlinks=False)
        result = collect(inbound, name, tmp_path, entries.Caps(max_file_bytes=2000, max_files=10))
        assert result.status == "quarantined", case
        assert expected[case] in " ".join(result.refusals), (case, result.refusals)
    assert not (tmp_path / "submitted").exists()
    # the entry itself a link to the instructor's folder
    os.symlink(tmp_path, inbound / "nobody+embeddings+entrylink+r")
    result = collect(inbound, "nobody+embeddings+entrylink+r", tmp_path)
    assert "the entry is a symbolic link" in result.refusals[0]


def test_entry_names():
    assert entries.parse_entry_name("alice+embeddings+2026-01-01 10:00:00.000000 UTC+AbC", ASSIGNMENT) == (
        "alice", "2026-01-01 10:00:00.000000 UTC")
    assert entries.parse_entry_name("a+b+embeddings+t+r", ASSIGNMENT) == ("a+b", "t")
    assert entries.parse_entry_name("alice+other+t+r", ASSIGNMENT) is None
    assert entries.name_problem("..") and entries.name_problem("a/b") and entries.name_problem("x\x00")
    assert not entries.name_problem("embeddings.ipynb")


def test_report_lists_refusals(tmp_path):
    records = [{"entry": "alice+embeddings+t+r", "owner": "mallory", "claimed": "alice", "status": "quarantined",
                "reasons": ["claims"], "time": None},
               {"entry": "bob+embeddings+t+r", "owner": "bob", "claimed": "bob", "status": "collected", "reasons": []}]
    report.write(str(tmp_path), ASSIGNMENT, "exchange", records)
    found = report.refusals(str(tmp_path), ASSIGNMENT)
    assert found == [{"source": "exchange", "who": "mallory", "entry": "alice+embeddings+t+r", "time": None,
                      "reasons": ["claims"]}]
    report.write(str(tmp_path), ASSIGNMENT, "exchange", [], students={"bob"})  # a --student=bob run keeps mallory's
    assert report.refusals(str(tmp_path), ASSIGNMENT) == found
    assert json.loads((tmp_path / "collect_report_embeddings.json").read_text())["assignment"] == ASSIGNMENT


@pytest.mark.parametrize("text, utc", [
    ("2026-12-01 17:00:00 Europe/Berlin", "2026-12-01 16:00:00"),
    ("2026-07-01 12:00:00 Europe/Berlin", "2026-07-01 10:00:00"),
    ("2026-07-01 12:00:00 +0200", "2026-07-01 10:00:00"),
    ("2026-07-01 12:00:00+02:00", "2026-07-01 10:00:00"),
    ("2026-07-01 12:00:00.5 UTC", "2026-07-01 12:00:00.500000"),
    ("2016-01-30 20:30", "2016-01-30 19:30:00"),  # default zone Europe/Berlin below
])
def test_parse_time(text, utc):
    assert str(parse_time(text, default_zone="Europe/Berlin").replace(tzinfo=None)) == utc


@pytest.mark.parametrize("text", ["2026-07-01 12:00:00 CEST", "2026-07-01 12:00:00 IST", "yesterday",
                                  "2026-07-01 12:00:00 Mars/Olympus"])
def test_parse_time_refuses_guesses(text):
    with pytest.raises(AmbiguousTime):
        parse_time(text)


def test_duedates_nbgrader_would_misread_are_refused():
    assert duedate_problem(["nbgrader", "db", "assignment", "add", "a", "--duedate=2026-12-01 17:00:00 +0200"])
    assert duedate_problem(["nbgrader", "db", "assignment", "add", "a", "--duedate", "2026-12-01 17:00:00 CEST"])
    assert not duedate_problem(["nbgrader", "db", "assignment", "add", "a", "--duedate=2026-12-01 17:00:00 Europe/Berlin"])
    assert not duedate_problem(["nbgrader", "db", "assignment", "add", "a", "--duedate=2026-12-01 17:00:00 UTC"])
    assert not duedate_problem(["nbgrader", "db", "assignment", "add", "a", "--duedate=2026-12-01 17:00:00"])


def test_nbgrader_reads_our_timestamps_right():
    from nbgrader.utils import parse_utc
    moment = dt.datetime(2026, 7, 1, 10, 0, 0, 123456, tzinfo=dt.timezone.utc)
    assert parse_utc(format_timestamp(moment)) == moment.replace(tzinfo=None)


@as_root
def test_feedback_readable_only_by_its_student():
    import shutil
    import tempfile
    from pathlib import Path
    folder = Path(tempfile.mkdtemp(prefix="labgrader-acl-"))  # pytest's base temp is 0700
    os.chmod(folder, 0o755)
    try:
        _check_private_page(folder / "page.html")
    finally:
        shutil.rmtree(folder)


def _check_private_page(page):
    fd = os.open(page, os.O_WRONLY | os.O_CREAT, 0o600)
    readable_only_by(fd, _user("nobody")[0])
    os.write(fd, b"feedback")
    os.close(fd)
    read = lambda who: subprocess.run(["runuser", "-u", who, "--", "cat", str(page)], capture_output=True)
    assert read("nobody").stdout == b"feedback"
    assert read("daemon").returncode != 0 and b"Permission denied" in read("daemon").stderr


@as_root
def test_feedback_page_names_stay_their_students():
    """A hand-in carrying another student's submission_secret.txt would release its page over theirs."""
    import shutil
    import tempfile
    from pathlib import Path
    from labgrader.exchange.release_feedback import reader_of
    folder = Path(tempfile.mkdtemp(prefix="labgrader-acl-"))
    try:
        page = folder / "page.html"
        fd = os.open(page, os.O_WRONLY | os.O_CREAT, 0o600)
        readable_only_by(fd, _user("nobody")[0])
        os.close(fd)
        assert reader_of(str(page)) == _user("nobody")[0]
        assert reader_of(str(folder / "missing.html")) is None
    finally:
        shutil.rmtree(folder)


@as_root
def test_setup_makes_the_layout_and_refuses_a_squatted_course(tmp_path):
    from labgrader.exchange.layout import inbound_problems, make_exchange
    root = tmp_path / "exchange"
    make_exchange(str(root), "course", "nobody", log=lambda *_: None)
    modes = {p.name: oct(p.stat().st_mode & 0o7777) for p in [root, *(root / "course").iterdir(), root / "course"]}
    assert modes == {"exchange": "0o1777", "course": "0o755", "inbound": "0o3733", "outbound": "0o755",
                     "feedback": "0o711"}
    assert (root / "course").stat().st_uid == _user("nobody")[0] and root.stat().st_uid == 0
    assert inbound_problems(str(root), "course", uid=_user("nobody")[0]) == []
    assert "belongs to uid" in inbound_problems(str(root), "course", uid=_user("daemon")[0])[0]
    squatted = root / "other"
    squatted.mkdir()
    os.chown(squatted, *_user("daemon"))
    with pytest.raises(SetupRefused, match="someone made it first"):
        make_exchange(str(root), "other", "nobody", log=lambda *_: None)
