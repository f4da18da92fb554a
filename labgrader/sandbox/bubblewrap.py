"""Wrap a kernel command in bubblewrap (https://github.com/containers/bubblewrap).

The sandboxed process sees a read-only system and Python environment, its own working copy
read-write and a private /tmp (each a size-capped tmpfs, see scratch.py), no network (its own
empty network namespace), its own PID namespace (every process it starts dies with it), and runs
under rlimits without capabilities. As root, each kernel also runs as an unprivileged uid of its
own; as an ordinary user, the kernel runs as that user inside an unprivileged user namespace
(bwrap --unshare-user, started inside the namespaces of the kernel's mount holder: userns.py).
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import labgrader
from labgrader.errors import LabgraderError

if TYPE_CHECKING:
    from .scratch import Scratch

# (kind, path, source): what the sandbox sees, in mount order (Sandbox.plan)
PlanEntry = tuple[str, str, str]

FIX = ("Install bubblewrap (`apt-get install bubblewrap`, which ./course does), allow unprivileged "
       "user namespaces or run the grader as root, or opt out explicitly with "
       "`c.GradingKernelManager.sandbox = False` in nbgrader_config.py (student code then runs "
       "with your permissions).")
USERNS_SWITCHES = [  # what can forbid an ordinary user to create a user namespace, and the value that does
    ("/proc/sys/kernel/unprivileged_userns_clone", "0", "sysctl kernel.unprivileged_userns_clone=1"),
    ("/proc/sys/user/max_user_namespaces", "0", "sysctl user.max_user_namespaces=15000"),
    ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1",
     "an AppArmor profile allowing `userns` for bwrap and python, or sysctl kernel.apparmor_restrict_unprivileged_userns=0"),
]

# What a Python process needs from the system, read-only.
SYSTEM_DIRS = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"]
SYSTEM_FILES = ["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
                "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/alternatives", "/etc/ssl/certs", "/etc/fonts"]


class SandboxUnavailable(LabgraderError, RuntimeError):
    """The sandbox cannot be created here; the message says how to fix it or opt out."""


@functools.cache
def check_once() -> None:
    """Sandbox.check, probed once per process (not once per kernel); a failure is not cached."""
    Sandbox().check()


@dataclass
class Sandbox:
    uid: int = 65534                     # each kernel gets its own (labgrader.sandbox.uids)
    gid: int = 65534
    memory_bytes: int = 4 * 1024 ** 3
    max_processes: int = 512             # processes + threads of the kernel's own uid (TensorFlow uses ~40)
    max_file_bytes: int = 256 * 1024 ** 2
    tmp_bytes: int = 256 * 1024 ** 2     # the private /tmp (a tmpfs, see scratch.py)
    workdir_bytes: int = 256 * 1024 ** 2  # the working copy (a tmpfs, see scratch.py)
    extra_ro: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Raise SandboxUnavailable unless a sandbox can be made on this machine; the message says
        what the system lacks."""
        if shutil.which("bwrap") is None:
            raise SandboxUnavailable("bubblewrap (bwrap) is not installed. " + FIX)
        rootless = os.geteuid() != 0
        if rootless:
            lacking = [f"{path} is {value} (needs {fix})" for path, value, fix in USERNS_SWITCHES
                       if _read(path) == value]
            if lacking:
                raise SandboxUnavailable("the grader is not root and this system forbids ordinary users to create "
                                         "user namespaces: " + "; ".join(lacking) + ". " + FIX)
            if shutil.which("nsenter") is None:
                raise SandboxUnavailable("the grader is not root and nsenter (util-linux) is not installed. " + FIX)
        probe = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid"]
                               + (["--unshare-user"] if rootless else []) + ["true"], capture_output=True, text=True)
        if probe.returncode != 0:
            what = "an unprivileged user namespace" if rootless else "namespaces"
            raise SandboxUnavailable(f"bubblewrap cannot create {what} here ({probe.stderr.strip()}). " + FIX)
        from . import seccomp
        try:
            seccomp.check()
        except seccomp.SeccompUnavailable as exc:
            raise SandboxUnavailable(f"{exc}. " + FIX) from None
        if rootless:
            from .scratch import Scratch
            try:
                Scratch(os.getuid(), os.getgid(), 1024 ** 2, 1024 ** 2).close()
            except OSError as exc:
                raise SandboxUnavailable(f"the grader is not root and cannot mount a tmpfs in a user namespace "
                                         f"({exc}). " + FIX) from None

    def python_dirs(self) -> list[str]:
        """The interpreter, the venv and the labgrader package: read-only."""
        dirs = {sys.prefix, sys.base_prefix, os.path.realpath(sys.base_prefix),
                str(Path(labgrader.__file__).resolve().parent)}
        dirs.update(sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib"))
        return sorted(d for d in dirs if os.path.exists(d))

    def plan(self, workdir: str, scratch: Scratch) -> list[PlanEntry]:
        """What the sandbox sees, in mount order, as (kind, path, source) triples: kind is "ro"
        (read-only bind of source at path), "rw" (read-write bind) or "symlink" (path -> source).
        The only writable places are the size-capped tmpfs mounts of ``scratch`` (a
        ``scratch.Scratch``): /tmp, the kernel's socket directory, and the working copy at its
        own path. Both launch paths follow it: bwrap for a cold kernel, the fork server for a warm one."""
        entries: list[PlanEntry] = [("rw", "/tmp", scratch.tmp)]  # first, so that binds below /tmp stay visible
        for path in filter(os.path.lexists, SYSTEM_DIRS):
            entries.append(("symlink", path, os.readlink(path)) if os.path.islink(path) else ("ro", path, path))
        entries += [("ro", path, path) for path in SYSTEM_FILES + self.python_dirs() + list(self.extra_ro)
                    if os.path.exists(path)]
        entries += [("rw", scratch.ipc, scratch.ipc_mount), ("rw", os.path.realpath(workdir), scratch.work)]
        return entries

    def environment(self) -> dict[str, str]:
        """Set inside the sandbox: caches (IPython, Keras, matplotlib) go to the private /tmp; the
        kernel's uid has no /etc/passwd entry, so getpass.getuser() reads USER. PYTHONPATH: the
        kernel imports the grader's own labgrader (the one python_dirs binds), not wherever the
        interpreter's install points (a course folder copied elsewhere carries its own copy), and
        PYTHONSAFEPATH: the working copy (the student's files) is never on sys.path."""
        return {"HOME": "/tmp", "TMPDIR": "/tmp", "MPLCONFIGDIR": "/tmp", "USER": "student", "LOGNAME": "student",
                "PYTHONPATH": str(Path(labgrader.__file__).resolve().parent.parent), "PYTHONSAFEPATH": "1"}

    def wrap(self, cmd: Iterable[str], workdir: str, plan: Iterable[Sequence[str]], holder_pid: int | None = None,
             seccomp_fd: int | None = None) -> list[str]:
        """``cmd`` run by bwrap in the sandbox described by ``plan``, in ``workdir``; without root,
        inside the user + mount namespaces of ``holder_pid`` (where the plan's mounts are). bwrap
        loads the seccomp filter it reads from ``seccomp_fd`` (an inherited descriptor) just
        before it runs ``cmd``."""
        args = ["bwrap", "--die-with-parent", "--new-session",
                "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--hostname", "sandbox", "--proc", "/proc", "--dev", "/dev"]
        if holder_pid:
            # its own user namespace (so its own process count), from which it cannot make another
            args = ["nsenter", f"--target={holder_pid}", "--user", "--mount", "--preserve-credentials", "--"] + args
            args += ["--unshare-user", "--disable-userns"]
        made = {"/"}
        for kind, path, source in plan:
            # bwrap makes missing parent directories 0700: make them traversable by the sandbox user.
            for parent in sorted({str(p) for p in Path(path).parents} - made, key=len):
                args += ["--perms", "0755", "--dir", parent]
                made.add(parent)
            made.add(path)
            if kind == "symlink":
                args += ["--symlink", source, path]
            else:
                args += ["--ro-bind" if kind == "ro" else "--bind", source, path]
        # jupyter_client adds JPY_PARENT_PID at launch; from inside its own PID namespace the
        # kernel cannot see that process and would shut down (--die-with-parent covers it).
        args += ["--unsetenv", "JPY_PARENT_PID", "--chdir", os.path.realpath(workdir)]
        if seccomp_fd is not None:
            args += ["--seccomp", str(seccomp_fd)]
        for name, value in self.environment().items():
            args += ["--setenv", name, value]
        return args + ["--"] + self.limits_command() + list(cmd)

    def drop_privileges(self) -> None:
        """In-process equivalent of limits_command (used by the fork server's children)."""
        from .limits import drop_privileges
        drop_privileges(self.uid, self.gid, self.memory_bytes, self.max_processes, self.max_file_bytes)

    def limits_command(self) -> list[str]:
        # -P: run from the working copy, ``-m`` would otherwise import a handed-in labgrader/ (as root)
        return [sys.executable, "-P", "-m", "labgrader.sandbox.limits", "--uid", str(self.uid), "--gid", str(self.gid),
                "--memory", str(self.memory_bytes), "--nproc", str(self.max_processes),
                "--fsize", str(self.max_file_bytes), "--"]


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None
