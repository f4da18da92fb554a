"""The real grading service (``python -m labgrader serve``, as root: no unix users, no hub), fed
through its intake by another process, as the hub's exchange service feeds it: uploads graded on
the warm pool, their pages served by ``publish.Pages`` to their student only, and fair grading
with real gradings: students whose correct notebooks sleep within the time limits, handing in
again and again, do not delay a student who hands in once by more than the stated bound
(docs/service.md, "Fair grading: the guarantee"). The file-system exchange with real
students: grader_tests/exchange/test_file_exchange.py; on a hub: grader_tests/hub/test_service.py."""
import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from conftest import ASSIGNMENT, CORPUS, REPO, generated_course
import snippets
from labgrader.service import journal as J
from labgrader.service.intake import Submission, accept
from labgrader.service.publish import Pages
from labgrader.service.store import content_digest

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="the exchange's set-up needs root")]
BIN = Path(sys.executable).parent
COURSE_ID = "categorical-embeddings"
SLEEP = 14        # seconds each slow notebook sleeps (a cell's limit is 30 s)
LONG_AFTER = 3.0  # c.GradingService.long_grading_seconds
HUNG = 40         # c.GradingService.hung_seconds: a slow notebook's grading holds its worker about SLEEP + 5 s
POLICY = f"""
# ---- the grading service under test ----
c.GradingService.workers = 2
c.GradingService.burst_workers = 3
c.GradingService.long_grading_seconds = {LONG_AFTER}
c.GradingService.grading_budget_seconds = 20
c.GradingService.max_per_hour = 0
c.GradingService.rescan_seconds = 2
c.GradingService.hung_seconds = {HUNG}
"""


def notebook(name, sleep=0):
    snippet = snippets.load(CORPUS / f"{name}.py")
    if sleep:
        snippet.answers["q1_answer"] = f"import time\ntime.sleep({sleep})\n" + snippet.answers["q1_answer"]
    release = nbformat.read(REPO / "release" / ASSIGNMENT / snippets.NOTEBOOK, as_version=4)
    return nbformat.writes(snippets.build_notebook(release, snippet))


