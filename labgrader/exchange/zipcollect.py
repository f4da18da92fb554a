"""``nbgrader zip_collect`` for LMS downloads: archives extracted within caps, and the file names of
Canvas, Moodle and Blackboard mapped to the gradebook's student ids.

Threat model: the archive and every name in it are made from what students uploaded (names,
nested archives) and by an LMS we do not control. nbgrader extracts with setuptools (which skips
absolute and ``..`` members: zip-slip) but has no size or member-count cap (a zip bomb fills the
disk), follows nothing itself but copies with ``shutil.copy``, and lets a duplicate file without a
timestamp stop the whole class. Here:

- ``SafeExtractor`` (``c.ZipCollectApp.extractor_plugin``): zip archives only; members with an
  absolute path, ``..``, a backslash, control or glob characters, symbolic links and special files
  are refused; each member is streamed with a cap (``max_member_bytes``), the archive has a total
  budget (``max_total_bytes``) and a member count (``max_members``), nested zips (a student's own
  zip) are opened ``max_depth`` deep; files are written with ``O_EXCL|O_NOFOLLOW``.
- ``CanvasCollector``, ``MoodleCollector``, ``BlackboardCollector``
  (``c.ZipCollectApp.collector_plugin``): read the LMS's file names, map the LMS's id to the
  nbgrader student id through a roster CSV (Canvas: the gradebook export, user ``ID`` -> ``SIS Login
  ID``), and refuse what cannot be mapped or is not a safe id.

Every refusal is logged and recorded in ``collect_report_<assignment>.json`` (section
``zip_collect``; ``report.refusals`` reads it back).
"""
import csv
import datetime as _dt
import os
import re
import stat
import zipfile

from nbgrader.plugins.zipcollect import ExtractorPlugin, FileNameCollectorPlugin
from traitlets import Integer, Unicode

from ..safety import paths
from ..student_ids import printable
from . import report
from .entries import claimed_id_problem, name_problem
from .times import AmbiguousTime, naive_utc, parse_time

MiB = paths.MiB


def _course(plugin):
    app = plugin.parent
    return app.coursedir.root, app.coursedir.assignment_id


def _record(plugin, who, item, reasons, status="refused", fresh=False):
    root, assignment = _course(plugin)
    data = report.load(root, assignment)
    records = [] if fresh else list(data.get("zip_collect", {}).get("entries", []))
    if item is not None:
        records.append({"entry": printable(item), "claimed": printable(who), "owner": "", "status": status,
                        "reasons": [printable(r) for r in reasons], "time": None})
    report.write(root, assignment, "zip_collect", records)


