"""The file-system exchange's holes from #26, each a test with real student accounts, the real
grading service (run as the instructor, as the hub runs it) and real ``nbgrader`` commands:

1. content changed after its trusted time: alice keeps a shared memory mapping of her submitted
   notebook, dirtied before the service took it, and writes other answers through it afterwards;
   no ctime moves. The service graded what it received, and ``nbgrader collect`` refuses the
   changed entry (without the service's record it would take the late bytes under the old time);
2. one student fills the instructor's disk: bob's 20 MiB entry chmod-ed 8 times is kept once, and
   his distinct large entries stop at his share of the store, with the reason on his page;
3. one student takes the instructor's inotify watches: mallory's entry of 20,000 folders leaves the
   service with one watch, and carol's submission is received meanwhile;
4. a few students delay everyone: bob, carol and mallory hand in correct notebooks that sleep
   within the limits, twice each; alice, handing in once while they are graded, waits at most
   long_grading_seconds for a worker (the bound: docs/service.md, "Fair grading: the guarantee").

(The fifth, zip_collect's names: grader_tests/exchange/test_zip_collect.py; fair grading of uploads
fed to the intake by another process: grader_tests/service/test_serve.py.) Unix users: run under
the machine-wide lock.
"""
import base64
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbgrader.utils import notebook_hash

from conftest import ASSIGNMENT, CORPUS, REPO
import snippets
from labgrader.exchange.release_feedback import reader_of
from labgrader.service import journal as J

pytestmark = pytest.mark.slow
MiB = 1024 ** 2
SHARE = 50 * MiB
SLEEP = 8         # seconds each slow notebook sleeps (a cell's limit is 10 s here)
LONG_AFTER = 3.0  # c.GradingService.long_grading_seconds
POLICY = f"""
# ---- the grading service under test ----
c.Execute.timeout = 10
c.GradingService.workers = 2
c.GradingService.burst_workers = 3
c.GradingService.long_grading_seconds = {LONG_AFTER}
c.GradingService.max_per_hour = 0
c.GradingService.rescan_seconds = 3
c.GradingService.max_bytes_per_student = {SHARE}
"""
MAPPER = r"""
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
view = mmap.mmap(fd, 0)
view[:] = view[:]  # every page dirty now
print("dirty", os.fstat(fd).st_ctime_ns, flush=True)
sys.stdin.readline()
later = open(sys.argv[2], "rb").read()
view[:len(later)] = later  # the answers, after the receipt: through the mapping, no system call on the file
print("written", os.fstat(fd).st_ctime_ns, flush=True)
sys.stdin.readline()
"""


def keep_figures(name, figures):
    """What a test measured, for the documentation (grader_tests/artifacts/, not in git)."""
    folder = REPO / "grader_tests" / "artifacts"
    folder.mkdir(exist_ok=True)
    (folder / ".gitignore").write_text("*\n")
    (folder / f"{name}.json").write_text(json.dumps(figures, indent=1))


def notebook(name, size=0, sleep=0):
    release = nbformat.read(REPO / "release" / ASSIGNMENT / snippets.NOTEBOOK, as_version=4)
    snippet = snippets.load(CORPUS / f"{name}.py")
    if sleep:
        snippet.answers["q1_answer"] = f"import time\ntime.sleep({sleep})\n" + snippet.answers["q1_answer"]
    text = nbformat.writes(snippets.build_notebook(release, snippet))
    return text + " " * max(0, size - len(text))  # JSON allows trailing blanks: equal sizes for the mapping


def write_as(room, who, path, data):
    """``data`` (bytes) written by the user's own process (its owner and ctime are theirs)."""
    room.run(who, [room.python, "-c", "import base64, sys; open(sys.argv[1], 'wb').write(base64.b64decode(sys.stdin.read()))",
                   path], input=base64.b64encode(data).decode(), check=True)


