"""Wrap a kernel command in bubblewrap (https://github.com/containers/bubblewrap).

The sandboxed process sees a read-only system and Python environment, its own working copy
read-write, a private /tmp, no network (its own empty network namespace), its own PID namespace
(every process it starts dies with it), and runs as an unprivileged user under rlimits.
"""
import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import labgrader

FIX = ("Install bubblewrap (`apt-get install bubblewrap`, which ./course does), run the grader as "
       "root (it drops each kernel to an unprivileged user), or opt out explicitly with "
       "`c.GradingKernelManager.sandbox = False` in nbgrader_config.py (student code then runs "
       "with your permissions).")

# What a Python process needs from the system, read-only.
SYSTEM_DIRS = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"]
SYSTEM_FILES = ["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
                "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/alternatives", "/etc/ssl/certs", "/etc/fonts"]


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot be created here; the message says how to fix it or opt out."""


@functools.cache
def check_once():
    """Sandbox.check, probed once per process (not once per kernel); a failure is not cached."""
    Sandbox().check()


@dataclass
class Sandbox:
    uid: int = 65534                     # nobody
    gid: int = 65534                     # nogroup
    memory_bytes: int = 4 * 1024 ** 3
    max_processes: int = 512             # processes + threads of the sandbox user (TensorFlow uses ~40)
    max_file_bytes: int = 256 * 1024 ** 2
    extra_ro: list = field(default_factory=list)

    def check(self):
        """Raise SandboxUnavailable unless a sandbox can be made on this machine."""
        if shutil.which("bwrap") is None:
            raise SandboxUnavailable("bubblewrap (bwrap) is not installed. " + FIX)
        if os.geteuid() != 0:
            raise SandboxUnavailable("the grader is not running as root, so it cannot switch kernels to an "
                                     "unprivileged user. " + FIX)
        probe = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "true"],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            raise SandboxUnavailable(f"bubblewrap cannot create namespaces here ({probe.stderr.strip()}). " + FIX)

    def python_dirs(self):
        """The interpreter, the venv and the labgrader package: read-only."""
        dirs = {sys.prefix, sys.base_prefix, os.path.realpath(sys.base_prefix),
                str(Path(labgrader.__file__).resolve().parent)}
        dirs.update(sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib"))
        return sorted(d for d in dirs if os.path.exists(d))

    def plan(self, workdir, shared_dirs=()):
        """What the sandbox sees, as (kind, path) pairs: kind is "ro" (read-only bind), "rw"
        (read-write bind) or "symlink" (path -> its target). Both launch paths build it: bwrap for
        a cold kernel, the fork server for a warm one."""
        entries = []
        for path in filter(os.path.lexists, SYSTEM_DIRS):
            entries.append(("symlink", path) if os.path.islink(path) else ("ro", path))
        entries += [("ro", path) for path in SYSTEM_FILES + self.python_dirs() + list(self.extra_ro)
                    if os.path.exists(path)]
        entries += [("rw", os.path.realpath(path)) for path in [*shared_dirs, workdir]]
        return entries

    def environment(self):
        """Set inside the sandbox: caches (IPython, Keras, matplotlib) go to the private /tmp."""
        return {"HOME": "/tmp", "TMPDIR": "/tmp", "MPLCONFIGDIR": "/tmp"}

    def wrap(self, cmd, workdir, shared_dirs=()):
        """``cmd`` run in the sandbox, in ``workdir`` (read-write); ``shared_dirs`` (the kernel's
        connection file and sockets) read-write too."""
        workdir = os.path.realpath(workdir)
        args = ["bwrap", "--die-with-parent", "--new-session",
                "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--hostname", "sandbox", "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
        plan = self.plan(workdir, shared_dirs)
        # bwrap makes missing parent directories 0700: make them traversable by the sandbox user.
        binds = [path for kind, path in plan if kind != "symlink"]
        for parent in sorted({str(p) for path in binds for p in Path(path).parents} - {"/", "/tmp", "/etc"}):
            args += ["--perms", "0755", "--dir", parent]
        for kind, path in plan:
            if kind == "symlink":
                args += ["--symlink", os.readlink(path), path]
            else:
                args += ["--ro-bind" if kind == "ro" else "--bind", path, path]
        # jupyter_client adds JPY_PARENT_PID at launch; from inside its own PID namespace the
        # kernel cannot see that process and would shut down (--die-with-parent covers it).
        args += ["--unsetenv", "JPY_PARENT_PID", "--chdir", workdir]
        for name, value in self.environment().items():
            args += ["--setenv", name, value]
        return args + ["--"] + self.limits_command() + list(cmd)

    def drop_privileges(self):
        """In-process equivalent of limits_command (used by the fork server's children)."""
        from .limits import drop_privileges
        drop_privileges(self.uid, self.gid, self.memory_bytes, self.max_processes, self.max_file_bytes)

    def limits_command(self):
        return [sys.executable, "-m", "labgrader.sandbox.limits", "--uid", str(self.uid), "--gid", str(self.gid),
                "--memory", str(self.memory_bytes), "--nproc", str(self.max_processes),
                "--fsize", str(self.max_file_bytes), "--"]

    def hand_over(self, workdir, shared_dirs=()):
        """Let the unprivileged user write its working copy and sockets (the grader stays owner of the rest)."""
        for top in [workdir, *shared_dirs]:
            for root, dirs, files in os.walk(top):
                for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                    os.lchown(name, self.uid, self.gid)
