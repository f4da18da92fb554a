"""Grading on upload: each accepted submission goes straight to the course's grading service
through its intake seam (``labgrader.service.intake``), and the pages the service makes are served
back through the exchange's API (``labgrader.service.publish.Pages``). No folder is watched.

The exchange runs as the course's owner, like the grading service (``python -m labgrader serve``,
another process): the intake is the service's journal, so an accepted submission is queued at once
and graded by the running service (or at its next start). What the exchange passes is what the
student cannot write: the student from the hub token, the time from the server's clock, the
content as the stored archive (immutable, hashed), keyed ``upload:<submission id>`` (idempotent).

A submission the grading service cannot take yet (no gradebook: the course is not set up) is kept
by the exchange and offered again every ``CATCH_UP_SECONDS`` until it is taken; the offers are
idempotent, so offering one twice changes nothing.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from labgrader.course import Course
from labgrader.service import journal as J
from labgrader.service.intake import Intake, Receipt
from labgrader.service.intake import Submission as Handin
from labgrader.service.publish import Pages
from labgrader.text import one_line

from .store import Submission

log = logging.getLogger("labgrader.hubexchange")
SOURCE = "upload"
CATCH_UP_SECONDS = 30.0


def key_of(submission: Submission) -> str:
    return f"{SOURCE}:{submission.id}"


class GradingIntake:
    """The grading service of the course at ``root``, seen from the exchange (``context.Intake``)."""

    def __init__(self, root: str):
        self.root = root
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="grading-intake")  # one Intake, one thread
        self._intake: Intake | None = None

    def _door(self) -> Intake | None:
        """The intake (made on first use, in the intake's thread), or None while the course has no gradebook."""
        if self._intake is None:
            course = Course(self.root)
            if not course.gradebook_made():
                return None
            self._intake = Intake(course)
        else:
            self._intake.course.refresh()  # a new assignment, a moved due date
        return self._intake

    def received(self, submission: Submission, archive: str) -> None:
        handin = Handin(student=submission.student, assignment=submission.assignment,
                        received_at=_dt.datetime.fromtimestamp(submission.received_ns / 1e9, _dt.timezone.utc),
                        content=archive, sha256=submission.sha256, source=SOURCE, submission_id=submission.id)
        self.thread.submit(self._accept, handin).add_done_callback(self._said)

    def _accept(self, handin: Handin) -> Receipt | None:
        door = self._door()
        if door is None:
            log.warning("the course has no gradebook yet: %s's submission %s waits for grading", handin.student,
                        handin.submission_id)
            return None
        return door.accept(handin)

    def _said(self, future: Future[Receipt | None]) -> None:
        try:
            receipt = future.result()
        except Exception:
            log.exception("the grading service did not take a submission (kept; offered again)")
            return
        if receipt is not None and not receipt.duplicate:
            log.info("grading service: %s %s", receipt.key, receipt.state + (f" ({one_line(receipt.reason, 200)})"
                                                                             if receipt.reason else ""))

    def catch_up(self, submissions: list[Submission], archive_of: Any) -> None:
        """Offer the grading service every kept submission it has not journaled (in the intake's thread)."""
        def offer() -> None:
            door = self._door()
            if door is None:
                return
            for sub in submissions:
                if not door.journal.has(key_of(sub)):
                    self.received(sub, archive_of(sub))
        self.thread.submit(offer).add_done_callback(_log_failure)

    # -- pages ---------------------------------------------------------------------------------

    def pages(self, submissions: list[Submission]) -> dict[str, dict[str, dict[str, Any]]]:
        reader = self._reader()
        if reader is None:
            return {}
        wanted = {key_of(sub): sub.id for sub in submissions}
        found: dict[str, dict[str, dict[str, Any]]] = {}
        try:
            for student, assignment in sorted({(sub.student, sub.assignment) for sub in submissions}):
                for ref in reader.of(student, assignment):
                    if ref.key in wanted:
                        found.setdefault(wanted[ref.key], {})[ref.notebook] = {
                            "notebook": ref.notebook, "sha256": ref.sha256, "size": ref.size, "shows": ref.shows,
                            "state": ref.state}
        finally:
            reader.close()
        return found

    def page(self, submission: Submission, notebook: str) -> bytes:
        """The page, only if ``submission`` is its student's (``Pages.read``); KeyError otherwise."""
        reader = self._reader()
        if reader is None:
            raise KeyError(notebook)
        try:
            return reader.read(submission.student, key_of(submission), notebook)
        finally:
            reader.close()

    def _reader(self) -> Pages | None:
        """A fresh reader per request (the service writes the journal meanwhile); None before it exists."""
        if not os.path.exists(J.journal_path(self.root)):
            return None
        return Pages(self.root)


def _log_failure(future: Future[None]) -> None:
    if future.exception() is not None:
        log.error("offering kept submissions to the grading service failed: %s", future.exception())
