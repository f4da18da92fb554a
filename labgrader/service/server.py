"""``python -m labgrader serve``: the grading service's main loop.

One process per course (``.labgrader/service/service.lock``; a second one waits for the first to
end, so a hub restarting it never runs two), run as the course's owner, the instructor: it owns
the exchange's course folder, reads inbound, writes the course and the feedback pages, and grades
in the sandbox of an ordinary user (user namespaces). Nothing in it needs root.

The loop: entries named by the watcher or the rescan are looked at once nothing in them changed
for ``settle_seconds``; each new one is collected through the hardened collector into a copy kept
for good (``.labgrader/service/kept/``), journaled, admitted to the queue (or deferred by the
per-hour cap) and receipted; queued submissions are graded in order (one per student at a time)
by the pool; each result is journaled and the student's page released as the policy allows. A
grading that crashes is retried once, alone, then flagged; a lab error pauses that assignment's
grading (receipts go on); the due date passing upgrades every released page.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import hashlib
import logging
import os
import queue
import re
import shutil
import signal
import sqlite3
import stat
import threading
import time
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from concurrent.futures.process import BrokenProcessPool
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.utils import notebook_hash

from labgrader.batch import task
from labgrader.batch.runner import _record_failure, sqlite_with_busy_timeout
from labgrader.config import load_course_config
from labgrader.exchange import entries
from labgrader.exchange.layout import inbound_problems
from labgrader.exchange.release_feedback import reader_of, write_private
from labgrader.exchange.times import UTC, format_timestamp, from_epoch, parse_time
from labgrader.lab import LabError, load_lab, notebook_names
from labgrader.safety import paths
from labgrader.text import one_line, printable

from . import journal as J
from .pages import PageView, render
from .policy import (GradingService, cap_decision, dispatchable, keeps_in_gradebook, level_at, queue_order, rank,
                     student_due)
from .pool import DaskPool, LocalPool, default_workers
from .watch import InboundWatcher, scan
from .worker import FEEDBACK_DIR, grade_job

log = logging.getLogger("labgrader.service")
SERVICE_DIR = os.path.join(".labgrader", "service")
KEPT_DIR = os.path.join(SERVICE_DIR, "kept")
SECRET = "submission_secret.txt"
STOP_GRACE = 8.0  # seconds a stop waits for gradings in flight (JupyterHub sends SIGTERM 10 s after SIGINT)


class NotReady(Exception):
    """The course cannot be served yet (the message says what is missing); the service waits."""


class Service:

    def __init__(self, root: str | Path, assignments: list[str] | None = None, workers: int | None = None,
                 scheduler: str | None = None, wait_seconds: float = 5.0):
        self.root = str(Path(root).resolve())
        self.requested, self.workers_arg, self.scheduler = assignments or [], workers, scheduler
        self.wait_seconds = wait_seconds
        self.stop = threading.Event()
        self.names: queue.Queue[str] = queue.Queue()
        self.dirty: dict[str, float] = {}     # entry name -> monotonic time of its last change seen
        self.inflight: dict[Future, str] = {}  # future -> submission key
        self.paused: dict[str, str] = {}       # assignment -> why its grading is paused (a lab error)
        self.due: dict[str, _dt.datetime | None] = {}
        self.extensions: dict[tuple[str, str], _dt.timedelta] = {}
        self._due_event = float("inf")  # when the next due date passes (epoch seconds)

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
            for key in self.journal.recover():
                log.warning("%s was being graded when the service stopped: graded again", printable(key))
            try:
                with self._pool() as pool:
                    self.pool = pool
                    self._check_ready()
                    watcher = InboundWatcher(self.inbound, self.names, self.stop)
                    watcher.start()
                    log.info("serving %s from %s with %d worker(s); policy: before the due date %s, after %s, "
                             "at most %s per student per hour", ", ".join(self.assignments), self.inbound,
                             pool.capacity, self.policy.before_due, self.policy.after_due, self.policy.max_per_hour or "any")
                    self._loop()
                    self._drain()
                    log.info("stopped; %d submission(s) wait in the queue for the next start",
                             len(self.journal.in_state(J.QUEUED, J.DEFERRED)))
            finally:
                self.stop.set()
                self.journal.set_meta(pid=os.getpid(), stopped=time.time(), inflight=[])
                self.journal.close()

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
            except NotReady as exc:
                if str(exc) != said:
                    log.warning("not serving yet: %s (checking again every %g s)", exc, self.wait_seconds)
                    said = str(exc)
            self.stop.wait(self.wait_seconds)
        return False

    def _load_course(self) -> None:
        if not os.path.isfile(os.path.join(self.root, "nbgrader_config.py")):
            raise NotReady(f"no nbgrader_config.py in {self.root}")
        config = load_course_config(self.root)
        self.config, self.policy = config, GradingService(config=config)
        if not _gradebook_made(config.CourseDirectory.db_url):
            raise NotReady("no gradebook yet: run nbgrader generate_assignment")
        self.coursedir = CourseDirectory(config=config)
        self.db_url = sqlite_with_busy_timeout(config.CourseDirectory.db_url)
        course = config.CourseDirectory.course_id
        exchange = config.Exchange.get("root", "/srv/nbgrader/exchange")
        if not course:
            raise NotReady("no c.CourseDirectory.course_id in the course's configuration")
        problems = inbound_problems(exchange, course)
        if problems:
            raise NotReady("; ".join(problems))
        self.inbound = os.path.join(exchange, course, "inbound")
        self.feedback = os.path.join(exchange, course, "feedback")
        with Gradebook(self.db_url) as gb:
            known = [a.name for a in gb.assignments]
        wanted = self.requested or list(self.policy.assignments) or known
        missing = [a for a in wanted if a not in known]
        if missing or not wanted:
            raise NotReady(f"the gradebook has no assignment {', '.join(missing) or '(none yet)'}: run "
                           "nbgrader generate_assignment")
        if self.scheduler and len(wanted) != 1:
            raise NotReady("with --scheduler, serve one assignment (name it on the command line)")
        self.assignments = wanted
        self.notebooks = {a: notebook_names(self.db_url, a) for a in wanted}
        trusted = config.get("TrustedCollect", {})
        self.caps = entries.Caps(trusted.get("max_file_bytes", paths.MAX_FILE_BYTES),
                                 trusted.get("max_entry_bytes", paths.MAX_TOTAL_BYTES), trusted.get("max_files", 1000))
        task.require_sandboxed(config)
        from labgrader.batch.runner import GradingStopped, _require_sandbox
        try:
            _require_sandbox(config)
        except GradingStopped as exc:
            raise NotReady(str(exc)) from None
        self._refresh_due_dates()

    def _pool(self) -> LocalPool | DaskPool:
        if self.scheduler:
            return DaskPool(self.root, self.assignments[0], self.scheduler)
        imports: list[str] = []
        for assignment in self.assignments:
            try:
                lab = load_lab(self.coursedir, assignment)
            except LabError as exc:
                self.paused[assignment] = str(exc)
                continue
            imports += [m for m in (lab.warm_imports if lab else ()) if m not in imports]
        workers = default_workers(self.workers_arg or self.policy.workers)
        return LocalPool(self.root, self.db_url, tuple(imports), workers)

    def _check_ready(self) -> None:
        """The readiness check of each lab, in a worker (as the batch does): a broken lab pauses
        that assignment's grading; its submissions are still collected and receipted."""
        for assignment in self.assignments:
            if assignment in self.paused:
                continue
            try:
                self.pool.submit(task.check_ready, assignment, self.notebooks[assignment]).result()
            except LabError as exc:
                self.paused[assignment] = str(exc)
            except Exception as exc:
                self.paused[assignment] = f"the readiness check failed: {type(exc).__name__}: {one_line(exc, 500)}"
        for assignment, why in self.paused.items():
            log.error("grading of %s is paused (submissions are collected and receipted): %s", assignment, why)

    def _drain(self) -> None:
        """Stopping: let the gradings in flight finish for a few seconds; the rest go back to the queue
        (their attempt not counted: the service stopped, they did not crash)."""
        deadline = time.monotonic() + STOP_GRACE
        while self.inflight and time.monotonic() < deadline:
            self._collect_results(min(0.5, max(0.0, deadline - time.monotonic())))
        for future, key in list(self.inflight.items()):
            row = self.journal.get(key)
            self.journal.update(key, "interrupted", "the service stopped: graded again at its next start",
                                state=J.QUEUED, attempts=max(0, row["attempts"] - 1))
        self.inflight.clear()

    # -- the loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        next_scan = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            if time.time() >= self._due_event:  # a due date just passed: pages show more now
                self._publish_pending()
                self._due_event = self._next_due_event()
            if now >= next_scan:
                # The first scan looks at every entry (changed while the service was down?); later
                # ones only at new names: changes to known entries come from inotify, and a student
                # with many large entries must not make every scan walk them all.
                known = self.journal.entry_times() if next_scan else {}
                for name in scan(self.inbound):
                    if name not in known:
                        self.dirty.setdefault(name, 0.0)
                self._refresh_due_dates()
                self._publish_pending()
                next_scan = now + self.policy.rescan_seconds
            self._settle()
            self._wake_deferred()
            self._dispatch()
            self._heartbeat()
            if self.inflight:
                self._collect_results(0.05)
                self._take_names(0.0)
            else:
                self._take_names(0.05 if self.dirty else 0.5)

    def _take_names(self, timeout: float) -> None:
        with contextlib.suppress(queue.Empty):
            name = self.names.get(timeout=timeout) if timeout else self.names.get_nowait()
            while True:
                self.dirty[name] = time.monotonic()
                name = self.names.get_nowait()

    def _heartbeat(self) -> None:
        now = time.time()
        if now - getattr(self, "_beat", 0.0) >= 2.0:
            self._beat = now
            self.journal.set_meta(pid=os.getpid(), heartbeat=now, paused=self.paused, workers=self.pool.capacity,
                                  inflight=list(self.inflight.values()), assignments=self.assignments,
                                  policy={"before_due": self.policy.before_due, "after_due": self.policy.after_due,
                                          "max_per_hour": self.policy.max_per_hour})

    # -- entries -------------------------------------------------------------------------------

    def _settle(self) -> None:
        quiet = time.monotonic() - self.policy.settle_seconds
        for name in [n for n, seen in self.dirty.items() if seen <= quiet]:
            if self.stop.is_set():
                return
            try:
                done = self._take(name)
            except Exception as exc:  # one entry never stops the others
                log.exception("could not look at the entry %s: %s", printable(name), exc)
                done = True
            if done:
                self.dirty.pop(name, None)
            else:
                self.dirty[name] = time.monotonic()

    def _assignment_of(self, name: str) -> str | None:
        for assignment in self.assignments:
            if entries.parse_entry_name(name, assignment):
                return assignment
        return None

    def _take(self, name: str) -> bool:
        """Look at one entry; collect it when it is new. False: look again later (still changing)."""
        assignment = self._assignment_of(name)
        if assignment is None:
            return True  # another assignment's, or not an entry: nbgrader collect reports those
        fd = entries.open_inbound(self.inbound)
        try:
            entry = entries.survey(fd, name, assignment, self.caps, self.coursedir.ignore, _now())
        finally:
            os.close(fd)
        if time.time_ns() - entry.ctime_ns < self.policy.settle_seconds * 1e9:
            return False
        if self.journal.has(_key(name, entry.ctime_ns)):
            return True
        kept = os.path.join(self.root, KEPT_DIR, assignment, f"{entry.ctime_ns}-{_digest(_key(name, entry.ctime_ns))}")
        shutil.rmtree(kept, ignore_errors=True)  # a copy an interrupted run left unjournaled
        collected = entries.collect_entry(self.inbound, name, assignment, kept, self.caps, self.coursedir.ignore)
        key = _key(name, collected.ctime_ns or entry.ctime_ns)
        if collected.refusals and any("collect again" in r for r in collected.refusals):
            shutil.rmtree(kept, ignore_errors=True)
            return False  # changed while we copied it: once it settles
        if self.journal.has(key):
            shutil.rmtree(kept, ignore_errors=True)
            return True
        row = {"key": key, "entry": name, "assignment": assignment, "student": collected.owner, "uid": collected.uid,
               "time": format_timestamp(collected.time or from_epoch(collected.ctime_ns / 1e9)),
               "time_ns": collected.ctime_ns, "kept": kept}
        if collected.status != "collected":
            shutil.rmtree(kept, ignore_errors=True)
            reason = "; ".join(printable(r) for r in collected.refusals) or f"not collected ({collected.status})"
            row.update(state=J.REFUSED, reason=reason, kept="", secret=self._refused_secret(name, collected.uid),
                       notebooks=self.notebooks[assignment])
            self.journal.add(row, "refused", reason)
            log.warning("refused %s (owner %s): %s", printable(name), printable(collected.owner or collected.uid), reason)
        else:
            handin = os.path.join(kept, collected.owner, assignment)
            row.update(secret=_secret(handin), notebooks=_notebooks(handin, self.notebooks[assignment]))
            self._admit(row)
        self._publish(self.journal.get(key))
        return True

    def _admit(self, row: dict[str, Any]) -> None:
        """Queue a collected submission, or defer it when the student is over the per-hour cap."""
        now = time.time()
        decision = cap_decision(self.journal.admitted_times(row["assignment"], row["student"]), now,
                                self.policy.max_per_hour)
        if decision.allowed:
            self.journal.add(dict(row, state=J.QUEUED, admitted=now), "queued", f"{decision.used} graded in the last hour")
            log.info("received %s from %s (%s): queued", printable(row["entry"]), row["student"], row["time"])
            return
        due = self._due_for(row)
        for older in self.journal.rows("assignment = ? AND student = ? AND state = ?",
                                       (row["assignment"], row["student"], J.DEFERRED)):
            if rank(parse_time(older["time"]), due) > rank(parse_time(row["time"]), due):
                continue  # an on-time one waiting is not replaced by a late one: the gradebook keeps it
            self.journal.update(older["key"], "superseded", "a newer submission arrived while it waited", state=J.SUPERSEDED)
            self._publish(self.journal.get(older["key"]))
        slot = decision.next_slot or now
        reason = (f"over the cap: {decision.used} graded in the last hour (at most {self.policy.max_per_hour}); "
                  f"waits until {format_timestamp(from_epoch(slot))}")
        self.journal.add(dict(row, state=J.DEFERRED, not_before=slot, reason=reason), "deferred", reason)
        log.info("received %s from %s: %s", printable(row["entry"]), row["student"], reason)

    def _wake_deferred(self) -> None:
        """Deferred submissions whose slot came (or whose cap was raised since) join the queue."""
        now = time.time()
        for row in self.journal.in_state(J.DEFERRED):
            decision = cap_decision(self.journal.admitted_times(row["assignment"], row["student"]), now,
                                    self.policy.max_per_hour)
            if decision.allowed:
                self.journal.update(row["key"], "queued", "a slot freed up", state=J.QUEUED, admitted=now, reason="")
            elif decision.next_slot != row["not_before"]:
                self.journal.update(row["key"], not_before=decision.next_slot)
            else:
                continue
            self._publish(self.journal.get(row["key"]))

    def _refused_secret(self, name: str, uid: int) -> str:
        """The secret of a refused entry, to tell its owner why: read only when the entry is a folder
        of that owner and the file a small regular file of theirs (never through a link)."""
        if uid < 0:
            return ""
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            inbound = entries.open_inbound(self.inbound)
            try:
                folder = os.open(name, flags | os.O_DIRECTORY, dir_fd=inbound)
            finally:
                os.close(inbound)
            try:
                fd = os.open(SECRET, flags | os.O_NONBLOCK, dir_fd=folder)
            finally:
                os.close(folder)
        except OSError:
            return ""
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not (st.st_uid == uid and stat.S_ISREG(st.st_mode) and st.st_size <= 4096):
                return ""
            return _valid_secret(fh.read(4096))

    # -- grading -------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        if self.stop.is_set():
            return
        queued = [r for r in queue_order(self.journal.in_state(J.QUEUED)) if r["assignment"] not in self.paused]
        suspects = [r for r in queued if r["suspect"]]
        running = [self.journal.get(k) for k in self.inflight.values()]
        if any(r and r["suspect"] for r in running):
            return  # a submission that crashed a grading runs alone
        if suspects:
            if not self.inflight:
                self._start(suspects[0])
            return
        busy = {(r["assignment"], r["student"]) for r in running if r}
        for row in dispatchable(queued, busy, self.pool.capacity - len(self.inflight)):
            self._start(row)

    def _start(self, row: dict[str, Any]) -> None:
        now = time.time()
        self.journal.update(row["key"], "started", f"attempt {row['attempts'] + 1}", state=J.GRADING,
                            attempts=row["attempts"] + 1, started=row["started"] or now)
        job = {key: row[key] for key in ("key", "assignment", "student", "kept", "time")}
        self.inflight[self.pool.submit(grade_job, job)] = row["key"]

    def _collect_results(self, timeout: float) -> None:
        done, _ = wait(list(self.inflight), timeout=timeout, return_when=FIRST_COMPLETED)
        broken = False
        for future in done:
            key = self.inflight.pop(future)
            try:
                result = future.result()
            except CancelledError:
                row = self.journal.get(key)
                self.journal.update(key, "interrupted", "cancelled", state=J.QUEUED, attempts=max(0, row["attempts"] - 1))
                continue
            except BrokenProcessPool:
                broken = True
                self._crashed(key, "its grading worker died (killed, or out of memory)")
                continue
            except Exception as exc:
                self._crashed(key, f"{type(exc).__name__}: {one_line(exc, 500)}")
                continue
            self._graded(key, result)
        if broken:
            for future, key in list(self.inflight.items()):  # the pool took them down with it
                self.inflight.pop(future)
                self._crashed(key, "its grading worker's pool broke (another worker died)")
            self.pool.rebuild()

    def _graded(self, key: str, result: dict[str, Any]) -> None:
        row = self.journal.get(key)
        if result.get("lab_error"):  # the lab, not the submission: pause, keep the submission queued
            self.paused[row["assignment"]] = result["lab_error"]
            self.journal.update(key, "paused", result["lab_error"], state=J.QUEUED, attempts=row["attempts"] - 1)
            log.error("grading of %s paused: %s", row["assignment"], result["lab_error"])
            return
        if result.get("ok"):
            self.journal.update(key, "graded", f"{result.get('score', 0):g} / {result.get('max_score', 0):g} "
                                f"into the {result.get('target')}", state=J.GRADED, graded=time.time(), result=result,
                                reason="")
            log.info("graded %s (%s): %g / %g%s", printable(row["entry"]), row["student"], result.get("score", 0),
                     result.get("max_score", 0), ", kept out of the gradebook" if result.get("target") == "shadow" else "")
        else:
            reason = printable(result.get("error", "")).replace(self.root, "<course>")
            self.journal.update(key, "failed", reason, state=J.FAILED, graded=time.time(), result=result, reason=reason)
            log.warning("not graded %s (%s): %s", printable(row["entry"]), row["student"], reason)
        self._publish(self.journal.get(key))

    def _crashed(self, key: str, why: str) -> None:
        row = self.journal.get(key)
        if row["attempts"] < J.MAX_ATTEMPTS:
            self.journal.update(key, "retry", why, state=J.QUEUED, suspect=1)
            log.warning("grading %s crashed (%s): retrying it alone", printable(row["entry"]), why)
            return
        reason = f"grading crashed twice ({why}): grade it by hand or with python -m labgrader autograde"
        self.journal.update(key, "flagged", reason, state=J.FLAGGED, reason=reason)
        log.error("flagged %s (%s): %s", printable(row["entry"]), row["student"], reason)
        if self._counts_in_gradebook(row):
            with contextlib.suppress(Exception):
                _record_failure(self.db_url, row["assignment"], row["student"], reason)
        self._publish(self.journal.get(key))

    def _counts_in_gradebook(self, row: dict[str, Any]) -> bool:
        dest = self.coursedir.format_path(self.coursedir.submitted_directory, row["student"], row["assignment"])
        current = entries.collected_time(dest) if os.path.isdir(dest) else None
        return keeps_in_gradebook(parse_time(row["time"]), current, self._due_for(row))

    # -- pages ---------------------------------------------------------------------------------

    def _refresh_due_dates(self) -> None:
        with Gradebook(self.db_url) as gb:
            for assignment in self.assignments:
                try:
                    found = gb.find_assignment(assignment)
                except MissingEntry:
                    continue
                self.due[assignment] = found.duedate.replace(tzinfo=UTC) if found.duedate else None
                for submission in found.submissions:
                    if submission.extension:
                        self.extensions[(assignment, submission.student_id)] = submission.extension
        self._due_event = self._next_due_event()

    def _next_due_event(self) -> float:
        """The next moment a due date (with extension) passes, as epoch seconds (inf: none ahead)."""
        now = _now()
        moments = list(self.due.values()) + [student_due(self.due.get(a), e) for (a, _), e in self.extensions.items()]
        ahead = [m.timestamp() for m in moments if m is not None and m > now]
        return min(ahead, default=float("inf"))

    def _due_for(self, row: dict[str, Any]) -> _dt.datetime | None:
        return student_due(self.due.get(row["assignment"]), self.extensions.get((row["assignment"], row["student"])))

    def _shows(self, row: dict[str, Any]) -> str:
        """What the row's page should show now (a new page is released when this changes)."""
        if row["state"] != J.GRADED:
            return row["state"] + (f"@{row['not_before']}" if row["state"] == J.DEFERRED else "")
        due = self._due_for(row)
        return f"graded:{level_at(self.policy, _now(), due)}@{due.isoformat() if due else ''}"

    def _publish_pending(self) -> None:
        """Pages whose content changed without an event of their own (the due date passed or moved)."""
        for row in self.journal.in_state(J.GRADED, J.DEFERRED):
            if row["shown"] != self._shows(row):
                self._publish(row)

    def _publish(self, row: dict[str, Any]) -> None:
        """Release the row's page for each of its notebooks, readable by its student alone."""
        shows = self._shows(row)
        if row["uid"] < 0 or not row["student"] or not row["secret"]:
            self.journal.update(row["key"], shown=shows)
            return
        level = shows.partition(":")[2].partition("@")[0] or "receipt"
        released, refused = [], []
        for notebook in row["notebooks"]:
            name = notebook_hash(secret=row["secret"], notebook_id=notebook)
            why = self.journal.claim_page(name, row["student"], row["key"],
                                          "refusal" if row["state"] == J.REFUSED else "submission")
            if not why and reader_of(os.path.join(self.feedback, f"{name}.html")) not in (None, row["uid"]):
                why = "its page name is another student's page"
            if why:
                refused.append(f"{notebook}: {why}")
                continue
            write_private(self.feedback, name, render(self._view(row, notebook, level)), row["uid"])
            released.append(notebook)
        detail = f"{shows}: {', '.join(released) or 'nothing'}" + (f"; not released: {'; '.join(refused)}" if refused else "")
        self.journal.update(row["key"], "released" if released else "not released", detail, shown=shows)
        if refused:
            log.error("page of %s not released: %s", printable(row["entry"]), "; ".join(refused))

    def _view(self, row: dict[str, Any], notebook: str, level: str) -> PageView:
        expected = self.notebooks.get(row["assignment"], [])
        if notebook not in expected and len(expected) == 1:
            notebook = expected[0]  # handed in under another name: graded as the assignment's one notebook
        view = PageView(row["assignment"], notebook, row["time"], row["state"], level, due=self._due_for(row),
                        reason=row["reason"], not_before=row["not_before"], cap=self.policy.max_per_hour,
                        paused=row["assignment"] in self.paused, result=row["result"])
        if row["state"] in (J.QUEUED, J.GRADING):
            view.ahead = len([r for r in self.journal.in_state(J.QUEUED, J.GRADING) if r["time_ns"] < row["time_ns"]])
        if row["state"] == J.GRADED and level == "full":
            with contextlib.suppress(OSError, paths.UnsafePath):
                view.full_page = paths.read_regular(os.path.join(row["kept"], FEEDBACK_DIR, f"{notebook}.html"))
        return view


