"""``nbgrader collect`` that believes only the kernel: ``c.ExchangeFactory.collect =
"labgrader.exchange.collect.TrustedCollect"``.

Stock nbgrader 0.9.6 takes the student id and the time from the entry's *name* (``check_owner``
only logs a warning), copies with ``copytree`` (links followed: the instructor's ``source/`` or
``gradebook.db`` can be collected as a student's files), and stops the whole class at the first
oversized entry. Here every entry is surveyed on its own (``entries.survey``): the student is the
entry's owner, the time is the latest ctime in it (see ``entries`` for why), an entry that claims
another id or holds anything it should not is quarantined with its reasons, and a student's newest
clean entry (by that trusted time; with ``--before-duedate`` the newest at or before the due date)
is copied by descriptor into ``submitted/<student>/<assignment>/`` with the trusted
``timestamp.txt`` that nbgrader's late penalties read. Every decision is printed and written to
``collect_report_<assignment>.json`` in the course root (``report.refusals`` reads it back).
"""
import datetime as _dt
import fnmatch
import hashlib
import os
from collections.abc import Callable

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.default.collect import ExchangeCollect
from traitlets import Integer, Unicode
from traitlets.utils.importstring import import_item

from ..safety import paths
from ..student_ids import printable
from . import entries, report
from .layout import inbound_problems
from .times import UTC, format_timestamp


