"""Where a kernel may write, each a size-capped tmpfs the grader mounts for that kernel alone.

    <base>/ipc    the connection file and the kernel's sockets (tiny)
    <base>/tmp    the sandbox's /tmp
    <base>/work   the working copy: autograded/<student>/<assignment>/ is copied in before the
                  kernel starts and copied back (regular files and directories only, never
                  following links, at most the cap in total) after it has ended. Notebooks
                  (*.ipynb) are the grader's and stay out: nbgrader's intermediate notebook and
                  the autograded ones hold the hidden tests, which no kernel may read
    <base>/root   an empty directory the fork server's child builds the sandbox's root on

Every cap (size and number of files) is enforced by the kernel's filesystem, so a write beyond
it fails inside the sandbox (ENOSPC) and never fills the host's disk or memory. Both launch
paths bind the same mounts (see ``Sandbox.plan``).

As root the grader mounts them on the host. As an ordinary user it cannot: a per-kernel holder
(userns.py) mounts them in a user + mount namespace of its own, the grader reaches them through
``/proc/<holder>/root`` (``grader_view``), and the kernel is started inside the holder's
namespaces (``holder_pid``). The kernel and the grader must name the socket directory with the
same string: ``ipc`` is then a link on the host to the holder's view of the mount, at which
path the sandbox binds the mount itself.
"""
from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from typing import IO

from .namespaces import MNT_DETACH, MS_NODEV, MS_NOSUID, _libc, mount

IPC_BYTES = 1024 ** 2
IPC_FILES = 64
BYTES_PER_FILE = 16 * 1024  # number of files a cap allows: one per 16 KiB (at least 1024)
CHUNK = 1024 ** 2

_mounted: set[str] = set()  # unmounted on exit should a kernel's teardown never run (the grader crashed)
_bases: set[str] = set()    # and these removed (a kernel manager nobody shut down)


PREFIX = "labgrader-kernel-"
# <pid>.<start time>: a worker process of a pool ends with os._exit (no atexit), or a grader is
# killed; whose scratch it was tells whether its grader still runs (remove_stale).
_OWNED = re.compile(rf"^{PREFIX}(\d+)\.(\d+)-")


def max_files(size: int) -> int:
    return max(1024, size // BYTES_PER_FILE)


class Scratch:
    def __init__(self, uid: int, gid: int, tmp_bytes: int, workdir_bytes: int) -> None:
        self.uid, self.gid, self.workdir_bytes = uid, gid, workdir_bytes
        _sweep_once()
        pid = os.getpid()
        self.base = tempfile.mkdtemp(prefix=f"{PREFIX}{pid}.{_start_time(pid)}-")  # 0700: nothing else gets in
        _bases.add(self.base)
        # where the mounts are, in the namespace the kernel's sandbox is built from
        self.ipc_mount, self.tmp, self.work, self.root = (os.path.join(self.base, n) for n in ("ipc", "tmp", "work", "root"))
        self.ipc = self.ipc_mount  # the socket directory, as both the grader and the kernel name it
        self.skipped: list[str] = []  # what the working copy held that is not a regular file or directory
        self.holder: subprocess.Popen[str] | None = None
        try:
            if os.geteuid() == 0:
                self._tmpfs(self.ipc, IPC_BYTES, IPC_FILES, f"mode=0700,uid={uid},gid={gid}")
                self._tmpfs(self.tmp, tmp_bytes, max_files(tmp_bytes), "mode=1777")
                self._tmpfs(self.work, workdir_bytes, max_files(workdir_bytes), f"mode=0755,uid={uid},gid={gid}")
            else:
                self._hold(tmp_bytes, workdir_bytes)
            os.mkdir(self.root, 0o700)
        except BaseException:
            self.close()
            raise

    @property
    def holder_pid(self) -> int | None:
        """The process whose user + mount namespaces hold the mounts (None: the host's, as root)."""
        return self.holder.pid if self.holder else None

    def grader_view(self, path: str) -> str:
        """``path`` (one of the mounts) as the grader reaches it."""
        return f"/proc/{self.holder.pid}/root{path}" if self.holder else path

    def _hold(self, tmp_bytes: int, workdir_bytes: int) -> None:
        for path in (self.ipc_mount, self.tmp, self.work):
            os.mkdir(path, 0o700)
        self.holder = holder = subprocess.Popen(
            [sys.executable, "-m", "labgrader.sandbox.userns", self.base, str(IPC_BYTES), str(tmp_bytes), str(workdir_bytes)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_holder_env())
        line = _pipe(holder.stdout).readline().strip()
        if line != "ready":
            holder.kill()
            holder.wait()
            raise OSError(f"could not mount the kernel's tmpfs in a user namespace: "
                          f"{line or _pipe(holder.stderr).read().strip()}")
        self.ipc = os.path.join(self.base, "ipc-link")
        os.symlink(self.grader_view(self.ipc_mount), self.ipc)

    def _tmpfs(self, path: str, size: int, files: int, options: str) -> None:
        os.mkdir(path, 0o700)
        mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},nr_inodes={files},{options}")
        _mounted.add(path)

    def stage_in(self, workdir: str) -> None:
        """Copy the working copy, notebooks excepted, into the capped tmpfs, owned by the kernel's user."""
        try:
            _copy_tree(workdir, self.grader_view(self.work), limit=None, skipped=self.skipped,
                       owner=(self.uid, self.gid) if os.geteuid() == 0 else None)  # else: already the kernel's
        except OSError as exc:
            raise OSError(exc.errno, f"the working copy {workdir} does not fit in the kernel's "
                          f"{self.workdir_bytes} bytes (c.GradingKernelManager.working_copy_size): {exc.strerror}") from None

    def copy_back(self, workdir: str) -> None:
        """Replace the working copy's content, notebooks excepted, with what the kernel left (the
        kernel has ended); notebooks it wrote are not copied back."""
        with os.scandir(workdir) as entries:
            for entry in entries:
                if _notebook(entry.name):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
        _copy_tree(self.grader_view(self.work), workdir, limit=self.workdir_bytes, owner=None, skipped=self.skipped)

    def close(self) -> None:
        for path in (self.ipc_mount, self.tmp, self.work):
            if path in _mounted:
                _libc.umount2(path.encode(), MNT_DETACH)
                _mounted.discard(path)
        if self.holder:  # its mounts go with its namespace once the kernel is gone too
            _pipe(self.holder.stdin).close()
            try:
                self.holder.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.holder.kill()
                self.holder.wait()
            _pipe(self.holder.stdout).close()
            _pipe(self.holder.stderr).close()
            self.holder = None
        shutil.rmtree(self.base, ignore_errors=True)
        _bases.discard(self.base)


def _pipe(stream: IO[str] | None) -> IO[str]:
    """One of the holder's pipes (it is started with all three)."""
    assert stream is not None
    return stream


def _holder_env() -> dict[str, str]:
    """The holder imports labgrader like the grader does (it may not be installed in the venv)."""
    import labgrader
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(labgrader.__file__)))
    return {"PATH": os.environ.get("PATH", os.defpath), "PYTHONPATH": package_parent}


