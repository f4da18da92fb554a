"""Queued submissions to the pool, fairly, and their results back into the journal.

Which submission starts when is the policy's (``policy.plan``): round-robin between students,
least grading time used in the last hour first, at most one grading per student in flight, long
gradings moved out of the way onto burst workers, students over their budget never taking the
last free worker, a submission that crashed a grading run alone. Each result is journaled in one
step (its record, where it went, its cost); the page follows (labgrader/service/publish.py). A
grading that crashes is retried once, alone, then flagged for the instructor; a lab error pauses
that assignment's grading (its submissions stay queued; receipts go on).
"""
from __future__ import annotations

import logging
import os
import time
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from labgrader.course import Course
from labgrader.exchange.entries import collected_time
from labgrader.exchange.times import format_timestamp, parse_time
from labgrader.record import SubmissionRecord
from labgrader.text import one_line, printable

from . import journal as J
from .policy import HOUR, GradingService, Lanes, Running, keeps_in_gradebook, plan, queue_order
from .publish import Publisher
from .store import Store
from .worker import Job, Result, grade_job

log = logging.getLogger("labgrader.service")


class Pool(Protocol):
    @property
    def capacity(self) -> int: ...

    def submit(self, fn: Any, *args: Any) -> Future[Any]: ...

    @property
    def ends_workers(self) -> bool: ...  # whether rebuild() ends the workers (and so a hung grading)

    def rebuild(self, why: str = ...) -> None: ...