class Served:
    def __init__(self, base):
        self.base = Path(base)
        self.course = self.base / "course"
        shutil.copytree(generated_course(), self.course)
        with open(self.course / "nbgrader_config.py", "a") as fh:
            fh.write(POLICY)
        self.config_dir = self.base / "jconf"
        subprocess.run([sys.executable, "-m", "labgrader.exchange", "setup", "--root", self.base / "exchange", "--course",
                        COURSE_ID, "--instructor", "root", "--config-dir", self.config_dir], check=True, capture_output=True)
        env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", JUPYTER_CONFIG_PATH=str(self.config_dir))
        self.log = open(self.base / "serve.log", "w")
        self.process = subprocess.Popen([sys.executable, "-m", "labgrader", "serve", "--course", self.course], env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def journal(self):
        return J.Journal(J.journal_path(self.course), readonly=True)

    def rows(self):
        db = self.journal()
        try:
            return {r["key"]: r for r in db.rows()}
        finally:
            db.close()

    def meta(self):
        if not os.path.exists(J.journal_path(self.course)):
            return {}
        db = self.journal()
        try:
            return db.meta()
        except sqlite3.OperationalError:  # (being made)
            return {}
        finally:
            db.close()

    def upload(self, student, text, ident):
        """What the hub's exchange service does with an upload: hand it to the intake."""
        folder = Path(tempfile.mkdtemp(dir=self.base))
        (folder / snippets.NOTEBOOK).write_text(text)
        (folder / "submission_secret.txt").write_text(os.urandom(16).hex())
        try:
            return accept(self.course, Submission(student, ASSIGNMENT, dt.datetime.now(dt.timezone.utc), str(folder),
                                                  content_digest(str(folder)), source="upload", submission_id=ident))
        finally:
            shutil.rmtree(folder)

    def wait(self, what, check, timeout=600):
        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found:
                return found
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n" + (self.base / "serve.log").read_text()[-4000:])
            time.sleep(0.2)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    served = Served(tmp_path_factory.mktemp("serve"))
    try:
        served.wait("the service's pool", lambda: served.meta().get("pool_ready"), 600)
        yield served
    finally:
        served.stop()


def test_the_pools_workers_are_forked_by_a_process_of_one_thread(served):
    """Never by the service, which has threads (the loop on the journal, the watcher, the pool's): a
    fork copies whatever lock another thread holds at that instant, and a worker forked while the
    loop was inside SQLite hung at its first gradebook connection, its submission "grading" for ever."""
    import psutil
    service = psutil.Process(served.process.pid)
    assert service.num_threads() > 1
    children = service.children()
    assert not [p for p in children if p.cmdline() == service.cmdline()], "a worker forked by the service itself"
    forkers = [p for p in children if "multiprocessing.forkserver" in " ".join(p.cmdline())]
    assert len(forkers) == 1 and forkers[0].num_threads() == 1
    workers = forkers[0].children()
    assert workers and all(w.num_threads() >= 1 for w in workers)  # (the readiness check ran in one)


def done(rows, keys):
    return all(rows.get(k, {}).get("state") in J.DONE for k in keys)


@pytest.fixture(scope="module")
def term(served):
    """Three students keep handing in slow (sleeping) correct notebooks; once their gradings run,
    alice hands in once; then bob, whose upload is checked for privacy."""
    slow = [served.upload(f"slow{i}", notebook("correct/list_and_flatten", sleep=SLEEP), f"slow{i}-{k}")
            for k in range(2) for i in range(3)]
    served.wait("the slow gradings to run", lambda: sum(r["state"] == J.GRADING for r in served.rows().values()) >= 2)
    time.sleep(LONG_AFTER + 1)  # they run long now, and more wait behind them
    alice = served.upload("alice", notebook("correct/list_and_flatten"), "alice-1")
    keys = [r.key for r in slow] + [alice.key]
    rows = served.wait("every grading", lambda: (lambda rows: rows if done(rows, keys) else None)(served.rows()), 900)
    mallory = served.upload("mallory", notebook("hostile/classwide_empties_pinned"), "mallory-1")
    bob = served.upload("bob", notebook("wrong/model3_is_model2"), "bob-1")
    served.wait("bob's grading", lambda: served.rows().get(bob.key, {}).get("state") == J.GRADED)
    served.wait("mallory's grading", lambda: served.rows().get(mallory.key, {}).get("state") in J.DONE)
    return {"slow": slow, "alice": alice, "bob": bob, "mallory": mallory, "rows": served.rows(), "meta": served.meta()}


def test_uploads_handed_to_the_intake_by_another_process_are_graded(term):
    rows = term["rows"]
    alice = rows[term["alice"].key]
    assert alice["state"] == J.GRADED and alice["result"]["record"]["score"] == 8.0
    assert all(rows[r.key]["state"] == J.GRADED and rows[r.key]["result"]["record"]["score"] == 8.0 for r in term["slow"])
    assert rows[term["bob"].key]["result"]["record"]["score"] < 8.0


def test_a_hand_in_that_once_paused_the_assignment_reaches_only_its_own_grade(term):
    """mallory's notebook empties the export module's pinned objects: a lab error once, which paused
    the assignment's grading for everyone; now her own cells are malformed (and flagged), bob's
    hand-in after hers is graded, and nothing is paused."""
    mallory = term["rows"][term["mallory"].key]
    assert mallory["state"] == J.GRADED and mallory["result"]["record"]["score"] == 2.0, mallory
    assert term["rows"][term["bob"].key]["state"] == J.GRADED
    assert not term["meta"].get("paused")


def test_a_student_reads_their_own_pages_only(served, term):
    pages = Pages(served.course)
    try:
        mine = pages.of("bob")
        assert [p.key for p in mine] == [term["bob"].key] and mine[0].shows.startswith("graded:visible")
        text = pages.read("bob", term["bob"].key, "embeddings").decode()
        assert "Graded." in text and "visible tests passed" in text and "Score" not in text  # before the due date
        with pytest.raises(KeyError):
            pages.read("alice", term["bob"].key, "embeddings")  # another student's: no such page, for her
        assert pages.read_any(term["bob"].key, "embeddings") == text.encode()  # the instructor's
    finally:
        pages.close()


def test_slow_students_do_not_delay_a_student_who_hands_in_once(term):
    """The bound: a student within budget, first in line, waits at most long_grading_seconds while at
    most burst_workers students' gradings run long (here 3 slow students, 3 burst workers)."""
    alice = term["rows"][term["alice"].key]
    waited = alice["started"] - alice["time_ns"] / 1e9
    held = [round(r["graded"] - r["started"], 2) for r in term["rows"].values() if r["student"].startswith("slow")]
    folder = REPO / "grader_tests" / "artifacts"
    folder.mkdir(exist_ok=True)
    (folder / ".gitignore").write_text("*\n")
    (folder / "service-fairness.json").write_text(json.dumps({
        "alice_waited": round(waited, 2), "alice_graded_after": round(alice["graded"] - alice["time_ns"] / 1e9, 2),
        "slow_gradings_held_their_worker": held, "load": os.getloadavg()}, indent=1))
    assert min(held) >= SLEEP  # each slow grading held its worker that long
    assert waited <= LONG_AFTER + 2.0, waited  # (2 s: the loop's look at the journal, under load)
    assert alice["graded"] < max(r["graded"] for r in term["rows"].values() if r["student"].startswith("slow"))


def test_a_grading_stuck_outside_its_kernel_is_ended_and_graded_again(served, term):
    """Every pool worker is stopped (SIGSTOP: stuck, as on a hung file system) while dave's
    grading runs: past hung_seconds the service ends its workers, starts the pool again and grades
    dave's submission again, alone. Without it his submission stayed "grading" for ever. (Runs
    last: the pool it leaves is a new one.)"""
    import psutil
    dave = served.upload("dave", notebook("correct/list_and_flatten"), "dave-1")
    served.wait("dave's grading to start", lambda: served.rows().get(dave.key, {}).get("state") == J.GRADING)
    [forker] = [p for p in psutil.Process(served.process.pid).children()
                if "multiprocessing.forkserver" in " ".join(p.cmdline())]
    stopped = forker.children()
    assert stopped
    for worker in stopped:
        worker.send_signal(signal.SIGSTOP)
    row = served.wait("dave's grading, again", lambda: (lambda r: r if r.get("state") in J.DONE else None)(
        served.rows().get(dave.key, {})), HUNG + 600)
    assert row["state"] == J.GRADED and row["result"]["record"]["score"] == 8.0 and row["attempts"] == 2, row
    db = served.journal()
    try:
        details = [e["detail"] for e in db.events(dave.key) if e["event"] == "retry"]
    finally:
        db.close()
    assert details == [f"its grading ran more than {HUNG} s, stuck outside its kernel: its worker was ended"], details
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in stopped)
