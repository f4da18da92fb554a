"""Grade a class on a Dask cluster: one task per submission, one warm fork server per worker.

    python -m labgrader autograde embeddings --scheduler tcp://HOST:8786   (workers started by hand,
                                                                           dask-jobqueue, Kubernetes...)
    python -m labgrader autograde embeddings --cluster local [--workers N] (process workers, this machine)

The batch runner does the rest as for the local pool (pre-flight, progress bar, failures recorded,
report): it takes any ``concurrent.futures.Executor``, here ``Client.get_executor(pure=False)``
(pure=False: Dask would otherwise treat a re-grade of the same arguments as already computed).

Who writes the gradebook: the workers, as with the local pool. Each task runs nbgrader's own
Autograde converter, which reads the gradebook (the assignment's cells, to restore and check
them) and writes it (SaveAutoGrades, FlagEvidence) in one conversion; moving the writes to the
client would mean re-implementing that converter. So every worker must reach the gradebook:
a database server (PostgreSQL) as soon as workers may run on other machines. The client writes
only the "not graded" records (pre-flight failures, workers that died too often).

What each worker needs (checked when it joins, before any grade is touched):
- the course directory at the same path as on the client, with the same nbgrader_config.py,
  source/ and release/ (a shared filesystem: NFS, CephFS...; the graded notebooks are written
  back under autograded/ there); a submission a worker cannot see is reported as not graded;
- the same Python environment (labgrader, nbgrader, TensorFlow), and what the sandbox needs
  (root or its capabilities, bubblewrap, namespaces, the uid range: see docs/cluster.md);
- one thread (``--nthreads 1``): a worker process grades one submission at a time, run more
  worker processes for more at once (nbgrader's converter is not written for threads).

Faults: a worker that dies mid-task (kill -9, lost machine) loses nothing: the scheduler re-runs
its tasks on other workers (``distributed.scheduler.allowed-failures``, 3 by default); a submission
whose worker died more often than that is reported as not graded, with the reason, like any other
failure. Its kernels die with it (the fork server and every kernel die with their parent).
"""
import asyncio
import contextlib
import hashlib
import os
import socket
from concurrent.futures import Executor
from pathlib import Path

from distributed.diagnostics.plugin import WorkerPlugin

from labgrader.batch import task
from labgrader.batch.runner import GradingStopped, grade_class
from labgrader.course import Course, sqlite_with_busy_timeout
from labgrader.config import load_course_config
from labgrader.errors import LabgraderError
from labgrader.lab import load_lab
from labgrader.record import SubmissionRecord

WORKERS_TIMEOUT = 120  # seconds to wait for the first worker to join
RETRIES = 1  # a task that raised (not a dead worker: that is rescheduled anyway) runs once more


class CourseMismatch(LabgraderError, RuntimeError):
    """A worker cannot grade this course as the client sees it."""


def course_fingerprint(root, assignment):
    """What a worker must see as the client does: the config, and the assignment's source and release."""
    root = Path(root)
    digest = hashlib.sha256()
    files = [root / "nbgrader_config.py"]
    for folder in (root / "source" / assignment, root / "release" / assignment):
        files += sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                        and ".ipynb_checkpoints" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"(missing)")
        digest.update(b"\0")
    return digest.hexdigest()


def _where():
    return f"Dask worker on {socket.gethostname()} (pid {os.getpid()})"


class _WorkerState:
    root = None


_state = _WorkerState()


class GradingWorker(WorkerPlugin):
    """Runs on every worker, also on one that joins later: checks that it sees the course and
    the gradebook, starts the worker's own warm fork server and prepares nbgrader's config."""

    name = "labgrader-grading"

    def __init__(self, root, assignment, fingerprint, warm=True):
        self.root, self.assignment, self.fingerprint, self.warm = str(root), assignment, fingerprint, warm
        self._server = None

    async def setup(self, worker):
        _check_worker(worker, self.root, self.assignment, self.fingerprint)
        config = load_course_config(Path(self.root))
        # Read from the worker's own view of the course: the database password (if any) is
        # never sent over the cluster's network.
        db_url = sqlite_with_busy_timeout(config.CourseDirectory.db_url)
        _check_gradebook(db_url, self.assignment)
        settings = {}
        if self.warm:
            # A new process (python -m labgrader.kernels.forkserver), not a fork of this
            # worker: TensorFlow is imported there only, and the worker's daemonic process
            # (Dask's nanny starts workers as daemons, dask/distributed#2142) may start
            # subprocesses (only multiprocessing children are forbidden to daemons), so
            # distributed.worker.daemon can stay True and the nanny still reaps the worker.
            # Started from the worker's event-loop thread: the fork server dies with that
            # thread (PR_SET_PDEATHSIG), that is with the worker, its kernels with it.
            from labgrader.kernels import forkserver
            lab = load_lab(task.course_directory(config), self.assignment)
            self._server = forkserver.Running(wait=False, imports=lab.warm_imports if lab else (), config=config).__enter__()
            try:
                # TensorFlow's import takes seconds: keep the worker's heartbeats going meanwhile.
                await asyncio.get_running_loop().run_in_executor(None, self._server.ready)
            except BaseException:
                self._server = None
                raise
            # The kernel manager reads it from the config when each kernel starts.
            settings["GradingKernelManager"] = {"fork_server": self._server.socket}
        task.init_worker(Path(self.root), db_url, settings)
        _state.root = self.root

    def teardown(self, worker):
        _state.root = None
        if self._server is not None:
            self._server.__exit__(None, None, None)
            self._server = None