class Dispatcher:

    def __init__(self, course: Course, journal: J.Journal, store: Store, policy: GradingService, pool: Pool,
                 publisher: Publisher, paused: dict[str, str], lanes: Lanes):
        self.course, self.journal, self.store, self.policy = course, journal, store, policy
        self.pool, self.publisher, self.paused, self.lanes = pool, publisher, paused, lanes
        self.inflight: dict[Future[Any], str] = {}  # future -> submission key
        self.since: dict[str, float] = {}  # submission key -> when its grading was handed to the pool (monotonic)
        self.prepared: set[tuple[str, str]] = set()  # (assignment, student) whose gradebook rows exist

    # -- starting ------------------------------------------------------------------------------

    def running(self) -> list[Running]:
        found = []
        for key in self.inflight.values():
            row = self.journal.get(key)
            found.append(Running(row["assignment"], row["student"], row["started"] or time.time(), bool(row["suspect"])))
        return found

    def usage(self, now: float) -> dict[str, float]:
        return self.journal.usage(now - HOUR, now)

    def dispatch(self) -> None:
        now = time.time()
        queued = [r for r in self.journal.in_state(J.QUEUED) if r["assignment"] not in self.paused]
        if not queued:
            return
        for row in plan(queued, self.running(), self.usage(now), now, self.lanes):
            self._start(row, now)

    def ahead(self, row: dict[str, Any]) -> int:
        """How many queued submissions are served before this one (for its page)."""
        order = queue_order(self.journal.in_state(J.QUEUED), self.usage(time.time()), self.lanes)
        keys = [r["key"] for r in order]
        return keys.index(row["key"]) if row["key"] in keys else 0

    def _start(self, row: dict[str, Any], now: float) -> None:
        who = (row["assignment"], row["student"])
        if who not in self.prepared:  # made here, before any worker grades: two workers inserting one row race
            self.course.prepare_rows(row["assignment"], [row["student"]])
            self.prepared.add(who)
        self.journal.update(row["key"], "started", f"attempt {row['attempts'] + 1}", state=J.GRADING,
                            attempts=row["attempts"] + 1, started=now)
        self.inflight[self.pool.submit(grade_job, self.job(row))] = row["key"]
        self.since[row["key"]] = time.monotonic()

    def job(self, row: dict[str, Any]) -> dict[str, Any]:
        facts = self.course.facts(row["assignment"])
        extension = facts.extensions.get(row["student"])
        files = [[name, sha, size] for name, sha, size in self.journal.refs(row["key"], J.CONTENT)]
        return vars(Job(row["key"], row["assignment"], row["student"], row["time"], files, list(facts.notebooks),
                        format_timestamp(facts.due) if facts.due else None,
                        extension.total_seconds() if extension else 0.0))

    # -- results -------------------------------------------------------------------------------

    def collect(self, timeout: float) -> None:
        done, _ = wait(list(self.inflight), timeout=timeout, return_when=FIRST_COMPLETED)
        broken = False
        for future in done:
            key = self.inflight.pop(future)
            self.since.pop(key, None)
            try:
                result = Result(**future.result())
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
        else:
            self._end_hung()

    def _end_hung(self) -> None:
        """A grading past ``hung_seconds`` is stuck outside its kernel (a kernel stops at its own
        limits): nothing but ending its worker frees the worker, so the pool is started again; the
        hung submission counts an attempt (retried alone, then flagged), the others in flight are
        queued again as they were. Without it the student's submission stayed "grading" and held a
        worker until the service was restarted."""
        limit = self.policy.hung_seconds
        now = time.monotonic()
        hung = [future for future, key in self.inflight.items() if limit and now - self.since.get(key, now) > limit]
        if not hung:
            return
        what = "its worker was ended" if self.pool.ends_workers else "given up on (its Dask worker's thread goes on)"
        for future in hung:
            key = self.inflight.pop(future)
            future.cancel()
            self._crashed(key, f"its grading ran more than {limit:g} s, stuck outside its kernel: {what}")
        if not self.pool.ends_workers:  # a Dask cluster: the hung task's thread stays; the others go on
            return
        for future, key in list(self.inflight.items()):
            self.inflight.pop(future)
            future.cancel()
            self.journal.update(key, "interrupted", "another grading hung: the pool was started again",
                                state=J.QUEUED, attempts=max(0, self.journal.get(key)["attempts"] - 1))
        self.pool.rebuild(f"a grading ran more than {limit:g} s")

    def drain(self, grace: float) -> None:
        """Stopping: let the gradings in flight finish for ``grace`` seconds; the rest go back to the
        queue (their attempt not counted: the service stopped, they did not crash)."""
        deadline = time.monotonic() + grace
        while self.inflight and time.monotonic() < deadline:
            self.collect(min(0.5, max(0.0, deadline - time.monotonic())))
        for key in list(self.inflight.values()):
            row = self.journal.get(key)
            self.journal.update(key, "interrupted", "the service stopped: graded again at its next start",
                                state=J.QUEUED, attempts=max(0, row["attempts"] - 1))
        self.inflight.clear()
        self.since.clear()

    def _graded(self, key: str, result: Result) -> None:
        row = self.journal.get(key)
        record = SubmissionRecord.from_dict(result.record)
        if result.lab_error:  # the lab, not the submission: pause, keep the submission queued
            self.paused[row["assignment"]] = result.lab_error
            self.journal.update(key, "paused", result.lab_error, state=J.QUEUED, attempts=row["attempts"] - 1)
            log.error("grading of %s paused: %s", row["assignment"], result.lab_error)
            return
        state = J.GRADED if record.ok else J.FAILED
        reason = "" if record.ok else printable(record.error).replace(self.course.root, "<course>")
        detail = (f"{record.score:g} / {record.max_score:g} into the {result.target}" if record.ok else reason)
        with self.journal.transaction():
            self.journal.update(key, "graded" if record.ok else "failed", detail, state=state, graded=time.time(),
                                result=result.as_dict(), reason=reason, charge=round(result.charge, 3))
            self.journal.add_refs(key, J.FEEDBACK, [(nb, sha, size) for nb, (sha, size) in result.feedback.items()])
            gone = self.journal.release_content(key)
        self.journal.forget(self.store, gone)
        if record.ok:
            log.info("graded %s (%s): %g / %g%s", printable(row["entry"]), row["student"], record.score,
                     record.max_score, ", kept out of the gradebook" if result.target == "shadow" else "")
        else:
            log.warning("not graded %s (%s): %s", printable(row["entry"]), row["student"], reason)
        self.publisher.publish(self.journal.get(key))

    def _crashed(self, key: str, why: str) -> None:
        row = self.journal.get(key)
        charge = time.time() - (row["started"] or time.time())
        if row["attempts"] < J.MAX_ATTEMPTS:
            self.journal.update(key, "retry", why, state=J.QUEUED, suspect=1, charge=row["charge"] + charge)
            log.warning("grading %s crashed (%s): retrying it alone", printable(row["entry"]), why)
            return
        reason = f"grading crashed twice ({why}): grade it by hand or with python -m labgrader autograde"
        with self.journal.transaction():
            self.journal.update(key, "flagged", reason, state=J.FLAGGED, reason=reason, graded=time.time(),
                                charge=row["charge"] + charge)
            gone = self.journal.release_content(key)
        self.journal.forget(self.store, gone)
        log.error("flagged %s (%s): %s", printable(row["entry"]), row["student"], reason)
        if self.counts_in_gradebook(row):
            try:
                self.course.record_failure(row["assignment"], row["student"], reason)
            except Exception as exc:  # the journal says it all; the gradebook is the instructor's to fix
                log.error("could not record the failure of %s in the gradebook: %s", printable(row["entry"]), exc)
        self.publisher.publish(self.journal.get(key))

    def counts_in_gradebook(self, row: dict[str, Any]) -> bool:
        dest = self.course.path(self.course.coursedir.submitted_directory, row["student"], row["assignment"])
        current = collected_time(dest) if os.path.isdir(dest) else None
        return keeps_in_gradebook(parse_time(row["time"]), current, self.course.due(row["assignment"], row["student"]))


__all__ = ["Dispatcher"]
