"""One inbound entry of nbgrader's exchange, read as the instructor without trusting the student.

Threat model. ``<exchange>/<course>/inbound/`` is writable by every student, and everything in an
entry (``<claimed id>+<assignment>+<timestamp>+<random>/``) was written by a process a student
controls: its name (the claimed id and time), ``timestamp.txt``, ``submission_secret.txt``, the
files, their modes and mtimes. A hostile student can claim another id, date an entry in the past
or future, edit or delete ``timestamp.txt``, edit files after the deadline, plant links (to the
instructor's ``source/``, ``gradebook.db``, ``/dev/zero``), FIFOs, devices, sparse or huge files,
names with ``..``, glob or control characters, and, where an entry is writable by others (stock
``nbgrader submit`` makes it 0777), change another student's entry.

What the kernel tells us, and the student cannot forge:
- **who**: the owner uid of the entry and of every file and folder in it, mapped through the
  password database. An entry whose claimed id is not its owner, or which holds anything owned by
  someone else, is quarantined (never graded, under either name).
- **when**: the latest *ctime* (inode change time) of the entry and everything in it. Creating,
  writing, renaming, chmod-ing or deleting moves ctime to *now*; no unprivileged call sets it back
  (``utime`` moves only atime and mtime). So an entry's time is never earlier than its last
  change: an edit after the deadline makes it late, and nothing a student writes makes it early.

Files are copied by descriptor (``O_NOFOLLOW``, regular files only, size-capped, never sparse),
each checked again after its copy (owner, ctime, size), and the entry's own ctime is checked after
the whole copy: an entry changed while being copied is refused ("collect again"), never half-taken.
"""
import datetime as _dt
import errno
import fnmatch
import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

from labgrader.errors import LabgraderError

from ..safety import paths
from ..student_ids import printable, refusal as id_refusal
from .times import format_timestamp, from_epoch

_DIR_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
DANGEROUS_NAME_CHARS = set("*?[]/\\")


@dataclass
class Caps:
    """Limits on one entry (defaults: those of labgrader.safety for hand-ins)."""
    max_file_bytes: int = paths.MAX_FILE_BYTES
    max_entry_bytes: int = paths.MAX_TOTAL_BYTES
    max_files: int = 1000
    max_depth: int = paths.MAX_DEPTH
    max_names: int = 10_000        # everything walked: files, folders, links, ignored names
    max_reasons: int = 20          # refusal reasons kept (then how many more)


@dataclass
class Entry:
    """What the collector learned about one inbound entry."""
    name: str                      # the entry's folder name in inbound (as the student chose it)
    claimed: str = ""              # the student id in that name
    owner: str = ""                # the owner of the entry, from its uid
    uid: int = -1
    time: _dt.datetime | None = None   # trusted: latest ctime of the entry and everything in it
    ctime_ns: int = 0                  # the same, exact (what a later look is compared with)
    files: list = field(default_factory=list)      # relative paths of the regular files to copy
    refusals: list = field(default_factory=list)   # why it cannot be collected
    status: str = "pending"        # collected | superseded | quarantined | unchanged
    dest: str = ""
    ignored: list = field(default_factory=list)    # files skipped by CourseDirectory.ignore/include

    @property
    def student(self) -> str | None:
        """The student this entry belongs to, or None when it must not be graded."""
        return None if self.refusals else self.owner

    def as_record(self) -> dict:
        return {"entry": printable(self.name), "claimed": printable(self.claimed), "owner": printable(self.owner),
                "student": printable(self.student) if self.student else None,
                "time": format_timestamp(self.time) if self.time else None, "status": self.status,
                "reasons": [printable(r) for r in self.refusals], "files": [printable(f) for f in self.files],
                "ignored": [printable(f) for f in self.ignored], "dest": self.dest}


