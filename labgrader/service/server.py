"""``python -m labgrader serve``: the grading service's process, its start-up and its loop.

One process per course (``.labgrader/service/service.lock``; a second one waits for the first to
end, so a hub restarting it never runs two), run as the course's owner, the instructor: it owns
the exchange's course folder, reads inbound, writes the course and the feedback pages, and grades
in the sandbox of an ordinary user (user namespaces). Nothing in it needs root.

Start-up: the course must be servable (``startup_problems``: the one place for start-up checks;
the service waits, saying why, and looks again); then the journal is recovered, the intake opens
(the watcher, receipts) and the pool starts beside it (its fork server imports the labs' modules,
the readiness check runs the instructor's notebook), so receipts never wait for TensorFlow.

The loop, by role: entries the watcher or a scan names are looked at (labgrader/service/inbound.py)
and taken into the intake (intake.py); submissions another process's intake journaled (the hub's
exchange service) are noticed through the journal; queued submissions are started by the
dispatcher as the policy's fair plan says (dispatch.py, policy.py) and their results journaled;
pages are made and released whenever what they show changes (publish.py), also when a due date
passes.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Iterator

from labgrader.batch import task
from labgrader.course import Course, CourseProblem
from labgrader.errors import LabgraderError
from labgrader.exchange import entries
from labgrader.exchange.layout import inbound_problems
from labgrader.lab import LabError
from labgrader.text import one_line, printable

from . import doorbell
from . import journal as J
from .dispatch import Dispatcher
from .inbound import InboundIntake
from .intake import Intake, Receipt, collect_limits
from .policy import GradingService, Lanes
from .pool import DaskPool, LocalPool, default_workers
from .publish import ExchangeRelease, Publisher
from .store import Store
from .watch import InboundWatcher, scan

log = logging.getLogger("labgrader.service")
SERVICE_DIR = os.path.join(".labgrader", "service")
WAKE = ""  # put on ``names`` by the doorbell: no entry, only a look at the journal now
STOP_GRACE = 8.0  # seconds a stop waits for gradings in flight (JupyterHub sends SIGTERM 10 s after SIGINT)


class CourseNotServable(LabgraderError):
    """The course cannot be served yet (the message says what is missing); the service waits."""


def startup_problems(course: Course, requested: list[str], scheduler: str | None) -> list[str]:
    """Every reason not to serve ``course`` now; the service waits, saying why, and checks again.
    The one place for the service's start-up checks: add a new one here."""
    if not os.path.isfile(os.path.join(course.root, "nbgrader_config.py")):
        return [f"no nbgrader_config.py in {course.root}"]
    if not course.gradebook_made():
        return ["no gradebook yet: run nbgrader generate_assignment"]
    if not course.course_id:
        return ["no c.CourseDirectory.course_id in the course's configuration"]
    problems = inbound_problems(course.exchange_root, course.course_id)
    known = course.assignments()
    wanted = requested or list(course.configured(GradingService).assignments) or known
    missing = [a for a in wanted if a not in known]
    if missing or not wanted:
        problems.append(f"the gradebook has no assignment {', '.join(missing) or '(none yet)'}: run "
                        "nbgrader generate_assignment")
    if scheduler and len(wanted) != 1:
        problems.append("with --scheduler, serve one assignment (name it on the command line)")
    return problems + course.problems()