class Term:
    def __init__(self, room):
        self.room = room
        self.inbound = room.course_exchange / "inbound"
        env = room.env("instructor")  # the recipe's machine-wide environment, as the hub runs the service
        self.log = open(room.site.base / "file-exchange-serve.log", "w")
        self.process = subprocess.Popen(["runuser", "-u", "instructor", "--", "env", "-i",
                                         *(f"{k}={v}" for k, v in env.items()),
                                         room.python, "-m", "labgrader", "serve", "--course", room.course],
                                        cwd=room.course, stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)

    def snapshot(self):
        path = J.journal_path(self.room.course)
        if not os.path.exists(path):
            return {"rows": [], "meta": {}}
        db = J.Journal(path, readonly=True)
        try:
            return {"rows": db.rows(), "meta": db.meta(), "bytes": {s: db.bytes_of(s) for s in ("alice", "bob")}}
        except sqlite3.OperationalError:
            return {"rows": [], "meta": {}}
        finally:
            db.close()

    def row(self, entry):
        return next((r for r in self.snapshot()["rows"] if r["entry"] == entry), None)

    def wait(self, what, check, timeout=600):
        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found:
                return found
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.log.flush()
                raise AssertionError(f"timed out waiting for {what}:\n"
                                     + (self.room.site.base / "file-exchange-serve.log").read_text()[-4000:])
            time.sleep(0.2)

    def submit(self, who, data, extra=None):
        """``who`` writes their notebook (and ``extra`` files) and runs ``nbgrader submit``; returns the entry."""
        home = self.room.users[who].home
        self.room.run(who, ["mkdir", "-p", home / ASSIGNMENT], check=True)
        write_as(self.room, who, home / ASSIGNMENT / snippets.NOTEBOOK, data.encode())
        for name, content in (extra or {}).items():
            write_as(self.room, who, home / ASSIGNMENT / name, content)
        before = set(os.listdir(self.inbound))
        self.room.nbgrader(who, "submit", ASSIGNMENT, check=True)
        return (set(os.listdir(self.inbound)) - before).pop()

    def store_bytes(self):
        return sum(p.stat().st_size for p in (self.room.course / ".labgrader" / "service" / "store" / "blobs").rglob("*")
                   if p.is_file())

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def term(classroom):
    room = classroom
    with open(room.course / "nbgrader_config.py", "a") as fh:
        fh.write(POLICY)
    room.nbgrader("instructor", "generate_assignment", ASSIGNMENT, "--force", check=True)
    room.nbgrader("instructor", "release_assignment", ASSIGNMENT, check=True)
    tomorrow = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    room.nbgrader("instructor", "db", "assignment", "add", ASSIGNMENT, f"--duedate={tomorrow} UTC", check=True)
    for who in ("alice", "bob", "carol", "mallory"):
        room.nbgrader(who, "fetch_assignment", ASSIGNMENT, check=True)
    served = Term(room)
    try:
        served.wait("the service's pool", lambda: served.snapshot()["meta"].get("pool_ready"), 600)
        yield served
    finally:
        served.stop()