def name_problem(name: str) -> str:
    """Why a file or folder name in an entry is refused ("" when it is fine)."""
    if name in ("", ".", ".."):
        return f"the name {name!r} is not a file name"
    if DANGEROUS_NAME_CHARS & set(name):
        return f"the name {printable(name)!r} holds {''.join(sorted(DANGEROUS_NAME_CHARS & set(name)))!r} (glob or path characters)"
    if printable(name) != name or any(ch in name for ch in "\n\t\r"):
        return f"the name {ascii(name)} holds control characters"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return f"the name {printable(name)!r} is not valid UTF-8"
    return ""


def claimed_id_problem(student_id: str) -> str:
    """Why the id in an entry's name can never be a student folder ("" when it could)."""
    if student_id in ("", ".", "..") or "/" in student_id or student_id.startswith("-") or "," in student_id:
        return f"the entry claims the id {printable(student_id)!r}, which is not a student id"
    if printable(student_id) != student_id or any(ch in student_id for ch in "\n\t\r"):
        return f"the entry claims an id with control characters ({ascii(student_id)})"
    return id_refusal(student_id)


def parse_entry_name(name: str, assignment: str) -> tuple[str, str] | None:
    """(claimed id, rest) when ``name`` is an entry of ``assignment`` (``id+assignment+time[+random]``);
    None for entries of other assignments."""
    parts = name.rsplit("+", 3)
    if len(parts) == 4 and parts[1] == assignment:
        return parts[0], parts[2]
    parts = name.rsplit("+", 2)
    if len(parts) == 3 and parts[1] == assignment:
        return parts[0], parts[2]
    return None


def _owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


def _ignored(rel: str, patterns) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in rel.split(os.sep) for pattern in patterns)


def survey(inbound_fd: int, name: str, assignment: str, caps: Caps = Caps(), ignore=(), now=None) -> Entry:
    """Look at one entry without opening a file: owner, every type, name and size, and the trusted
    time. Refusals are collected, not raised: one bad entry never stops the rest."""
    entry = Entry(name)
    parsed = parse_entry_name(name, assignment)
    if parsed is None:
        entry.refusals.append(f"not an entry of {assignment} (expected <student>+{assignment}+<time>+<random>)")
        return entry
    entry.claimed = parsed[0]
    try:
        st = os.stat(name, dir_fd=inbound_fd, follow_symlinks=False)
    except OSError as exc:
        entry.refusals.append(f"cannot be read: {exc.strerror}")
        return entry
    entry.uid, entry.owner = st.st_uid, _owner_name(st.st_uid)
    if not stat.S_ISDIR(st.st_mode):
        entry.refusals.append(f"the entry is {paths.kind(st.st_mode)}, not a folder"
                              + (" (links are never followed)" if stat.S_ISLNK(st.st_mode) else ""))
        entry.ctime_ns, entry.time = st.st_ctime_ns, from_epoch(st.st_ctime_ns / 1e9)
        return entry
    if not entry.owner:
        entry.refusals.append(f"the entry is owned by uid {st.st_uid}, which is no user of this machine")
    problem = claimed_id_problem(entry.claimed)
    if problem:
        entry.refusals.append(problem)
    elif entry.owner and entry.claimed != entry.owner:
        entry.refusals.append(f"the entry claims to be {printable(entry.claimed)}'s but is owned by "
                              f"{printable(entry.owner)}: never graded under either name")
    latest = st.st_ctime_ns
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=inbound_fd)
    except OSError as exc:
        entry.refusals.append(f"the entry cannot be opened: {exc.strerror}")
    else:
        try:
            latest = max(latest, _walk(fd, "", 0, entry, caps, ignore, [0, 0]))
        except OSError as exc:  # a folder inside made unreadable, or the entry changing under us
            entry.refusals.append(f"the entry cannot be read whole ({exc.strerror}{': ' + printable(exc.filename) if isinstance(exc.filename, str) else ''})")
        finally:
            os.close(fd)
    if len(entry.refusals) > caps.max_reasons:  # one line per link or bad name: bounded for the logs and pages
        more = len(entry.refusals) - caps.max_reasons
        entry.refusals[caps.max_reasons:] = [f"and {more} more reason{'s' if more > 1 else ''}"]
    entry.ctime_ns = latest
    moment = from_epoch(latest / 1e9)
    entry.time = min(moment, now) if now else moment
    return entry