class Service:

    def __init__(self, root: str | os.PathLike[str], assignments: list[str] | None = None, workers: int | None = None,
                 scheduler: str | None = None, wait_seconds: float = 5.0):
        self.root = os.path.realpath(root)
        self.requested, self.workers_arg, self.scheduler = assignments or [], workers, scheduler
        self.wait_seconds = wait_seconds
        self.stop = threading.Event()
        self.pool_ready = threading.Event()    # the pool started and the labs were checked: grading may start
        self.pool_started = threading.Event()  # the pool's start ended (ready, or failed)
        self.names: queue.Queue[str] = queue.Queue()
        self.dirty: dict[str, tuple[float, float]] = {}  # entry name -> (when to look next, back-off seconds)
        self.paused: dict[str, str] = {}                 # assignment -> why its grading is paused (a lab error)
        self._due_event = float("inf")                   # when the next due date passes (epoch seconds)
        self._beat = 0.0

    # -- start and stop ------------------------------------------------------------------------

    def run(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda *_: self.stop.set())
        if not self._wait_until_ready():
            return
        os.makedirs(os.path.join(self.root, SERVICE_DIR), mode=0o700, exist_ok=True)
        with self._single_instance():
            if self.stop.is_set() or not self._wait_until_ready():  # (again: it may have changed while we waited)
                return
            self.journal = J.Journal(J.journal_path(self.root))
            try:
                self._serve()
            finally:
                self.stop.set()
                self.journal.set_meta(pid=os.getpid(), stopped=time.time(), inflight=[])
                self.journal.close()

    def _serve(self) -> None:
        for key in self.journal.recover():
            log.warning("%s was being graded when the service stopped: graded again", printable(key))
        self.store = Store(self.root)
        self.store.clear_tmp()
        self.journal.forget(self.store, self.store.older_than(3600))  # what a killed intake copied but never journaled
        self.intake = Intake(self.course, self.journal, self.store, self.policy, collect_limits(self.course))
        self.inbound = InboundIntake(self.inbound_dir, self.intake, self.assignments, self.policy,
                                     entries.Caps(*_caps(self.intake)), self.course.coursedir.ignore)
        self.publisher = Publisher(self.course, self.journal, self.store, self.policy,
                                   ExchangeRelease(self.feedback_dir, self.journal), self.paused)
        InboundWatcher(self.inbound_dir, self.names, self.stop).start()
        doorbell.listen(self.root, lambda: self.names.put(WAKE), self.stop)  # uploads journaled by another process
        pool = self._pool()
        closed = threading.Event()
        starting = threading.Thread(target=self._run_pool, args=(pool, closed), name="pool", daemon=True)
        starting.start()
        try:
            self._loop()
        finally:
            self.stop.set()
            self.pool_started.wait()
            if self.pool_ready.is_set():
                self.dispatcher.drain(STOP_GRACE)
                log.info("stopped; %d submission(s) wait in the queue for the next start",
                         len(self.journal.in_state(J.QUEUED, J.DEFERRED)))
            closed.set()
            starting.join()

    def _run_pool(self, pool: LocalPool | DaskPool, closed: threading.Event) -> None:
        """The pool's thread: it starts the pool beside the loop, lives as long as the pool (the
        processes it forks die with it: PR_SET_PDEATHSIG follows the thread that forked) and ends it
        (a Dask client is closed in the context it was made in)."""
        try:
            self._start_pool(pool)
        finally:
            self.pool_started.set()
        closed.wait()
        pool.__exit__(None, None, None)

    def _start_pool(self, pool: LocalPool | DaskPool) -> None:
        """The pool (its fork server imports the labs' modules) and the readiness check of each lab,
        in a worker (as the batch does)."""
        try:
            pool.__enter__()
        except Exception as exc:
            log.error("the grading pool did not start (%s: %s): stopping", type(exc).__name__, one_line(exc, 500))
            self.stop.set()
            return
        for assignment in self.assignments:
            if assignment in self.paused:
                continue
            try:
                self.course.prepare_rows(assignment, [])  # the course's rows, before any worker opens the gradebook
                pool.submit(task.check_ready, assignment, self.course.notebooks(assignment)).result()
            except LabError as exc:
                self.paused[assignment] = str(exc)
            except Exception as exc:
                self.paused[assignment] = f"the readiness check failed: {type(exc).__name__}: {one_line(exc, 500)}"
        for assignment, why in self.paused.items():
            log.error("grading of %s is paused (submissions are received and receipted): %s", assignment, why)
        if isinstance(pool, DaskPool):  # the cluster's workers, as many as joined: no burst workers
            self.lanes = dataclasses.replace(Lanes.of(self.policy, pool.capacity), burst=0)
        self.dispatcher = Dispatcher(self.course, self.journal, self.store, self.policy, pool, self.publisher,
                                     self.paused, self.lanes)
        self.publisher.ahead = self.dispatcher.ahead
        self.pool_ready.set()
        log.info("serving %s from %s with %d worker(s) (+%d for long gradings); policy: before the due date %s, "
                 "after %s, at most %s per student per hour", ", ".join(self.assignments), self.inbound_dir,
                 self.lanes.workers, self.lanes.burst, self.policy.before_due, self.policy.after_due,
                 self.policy.max_per_hour or "any")

    @contextlib.contextmanager
    def _single_instance(self) -> Iterator[None]:
        path = os.path.join(self.root, SERVICE_DIR, "service.lock")
        with open(path, "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                log.warning("another grading service (pid %s) serves this course: waiting for it to end",
                            lock.read().strip() or "?")
                while not self.stop.is_set():
                    try:
                        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        self.stop.wait(1.0)
                if self.stop.is_set():
                    yield
                    return
            lock.seek(0)
            lock.truncate()
            lock.write(str(os.getpid()))
            lock.flush()
            yield

    def _wait_until_ready(self) -> bool:
        """Wait (saying why, once per reason) until the course can be served."""
        said = ""
        while not self.stop.is_set():
            try:
                self._load_course()
                return True
            except CourseNotServable as exc:
                if str(exc) != said:
                    log.warning("not serving yet: %s (checking again every %g s)", exc, self.wait_seconds)
                    said = str(exc)
            self.stop.wait(self.wait_seconds)
        return False

    def _load_course(self) -> None:
        try:
            course = Course(self.root)
            problems = startup_problems(course, self.requested, self.scheduler)
        except (CourseProblem, OSError) as exc:
            raise CourseNotServable(str(exc)) from None
        if problems:
            raise CourseNotServable("; ".join(problems))
        self.course, self.policy = course, course.configured(GradingService)
        self.assignments = self.requested or list(self.policy.assignments) or course.assignments()
        exchange = os.path.join(course.exchange_root, course.course_id)
        self.inbound_dir, self.feedback_dir = os.path.join(exchange, "inbound"), os.path.join(exchange, "feedback")
        self._due_event = self._next_due_event()

    def _pool(self) -> LocalPool | DaskPool:
        if self.scheduler:
            pool: LocalPool | DaskPool = DaskPool(self.root, self.assignments[0], self.scheduler)
            self.lanes = Lanes.of(self.policy, 1)  # (the cluster's size is known once connected)
            return pool
        imports: list[str] = []
        for assignment in self.assignments:
            try:
                lab = self.course.lab(assignment)
            except LabError as exc:
                self.paused[assignment] = str(exc)
                continue
            imports += [m for m in (lab.warm_imports if lab else ()) if m not in imports]
        self.lanes = Lanes.of(self.policy, default_workers(self.workers_arg or self.policy.workers))
        return LocalPool(self.root, self.course.db_url, tuple(imports), self.lanes.capacity)

    # -- the loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        next_scan, seen_version = 0.0, -1
        while not self.stop.is_set():
            now = time.monotonic()
            if time.time() >= self._due_event:  # a due date just passed: pages show more now
                self.publisher.pending()
                self._due_event = self._next_due_event()
            if now >= next_scan:
                self._scan()
                next_scan = now + self.policy.rescan_seconds
            version = self.journal.changed()
            if version != seen_version:  # another process's intake journaled something: its receipt
                seen_version = version
                for row in self.journal.unshown():
                    self.publisher.publish(row)
            self._look()
            if self.pool_ready.is_set():
                self.dispatcher.dispatch()
            self._heartbeat()
            if self.pool_ready.is_set() and self.dispatcher.inflight:
                self.dispatcher.collect(0.05)
                self._take_names(0.0)
            else:
                self._take_names(0.05 if self.dirty else 0.5)

    def _scan(self) -> None:
        """Every entry name in inbound not taken yet (changed while the service was down? inotify
        missed it?), the due dates again, and pages whose content changed since."""
        known = self.journal.entries()
        for name in scan(self.inbound_dir):
            if name not in known:
                self.dirty.setdefault(name, (0.0, self.policy.settle_seconds))
        self.course.refresh()
        self._due_event = self._next_due_event()
        self.publisher.pending()

    def _take_names(self, timeout: float) -> None:
        with contextlib.suppress(queue.Empty):
            name = self.names.get(timeout=timeout) if timeout else self.names.get_nowait()
            while True:
                if name != WAKE:
                    self.dirty[name] = (time.monotonic() + self.policy.settle_seconds, self.policy.settle_seconds)
                name = self.names.get_nowait()

    def _look(self) -> None:
        """Entries whose time to be looked at came: taken (their receipt released), done with, or
        looked at again later (each time a little later, up to the rescan period)."""
        now = time.monotonic()
        for name, (when, backoff) in list(self.dirty.items()):
            if when > now:
                continue
            if self.stop.is_set():
                return
            try:
                outcome = self.inbound.look(name)
            except Exception as exc:  # one entry never stops the others
                log.exception("could not look at the entry %s: %s", printable(name), exc)
                outcome = True
            if outcome is False:
                backoff = min(backoff * 2, self.policy.rescan_seconds)
                self.dirty[name] = (time.monotonic() + backoff, backoff)
                continue
            self.dirty.pop(name, None)
            if isinstance(outcome, Receipt) and not outcome.duplicate:
                row = self.journal.get(outcome.key)
                log.info("received %s from %s (%s): %s%s", printable(name), printable(row["student"] or row["uid"]),
                         row["time"], row["state"], f" ({row['reason']})" if row["reason"] else "")
                self.publisher.publish(row)

    def _heartbeat(self) -> None:
        now = time.time()
        if now - self._beat >= 2.0:
            self._beat = now
            ready = self.pool_ready.is_set()
            self.journal.set_meta(pid=os.getpid(), heartbeat=now, paused=self.paused, workers=self.lanes.workers,
                                  burst=self.lanes.burst, pool_ready=ready,
                                  inflight=list(self.dispatcher.inflight.values()) if ready else [],
                                  assignments=self.assignments,
                                  policy={"before_due": self.policy.before_due, "after_due": self.policy.after_due,
                                          "max_per_hour": self.policy.max_per_hour,
                                          "grading_budget_seconds": self.policy.grading_budget_seconds})

    def _next_due_event(self) -> float:
        """The next moment a due date (with extension) passes, as epoch seconds (inf: none ahead)."""
        now = time.time()
        moments = []
        for assignment in self.assignments:
            facts = self.course.facts(assignment)
            moments += [facts.due_for(None)] + [facts.due_for(s) for s in facts.extensions]
        ahead = [m.timestamp() for m in moments if m is not None and m.timestamp() > now]
        return min(ahead, default=float("inf"))


def _caps(intake: Intake) -> tuple[int, int, int]:
    return intake.limits.max_file_bytes, intake.limits.max_total_bytes, intake.limits.max_files


__all__ = ["CourseNotServable", "SERVICE_DIR", "Service", "startup_problems"]