def test_bytes_written_through_a_mapping_after_receipt_are_never_graded_or_collected(term):
    room = term.room
    received, later = "wrong/fresh_embedding", "correct/list_and_flatten"
    size = max(len(notebook(received)), len(notebook(later))) + 64
    write_as(room, "alice", room.users["alice"].home / "later.ipynb", notebook(later, size).encode())
    entry = term.submit("alice", notebook(received, size))
    path = term.inbound / entry / snippets.NOTEBOOK
    env = room.env("alice")
    mapper = subprocess.Popen(["runuser", "-u", "alice", "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()),
                               room.python, "-c", MAPPER, path, room.users["alice"].home / "later.ipynb"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert mapper.stdout.readline().startswith("dirty"), mapper.stderr.read()
        term.wait("alice's entry taken", lambda: term.row(entry))
        ctime = os.stat(path).st_ctime_ns
        mapper.stdin.write("go\n")
        mapper.stdin.flush()
        assert mapper.stdout.readline().startswith("written"), mapper.stderr.read()
        assert os.stat(path).st_ctime_ns == ctime  # the kernel moved no time...
        assert path.read_text() == notebook(later, size)  # ...for other bytes
        row = term.wait("alice's grading", lambda: (lambda r: r if r and r["state"] in J.DONE else None)(term.row(entry)))
        assert row["result"]["record"]["score"] == sum(snippets.load(CORPUS / f"{received}.py").expected.values())
        # the instructor collects again from scratch: the changed entry is refused, not taken
        room.run("instructor", ["rm", "-rf", room.course / "submitted" / "alice"], check=True)
        room.nbgrader("instructor", "collect", ASSIGNMENT, "--student=alice", check=True)
        report = (room.course / f"collect_report_{ASSIGNMENT}.json").read_text()
        assert "its files changed after the grading service received it" in report
        assert not (room.course / "submitted" / "alice" / ASSIGNMENT / snippets.NOTEBOOK).exists()
        # what holds without the service's record: collect takes the late bytes under the earlier time
        room.nbgrader("instructor", "collect", ASSIGNMENT, "--student=alice", "--TrustedCollect.receipts=", check=True)
        taken = room.course / "submitted" / "alice" / ASSIGNMENT
        assert (taken / snippets.NOTEBOOK).read_text() == notebook(later, size)
    finally:
        if mapper.poll() is None:
            mapper.communicate("end\n", timeout=30)


def test_one_student_cannot_fill_the_instructors_disk(term):
    room = term.room
    data = os.urandom(20 * MiB)
    right = notebook("correct/list_and_flatten")
    entry = term.submit("bob", right, {"data.bin": data})
    term.wait("bob's entry taken", lambda: term.row(entry))
    before = term.store_bytes()
    for mode in ("700", "750", "755", "700", "750", "755", "700", "750"):  # each chmod moves the entry's ctime
        room.run("bob", ["chmod", mode, term.inbound / entry], check=True)
        time.sleep(0.3)
    time.sleep(4)  # a rescan and more than settle_seconds
    rows = [r for r in term.snapshot()["rows"] if r["student"] == "bob"]
    assert len(rows) == 1 and term.store_bytes() <= before + MiB  # one submission, kept once
    # four distinct 20 MiB hand-ins at once (entries bob writes himself, as nbgrader submit does):
    # his share of the store (50 MiB) stops the third
    script = ("import os, sys\nfor i in range(4):\n"
              "    entry = os.path.join(sys.argv[1], f'bob+embeddings+2026-01-01 00:00:00.000000 UTC+big{i}')\n"
              "    os.mkdir(entry)\n"
              "    open(os.path.join(entry, 'embeddings.ipynb'), 'w').write(sys.stdin.read() if i == 0 else notebook)\n"
              "    notebook = open(os.path.join(entry, 'embeddings.ipynb')).read()\n"
              "    open(os.path.join(entry, 'data.bin'), 'wb').write(os.urandom(20 * 1024 ** 2))\n"
              "    open(os.path.join(entry, 'submission_secret.txt'), 'w').write(os.urandom(16).hex())\n")
    room.run("bob", [room.python, "-c", script, term.inbound], input=right, check=True)
    entries = [f"bob+embeddings+2026-01-01 00:00:00.000000 UTC+big{i}" for i in range(4)]
    term.wait("bob's entries taken", lambda: all(term.row(e) for e in entries))
    states = [term.row(e)["state"] for e in entries]
    assert J.REFUSED in states, states
    refused = next(term.row(e) for e in entries if term.row(e)["state"] == J.REFUSED)
    assert f"at most {SHARE} per student" in refused["reason"]
    assert term.snapshot()["bytes"]["bob"] <= SHARE
    term.wait("bob's gradings", lambda: all(term.row(e)["state"] in J.DONE for e in entries + [entry]))
    assert term.snapshot()["bytes"]["bob"] < 8 * MiB  # graded: only his pages are kept
    # his page says why (released under nbgrader's name for it, readable by him alone)
    secret = (term.inbound / refused["entry"] / "submission_secret.txt").read_text().strip()
    page = room.course_exchange / "feedback" / f"{notebook_hash(secret=secret, notebook_id='embeddings')}.html"
    assert "Not accepted" in page.read_text() and "per student" in page.read_text()
    assert reader_of(str(page)) == room.users["bob"].uid


def inotify_watches(pid):
    count = 0
    for fd in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            count += sum(line.startswith("inotify wd:") for line in fd.read_text().splitlines())
        except OSError:
            continue
    return count


def test_one_student_cannot_take_the_instructors_inotify_watches(term):
    room = term.room
    name = f"mallory+{ASSIGNMENT}+2026-01-01 00:00:00.000000 UTC+folders"
    script = ("import os, sys\nroot = sys.argv[1]\nos.mkdir(root)\n"
              "for i in range(20000):\n    os.mkdir(os.path.join(root, f'd{i:05d}'))\n")
    room.run("mallory", [room.python, "-c", script, term.inbound / name], check=True)
    entry = term.submit("carol", notebook("correct/list_and_flatten"))
    pid = term.snapshot()["meta"]["pid"]
    watching = inotify_watches(pid)
    row = term.wait("carol's receipt", lambda: term.row(entry), 60)
    assert watching == 1  # inbound itself, not the 20,000 folders of mallory's entry
    assert row["state"] in (J.QUEUED, J.GRADING, J.GRADED)
    refused = term.wait("mallory's entry refused", lambda: term.row(name), 120)
    assert refused["state"] == J.REFUSED and "more than 10000 names" in refused["reason"]
    assert psutil.Process(pid).is_running()


def test_students_with_slow_notebooks_do_not_delay_one_who_hands_in_once(term):
    slow = ("bob", "carol", "mallory")
    entries = [term.submit(who, notebook("correct/list_and_flatten", sleep=SLEEP)) for _ in range(2) for who in slow]
    grading = lambda: [r for r in term.snapshot()["rows"] if r["entry"] in entries and r["state"] == J.GRADING]  # noqa: E731
    term.wait("the slow gradings to run", lambda: len(grading()) >= 2)
    time.sleep(LONG_AFTER + 1)  # they run long now, and the rest of theirs wait
    mine = term.submit("alice", notebook("correct/list_and_flatten"))
    term.wait("every grading", lambda: all(term.row(e) and term.row(e)["state"] in J.DONE for e in entries + [mine]), 900)
    alice = term.row(mine)
    waited = alice["started"] - alice["time_ns"] / 1e9
    rows = [term.row(e) for e in entries]
    held = [round(r["graded"] - r["started"], 2) for r in rows]
    keep_figures("file-exchange-fairness", {"alice_waited": round(waited, 2), "alice_graded_after":
                 round(alice["graded"] - alice["time_ns"] / 1e9, 2), "slow_gradings_held_their_worker": held,
                 "load": os.getloadavg()})
    assert all(r["state"] == J.GRADED and r["result"]["record"]["score"] == 8.0 for r in rows + [alice])
    assert min(held) >= SLEEP  # each held its worker that long
    assert waited <= LONG_AFTER + 2.0, waited