def _walk(dfd, rel, depth, entry, caps, ignore, total) -> int:
    """Check everything below ``dfd``; returns the latest ctime (ns) seen. ``total`` is [bytes,
    names] so far: the walk stops at ``caps.max_names`` (an entry of 100,000 empty folders costs
    seconds per look, and a student can change it again and again)."""
    latest = 0
    for item in sorted(os.scandir(dfd), key=lambda e: e.name):
        if len(entry.files) > caps.max_files or total[1] > caps.max_names:
            break  # refused already; do not walk millions of names
        total[1] += 1
        if total[1] > caps.max_names:
            entry.refusals.append(f"the entry holds more than {caps.max_names} names (files and folders)")
            break
        path = os.path.join(rel, item.name)
        st = item.stat(follow_symlinks=False)
        latest = max(latest, st.st_ctime_ns)
        shown = printable(path)
        problem = name_problem(item.name)
        if problem:
            entry.refusals.append(f"{shown}: {problem}")
            continue
        if st.st_uid != entry.uid:
            who = _owner_name(st.st_uid) or f"uid {st.st_uid}"
            entry.refusals.append(f"{shown} is owned by {printable(who)}, not by the entry's owner "
                                  f"{printable(entry.owner or str(entry.uid))}: someone else changed this entry")
        if depth == 0 and item.name == "timestamp.txt":
            continue  # the student's clock: never read, replaced by the trusted time
        if ignore and _ignored(path, ignore):
            entry.ignored.append(path)
            continue
        if stat.S_ISDIR(st.st_mode):
            if depth + 1 > caps.max_depth:
                entry.refusals.append(f"{shown} is nested more than {caps.max_depth} folders deep")
                continue
            sub = os.open(item.name, _DIR_FLAGS, dir_fd=dfd)
            try:
                latest = max(latest, _walk(sub, path, depth + 1, entry, caps, ignore, total))
            finally:
                os.close(sub)
        elif not stat.S_ISREG(st.st_mode):
            link = ""
            if stat.S_ISLNK(st.st_mode):
                try:
                    link = f" (to {printable(os.readlink(item.name, dir_fd=dfd))}; links are never followed)"
                except OSError:
                    pass
            entry.refusals.append(f"{shown} is {paths.kind(st.st_mode)}{link}: only regular files are collected")
        elif paths.is_sparse(st):
            entry.refusals.append(f"{shown} is a sparse file ({st.st_size} bytes, {st.st_blocks * 512} on disk)")
        elif st.st_size > caps.max_file_bytes:
            entry.refusals.append(f"{shown} is {st.st_size} bytes (more than {caps.max_file_bytes})")
        else:
            total[0] += st.st_size
            entry.files.append(path)
            if len(entry.files) == caps.max_files + 1:
                entry.refusals.append(f"the entry holds more than {caps.max_files} files")
            if total[0] > caps.max_entry_bytes and not any("bytes in all" in r for r in entry.refusals):
                entry.refusals.append(f"the entry holds more than {caps.max_entry_bytes} bytes in all")
    return latest


class Changed(LabgraderError):
    """The entry changed while it was copied."""


