"""What every request of one exchange service shares: the course, its settings, the store, the hub's
groups, and where each accepted submission goes next (the grading service, through ``intake``)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from labgrader.text import one_line

from . import archives
from .config import HubExchangeService
from .roles import Groups
from .store import Store, Submission

log = logging.getLogger("labgrader.hubexchange")


class Intake(Protocol):
    """Where an accepted submission goes as soon as it is stored (grading on upload)."""

    def received(self, submission: Submission, archive: str) -> None: ...

    def pages(self, submissions: list[Submission]) -> dict[str, dict[str, dict[str, Any]]]:
        """Feedback pages the grader made: submission id -> notebook -> {sha256, size, ...}."""
        ...

    def page(self, submission: Submission, notebook: str) -> bytes:
        """One of those pages; KeyError when there is none (or it is not that student's)."""
        ...


class NoGrading:
    """The exchange alone: submissions wait for the instructor's ``nbgrader collect``."""

    def received(self, submission: Submission, archive: str) -> None:
        return None

    def pages(self, submissions: list[Submission]) -> dict[str, dict[str, dict[str, Any]]]:
        return {}

    def page(self, submission: Submission, notebook: str) -> bytes:
        raise KeyError(notebook)


@dataclass
class Exchange:
    course: str
    service_name: str
    config: HubExchangeService
    store: Store
    groups: Groups
    intake: Intake = field(default_factory=NoGrading)
    in_flight: dict[str, int] = field(default_factory=dict)  # student -> bytes of their uploads being received

    def submission_limits(self) -> archives.Limits:
        c = self.config
        return archives.Limits(c.max_members, c.max_file_bytes, c.max_unpacked_bytes)

    def release_limits(self) -> archives.Limits:
        c = self.config
        return archives.Limits(c.max_members, c.max_file_bytes, max(c.max_unpacked_bytes, c.max_release_bytes))

    def limits(self) -> dict[str, int]:
        c = self.config
        return {"max_upload_bytes": c.max_upload_bytes, "max_uploads_per_hour": c.max_uploads_per_hour,
                "max_student_bytes": c.max_student_bytes, "max_members": c.max_members,
                "max_file_bytes": c.max_file_bytes, "max_unpacked_bytes": c.max_unpacked_bytes}

    def received(self, submission: Submission) -> None:
        """Hand an accepted submission to the grader; its failure never loses the submission."""
        try:
            self.intake.received(submission, self.store.blob_path(submission.sha256))
        except Exception:
            log.exception("the grader did not take %s's submission %s (it is kept; nbgrader collect gets it)",
                          submission.student, submission.id)

    def offer_all(self) -> None:
        """Offer the grader every kept submission it has not taken (idempotent: see grading.py)."""
        catch_up = getattr(self.intake, "catch_up", None)
        if catch_up is not None:
            catch_up(self.store.submissions(), lambda sub: self.store.blob_path(sub.sha256))

    def pages(self, submission: Submission) -> dict[str, dict[str, Any]]:
        """The feedback pages of ``submission``: the instructor's released ones over the grader's."""
        return self.pages_of([submission])[submission.id]

    def pages_of(self, submissions: list[Submission]) -> dict[str, dict[str, dict[str, Any]]]:
        """The same for several submissions at once (one read of the grader's records)."""
        try:
            made = self.intake.pages(submissions)
        except Exception:
            log.exception("the grader's pages could not be read")
            made = {}
        found = {}
        for sub in submissions:
            pages = {name: dict(page, source="grader") for name, page in made.get(sub.id, {}).items()}
            pages.update({name: dict(page, source="instructor") for name, page in self.store.feedback(sub.id).items()})
            found[sub.id] = pages
        return found

    def refused(self, who: str, action: str, assignment: str, status: int, message: str) -> None:
        log.warning("refused %s %s %s: %d %s", one_line(who, 80), action, one_line(assignment, 80), status,
                    one_line(message, 300))
        self.store.refuse(one_line(who, 200), action, one_line(assignment, 200), status, one_line(message, 1000))
