"""What a student sees of each submission: made by the service, kept in its store, and released.

- ``Publisher`` (the service's loop): when what a submission's page should show changes (received,
  graded, refused, the due date passed), it renders one page per notebook (labgrader/service/
  pages.py) and keeps it in the service's store (journal references of kind ``page``). A
  submission from the file-system exchange is also released there (``ExchangeRelease``: the page
  name nbgrader's Fetch Feedback looks for, readable by its student alone): one publisher among
  others, which the pages do not depend on.
- ``Pages`` (any reader: the hub's exchange service, ``serve --status``): a student's pages, read
  from the journal and the store. ``read(student, key, notebook)`` returns a page only when that
  submission is that student's; ``read_any`` is the instructor's.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nbgrader.utils import notebook_hash

from labgrader.course import Course
from labgrader.exchange.release_feedback import reader_of, write_private
from labgrader.record import SubmissionRecord
from labgrader.safety import paths
from labgrader.text import printable

from . import journal as J
from .pages import PageView, render
from .policy import GradingService, level_at
from .store import Store

log = logging.getLogger("labgrader.service")
MAX_PAGE_BYTES = 64 * paths.MiB


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


class ExchangeRelease:
    """The file-system exchange's feedback folder: ``<md5(secret + notebook)>.html``, readable by the
    student's unix user alone (POSIX ACL). The first submission carrying a secret keeps its names."""

    def __init__(self, feedback_dir: str, journal: J.Journal):
        self.feedback_dir, self.journal = feedback_dir, journal

    def release(self, row: dict[str, Any], pages: dict[str, bytes]) -> tuple[list[str], list[str]]:
        """(notebooks released, "notebook: why not" for the others)."""
        if row["uid"] < 0 or not row["student"] or not row["secret"]:
            return [], []
        released, refused = [], []
        for notebook, data in pages.items():
            name = notebook_hash(secret=row["secret"], notebook_id=notebook)
            why = self.journal.claim_page(name, row["student"], row["key"],
                                          "refusal" if row["state"] == J.REFUSED else "submission")
            if not why and reader_of(os.path.join(self.feedback_dir, f"{name}.html")) not in (None, row["uid"]):
                why = "its page name is another student's page"
            if why:
                refused.append(f"{notebook}: {why}")
                continue
            write_private(self.feedback_dir, name, data, row["uid"])
            released.append(notebook)
        return released, refused


