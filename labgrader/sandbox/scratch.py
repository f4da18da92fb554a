"""Where a kernel may write, each a size-capped tmpfs the grader mounts for that kernel alone.

    <base>/ipc    the connection file and the kernel's sockets (tiny)
    <base>/tmp    the sandbox's /tmp
    <base>/work   the working copy: autograded/<student>/<assignment>/ is copied in before the
                  kernel starts and copied back (regular files and directories only, never
                  following links, at most the cap in total) after it has ended
    <base>/root   an empty directory the fork server's child builds the sandbox's root on

Every cap (size and number of files) is enforced by the kernel's filesystem, so a write beyond
it fails inside the sandbox (ENOSPC) and never fills the host's disk or memory. Both launch
paths bind the same mounts (see ``Sandbox.plan``).
"""
import atexit
import os
import shutil
import stat
import tempfile

from .namespaces import MNT_DETACH, MS_NODEV, MS_NOSUID, _libc, mount

IPC_BYTES = 1024 ** 2
IPC_FILES = 64
BYTES_PER_FILE = 16 * 1024  # number of files a cap allows: one per 16 KiB (at least 1024)
CHUNK = 1024 ** 2

_mounted = set()  # unmounted on exit should a kernel's teardown never run (the grader crashed)


def max_files(size):
    return max(1024, size // BYTES_PER_FILE)


class Scratch:
    def __init__(self, uid, gid, tmp_bytes, workdir_bytes):
        self.uid, self.gid, self.workdir_bytes = uid, gid, workdir_bytes
        self.base = tempfile.mkdtemp(prefix="labgrader-kernel-")  # 0700: nothing else gets in
        self.ipc, self.tmp, self.work, self.root = (os.path.join(self.base, n) for n in ("ipc", "tmp", "work", "root"))
        self.skipped = []  # what the working copy held that is not a regular file or directory
        try:
            self._tmpfs(self.ipc, IPC_BYTES, IPC_FILES, f"mode=0700,uid={uid},gid={gid}")
            self._tmpfs(self.tmp, tmp_bytes, max_files(tmp_bytes), "mode=1777")
            self._tmpfs(self.work, workdir_bytes, max_files(workdir_bytes), f"mode=0755,uid={uid},gid={gid}")
            os.mkdir(self.root, 0o700)
        except BaseException:
            self.close()
            raise

    def _tmpfs(self, path, size, files, options):
        os.mkdir(path, 0o700)
        mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},nr_inodes={files},{options}")
        _mounted.add(path)

    def stage_in(self, workdir):
        """Copy the working copy into the capped tmpfs, owned by the kernel's user."""
        try:
            _copy_tree(workdir, self.work, limit=None, owner=(self.uid, self.gid), skipped=self.skipped)
        except OSError as exc:
            raise OSError(exc.errno, f"the working copy {workdir} does not fit in the kernel's "
                          f"{self.workdir_bytes} bytes (c.GradingKernelManager.working_copy_size): {exc.strerror}") from None

    def copy_back(self, workdir):
        """Replace the working copy's content with what the kernel left (the kernel has ended)."""
        with os.scandir(workdir) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
        _copy_tree(self.work, workdir, limit=self.workdir_bytes, owner=None, skipped=self.skipped)

    def close(self):
        for path in (self.ipc, self.tmp, self.work):
            if path in _mounted:
                _libc.umount2(path.encode(), MNT_DETACH)
                _mounted.discard(path)
        shutil.rmtree(self.base, ignore_errors=True)


def _copy_tree(src, dst, limit, owner, skipped):
    """Copy the directories and regular files below ``src`` into the existing directory ``dst``,
    by file descriptor and without following any link; stop copying files once ``limit`` bytes
    (apparent size: a sparse file counts in full) have been copied."""
    budget = [limit]
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    stack = [(os.open(src, flags | os.O_DIRECTORY), os.open(dst, flags | os.O_DIRECTORY), "")]
    try:
        while stack:
            sfd, dfd, rel = stack.pop()
            try:
                for name in os.listdir(sfd):
                    info = os.stat(name, dir_fd=sfd, follow_symlinks=False)
                    if stat.S_ISDIR(info.st_mode):
                        os.mkdir(name, 0o755, dir_fd=dfd)
                        child_d = os.open(name, flags | os.O_DIRECTORY, dir_fd=dfd)
                        if owner:
                            os.fchown(child_d, *owner)
                        stack.append((os.open(name, flags | os.O_DIRECTORY, dir_fd=sfd), child_d, rel + name + "/"))
                    elif stat.S_ISREG(info.st_mode) and (budget[0] is None or info.st_size <= budget[0]):
                        _copy_file(name, sfd, dfd, owner, info.st_mode & 0o755 | 0o600)
                        if budget[0] is not None:
                            budget[0] -= info.st_size
                    else:
                        skipped.append(rel + name)
            finally:
                os.close(sfd)
                os.close(dfd)
    finally:
        for sfd, dfd, _ in stack:
            os.close(sfd)
            os.close(dfd)


def _copy_file(name, sfd, dfd, owner, mode):
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


@atexit.register
def _unmount_leftovers():
    for path in list(_mounted):
        _libc.umount2(path.encode(), MNT_DETACH)