def _notebook(name: str) -> bool:
    """A notebook: the grader's (nbgrader's intermediate and autograded notebooks hold hidden tests)."""
    return name.endswith(".ipynb")


def _copy_tree(src: str, dst: str, limit: int | None, owner: tuple[int, int] | None, skipped: list[str]) -> None:
    """Copy the directories and regular files below ``src`` into the existing directory ``dst``,
    notebooks excepted, by file descriptor and without following any link; stop copying files
    once ``limit`` bytes (apparent size: a sparse file counts in full) have been copied."""
    budget = limit  # bytes left to copy (None: no cap)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    stack = [(os.open(src, flags | os.O_DIRECTORY), os.open(dst, flags | os.O_DIRECTORY), "")]
    try:
        while stack:
            sfd, dfd, rel = stack.pop()
            try:
                for name in os.listdir(sfd):
                    if _notebook(name):
                        continue
                    info = os.stat(name, dir_fd=sfd, follow_symlinks=False)
                    if stat.S_ISDIR(info.st_mode):
                        os.mkdir(name, 0o755, dir_fd=dfd)
                        child_d = os.open(name, flags | os.O_DIRECTORY, dir_fd=dfd)
                        if owner:
                            os.fchown(child_d, *owner)
                        stack.append((os.open(name, flags | os.O_DIRECTORY, dir_fd=sfd), child_d, rel + name + "/"))
                    elif stat.S_ISREG(info.st_mode) and (budget is None or info.st_size <= budget):
                        _copy_file(name, sfd, dfd, owner, info.st_mode & 0o755 | 0o600)
                        if budget is not None:
                            budget -= info.st_size
                    else:
                        skipped.append(rel + name)
            finally:
                os.close(sfd)
                os.close(dfd)
    finally:
        for sfd, dfd, _ in stack:
            os.close(sfd)
            os.close(dfd)


def _copy_file(name: str, sfd: int, dfd: int, owner: tuple[int, int] | None, mode: int) -> None:
    src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=sfd)
    try:
        if not stat.S_ISREG(os.fstat(src).st_mode):  # swapped since the stat: not copied
            return
        dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dfd)
        try:
            if owner:
                os.fchown(dst, *owner)
            while chunk := os.read(src, CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(dst, view):]
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _start_time(pid: int) -> int:
    """The process's start time in clock ticks since boot (0: unknown); with the pid, it names one process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def remove_stale() -> list[str]:
    """Remove this user's kernel scratch directories whose grader no longer runs (a pool's worker
    ended with os._exit before a kernel's teardown, or a grader was killed); as root, their mounts
    are detached first. Returns what was removed."""
    removed: list[str] = []
    tmp = tempfile.gettempdir()
    try:
        names = os.listdir(tmp)
    except OSError:
        return removed
    for name in names:
        match = _OWNED.match(name)
        if not match:
            continue
        path = os.path.join(tmp, name)
        try:
            if os.lstat(path).st_uid != os.geteuid():
                continue
        except OSError:
            continue
        pid, started = int(match.group(1)), int(match.group(2))
        if os.path.exists(f"/proc/{pid}") and _start_time(pid) in (started, 0):
            continue  # its grader still runs
        if os.geteuid() == 0:
            for sub in ("ipc", "tmp", "work"):
                _libc.umount2(os.path.join(path, sub).encode(), MNT_DETACH)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


@functools.cache
def _sweep_once() -> None:
    remove_stale()


@atexit.register
def _unmount_leftovers() -> None:
    for path in list(_mounted):
        _libc.umount2(path.encode(), MNT_DETACH)
    for base in list(_bases):
        shutil.rmtree(base, ignore_errors=True)
