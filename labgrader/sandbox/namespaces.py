"""Build the sandbox from inside an already running process (the fork server's children).

bwrap can only sandbox a program it starts, and starting one would throw away the warm
interpreter that already imported TensorFlow. So a forked child builds the same sandbox itself,
from the same plan (``Sandbox.plan``), with the same kernel features bwrap uses: new mount, PID,
network, IPC, UTS and cgroup namespaces, a tmpfs root with bind mounts (read-only except the size-capped
/tmp, working copy and socket directory the grader mounted for this kernel), pivot_root, then
rlimits and the kernel's own unprivileged uid. Without root, the child first joins the user and
mount namespaces of the kernel's mount holder (``join``, see userns.py): it may then make the
others (they belong to that user namespace), and ends with no capabilities instead of a new uid.
"""
from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Iterable, Sequence

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x4000000, 0x8000000, 0x20000000, 0x40000000
CLONE_NEWCGROUP = 0x2000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
KEPT_FLAGS = 1 | 8 | 1024 | 2048 | 4096  # ST_/MS_ RDONLY, NOEXEC, NOATIME, NODIRATIME, RELATIME
PR_SET_PDEATHSIG = 1
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
DEVICES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def mount(source: str | None, target: str, fstype: str | None = None, flags: int = 0, data: str | None = None) -> None:
    def enc(text: str | None) -> bytes | None:
        return text.encode() if text is not None else None
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def join(holder_pid: int) -> None:
    """Enter the user namespace, then the mount namespace, of ``holder_pid`` (single-threaded caller)."""
    for kind, flag in (("user", 0x10000000), ("mnt", CLONE_NEWNS)):
        fd = os.open(f"/proc/{holder_pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.setns(fd, flag), f"setns {kind} of {holder_pid}")
        finally:
            os.close(fd)


def forbid_user_namespaces() -> None:
    """No user namespace may be made inside the one just joined (the kernel would hold every
    capability in it again): its own limit, which only a process with capabilities there can set."""
    with open("/proc/sys/user/max_user_namespaces", "w") as f:
        f.write("0")


def unshare_all() -> None:
    """New namespaces for everything but the user; the caller's *children* get the new PID
    namespace. The cgroup namespace (as bwrap --unshare-cgroup-try) makes the kernel's own cgroup
    its root: it does not see where the grader's cgroups are."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP), "unshare")


def die_with_parent(signal_number: int = 9, parent: int | None = None) -> None:
    """Get ``signal_number`` when the parent dies. The signal only follows a death after this
    call: with ``parent`` (the pid the parent had), a parent already gone ends this process now."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal_number, 0, 0, 0), "prctl")
    if parent is not None and os.getppid() != parent:
        os._exit(0)


def enter_root(plan: Iterable[Sequence[str]], new_root: str, workdir: str) -> None:
    """Mount the plan (``Sandbox.plan``, in order) under ``new_root`` (an empty directory) and make it the root."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")

    def inside(path: str) -> str:
        return os.path.join(new_root, path.lstrip("/"))

    for kind, path, source in plan:
        target = inside(path)
        if kind == "symlink":
            os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
            os.symlink(source, target)
            continue
        if os.path.isdir(source):
            os.makedirs(target, mode=0o755, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
            open(target, "a").close()
        mount(source, target, None, MS_BIND)
        # keep the flags the source has (in a user namespace they are locked: noexec, atime...)
        flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (os.statvfs(target).f_flag & KEPT_FLAGS)
        mount(None, target, None, flags | MS_RDONLY if kind == "ro" else flags)
    os.makedirs(inside("/dev"), mode=0o755, exist_ok=True)
    for device in filter(os.path.exists, DEVICES):
        open(inside(device), "a").close()
        mount(device, inside(device), None, MS_BIND)
    # Pseudo-terminals of its own, as bwrap's --dev gives a cold kernel (IPython's `!cmd` runs
    # through one): a new devpts instance, invisible to and from the host's terminals.
    os.makedirs(inside("/dev/pts"), mode=0o755, exist_ok=True)
    try:
        mount("devpts", inside("/dev/pts"), "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
        os.symlink("pts/ptmx", inside("/dev/ptmx"))
    except OSError:
        pass  # no pseudo-terminals: `!cmd` fails in the kernel, nothing else does
    os.makedirs(inside("/proc"), exist_ok=True)
    mount("proc", inside("/proc"), "proc", MS_NOSUID | MS_NODEV)
    old = inside("/.old-root")
    os.makedirs(old, exist_ok=True)
    _check(_libc.syscall(SYS_PIVOT_ROOT[platform.machine()], new_root.encode(), old.encode()), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(b"/.old-root", MNT_DETACH), "umount old root")
    os.rmdir("/.old-root")
    mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir(workdir)
