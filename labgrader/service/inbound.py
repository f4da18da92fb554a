"""The file-system exchange into the intake: each inbound entry is taken once.

An entry is looked at when the watcher or a scan names it (labgrader/service/watch.py). It is
taken once ``nbgrader submit`` has finished writing it (its ``submission_secret.txt``, which
nbgrader writes last, is there; or nothing changed in it for ``incomplete_seconds``) and nothing in
it changed for ``settle_seconds``. Taking it: the hardened collector surveys it (owner = student,
latest ctime, links, special files, caps: labgrader/exchange/entries.py) and copies it by
descriptor, checked again after the copy; the copy goes to ``Intake.accept``, which keeps it in the
service's store. Afterwards the entry is never read again: anything changed in it later (an edit, a
``chmod``, bytes written through a memory mapping, which moves no ctime) is ignored; a student who
wants to hand in something new submits again (a new entry).

The time: the entry's latest ctime, but never earlier than ``receipt_grace_seconds`` before the
copy was made. ctime says when the files last changed through a system call; it does not see bytes
written through a shared mapping dirtied before it (on ext4 until writeback, ~30 s; on tmpfs
never). So content is never trusted under a time much older than when it was read: with the
service running an entry is copied within about a second of its last change and keeps its ctime;
an entry the service first sees long after (it was not running) gets the time of the copy minus
the grace, and ``serve --status`` lists it.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
import stat
import tempfile
import time

from labgrader.exchange import entries
from labgrader.text import printable

from .intake import SECRET, Intake, Receipt, Submission, valid_secret
from .policy import GradingService
from .store import content_digest

log = logging.getLogger("labgrader.service")
UTC = _dt.timezone.utc


def key_of(name: str) -> str:
    return f"inbound:{name}"


class InboundIntake:
    """Looks at entries of one exchange's inbound for the served ``assignments``."""

    def __init__(self, inbound: str, intake: Intake, assignments: list[str], policy: GradingService,
                 caps: entries.Caps, ignore: list[str] | tuple[str, ...] = ()):
        self.inbound, self.intake, self.assignments = inbound, intake, assignments
        self.policy, self.caps, self.ignore = policy, caps, tuple(ignore)

    def assignment_of(self, name: str) -> str | None:
        for assignment in self.assignments:
            if entries.parse_entry_name(name, assignment):
                return assignment
        return None

    def look(self, name: str) -> Receipt | bool:
        """Look at one entry: its receipt once taken; True when it is not ours to take (another
        assignment's, taken before), False when it must be looked at again later (still changing)."""
        assignment = self.assignment_of(name)
        if assignment is None or self.intake.journal.has(key_of(name)):
            return True
        now = _dt.datetime.now(UTC)
        fd = entries.open_inbound(self.inbound)
        try:
            entry = entries.survey(fd, name, assignment, self.caps, self.ignore, now)
            quiet = (time.time_ns() - entry.ctime_ns) / 1e9
            if quiet < self.policy.settle_seconds:
                return False
            # nbgrader submit writes the secret last (and then sets the modes, which may make the
            # entry unreadable until then): not whole yet, unless it stays so
            settled = SECRET in entry.files or quiet >= self.policy.incomplete_seconds
            if entry.refusals:
                return self._refuse(entry, assignment, now) if settled else False
            return self._take(fd, entry, assignment, settled) if settled else False
        finally:
            os.close(fd)

    def _take(self, fd: int, entry: entries.Entry, assignment: str, settled: bool) -> Receipt | bool:
        staging = tempfile.mkdtemp(prefix="inbound-", dir=self.intake.store.tmp_dir())
        copy = os.path.join(staging, "entry")
        try:
            try:
                entries.copy(fd, entry, copy, self.caps)
            except entries.Changed as exc:  # changed while we copied it: once it settles
                quiet = (time.time_ns() - entry.ctime_ns) / 1e9
                if quiet < self.policy.incomplete_seconds:
                    return False
                entry.refusals.append(str(exc))
                return self._refuse(entry, assignment, _dt.datetime.now(UTC))
            except OSError as exc:
                entry.refusals.append(f"the entry cannot be copied ({printable(exc.strerror or exc)})")
                return self._refuse(entry, assignment, _dt.datetime.now(UTC))
            copied = _dt.datetime.now(UTC)
            assert entry.time is not None
            received = max(entry.time, copied - _dt.timedelta(seconds=self.policy.receipt_grace_seconds))
            if received > entry.time:
                log.warning("entry %s copied %.0f s after its last change (the service was not running?): its time "
                            "is when it was copied, minus %g s", printable(entry.name),
                            (copied - entry.time).total_seconds(), self.policy.receipt_grace_seconds)
            return self.intake.accept(Submission(entry.owner, assignment, received, copy, content_digest(copy),
                                                 source="inbound", submission_id=entry.name, uid=entry.uid,
                                                 ctime_ns=entry.ctime_ns))
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _refuse(self, entry: entries.Entry, assignment: str, now: _dt.datetime) -> Receipt:
        reason = "; ".join(printable(r) for r in entry.refusals)
        log.warning("refused %s (owner %s): %s", printable(entry.name), printable(entry.owner or entry.uid), reason)
        submission = Submission(entry.owner, assignment, entry.time or now, "", "", source="inbound",
                                submission_id=entry.name, uid=entry.uid, ctime_ns=entry.ctime_ns)
        return self.intake.refuse(submission, reason, secret=self.refused_secret(entry.name, entry.uid))

    def refused_secret(self, name: str, uid: int) -> str:
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
            return valid_secret(fh.read(4096))


__all__ = ["InboundIntake", "key_of"]
