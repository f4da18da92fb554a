"""The grading service's one way in: ``Intake.accept(Submission(...))`` returns a ``Receipt``.

Every exchange hands submissions to the service through it: the file-system exchange's watcher
(labgrader/service/inbound.py, ``source="inbound"``) and an exchange service on the hub that takes
uploads over HTTP (``source="upload"``), which calls it directly, in its own process or the
service's, and watches no folder.

The contract, for a caller:

- **Who and when are the caller's word, and must come from what the student cannot write**: the
  student is the identity the caller authenticated (the hub's token, the unix owner of an entry),
  ``received_at`` the server's clock when the bytes were received (timezone-aware). Nothing in the
  content is ever read for either.
- **The content is read once, here, and kept**: ``content`` is a folder of regular files and folders,
  or a zip archive, holding the hand-in as ``nbgrader submit`` made it (notebooks, other files,
  ``submission_secret.txt``; a top-level ``timestamp.txt`` is ignored). It is copied by descriptor,
  within the collector's caps (``c.TrustedCollect``), into the service's content-addressed store
  (labgrader/service/store.py); afterwards nothing reads ``content`` again, so what the caller
  or the student does to it later changes nothing that is graded. The caller may delete it once
  ``accept`` returns.
- **``sha256`` is the caller's digest of that content** (``store.content_digest``): the bytes read
  must match it, else the submission is refused ("changed while it was received").
- **Idempotent**: the key is ``<source>:<submission_id>``; accepting the same key again returns the
  first receipt (``duplicate=True``) and changes nothing (a retried upload, a second look).
- **At once**: ``accept`` never waits for grading. The receipt says ``queued``, ``deferred`` (over
  the per-hour cap: ``not_before``) or ``refused`` (``reason``: what to fix). Refusals are
  journaled too, so the student's page and ``serve --status`` say why.
- **Bounded per student**: besides the per-hour cap (``c.GradingService.max_per_hour``), what a
  student's submissions and pages hold in the store is capped (``max_bytes_per_student``); over
  it, their oldest finished submissions' pages go first, then the new submission is refused.
- **Safe from several processes and threads**: the journal is the queue (one SQLite transaction per
  decision). A running service grades what is queued; one that is stopped grades it at its next
  start. Use one ``Intake`` per thread.

Pages: the service renders each submission's page(s) as the course's policy allows and keeps them
in its store; an exchange serves them with ``labgrader.service.publish.Pages`` (the file-system
exchange's release into its feedback folder is one publisher among others).
"""
from __future__ import annotations

import datetime as _dt
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from labgrader.course import Course
from labgrader.exchange.entries import claimed_id_problem
from labgrader.exchange.times import format_timestamp
from labgrader.safety import paths
from labgrader.text import printable

from . import doorbell
from . import journal as J
from .policy import GradingService, cap_decision, rank
from .store import ContentRefused, Limits, Manifest, Store

SOURCES = ("inbound", "upload")
SECRET = "submission_secret.txt"


@dataclass(frozen=True)
class Submission:
    """One hand-in, as an exchange received it (see the module docstring for the contract)."""
    student: str                     # authenticated: the hub's token, the entry's unix owner
    assignment: str
    received_at: _dt.datetime        # the server's clock at receipt; timezone-aware
    content: str                     # a folder or a zip archive (read once, by ``accept``)
    sha256: str                      # ``store.content_digest(content)``
    source: str = "upload"           # "upload" (the hub's exchange) or "inbound" (the file-system exchange)
    submission_id: str = ""          # unique within ``source`` (an upload id, an entry name); default: student/sha256@time
    uid: int = -1                    # the student's unix uid: pages are also released into the exchange's feedback folder
    ctime_ns: int = 0                # inbound: the entry's latest ctime (journaled beside the trusted time)

    @property
    def key(self) -> str:
        ident = self.submission_id or f"{self.student}/{self.sha256}@{self.received_at.timestamp():.6f}"
        return f"{self.source}:{ident}"


@dataclass(frozen=True)
class Receipt:
    key: str
    state: str                       # "queued", "deferred" or "refused"
    student: str
    assignment: str
    received_at: _dt.datetime
    content_sha256: str = ""         # the digest of what the service keeps (``store.Manifest.digest``)
    reason: str = ""                 # refused: why; deferred: until when
    not_before: float | None = None  # deferred: when a slot frees up (epoch seconds)
    duplicate: bool = False          # this key was accepted before: its first receipt

    @classmethod
    def of(cls, row: dict[str, Any], duplicate: bool = False) -> Receipt:
        return cls(row["key"], row["state"], row["student"], row["assignment"],
                   _dt.datetime.fromtimestamp(row["time_ns"] / 1e9, _dt.timezone.utc), row.get("content", ""),
                   row["reason"], row["not_before"], duplicate)