class Publisher:
    """Renders, keeps and releases the pages of the service's submissions (see the module docstring)."""

    def __init__(self, course: Course, journal: J.Journal, store: Store, policy: GradingService,
                 release: ExchangeRelease | None = None, paused: dict[str, str] | None = None,
                 ahead: Callable[[dict[str, Any]], int] | None = None):
        self.course, self.journal, self.store, self.policy = course, journal, store, policy
        self.exchange = release
        self.paused = paused if paused is not None else {}
        self.ahead = ahead or (lambda row: 0)

    def shows(self, row: dict[str, Any]) -> str:
        """What the row's page should show now (a new page is made when this changes)."""
        if row["state"] != J.GRADED:
            paused = "+paused" if row["state"] == J.QUEUED and row["assignment"] in self.paused else ""
            return row["state"] + paused + (f"@{row['not_before']}" if row["state"] == J.DEFERRED else "")
        due = self._due(row)
        return f"graded:{level_at(self.policy, _now(), due)}@{due.isoformat() if due else ''}"

    def pending(self) -> None:
        """Pages whose content changed without an event of their own: new submissions another
        process's intake journaled, the due date passing or moving, grading paused."""
        for row in self.journal.unshown() + self.journal.in_state(J.GRADED, J.DEFERRED, J.QUEUED):
            if row["shown"] != self.shows(row):
                self.publish(row)

    def publish(self, row: dict[str, Any]) -> None:
        shows = self.shows(row)
        level = shows.partition(":")[2].partition("@")[0] or "receipt"
        pages = {notebook: render(self.view(row, notebook, level)) for notebook in row["notebooks"] or [row["assignment"]]}
        kept = [(notebook, *self._keep(data)) for notebook, data in pages.items()]
        with self.journal.transaction():
            gone = self.journal.drop_refs(row["key"], J.PAGE)
            self.journal.add_refs(row["key"], J.PAGE, kept)
        self.journal.forget(self.store, gone)
        released, refused = self.exchange.release(row, pages) if self.exchange else ([], [])
        detail = f"{shows}: {', '.join(released) or 'kept'}" + (f"; not released: {'; '.join(refused)}" if refused else "")
        self.journal.update(row["key"], "released" if released or not refused else "not released", detail, shown=shows)
        if refused:
            log.error("page of %s not released: %s", printable(row["entry"]), "; ".join(refused))

    def _keep(self, data: bytes) -> tuple[str, int]:
        ref = self.store.put_bytes(data)
        return ref.sha256, ref.size

    def _due(self, row: dict[str, Any]) -> _dt.datetime | None:
        try:
            return self.course.due(row["assignment"], row["student"])
        except KeyError:
            return None

    def view(self, row: dict[str, Any], notebook: str, level: str) -> PageView:
        expected = self._expected(row["assignment"])
        if notebook not in expected and len(expected) == 1:
            notebook = expected[0]  # handed in under another name: graded as the assignment's one notebook
        result = row["result"]
        view = PageView(row["assignment"], notebook, row["time"], row["state"], level, due=self._due(row),
                        reason=row["reason"], not_before=row["not_before"], cap=self.policy.max_per_hour,
                        paused=row["assignment"] in self.paused, source=row.get("source", "inbound"),
                        record=SubmissionRecord.from_dict(result["record"]) if result.get("record") else None,
                        kept_instead=result.get("kept_instead", ""))
        if row["state"] in (J.QUEUED, J.GRADING):
            view.ahead = self.ahead(row)
        if row["state"] == J.GRADED and level == "full":
            found = {name: sha for name, sha, _ in self.journal.refs(row["key"], J.FEEDBACK)}
            if notebook in found:
                try:
                    view.full_page = self.store.read(found[notebook], MAX_PAGE_BYTES)
                except (OSError, paths.UnsafePath):
                    pass
        return view

    def _expected(self, assignment: str) -> list[str]:
        try:
            return self.course.notebooks(assignment)
        except KeyError:
            return []


@dataclass(frozen=True)
class PageRef:
    """One page a student may fetch."""
    key: str                 # the submission (``Receipt.key``)
    assignment: str
    notebook: str
    received_at: str         # the trusted time, UTC
    state: str
    shows: str               # what it shows now (receipt, the visible tests, the score, everything)
    sha256: str
    size: int


class Pages:
    """The pages the service made, for an exchange that serves them (read-only; the service need
    not be running). Private by construction: ``read`` takes the authenticated student and returns
    nothing for a submission of anyone else."""

    def __init__(self, course_root: str | os.PathLike[str]):
        self.journal = J.Journal(J.journal_path(course_root), readonly=True)
        self.store = Store(course_root)

    def close(self) -> None:
        self.journal.close()

    def of(self, student: str, assignment: str | None = None) -> list[PageRef]:
        """A student's pages (every submission's, newest first)."""
        where, args = "student = ?", [student]
        if assignment is not None:
            where, args = "student = ? AND assignment = ?", [student, assignment]
        found = []
        for row in reversed(self.journal.rows(where, tuple(args))):
            for notebook, sha, size in self.journal.refs(row["key"], J.PAGE):
                found.append(PageRef(row["key"], row["assignment"], notebook, row["time"], row["state"], row["shown"],
                                     sha, size))
        return found

    def read(self, student: str, key: str, notebook: str) -> bytes:
        """The page of ``student``'s submission ``key`` for ``notebook``; KeyError when there is none
        for them (another student's submission is, for them, no submission)."""
        try:
            row = self.journal.get(key)
        except KeyError:
            raise KeyError(key) from None
        if row["student"] != student:
            raise KeyError(key)
        return self.read_any(key, notebook)

    def read_any(self, key: str, notebook: str) -> bytes:
        found = {name: sha for name, sha, _ in self.journal.refs(key, J.PAGE)}
        if notebook not in found:
            raise KeyError(f"{key}/{notebook}")
        return self.store.read(found[notebook], MAX_PAGE_BYTES)


__all__ = ["ExchangeRelease", "PageRef", "Pages", "Publisher"]