def _gradebook_made(db_url: str) -> bool:
    """Whether a SQLite gradebook exists and nbgrader finished making it. Opening one that does not
    would make it, racing the instructor's first nbgrader command (both would create its tables)."""
    if not db_url.startswith("sqlite:///"):
        return True  # a database server: made by its administrator
    path = db_url[len("sqlite:///"):].split("?")[0]
    if not os.path.isfile(path):
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
            return db.execute("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'").fetchone() is not None
    except sqlite3.Error:
        return False


def _key(name: str, ctime_ns: int) -> str:
    return f"{name}@{ctime_ns}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def _now() -> _dt.datetime:
    return _dt.datetime.now(UTC)


def _valid_secret(data: bytes) -> str:
    text = data.decode("ascii", "replace").strip()
    return text if re.fullmatch(r"[0-9a-f]{16,256}", text) else ""


def _secret(handin: str) -> str:
    """nbgrader's secret of a collected hand-in (it names the student's feedback pages)."""
    try:
        return _valid_secret(paths.read_regular(os.path.join(handin, SECRET), 4096))
    except (OSError, paths.UnsafePath):
        return ""


def _notebooks(handin: str, expected: list[str]) -> list[str]:
    """The notebooks a page is made for: the assignment's, and any other the student handed in
    (nbgrader's Fetch Feedback looks for one page per notebook of the submission)."""
    found = sorted(p.name[:-len(".ipynb")] for p in Path(handin).glob("*.ipynb") if p.is_file() and not p.is_symlink())
    return list(dict.fromkeys(expected + found))


__all__ = ["Service", "NotReady", "SERVICE_DIR", "KEPT_DIR"]