class TrustedCollect(ExchangeCollect):

    receipts = Unicode("labgrader.service.journal.received",
                       help="What the grading service received of an entry (an import string: a function "
                            "(course root, entry name) -> Received | None). An entry it took is collected only if "
                            "its files are byte for byte what it received, under the time it received them; one it "
                            "refused is never collected. '' : ignore the service.").tag(config=True)
    max_file_bytes = Integer(paths.MAX_FILE_BYTES, help="Largest file collected from an entry (bytes)").tag(config=True)
    max_entry_bytes = Integer(paths.MAX_TOTAL_BYTES, help="Largest entry collected (bytes, all files)").tag(config=True)
    max_files = Integer(1000, help="Most files collected from one entry").tag(config=True)

    def _caps(self) -> entries.Caps:
        return entries.Caps(self.max_file_bytes, self.max_entry_bytes, self.max_files)

    def init_src(self):
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        problems = inbound_problems(self.root, self.coursedir.course_id)
        if problems:
            self.fail("Not collecting from this exchange: " + "; ".join(problems))
        self.duedate = self._duedate()
        now = _dt.datetime.now(UTC)
        assignment = self.coursedir.assignment_id
        fd = entries.open_inbound(self.inbound_path)
        try:
            self.entries = [entries.survey(fd, name, assignment, self._caps(), self.coursedir.ignore, now)
                            for name in entries.entry_names(fd) if entries.parse_entry_name(name, assignment)]
        finally:
            os.close(fd)
        wanted = self.coursedir.student_id or "*"
        if wanted != "*":  # --student: matched against the owner, never the name the student chose
            self.entries = [e for e in self.entries if fnmatch.fnmatchcase(e.owner or e.claimed, wanted)]

    def _duedate(self):
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                due = gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                return None
        return due.replace(tzinfo=UTC) if due else None

    def init_dest(self):
        pass

    def _candidates(self, mine):
        newest_first = sorted(mine, key=lambda e: e.time, reverse=True)
        if self.before_duedate and self.duedate:
            on_time = [e for e in newest_first if e.time <= self.duedate]
            late = [e for e in newest_first if e.time > self.duedate]
            return on_time + late
        return newest_first

    def copy_files(self):
        assignment = self.coursedir.assignment_id
        for entry in self.entries:
            if entry.refusals:
                entry.status = "quarantined"
                self.log.error("Quarantined %s (owner %s): %s", printable(entry.name),
                               printable(entry.owner or f"uid {entry.uid}"), "; ".join(printable(r) for r in entry.refusals))
        by_owner = {}
        for entry in self.entries:
            if not entry.refusals:
                by_owner.setdefault(entry.owner, []).append(entry)
        if not by_owner:
            self.log.warning("No submissions of '%s' for course '%s' to collect", assignment, self.coursedir.course_id)
        fd = entries.open_inbound(self.inbound_path)
        try:
            for student, mine in sorted(by_owner.items()):
                self._collect_student(fd, student, self._candidates(mine))
        finally:
            os.close(fd)
        path = report.write(self.coursedir.root, assignment, "exchange", [e.as_record() for e in self.entries],
                            students=None if (self.coursedir.student_id or "*") == "*" else
                            {e.owner or e.claimed for e in self.entries})
        self._summary(path)

    def _collect_student(self, fd, student, candidates):
        assignment = self.coursedir.assignment_id
        dest = self.coursedir.format_path(self.coursedir.submitted_directory, student, assignment)
        existing = self.coursedir.get_existing_timestamp(dest) if os.path.isdir(dest) else None
        for entry in candidates:
            if entry.status != "pending":
                continue
            if os.path.isdir(dest) and not self._replaces(existing, entry):
                entry.status, entry.dest = "unchanged", dest
                self.log.info("Submission already collected for %s (%s): %s", student, format_timestamp(entry.time),
                              "use --update to take a newer one" if not self.update else "no newer submission")
                break
            refused, verify = self._as_received(entry)
            if refused:
                entry.refusals.append(refused)
                entry.status = "quarantined"
                self.log.error("Quarantined %s: %s", printable(entry.name), refused)
                continue
            try:
                entries.copy(fd, entry, dest, self._caps(), verify)
            except (entries.Changed, OSError) as exc:  # one entry never stops the class
                entry.refusals.append(str(exc))
                entry.status = "quarantined"
                self.log.error("Quarantined %s: %s", printable(entry.name), exc)
                continue
            entry.status, entry.dest = "collected", dest
            late = f", {entry.time - self.duedate} after the due date" if self.duedate and entry.time > self.duedate else ""
            self.log.info("Collected %s for %s, submitted %s%s", printable(entry.name), student,
                          format_timestamp(entry.time), late)
            break
        for entry in candidates:
            if entry.status == "pending":
                entry.status = "superseded"

    def _as_received(self, entry: entries.Entry) -> tuple[str, Callable[[str], str] | None]:
        """(why not to collect ``entry``, or ""; a check of its copy) from the grading service's
        record of it. ctime does not see bytes written through a shared memory mapping dirtied
        before it: content the service received is taken only as it was received, under the time
        it was received (labgrader/service/inbound.py)."""
        if not self.receipts:
            return "", None
        got = import_item(self.receipts)(self.coursedir.root, entry.name)
        if got is None:
            return "", None
        if not got.files:
            return f"the grading service refused it when it was received ({got.reason or got.state})", None
        entry.time = got.time

        def same_as_received(copy: str) -> str:
            found = {}
            for folder, _, files in os.walk(copy):
                for name in files:
                    rel = os.path.relpath(os.path.join(folder, name), copy).replace(os.sep, "/")
                    if rel != "timestamp.txt":
                        with open(os.path.join(folder, name), "rb") as fh:
                            found[rel] = hashlib.file_digest(fh, "sha256").hexdigest()
            expected = {path: sha for path, (sha, _) in got.files.items()}
            if found != expected:
                changed = sorted(set(found.items()) ^ set(expected.items()))
                return (f"its files changed after the grading service received it at {format_timestamp(got.time)} "
                        f"({', '.join(sorted({printable(p) for p, _ in changed})[:5])}): not collected; what was "
                        "received was graded")
            return ""
        return "", same_as_received

    def _replaces(self, existing, entry):
        if existing is None:
            return self.update or self.before_duedate
        new = entry.time.replace(tzinfo=None)
        if self.update and new > existing:
            return True
        return self.before_duedate and abs((new - existing).total_seconds()) > 1e-3

    def _summary(self, path):
        counts = {}
        for entry in self.entries:
            counts[entry.status] = counts.get(entry.status, 0) + 1
        text = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no entries"
        self.log.info("Collect of %s: %s; every decision and reason in %s", self.coursedir.assignment_id, text, path)