def _check_worker(worker, root, assignment, fingerprint):
    nthreads = getattr(getattr(worker, "state", None), "nthreads", 1)
    if nthreads != 1:
        raise CourseMismatch(f"{_where()} has {nthreads} threads: start Dask workers with --nthreads 1 "
                             "(one submission at a time per worker process; add processes with --nworkers)")
    if not (Path(root) / "nbgrader_config.py").is_file():
        raise CourseMismatch(f"{_where()} cannot see the course directory {root} (no nbgrader_config.py there): "
                             "every worker needs the course at the same path as the client, e.g. on a shared filesystem")
    try:
        seen = course_fingerprint(root, assignment)
    except OSError as exc:
        raise CourseMismatch(f"{_where()} cannot read the course at {root}: {exc}") from None
    if seen != fingerprint:
        raise CourseMismatch(f"{_where()} sees a different course at {root} (nbgrader_config.py, source/{assignment} "
                             f"or release/{assignment} differ from the client's): sync the course or use a shared filesystem")
    if Course(root).sandboxed:
        from labgrader.sandbox import SandboxUnavailable, check_once
        try:
            check_once()
        except SandboxUnavailable as exc:
            raise CourseMismatch(f"{_where()} cannot sandbox kernels: {exc}") from None


def _check_gradebook(db_url, assignment):
    from nbgrader.api import Gradebook
    try:
        with Gradebook(db_url) as gb:
            gb.find_assignment(assignment)
    except Exception as exc:
        raise CourseMismatch(f"{_where()} cannot use the gradebook {_safe_url(db_url)}: "
                             f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None


def _safe_url(db_url):
    from sqlalchemy.engine import make_url
    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:
        return "(db_url)"


def on_worker(fn, *args):
    """A task run on a worker: the worker must have been set up, and a submission to grade must be
    visible there, else it is reported, not skipped."""
    if fn is not task.grade_submission:
        if _state.root is None:
            raise RuntimeError(f"the {_where()} was not set up for grading")
        return fn(*args)
    assignment, student = args[0], args[1]
    if _state.root is None:
        return SubmissionRecord(student, assignment, error=f"not graded: the {_where()} was not set up for grading")
    folder = Path(_state.root) / "submitted" / student / assignment
    if not folder.is_dir():
        return SubmissionRecord(student, assignment, error=f"not graded: the {_where()} cannot see {folder} (the course "
                                "directory must be at the same path on every worker, e.g. a shared filesystem)")
    return fn(*args)


class OnWorkers(Executor):
    """The runner's executor: submits ``fn(*args)`` as ``on_worker(fn, *args)`` to Dask."""

    def __init__(self, client):
        self._inner = client.get_executor(pure=False, retries=RETRIES)

    def submit(self, fn, /, *args, **kwargs):
        return self._inner.submit(on_worker, fn, *args, **kwargs)

    def shutdown(self, wait=True, *, cancel_futures=False):
        self._inner.shutdown(wait=wait)


def refuse_sqlite_for_remote(db_url):
    """A SQLite gradebook is a file on this machine: workers elsewhere cannot write it safely."""
    if db_url.startswith("sqlite:"):
        raise GradingStopped(
            "Cannot grade on a remote Dask cluster into a SQLite gradebook: workers on other machines "
            "write the grades and cannot share a SQLite file safely; set c.CourseDirectory.db_url = "
            "\"postgresql://user@host/dbname\" in nbgrader_config.py (or grade on this machine with --cluster local).")


@contextlib.contextmanager
def connect(scheduler=None, workers=None):
    """A Dask client: to ``scheduler`` (an address), else a LocalCluster of ``workers`` processes."""
    import logging

    from distributed import Client, LocalCluster

    if scheduler:
        try:
            import dask  # Dask's own setting: distributed.comm.timeouts.connect (30 s; DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT)
            client = Client(scheduler, timeout=dask.config.get("distributed.comm.timeouts.connect"))
        except (OSError, TimeoutError, ValueError) as exc:
            raise GradingStopped(f"Cannot reach the Dask scheduler at {scheduler} ({type(exc).__name__}: {exc}); "
                             "start it with `dask scheduler` (and workers with `dask worker "
                             f"{scheduler} --nthreads 1`), or check the address. Nothing was graded.") from None
        with client:
            yield client
        return
    # One thread per worker process (see the module docstring); no dashboard (no open port).
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def grade_on_cluster(root, assignment, students=None, scheduler=None, workers=None,
                     force=True, progress=True, warm=True):
    """Like ``runner.grade_class``, on a Dask cluster (``scheduler`` address, else a LocalCluster)."""
    root = Path(root).resolve()
    config = load_course_config(root)
    if scheduler:
        refuse_sqlite_for_remote(config.CourseDirectory.db_url)
    workers = workers or (os.cpu_count() or 1) + 1
    with connect(scheduler, workers) as client:
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        except TimeoutError:
            raise GradingStopped(f"No Dask worker joined the scheduler {scheduler} within {WORKERS_TIMEOUT} s: "
                             f"start some with `dask worker {scheduler} --nthreads 1`. Nothing was graded.") from None
        plugin = GradingWorker(root, assignment, course_fingerprint(root, assignment), warm=warm)
        try:
            client.register_plugin(plugin)
        except CourseMismatch as exc:
            raise GradingStopped(f"Cannot grade: {exc}. Nothing was graded.") from None
        except Exception as exc:  # e.g. a fork server that did not start
            raise GradingStopped(f"Cannot grade: a Dask worker could not be set up ({type(exc).__name__}: {exc}). "
                             "Nothing was graded.") from None
        count = len(client.scheduler_info(n_workers=-1)["workers"])
        executor = OnWorkers(client)
        try:
            # warm=False: the client starts no fork server of its own, each worker has one.
            return grade_class(root, assignment, students=students, workers=count, executor=executor,
                               force=force, progress=progress, warm=False)
        finally:
            executor.shutdown(wait=False)
