"""One uid per running kernel, leased from a configured range.

RLIMIT_NPROC counts every process and thread of a *user*, across the whole machine: kernels that
share a uid share that cap, so one student's thread bomb would starve the others graded beside
it. Each kernel therefore runs as a uid of its own, taken from ``first .. first + count - 1``
(none of them needs an /etc/passwd entry). A lease is an exclusive ``flock`` on a per-uid lock
file in a root-only directory: it holds across the batch's worker processes and concurrent
`nbgrader` runs, and the kernel releases it when it dies with the grader.

Only root can switch uids: a grader run by an ordinary user runs every kernel as itself, each in a
user namespace of its own (see userns.py, and docs/security.md "Without root" on what that loses).
"""
from __future__ import annotations

import errno
import fcntl
import os
import stat
import tempfile

from labgrader.errors import LabgraderError

LOCK_DIR = "labgrader-uids"


class NoFreeUid(LabgraderError, RuntimeError):
    """Every uid of the range is in use by a running kernel."""


def lock_dir() -> str:
    """A directory only root can write, refused if someone else made it (or made it a link)."""
    parent = "/run" if os.access("/run", os.W_OK) else tempfile.gettempdir()
    path = os.path.join(parent, LOCK_DIR)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise RuntimeError(f"{path} must be a directory owned by the grader with mode 0700; remove it and retry")
    return path


class UidLease:
    """``UidLease(first, count).uid`` is this kernel's own uid until ``release()``."""

    def __init__(self, first: int, count: int) -> None:
        if first <= 0 or count <= 0 or first + count > 2 ** 31:
            raise ValueError(f"bad sandbox uid range {first}..{first + count - 1}: uids must be in 1..2**31-1")
        directory = lock_dir()
        for uid in range(first, first + count):
            fd = os.open(os.path.join(directory, str(uid)), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    continue
                raise
            self.uid = self.gid = uid
            self._fd: int | None = fd
            return
        raise NoFreeUid(f"all {count} sandbox uids ({first}..{first + count - 1}) are in use; raise "
                        "c.GradingKernelManager.sandbox_uid_count or run fewer kernels at once")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file drops the flock
            self._fd = None


class OwnUid:
    """Not root: the kernel keeps the grader's uid (nothing to lease)."""

    def __init__(self) -> None:
        self.uid, self.gid = os.getuid(), os.getgid()

    def release(self) -> None:
        pass


Lease = UidLease | OwnUid  # what a kernel holds its uid by


def lease_kernel_uid(first: int, count: int) -> Lease:
    return UidLease(first, count) if os.geteuid() == 0 else OwnUid()
