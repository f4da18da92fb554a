"""Paths a student controls, handled without following them.

A hand-in (``submitted/<student>/<assignment>/``) may hold anything an archive can carry, and a
kernel's working copy (``autograded/<student>/<assignment>/``) anything the student's code made
in it: symbolic links (to the gradebook, the solutions, another student, a root-only file),
FIFOs (an ``open()`` that never returns), sockets, devices, directories where a file is
expected, sparse files (a few bytes on disk, GiBs once copied). The grader runs as root, so
every open, copy or chmod of such a path must look at the entry itself (``lstat``,
``O_NOFOLLOW``, operations relative to a directory descriptor) and stay within size caps.
"""
from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Collection, Iterable

from labgrader.errors import LabgraderError

StrPath = str | os.PathLike[str]  # a path as the caller has it

MiB = 1024 ** 2
# Generous for one lab notebook and a few data files; far below what could fill a disk.
MAX_FILE_BYTES = 64 * MiB
MAX_TOTAL_BYTES = 256 * MiB
MAX_DEPTH = 16
# A notebook is measured before it is parsed (labgrader/jsonlimits.py): nbformat and nbgrader hold
# every JSON value as a Python object, several times over. An honest lab notebook, outputs and all,
# holds a few thousand; a 64 MiB file of empty lists would hold twenty million.
NOTEBOOK_VALUES = 1_000_000
NOTEBOOK_DEPTH = 64
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC


class UnsafePath(LabgraderError):
    """A path the grader will not read, write or copy; the message says why."""


def kind(mode: int) -> str:
    """What a file is, in words a student or instructor understands."""
    for test, name in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "a special file"


def is_sparse(st: os.stat_result) -> bool:
    """Holes: fewer bytes on disk than its size (small files may live inline, with no blocks)."""
    return stat.S_ISREG(st.st_mode) and st.st_size > 64 * 1024 and st.st_blocks * 512 < st.st_size // 2


def _describe(name: str, st: os.stat_result, link: str | None = None, dir_fd: int | None = None) -> str:
    """``name is a symbolic link (to target)``; ``link`` is where to read it (relative to ``dir_fd``)."""
    text = f"{name} is {kind(st.st_mode)}"
    if stat.S_ISLNK(st.st_mode):
        try:
            text += f" (to {os.readlink(link or name, dir_fd=dir_fd)})"
        except OSError:
            pass
    return text


def handin_problems(folder: StrPath, notebook: str | None = None, max_file_bytes: int = MAX_FILE_BYTES,
                    max_total_bytes: int = MAX_TOTAL_BYTES) -> list[str]:
    """Why a hand-in cannot be read safely (an empty list when it can).

    The hand-in folder and its student folder must be real directories, and every entry below
    them a regular file or a directory, none larger than ``max_file_bytes`` or sparse, together at
    most ``max_total_bytes``; ``notebook`` (a name), if present, must be a regular file. Nothing is
    opened: only ``lstat``."""
    folder = os.fspath(folder)
    problems: list[str] = []
    for path in (os.path.dirname(folder), folder):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return [f"{path} does not exist"]
        if not stat.S_ISDIR(st.st_mode):
            return [_describe(path, st) + ", not a folder"]
    total = 0
    pending = [(folder, "", 0)]
    while pending:
        path, rel, depth = pending.pop()
        if depth > MAX_DEPTH:
            problems.append(f"{rel} is nested more than {MAX_DEPTH} folders deep")
            continue
        with os.scandir(path) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                name = os.path.join(rel, entry.name)
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    if name == notebook:
                        problems.append(f"{name} is a directory, not a notebook file")
                    else:
                        pending.append((entry.path, name, depth + 1))
                elif not stat.S_ISREG(st.st_mode):
                    problems.append(_describe(name, st, entry.path) + ": only regular files are graded")
                elif is_sparse(st):
                    problems.append(f"{name} is a sparse file ({st.st_size} bytes, "
                                    f"{st.st_blocks * 512} on disk)")
                elif st.st_size > max_file_bytes:
                    problems.append(f"{name} is {st.st_size} bytes (more than {max_file_bytes})")
                else:
                    total += st.st_size
    if total > max_total_bytes:
        problems.append(f"the hand-in holds {total} bytes (more than {max_total_bytes})")
    return problems