def copy(inbound_fd: int, entry: Entry, dest: str, caps: Caps = Caps(),
         verify: Callable[[str], str] | None = None) -> None:
    """Copy a surveyed, unrefused entry into ``dest`` (a new folder), then write the trusted
    ``timestamp.txt``. Every file is opened by descriptor, relative to its folder's descriptor,
    never through a link, and checked again after its copy; raises Changed (nothing left at
    ``dest``) when the entry is no longer what the survey saw, or when ``verify(copy)`` (called
    on the whole copy before it is put in place) says why it is not what it must be."""
    assert not entry.refusals, "refused entries are never copied"
    if entry.time is None:  # (a survey sets it for every entry it does not refuse)
        raise Changed("the entry has no trusted time: collect again")
    when = entry.time
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".collecting-", dir=parent)
    try:
        top = os.open(entry.name, _DIR_FLAGS, dir_fd=inbound_fd)
        try:
            before = os.fstat(top)
            _check_same(before, entry, "the entry")
            for rel in entry.files:
                _copy_one(top, rel, staging, entry, caps)
            if os.fstat(top).st_ctime_ns != before.st_ctime_ns:
                raise Changed("the entry changed while it was being collected: collect again")
        finally:
            os.close(top)
        problem = verify(staging) if verify else ""
        if problem:
            raise Changed(problem)
        with open(os.path.join(staging, "timestamp.txt"), "x") as fh:
            fh.write(format_timestamp(when))
        os.chmod(staging, 0o755)
        paths.replace_folder(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _check_same(st, entry, what):
    if st.st_uid != entry.uid:
        raise Changed(f"{what} changed owner while it was being collected")
    if st.st_ctime_ns > entry.ctime_ns:
        raise Changed(f"{what} changed while it was being collected: collect again")


def _copy_one(top, rel, staging, entry, caps):
    parts = rel.split(os.sep)
    fds = [top]
    try:
        for part in parts[:-1]:  # descend without following links
            try:
                fds.append(os.open(part, _DIR_FLAGS, dir_fd=fds[-1]))
            except OSError as exc:
                raise Changed(f"{printable(rel)}: a folder above it changed while it was being collected "
                              f"({exc.strerror}): collect again") from None
        out_dir = os.path.join(staging, *parts[:-1])
        os.makedirs(out_dir, exist_ok=True)
        try:
            st = paths.copy_regular(parts[-1], os.path.join(out_dir, parts[-1]), caps.max_file_bytes, src_dir_fd=fds[-1])
        except (paths.UnsafePath, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno == errno.EACCES:
                raise Changed(f"{printable(rel)} cannot be read by the instructor (its mode or group was changed): "
                              "ask the student to submit again") from None
            if isinstance(exc, OSError) and exc.errno not in (errno.ENOENT, errno.ELOOP):
                raise
            raise Changed(f"{printable(rel)} changed while it was being collected ({exc}): collect again") from None
        _check_same(st, entry, printable(rel))
    finally:
        for fd in fds[1:]:
            os.close(fd)


def open_inbound(inbound: str) -> int:
    """A descriptor on the inbound folder (never through a link)."""
    return os.open(inbound, _DIR_FLAGS)


def entry_names(inbound_fd: int) -> list[str]:
    return sorted(os.listdir(inbound_fd))


def collected_time(dest: str) -> _dt.datetime | None:
    """The trusted time of the copy at ``dest`` (the ``timestamp.txt`` the collector wrote)."""
    from .times import parse_time
    try:
        return parse_time(paths.read_regular(os.path.join(dest, "timestamp.txt"), 256).decode().strip())
    except (OSError, ValueError, paths.UnsafePath):
        return None


def collect_entry(inbound: str, name: str, assignment: str, submitted: str, caps: Caps = Caps(), ignore=()) -> Entry:
    """Collect ONE entry into ``submitted/<student>/<assignment>/``, replacing a copy of an older
    entry (status ``superseded`` when the copy there is as new or newer), or refuse it: the building
    block of ``nbgrader collect`` (``TrustedCollect``) and of a service that collects on submit.
    The result names the student (its owner), the trusted time and the reasons it was refused; it
    never raises for what a student put in the entry."""
    now = _dt.datetime.now(_dt.timezone.utc)
    fd = open_inbound(inbound)
    try:
        entry = survey(fd, name, assignment, caps, ignore, now)
        if entry.refusals:
            entry.status = "quarantined"
            return entry
        dest = os.path.join(submitted, entry.owner, assignment)
        existing = collected_time(dest) if os.path.isdir(dest) else None
        if existing is not None and entry.time is not None and existing >= entry.time:
            entry.status = "superseded"
            return entry
        entry.dest = dest
        try:
            copy(fd, entry, entry.dest, caps)
            entry.status = "collected"
        except Changed as exc:
            entry.refusals.append(str(exc))
            entry.status, entry.dest = "quarantined", ""
        return entry
    finally:
        os.close(fd)