def member_problem(member: zipfile.ZipInfo) -> str:
    """Why a zip member is not extracted ("" when it may be): an absolute, Windows or ``..`` path,
    a name part with control or glob characters, anything but a regular file or a folder, or
    encryption. Also the HTTP exchange's rule for uploaded archives (labgrader/hubexchange)."""
    name = member.filename
    parts = name.rstrip("/").split("/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "\\" in name:
        return "an absolute or Windows path (zip-slip)"
    if any(p in ("", ".", "..") for p in parts):
        return "a path with '..' or empty parts (zip-slip)"
    for part in parts:
        if name_problem(part):
            return name_problem(part)
    kind = (member.external_attr >> 16) & 0o170000
    if kind and not member.is_dir() and kind != stat.S_IFREG:
        return f"{paths.kind(kind)} in the archive: only regular files are extracted"
    if member.flag_bits & 0x1:
        return "encrypted"
    return ""


class SafeExtractor(ExtractorPlugin):

    max_members = Integer(5000, help="Most members in one archive (nested ones included)").tag(config=True)
    max_member_bytes = Integer(paths.MAX_FILE_BYTES, help="Largest extracted file").tag(config=True)
    max_total_bytes = Integer(1024 * MiB, help="Most bytes extracted from one archive in all").tag(config=True)
    max_depth = Integer(2, help="How deep archives inside archives are opened").tag(config=True)

    def extract(self, archive_path: str, extracted_path: str) -> None:
        _record(self, "", None, [], fresh=True)
        for root, dirs, files in os.walk(archive_path):
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
            for name in sorted(files):
                src = os.path.join(root, name)
                rel = os.path.relpath(root, archive_path)
                dest_dir = os.path.normpath(os.path.join(extracted_path, rel))
                os.makedirs(dest_dir, exist_ok=True)
                if name.lower().endswith(".zip"):
                    self._extract_zip(src, os.path.join(dest_dir, name[:-4]), name, depth=1)
                else:
                    self._copy_plain(src, os.path.join(dest_dir, name), name)

    def _refuse(self, item, reason):
        self.log.error("[labgrader] not extracted: %s: %s", printable(item), printable(reason))
        _record(self, "", item, [reason])

    def _copy_plain(self, src, dest, shown):
        if name_problem(os.path.basename(src)):
            return self._refuse(shown, name_problem(os.path.basename(src)))
        try:
            paths.copy_regular(src, dest, self.max_member_bytes)
        except (paths.UnsafePath, OSError) as exc:
            self._refuse(shown, str(exc))

    def _extract_zip(self, src, dest, shown, depth, budget=None):
        budget = budget if budget is not None else {"bytes": self.max_total_bytes, "members": self.max_members}
        try:
            fd, _ = paths.open_regular(src, 4 * self.max_total_bytes)
            with os.fdopen(fd, "rb") as fh, zipfile.ZipFile(fh) as archive:
                members = archive.infolist()
                budget["members"] -= len(members)
                if budget["members"] < 0:
                    return self._refuse(shown, f"holds more than {self.max_members} members (zip bomb?): not extracted")
                declared = sum(m.file_size for m in members)
                if declared > budget["bytes"]:
                    return self._refuse(shown, f"would extract to {declared} bytes (more than {budget['bytes']}; "
                                               "zip bomb?): not extracted")
                os.makedirs(dest, exist_ok=True)
                for member in members:
                    self._extract_member(archive, member, dest, f"{shown}/{member.filename}", depth, budget)
        except (zipfile.BadZipFile, paths.UnsafePath, OSError, RuntimeError, NotImplementedError) as exc:
            self._refuse(shown, f"not a readable zip archive ({exc})")

    def _extract_member(self, archive, member, dest, shown, depth, budget):
        problem = member_problem(member)
        if problem:
            return self._refuse(shown, problem)
        target = os.path.join(dest, *member.filename.rstrip("/").split("/"))
        if member.is_dir():
            os.makedirs(target, exist_ok=True)
            return
        if member.file_size > self.max_member_bytes:
            return self._refuse(shown, f"{member.file_size} bytes (more than {self.max_member_bytes})")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if target.lower().endswith(".zip") and depth < self.max_depth:
            tmp = target + ".part"
            if self._write_member(archive, member, tmp, shown, budget):
                self._extract_zip(tmp, target[:-4], shown, depth + 1, budget)
                os.unlink(tmp)
            return
        self._write_member(archive, member, target, shown, budget)

    def _write_member(self, archive, member, target, shown, budget):
        """Stream one member with its cap and the archive's budget (the sizes in a zip's headers
        are the archive's word: never trusted)."""
        cap = min(self.max_member_bytes, budget["bytes"])
        out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        written = 0
        try:
            with archive.open(member) as src, os.fdopen(out, "wb") as fh:
                while chunk := src.read(MiB):
                    written += len(chunk)
                    if written > cap:
                        raise paths.UnsafePath(f"extracts to more than {cap} bytes (zip bomb?)")
                    fh.write(chunk)
        except (paths.UnsafePath, zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
            os.unlink(target)
            self._refuse(shown, str(exc))
            return False
        budget["bytes"] -= written
        return True


class LmsCollector(FileNameCollectorPlugin):
    """What the three LMS collectors share: a roster that maps the LMS's id to the student id,
    safe ids, and every skipped file recorded with its reason.

    The LMS's names are read at the LMS archive's own top level only: a member of the download (a
    file, or the folder a student's own zip was extracted to, or Moodle's folder per participant)
    names the student; everything inside it is that student's, under its own path, whatever its
    name. A student's nested zip holding a file named like a classmate's LMS file is just a file of
    theirs. Two files for one student's same file without times to tell them apart (which stops
    nbgrader's whole zip_collect) keep the first and skip the other, with the reason."""

    roster = Unicode("", help="CSV that maps the LMS's id to the nbgrader student id (path, relative to "
                              "the course root)").tag(config=True)
    roster_id_column = Unicode("", help="The roster column with the LMS's id").tag(config=True)
    roster_student_column = Unicode("", help="The roster column with the nbgrader student id").tag(config=True)
    pattern = re.compile("")  # on a top-level file name, with groups lms_id and file (and maybe late, time)
    folder_pattern: re.Pattern[str] | None = None  # on a top-level folder the LMS made per student (Moodle)

    def _roster(self):
        if not hasattr(self, "_roster_map"):
            self._roster_map = None
            if self.roster:
                root, _ = _course(self)
                path = os.path.join(root, self.roster)
                text = paths.read_regular(path, 16 * MiB).decode("utf-8-sig")
                rows = csv.DictReader(text.splitlines())
                self._roster_map = {}
                for row in rows:
                    lms_id = self.normalise_id(row.get(self.roster_id_column) or "")
                    student = (row.get(self.roster_student_column) or "").strip()
                    if lms_id and student:
                        self._roster_map[lms_id] = student
        return self._roster_map

    def normalise_id(self, value: str) -> str:
        return value.strip()

    def _skip(self, path, who, reason, status="refused"):
        shown = os.path.relpath(path, self._extracted_root())
        (self.log.error if status == "refused" else self.log.warning)("[labgrader] not collected: %s: %s",
                                                                        printable(shown), printable(reason))
        _record(self, who, shown, [reason], status=status)
        return None

    def _extracted_root(self):
        app = self.parent
        return app._format_collect_path(app.extracted_directory)

    def lms_parts(self, path):
        """The parts of ``path`` below the LMS archive's top level: the download's own archive (a zip
        put in the archive folder, extracted to a folder of its name) is not part of the LMS's names."""
        app = self.parent
        parts = os.path.relpath(path, self._extracted_root()).split(os.sep)
        archives = app._format_collect_path(app.archive_directory)
        if len(parts) > 1 and any(os.path.isfile(os.path.join(archives, parts[0] + ext)) for ext in (".zip", ".ZIP")):
            parts = parts[1:]
        return parts

    def match(self, parts):
        """(the match on the top-level name, the file id) of a file, or None. A top-level file is
        named by the LMS (its file id is the LMS's file part); a file inside a top-level folder (a
        student's zip, extracted; Moodle's folder per student) keeps its own path there."""
        top = parts[0]
        if len(parts) == 1:
            found = self.pattern.search(top)
            return (found, found.group("file") + os.path.splitext(top)[1]) if found else None
        found = self.folder_pattern.fullmatch(top) if self.folder_pattern else None
        found = found or self.pattern.search(top + ".zip")  # a student's own zip, extracted to its name
        return (found, "/".join(parts[1:])) if found else None

    def collect(self, submitted_file: str):
        _, ext = os.path.splitext(submitted_file)
        if ext not in self.valid_ext:
            return None
        matched = self.match(self.lms_parts(submitted_file))
        if not matched:
            return self._skip(submitted_file, "", f"the file name is not a {type(self).__name__[:-9]} submission's")
        found, file_id = matched
        groups = found.groupdict()
        lms_id = self.normalise_id(groups["lms_id"])
        roster = self._roster()
        student = lms_id if roster is None else roster.get(lms_id)
        if student is None:
            return self._skip(submitted_file, lms_id, f"id {lms_id} is not in the roster {self.roster}")
        problem = claimed_id_problem(student) or next(filter(None, map(name_problem, file_id.split("/"))), "")
        if problem:
            return self._skip(submitted_file, student, problem)
        superseded = self.superseded(submitted_file, found) if "/" not in file_id else ""
        if superseded:
            return self._skip(submitted_file, student, superseded, status="superseded")
        info = {"student_id": student, "file_id": file_id}
        try:
            when = self.timestamp(groups)
        except AmbiguousTime as exc:
            return self._skip(submitted_file, student, str(exc))
        if when is not None:
            info["timestamp"] = when
        duplicate = self._duplicate(student, file_id, when)
        if duplicate:
            return self._skip(submitted_file, student, duplicate, status="superseded")
        return info

    def _duplicate(self, student, file_id, when):
        """Why a second file for this student's ``file_id`` is skipped: nbgrader compares two by their
        times, and stops the whole class when either has none."""
        seen = self.__dict__.setdefault("_seen", {})
        key = (student, file_id)
        if key in seen and (when is None or seen[key] is None):
            return f"a second {file_id} for {student}, with no time to tell which is newer: the first was kept"
        seen.setdefault(key, when)
        return ""

    def superseded(self, path, found) -> str:
        return ""

    def timestamp(self, groups):
        return None


class CanvasCollector(LmsCollector):
    """Canvas "Download Submissions": ``<sortable name>[_LATE]_<user id>_<submission id>_<file>[-N].<ext>``.
    The user id is Canvas's numeric id; the roster (the Canvas gradebook CSV) maps it (``ID``) to
    the nbgrader student id (``SIS Login ID``, the id our Canvas export writes). A file re-uploaded
    within one submission is renamed ``-N`` by Canvas: the highest N is collected. Canvas gives no
    submission time: a ``LATE`` file is recorded one second after the due date (so the course's
    penalty applies), an on-time one with no time (never late)."""

    roster_id_column = Unicode("ID").tag(config=True)
    roster_student_column = Unicode("SIS Login ID").tag(config=True)
    pattern = re.compile(r"^(?P<sortable>[a-z0-9]+?)(?P<late>_late)?_(?P<lms_id>\d+)_(?P<sub>\d+)_"
                         r"(?P<file>[^/]+?)(?:-(?P<resub>\d+))?\.[^./]+$", re.IGNORECASE)

    def superseded(self, path, found):
        mine = found.group(0).lstrip("/")
        folder = os.path.dirname(path)
        best, best_n = mine, int(found.group("resub") or 0)
        for other in os.listdir(folder):
            m = self.pattern.search(other)
            if m and m.group("lms_id") == found.group("lms_id") and m.group("file") == found.group("file") and \
                    os.path.splitext(other)[1] == os.path.splitext(mine)[1] and int(m.group("resub") or 0) > best_n:
                best, best_n = other, int(m.group("resub") or 0)
        return "" if best == mine else f"Canvas re-upload {best} is newer"

    def timestamp(self, groups):
        if not groups.get("late"):
            return None
        from nbgrader.api import Gradebook, MissingEntry
        app = self.parent
        with Gradebook(app.coursedir.db_url, app.coursedir.course_id) as gb:
            try:
                due = gb.find_assignment(app.coursedir.assignment_id).duedate
            except MissingEntry:
                due = None
        if due is None:
            self.log.warning("[labgrader] Canvas marks a file LATE but the assignment has no due date in the gradebook")
            return None
        return due + _dt.timedelta(seconds=1)


class MoodleCollector(LmsCollector):
    """Moodle "Download all submissions": ``<Full Name>_<participant id>_assignsubmission_file/<file>``
    (one folder per student) or the same flat with ``_`` before the file. The participant id is
    per assignment; the roster (Moodle's grading worksheet CSV) maps ``Identifier`` (``Participant
    <id>``) to the column holding nbgrader ids (default ``Email address``). No submission times."""

    roster_id_column = Unicode("Identifier").tag(config=True)
    roster_student_column = Unicode("Email address").tag(config=True)
    pattern = re.compile(r"^(?P<full>[^/]+?)_(?P<lms_id>\d+)_assignsubmission_file_(?P<file>[^/]+?)\.[^./]+$")
    folder_pattern = re.compile(r"(?P<full>[^/]+?)_(?P<lms_id>\d+)_assignsubmission_file")

    def normalise_id(self, value):
        return re.sub(r"^\s*Participant\s+", "", value).strip()


class BlackboardCollector(LmsCollector):
    """Blackboard "Download Assignment": ``<assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>``.
    The username is the student id (a roster is optional); the time is Blackboard's, in its server's
    zone (``timezone``, an IANA name); the newest attempt wins."""

    timezone = Unicode("UTC", help="IANA name of the Blackboard server's time zone").tag(config=True)
    pattern = re.compile(r"^(?:[^/]*?)_(?P<lms_id>[^_/]+)_attempt_(?P<time>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})"
                         r"_(?P<file>[^/]+?)\.[^./]+$")

    def timestamp(self, groups):
        y, mo, d, h, mi, s = groups["time"].split("-")
        return naive_utc(parse_time(f"{y}-{mo}-{d} {h}:{mi}:{s}", default_zone=self.timezone))