def open_regular(path: StrPath, max_bytes: int, dir_fd: int | None = None) -> tuple[int, os.stat_result]:
    """A descriptor on ``path`` if it is a regular file of at most ``max_bytes`` (never follows a
    link, never blocks on a FIFO, never opens a device as a terminal)."""
    try:
        fd = os.open(path, _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(f"{path} is a symbolic link") from None
        raise
    st = os.fstat(fd)
    try:
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(f"{path} is {kind(st.st_mode)}, not a regular file")
        if st.st_size > max_bytes:
            raise UnsafePath(f"{path} is {st.st_size} bytes (more than {max_bytes})")
        if is_sparse(st):
            raise UnsafePath(f"{path} is a sparse file ({st.st_size} bytes, {st.st_blocks * 512} on disk)")
    except UnsafePath:
        os.close(fd)
        raise
    return fd, st


def read_regular(path: StrPath, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file (raises UnsafePath for anything else, or one too large)."""
    fd, _ = open_regular(path, max_bytes)
    with os.fdopen(fd, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while we read
        raise UnsafePath(f"{path} is more than {max_bytes} bytes")
    return data


def read_notebook(path: StrPath, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the notebook at ``path``, read as a regular file within ``max_bytes`` and
    measured, not parsed; UnsafePath when it holds more JSON than the grader parses."""
    from labgrader.jsonlimits import too_large
    data = read_regular(path, max_bytes)
    why = too_large(data, max_bytes, NOTEBOOK_VALUES, NOTEBOOK_DEPTH)
    if why:
        raise UnsafePath(f"{os.path.basename(path)} is larger than the grader reads ({why})")
    return data


def copy_regular(src: StrPath, dst: StrPath, max_bytes: int = MAX_FILE_BYTES, src_dir_fd: int | None = None) -> os.stat_result:
    """Copy a regular file to a new ``dst`` (which must not exist: never written through a link),
    keeping its times; raises UnsafePath for anything but a regular file within the cap. ``src``
    may be relative to the directory descriptor ``src_dir_fd``. Returns the source's ``fstat``
    taken after the copy (its owner and ctime say whether it changed meanwhile)."""
    fd, st = open_regular(src, max_bytes, dir_fd=src_dir_fd)
    with os.fdopen(fd, "rb") as fsrc:
        out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            with os.fdopen(out, "wb") as fdst:
                copied = 0
                while chunk := fsrc.read(min(MiB, max_bytes + 1 - copied)):
                    copied += len(chunk)
                    if copied > max_bytes:
                        raise UnsafePath(f"{src} is more than {max_bytes} bytes")
                    fdst.write(chunk)
                os.utime(fdst.fileno(), ns=(st.st_atime_ns, st.st_mtime_ns))
            return os.fstat(fsrc.fileno())
        except BaseException:
            os.unlink(dst)
            raise


def replace_folder(new: StrPath, dest: StrPath) -> None:
    """Put the complete folder ``new`` at ``dest`` (a rename: same file system); a folder already
    there is removed only once the new one is in its place."""
    if os.path.lexists(dest):
        old = f"{dest}.old-{os.getpid()}-{os.path.basename(new)}"
        os.rename(dest, old)
        os.rename(new, dest)
        shutil.rmtree(old)
    else:
        os.rename(new, dest)


def reclaim(workdir: StrPath, uid: int | None = None, gid: int | None = None, max_file_bytes: int = MAX_FILE_BYTES,
            max_total_bytes: int = MAX_TOTAL_BYTES, remove: Iterable[str] = ()) -> list[str]:
    """Take a kernel's working copy back once the kernel and all its processes are gone.

    Everything is done through directory descriptors opened with ``O_NOFOLLOW``: every directory
    and regular file is given back to ``uid``/``gid`` (mode 0755 / 0644: nothing there stays
    writable by the sandbox user, nothing is setuid), and every entry that is not a regular file
    or a directory (symbolic links, FIFOs, sockets, devices) is removed, as are regular files larger
    than ``max_file_bytes``, sparse ones, those beyond ``max_total_bytes`` in all, and the top-level
    names in ``remove`` (the notebook the grader is about to write afresh). The working copy is the
    grader's (the hand-in stays in ``submitted/``), so removing from it loses nothing handed in.
    Returns one note per removed entry. ``uid``/``gid`` default to the grader's own."""
    uid = os.geteuid() if uid is None else uid
    gid = os.getegid() if gid is None else gid
    notes: list[str] = []
    try:
        top = os.open(os.fspath(workdir), _DIR_FLAGS)
    except FileNotFoundError:
        return notes
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePath(f"{workdir} is not a directory") from None
        raise
    budget = [max_total_bytes]  # bytes left, shared by the whole walk
    try:
        _take_back(top, "", 0, uid, gid, max_file_bytes, budget, set(remove), notes)
    finally:
        os.close(top)
    return notes


def _take_back(dfd: int, rel: str, depth: int, uid: int, gid: int, max_file_bytes: int, budget: list[int],
               remove: Collection[str], notes: list[str]) -> None:
    os.fchown(dfd, uid, gid)
    os.fchmod(dfd, 0o755)  # from here on the sandbox user can no longer add or rename entries
    for name in sorted(os.listdir(dfd)):
        path = os.path.join(rel, name)
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if depth == 0 and name in remove and not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=dfd)
        elif stat.S_ISDIR(st.st_mode):
            if depth >= MAX_DEPTH:
                raise UnsafePath(f"{path} is nested more than {MAX_DEPTH} folders deep")
            sub = os.open(name, _DIR_FLAGS, dir_fd=dfd)
            try:
                _take_back(sub, path, depth + 1, uid, gid, max_file_bytes, budget, remove, notes)
            finally:
                os.close(sub)
        elif not stat.S_ISREG(st.st_mode):
            notes.append("removed from the working copy: " + _describe(path, st, name, dfd))
            os.unlink(name, dir_fd=dfd)
        else:
            try:
                fd, st = open_regular(name, min(max_file_bytes, budget[0]), dir_fd=dfd)
            except UnsafePath as exc:
                notes.append(f"removed from the working copy: {path}: {str(exc).split(' is ', 1)[-1]}")
                os.unlink(name, dir_fd=dfd)
                continue
            try:
                os.fchown(fd, uid, gid)
                os.fchmod(fd, 0o644)
            finally:
                os.close(fd)
            budget[0] -= st.st_size


# What Python would import from a working directory on sys.path: modules, extensions, packages.
CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyw", ".so", ".pyd", ".pth")


def importable_entries(workdir: StrPath, keep: Collection[str] = ()) -> list[tuple[str, str]]:
    """Top-level entries of a working copy that Python could import (modules, compiled modules,
    ``.pth`` files, packages and folders holding code), except the relative paths in ``keep``.
    Only ``lstat``/``scandir`` without following links; returns [(name, what)]."""
    found: list[tuple[str, str]] = []
    with os.scandir(os.fspath(workdir)) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name in keep:
                continue
            if entry.is_dir(follow_symlinks=False):
                with os.scandir(entry.path) as inside:
                    code = [e.name for e in inside if e.is_file(follow_symlinks=False) and e.name.endswith(CODE_SUFFIXES)]
                if code or entry.name == "__pycache__":
                    found.append((entry.name, "a package" if "__init__.py" in code else "a folder holding Python code"))
            elif entry.name.endswith(CODE_SUFFIXES):
                found.append((entry.name, "a Python file" if entry.name.endswith(".py") else "a compiled module or .pth file"))
    return found


def remove_entry(workdir: StrPath, name: str) -> None:
    """Remove the top-level entry ``name`` of ``workdir`` (a folder with all it holds), never through a link."""
    import shutil
    top = os.open(os.fspath(workdir), _DIR_FLAGS)
    try:
        st = os.stat(name, dir_fd=top, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=top)  # fd-based: does not follow links inside
        else:
            os.unlink(name, dir_fd=top)
    finally:
        os.close(top)
