"""One grader at a time per student: the grading service (``python -m labgrader serve``) and the
batch command (``python -m labgrader autograde``) take the same lock before they grade a student's
submission, so they never interleave on that student's ``submitted/``, ``autograded/``,
``feedback/`` folders and gradebook rows.

The lock is an advisory ``flock`` on ``<course>/.labgrader/locks/<digest>.lock`` (one file per
assignment and student; the digest keeps any student id out of the file name): the kernel releases
it when its holder dies, SIGKILL included, so a crashed grader never leaves a student locked. It is
reentrant within a process (the service holds it around a grading that takes it again).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator

from labgrader.errors import LabgraderError

LOCK_DIR = os.path.join(".labgrader", "locks")

_held: dict[str, list[int]] = {}  # path -> [descriptor, depth], in this process
_guard = threading.Lock()


class LockUnavailable(LabgraderError, RuntimeError):
    """The lock file cannot be opened (made by another user): the message says what to do."""


def lock_path(course_root: str | os.PathLike, assignment: str, student: str) -> str:
    digest = hashlib.sha256(f"{assignment}\0{student}".encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return os.path.join(os.fspath(course_root), LOCK_DIR, f"{digest}.lock")


@contextlib.contextmanager
def student_lock(course_root: str | os.PathLike, assignment: str, student: str) -> Iterator[None]:
    """Hold ``student``'s grading lock of ``assignment`` in this course (waits for another holder)."""
    path = lock_path(course_root, assignment, student)
    with _guard:
        held = _held.get(path)
        if held:
            held[1] += 1
    if held:
        try:
            yield
        finally:
            with _guard:
                held[1] -= 1
        return
    fd = _open(path, os.fspath(course_root))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with _guard:
            _held[path] = [fd, 1]
        try:
            yield
        finally:
            with _guard:
                del _held[path]
    finally:
        os.close(fd)  # closing the last descriptor releases the flock


def is_locked(course_root: str | os.PathLike, assignment: str, student: str) -> bool:
    """Whether some process holds the lock now (for status and tests)."""
    path = lock_path(course_root, assignment, student)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _open(path: str, course_root: str) -> int:
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except PermissionError as exc:
        raise LockUnavailable(f"cannot open the grading lock {path} ({exc.strerror}): it was made by another user; "
                              "run the grading service and the batch command as the course's owner") from None
    if os.geteuid() == 0:  # root grading an instructor's course: leave the locks usable by the owner
        owner = os.stat(course_root)
        for target in (folder, os.path.dirname(folder)):
            if os.stat(target).st_uid == 0 and owner.st_uid != 0:
                os.chown(target, owner.st_uid, owner.st_gid)
        os.fchown(fd, owner.st_uid, owner.st_gid)
    return fd