class Intake:
    """The door of one course's service (see the module docstring)."""

    def __init__(self, course: Course, journal: J.Journal | None = None, store: Store | None = None,
                 policy: GradingService | None = None, limits: Limits | None = None,
                 clock: Any = time.time):
        self.course = course
        self.journal = journal or J.Journal(J.journal_path(course.root))
        self.store = store or Store(course.root)
        self.policy = policy or course.configured(GradingService)
        self.limits = limits or collect_limits(course)
        self.clock = clock

    def accept(self, submission: Submission) -> Receipt:
        receipt = self._accept(submission)
        if not receipt.duplicate:  # a running service in another process looks at the journal now
            doorbell.ring(self.course.root)
        return receipt

    def _accept(self, submission: Submission) -> Receipt:
        key = submission.key
        if self.journal.has(key):
            return Receipt.of(self.journal.get(key), duplicate=True)
        problem = self._problem(submission)
        if problem:
            return self.refuse(submission, problem)
        try:
            manifest, digest = self.store.ingest(submission.content, self.limits)
        except ContentRefused as exc:
            return self.refuse(submission, "; ".join(exc.reasons))
        except OSError as exc:
            return self.refuse(submission, f"the content cannot be read ({printable(exc.strerror or exc)})")
        if digest != submission.sha256:
            self.journal.forget(self.store, [f.sha256 for f in manifest.files])
            return self.refuse(submission, "the content changed while it was received (its digest is not the one "
                                           "sent): submit again")
        return self._admit(submission, manifest)

    def refuse(self, submission: Submission, reason: str, secret: str = "") -> Receipt:
        """Journal a submission that is not graded, with the reason its student is told."""
        row = self._row(submission, state=J.REFUSED, reason=reason, secret=secret,
                        notebooks=self._expected(submission.assignment))
        with self.journal.transaction():
            if self.journal.has(row["key"]):
                return Receipt.of(self.journal.get(row["key"]), duplicate=True)
            self.journal.add(row, "refused", reason)
        return Receipt.of(self.journal.get(row["key"]))

    # -- the decision --------------------------------------------------------------------------

    def _problem(self, submission: Submission) -> str:
        if submission.source not in SOURCES:
            return f"unknown source {printable(submission.source)!r}"
        if submission.received_at.tzinfo is None:
            return "the time of receipt has no time zone"
        if not self.course.gradebook_made():  # (opening it would make it, racing nbgrader's first command)
            return "the course has no gradebook yet"
        try:
            self.course.facts(submission.assignment)
        except KeyError:
            return f"the course has no assignment {printable(submission.assignment)!r}"
        return claimed_id_problem(submission.student)

    def _admit(self, submission: Submission, manifest: Manifest) -> Receipt:
        for _ in range(3):
            receipt = self._admit_once(submission, manifest)
            if receipt is not None:
                return receipt
            manifest, _ = self.store.ingest(submission.content, self.limits)  # a blob went meanwhile: again
        return self.refuse(submission, "the service's store changed while it was received: submit again")

    def _admit_once(self, submission: Submission, manifest: Manifest) -> Receipt | None:
        """Journal it with its references, under the journal's write lock; None when one of its blobs
        was deleted before the lock was taken (the same content released by another submission)."""
        freed: list[str] = []
        with self.journal.transaction():
            if self.journal.has(submission.key):  # another writer took it meanwhile
                return Receipt.of(self.journal.get(submission.key), duplicate=True)
            if not all(self.store.has(f.sha256) for f in manifest.files):
                return None
            over = self._make_room(submission.student, manifest, freed)
            row = self._row(submission, content=manifest.digest, secret=self._secret(manifest),
                            notebooks=self._notebooks(submission.assignment, manifest))
            if over:
                row.update(state=J.REFUSED, reason=over)
                self.journal.add(row, "refused", over)
            else:
                self._queue(row, freed)
                self.journal.add_refs(row["key"], J.CONTENT, [(f.path, f.sha256, f.size) for f in manifest.files])
        self.journal.forget(self.store, freed + ([f.sha256 for f in manifest.files] if over else []))
        return Receipt.of(self.journal.get(submission.key))

    def _queue(self, row: dict[str, Any], freed: list[str]) -> None:
        """Queue it, or defer it when the student is over the per-hour cap (the newest waiting one
        replaces older ones, but a late one never replaces an on-time one: the gradebook keeps that)."""
        now = self.clock()
        decision = cap_decision(self.journal.admitted_times(row["assignment"], row["student"]), now,
                                self.policy.max_per_hour)
        if decision.allowed:
            self.journal.add(dict(row, state=J.QUEUED, admitted=now), "queued", f"{decision.used} graded in the last hour")
            return
        due = self.course.due(row["assignment"], row["student"])
        new = _dt.datetime.fromtimestamp(row["time_ns"] / 1e9, _dt.timezone.utc)
        for older in self.journal.rows("assignment = ? AND student = ? AND state = ?",
                                       (row["assignment"], row["student"], J.DEFERRED)):
            if rank(_dt.datetime.fromtimestamp(older["time_ns"] / 1e9, _dt.timezone.utc), due) > rank(new, due):
                continue
            self.journal.update(older["key"], "superseded", "a newer submission arrived while it waited",
                                state=J.SUPERSEDED, shown="")
            freed += self.journal.release_content(older["key"])
        slot = decision.next_slot or now
        reason = (f"over the cap: {decision.used} graded in the last hour (at most {self.policy.max_per_hour}); "
                  f"waits until {format_timestamp(_dt.datetime.fromtimestamp(slot, _dt.timezone.utc))}")
        self.journal.add(dict(row, state=J.DEFERRED, not_before=slot, reason=reason), "deferred", reason)

    def _make_room(self, student: str, manifest: Manifest, freed: list[str]) -> str:
        """Within the student's share of the store, dropping their oldest finished pages if need be;
        "" when the new content fits, else why it is refused."""
        cap = self.policy.max_bytes_per_student
        if cap <= 0:
            return ""
        seen: set[str] = set()
        new = 0
        for ref in manifest.files:
            if ref.sha256 not in seen and not self.journal.shares(student, ref.sha256):
                new += ref.size
            seen.add(ref.sha256)
        for key in self.journal.evictable_pages(student):
            if self.journal.bytes_of(student) + new <= cap:
                break
            freed += self.journal.drop_refs(key, J.FEEDBACK, J.PAGE)
            self.journal.event(key, "pages dropped", "to make room in the student's share of the store")
        used = self.journal.bytes_of(student)
        if used + new <= cap:
            return ""
        return (f"your submissions waiting to be graded already hold {used} bytes in the grading service, and this one "
                f"adds {new} (at most {cap} per student): submit again once they are graded")

    # -- what a row holds ----------------------------------------------------------------------

    def _row(self, submission: Submission, **fields: Any) -> dict[str, Any]:
        moment = submission.received_at.astimezone(_dt.timezone.utc)
        row = {"key": submission.key, "source": submission.source, "entry": submission.submission_id or submission.key,
               "assignment": submission.assignment, "student": submission.student, "uid": submission.uid,
               "time": format_timestamp(moment), "time_ns": int(moment.timestamp() * 1e9),
               "ctime_ns": submission.ctime_ns, "seen": self.clock()}
        row.update(fields)
        return row

    def _expected(self, assignment: str) -> list[str]:
        try:
            return self.course.notebooks(assignment)
        except KeyError:
            return []

    def _notebooks(self, assignment: str, manifest: Manifest) -> list[str]:
        """The notebooks a page is made for: the assignment's, and any other handed in at the top
        (nbgrader's Fetch Feedback looks for one page per notebook of the submission)."""
        found = sorted(n[:-len(".ipynb")] for n in manifest.names() if n.endswith(".ipynb") and "/" not in n)
        return list(dict.fromkeys(self._expected(assignment) + found))

    def _secret(self, manifest: Manifest) -> str:
        """nbgrader's submission secret (it names the student's pages on the file-system exchange)."""
        ref = next((f for f in manifest.files if f.path == SECRET and f.size <= 4096), None)
        if ref is None:
            return ""
        try:
            return valid_secret(self.store.read(ref.sha256, 4096))
        except (OSError, paths.UnsafePath):
            return ""


def valid_secret(data: bytes) -> str:
    text = data.decode("ascii", "replace").strip()
    return text if re.fullmatch(r"[0-9a-f]{16,256}", text) else ""


def collect_limits(course: Course) -> Limits:
    """The collector's caps (``c.TrustedCollect``), for every hand-in the service keeps."""
    from labgrader.exchange.collect import TrustedCollect
    collect = course.configured(TrustedCollect)
    return Limits(collect.max_file_bytes, collect.max_entry_bytes, collect.max_files)


def accept(course_root: str | os.PathLike[str], submission: Submission) -> Receipt:
    """``Intake(Course(course_root)).accept(submission)``, for a caller that hands in one at a time."""
    intake = Intake(Course(course_root))
    try:
        return intake.accept(submission)
    finally:
        intake.journal.close()


__all__ = ["Intake", "Receipt", "Submission", "accept", "collect_limits", "valid_secret"]
