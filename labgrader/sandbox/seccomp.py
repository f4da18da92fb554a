"""A seccomp filter for what a grading kernel never needs (built with libseccomp through pyseccomp).

Threat model: the kernel runs a student's code as an unprivileged uid in its own namespaces. What
namespaces and uids do not separate is the host kernel's own per-uid and global state, and its
attack surface: a key stored in the per-uid keyring outlives the kernel and is read by the next
kernel leased the same uid; ptrace, process_vm_*, bpf, perf_event_open, userfaultfd and io_uring
are the usual ways into other processes or into kernel exploits; new namespaces would give the
kernel capabilities again (in a user namespace of its own); mount, module, kexec, swap, clock and
quota calls need privileges it never has, and refusing them costs nothing. Syscalls of another ABI
(i386 through int 0x80, x32 numbers) would go round every rule: they are refused as a whole.

Every refusal is EPERM (ENOSYS for clone3, so that glibc falls back to clone, whose namespace
flags are checked), never a kill: a library probing for a feature degrades as on a locked-down
host, and the kernel keeps running. Both launchers apply the same filter: bubblewrap loads
``bpf()`` (``--seccomp FD``) just before it runs the kernel; a forked kernel loads the same bytes
in-process (``load()``) once the sandbox is built, right before the kernel starts.

Without a memory cgroup to charge it to (an ordinary user's grader, or no writable cgroup), the
filter also refuses memfd_create: its pages are host memory outside RLIMIT_AS and outside the
tmpfs caps (see cgroups.py).
"""
from __future__ import annotations

import ctypes
import errno
import functools
import tempfile
from types import ModuleType
from typing import Any

from labgrader.errors import LabgraderError

# By family (compare Docker's default profile, which allows the rest).
DENIED = [
    # keys: the per-uid keyring outlives the kernel (the next kernel with that uid would read it)
    "add_key", "request_key", "keyctl",
    # other processes' memory and descriptors
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd", "kcmp",
    # kernel attack surface a notebook never needs
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "fanotify_init", "lookup_dcookie", "memfd_secret",
    # SysV shared memory: pages charged to no RLIMIT until attached, kept while detached
    "shmget",
    # namespaces (clone's namespace flags: below)
    "unshare", "setns",
    # mounts and file handles
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
    "fspick", "mount_setattr", "open_by_handle_at", "name_to_handle_at",
    # the machine itself
    "init_module", "finit_module", "delete_module", "create_module", "get_kernel_syms", "query_module",
    "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd",
    "nfsservctl", "syslog", "vhangup", "uselib", "ustat", "sysfs", "_sysctl", "iopl", "ioperm",
    "settimeofday", "stime", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
    "vm86", "vm86old",
]
# Checked separately: refused only without a memory cgroup (see the module docstring).
UNCHARGED_MEMORY = ["memfd_create"]
# clone(2)'s first argument: any of these makes a namespace (CLONE_NEWTIME only exists for clone3/unshare).
NAMESPACE_FLAGS = {"CLONE_NEWNS": 0x20000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
                   "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
                   "CLONE_NEWNET": 0x40000000}


class SeccompUnavailable(LabgraderError, RuntimeError):
    """The filter cannot be built here (no pyseccomp, or no libseccomp.so.2)."""


def _library() -> ModuleType:
    try:
        import pyseccomp
    except (ImportError, RuntimeError, OSError) as exc:  # pyseccomp raises RuntimeError without libseccomp
        raise SeccompUnavailable(f"the seccomp filter for kernels cannot be built: {exc} (needs the Python "
                                 "package pyseccomp from requirements.txt and Debian's libseccomp2)") from None
    return pyseccomp


def build(refuse_memfd: bool = False) -> Any:
    """A new libseccomp filter (``pyseccomp.SyscallFilter``): allow by default, refuse the above."""
    sc = _library()
    refuse = sc.ERRNO(errno.EPERM)
    flt = sc.SyscallFilter(sc.ALLOW)
    flt.set_attr(sc.Attr.ACT_BADARCH, refuse)  # i386 and x32 syscalls: refused, whatever their number
    for name in DENIED + (UNCHARGED_MEMORY if refuse_memfd else []):
        number = sc.resolve_syscall(sc.Arch.NATIVE, name)
        if number >= 0:  # names this architecture does not have resolve below 0
            flt.add_rule(refuse, number)
    for flag in NAMESPACE_FLAGS.values():
        flt.add_rule(refuse, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    # clone3 passes its flags in memory a filter cannot read: ENOSYS makes glibc fall back to clone
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    return flt


@functools.cache
def bpf(refuse_memfd: bool = False) -> bytes:
    """The filter as a BPF program: what ``bwrap --seccomp FD`` reads and ``load`` applies, so
    both launchers apply the very same bytes (built once per process)."""
    with tempfile.TemporaryFile() as out:
        build(refuse_memfd).export_bpf(out)
        out.seek(0)
        return out.read()


class _SockFilterProgram(ctypes.Structure):  # struct sock_fprog
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


def load(program: bytes) -> None:
    """Apply ``program`` (from ``bpf()``) to the calling thread and its future children, for good.
    The caller has set no_new_privs (limits.py) and is single-threaded (a fork server's child)."""
    PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
    fprog = _SockFilterProgram(len(program) // 8, program)  # 8 bytes per BPF instruction
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"loading the seccomp filter: {errno.errorcode.get(code, code)}")


def check() -> None:
    """Raise SeccompUnavailable unless both variants of the filter can be built."""
    for refuse_memfd in (False, True):
        try:
            bpf(refuse_memfd)
        except OSError as exc:
            raise SeccompUnavailable(f"libseccomp could not build the kernels' seccomp filter: {exc}") from None
