"""A memory and pids cgroup of its own for every grading kernel.

Threat model: rlimits are per process and the tmpfs caps per mount, so memory a kernel can hold
outside both stays unbounded: a memfd filled with write() (host RAM, not in RLIMIT_AS), SysV
shared memory, pages of many processes. A memory cgroup charges *every* page the kernel's
processes bring in (anonymous, memfd and tmpfs pages, page cache, kernel memory) to one limit;
past it the kernel's own processes are reclaimed or killed (the pipeline sees a dead kernel), and
the host and the other kernels are untouched. The pids controller caps processes + threads in the
same place (RLIMIT_NPROC counts per uid, and without root all kernels share the grader's uid).

The kernel joins its cgroup before it runs anything of the student's: a cold kernel's launch
command writes its own pid to ``cgroup.procs`` and only then execs bwrap (``join_command``); a
forked kernel writes itself there first thing after the fork (``join``). Kernel cgroups are
children of the grader's own cgroup (``c.GradingKernelManager.cgroup_parent`` otherwise), named
``labgrader-<grader pid>-<random>``: the machine's own limits on the grader still cover its
kernels. They are removed when the kernel ends; those of a grader that died (SIGKILL) are removed
by the next grader that starts a kernel there.

cgroup v1 (a ``memory`` and a ``pids`` hierarchy) and v2 (the unified hierarchy; the parent must
be able to enable ``memory`` and ``pids`` for its children, which the no-internal-process rule
forbids when processes live in it) are both handled. Where no cgroup can be made (an ordinary
user's grader, read-only cgroupfs, a v2 parent that cannot delegate), ``find_place`` says why,
once, and kernels run without one (see seccomp.py for what replaces it: memfd_create refused).
"""
from __future__ import annotations

import atexit
import functools
import logging
import os
import re
import secrets
import signal
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from labgrader.errors import LabgraderError

log = logging.getLogger("labgrader.sandbox")
PREFIX = "labgrader-"
_STALE = re.compile(rf"^{PREFIX}(\d+)-[0-9a-f]+$")
_created: set[str] = set()  # removed at exit should a kernel's teardown never run


class CgroupUnavailable(LabgraderError, OSError):
    """No cgroup can be made for kernels here; the message says why."""


@dataclass(frozen=True)
class Place:
    """Where kernel cgroups are made: the parent directory per hierarchy (v1: one per controller)."""
    version: int
    parents: tuple[tuple[str, str], ...]  # ((controller, directory), ...); v2: (("unified", directory),)


@functools.cache
def find_place(parent: str = "") -> Place | None:
    """Where kernel cgroups go below ``parent`` (a cgroup path as /proc/self/cgroup shows it; "":
    the grader's own cgroup), or None after saying, once per process, why there is none. A
    probe cgroup is made and removed, so a place that is returned works."""
    try:
        place = _locate(parent)
        KernelCgroup(place, memory_bytes=64 * 1024 ** 2, max_pids=16).remove()
        return place
    except OSError as exc:
        log.warning("[labgrader] kernels run without a memory cgroup: %s. Memory a kernel holds is then bounded "
                    "by its address-space cap and the tmpfs caps only, and memfd_create is refused in kernels "
                    "(docs/security.md, \"Without root\").", exc)
        return None


def unavailable_reason(parent: str = "") -> str | None:
    """Why no kernel cgroup can be made below ``parent`` by this process (None: one can; a probe
    cgroup is made and removed). What ``python -m labgrader doctor`` reports."""
    try:
        KernelCgroup(_locate(parent), memory_bytes=64 * 1024 ** 2, max_pids=16).remove()
    except OSError as exc:
        return str(exc)
    return None


def _locate(parent: str, mounts: dict[str, str] | None = None, own: dict[str, str] | None = None) -> Place:
    """The Place below ``parent`` from the machine's cgroup mounts and this process's cgroups:
    v1 when a memory hierarchy is mounted (also on "hybrid" systems), else v2."""
    mounts = _cgroup_mounts() if mounts is None else mounts
    own = _own_cgroups() if own is None else own
    if "memory" not in mounts and "" in mounts:
        return Place(2, (("unified", _directory(mounts[""], parent or own.get("", "/"))),))
    missing = [name for name in ("memory", "pids") if name not in mounts]
    if missing:
        raise CgroupUnavailable(f"no cgroup v1 hierarchy for {' and '.join(missing)} is mounted")
    return Place(1, tuple((name, _directory(mounts[name], parent or own.get(name, "/"))) for name in ("memory", "pids")))


def _directory(mount_point: str, path: str) -> str:
    directory = os.path.normpath(os.path.join(mount_point, path.lstrip("/")))
    if not os.path.isdir(directory):
        raise CgroupUnavailable(f"the cgroup {directory} does not exist")
    return directory


def _cgroup_mounts() -> dict[str, str]:
    """{controller: mount point} of cgroup v1 hierarchies, "" for the v2 one (from mountinfo)."""
    found: dict[str, str] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            dash = fields.index("-")
            fstype, options = fields[dash + 1], fields[dash + 3].split(",")
            if fstype == "cgroup2":
                found.setdefault("", fields[4])
            elif fstype == "cgroup":
                for name in ("memory", "pids"):
                    if name in options:
                        found.setdefault(name, fields[4])
    return found


def _own_cgroups() -> dict[str, str]:
    """{controller: path} of this process from /proc/self/cgroup ("" for v2)."""
    found: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                found[name] = path
    return found


class KernelCgroup:
    """One kernel's cgroup (v1: a directory in each of the memory and pids hierarchies)."""

    def __init__(self, place: Place, memory_bytes: int, max_pids: int) -> None:
        self.place = place
        name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        for _, parent in place.parents:
            _sweep_once(parent)
        self.dirs: dict[str, str] = {}  # controller -> this kernel's directory
        try:
            for controller, parent in place.parents:
                if place.version == 2:
                    _delegate(parent)
                path = os.path.join(parent, name)
                _mkdir(path)
                self.dirs[controller] = path
                _created.add(path)
            self._limit(memory_bytes, max_pids)
        except BaseException:
            self.remove()
            raise

    def _limit(self, memory_bytes: int, max_pids: int) -> None:
        if self.place.version == 1:
            _write(self.dirs["memory"], "memory.limit_in_bytes", memory_bytes)
            _write(self.dirs["memory"], "memory.memsw.limit_in_bytes", memory_bytes, optional=True)  # no swap either
            _write(self.dirs["pids"], "pids.max", max_pids)
        else:
            path = self.dirs["unified"]
            _write(path, "memory.max", memory_bytes)
            _write(path, "memory.swap.max", 0, optional=True)
            _write(path, "memory.oom.group", 1, optional=True)  # an OOM kill ends the whole kernel
            _write(path, "pids.max", max_pids)

    @property
    def procs_files(self) -> list[str]:
        """The files a process writes its pid to in order to join (``join``)."""
        return [os.path.join(path, "cgroup.procs") for path in self.dirs.values()]

    def usage_bytes(self) -> int | None:
        """Memory the kernel's processes are charged now."""
        name = "memory.usage_in_bytes" if self.place.version == 1 else "memory.current"
        return _read_int(os.path.join(self._memory_dir, name))

    def peak_bytes(self) -> int | None:
        """Most memory the kernel's processes were charged at once (None: not known here)."""
        name = "memory.max_usage_in_bytes" if self.place.version == 1 else "memory.peak"
        return _read_int(os.path.join(self._memory_dir, name))

    def oom_kills(self) -> int:
        """Processes of the kernel killed for going over the memory limit."""
        name = "memory.oom_control" if self.place.version == 1 else "memory.events"
        try:
            with open(os.path.join(self._memory_dir, name)) as f:
                return next((int(line.split()[1]) for line in f if line.startswith("oom_kill ")), 0)
        except OSError:
            return 0

    @property
    def _memory_dir(self) -> str:
        """The memory controller's directory (until ``remove``)."""
        return self.dirs["memory" if self.place.version == 1 else "unified"]

    def remove(self) -> None:
        """Kill whatever is left in the cgroup and remove it (the kernel has ended)."""
        for path in list(self.dirs.values()):
            _remove(path)
            _created.discard(path)
        self.dirs = {}


def join(procs_files: Iterable[str]) -> None:
    """Move the calling process into the cgroup (its future children follow)."""
    for path in procs_files:
        _check_path(path)
        with open(path, "w") as f:
            f.write("0")  # 0: the writing process


def join_command(procs_files: Sequence[str], cmd: Sequence[str]) -> list[str]:
    """``cmd``, started by a shell that first joins the cgroup (``echo $$`` is the shell's pid,
    which then becomes ``cmd`` through exec): nothing of ``cmd`` runs outside the cgroup."""
    for path in procs_files:
        _check_path(path)
    script = "".join(f'echo $$ > "${i + 1}" || exit 70; ' for i in range(len(procs_files)))
    shift = len(procs_files)
    return ["/bin/sh", "-c", script + f'shift {shift}; exec "$@"', "labgrader-join-cgroup", *procs_files, *cmd]


def _check_path(path: str) -> None:
    if not (os.path.isabs(path) and path.startswith("/sys/fs/cgroup/") and os.path.basename(path) == "cgroup.procs"
            and ".." not in path.split("/")):
        raise ValueError(f"not a cgroup.procs file: {path!r}")


def _delegate(parent: str) -> None:
    """v2: let ``parent``'s children have the memory and pids controllers."""
    path = os.path.join(parent, "cgroup.subtree_control")
    with open(path) as f:
        enabled = f.read().split()
    if {"memory", "pids"} <= set(enabled):
        return
    try:
        with open(path, "w") as f:
            f.write("+memory +pids")
    except OSError as exc:
        raise CgroupUnavailable(f"cannot enable the memory and pids controllers for the children of {parent} ({exc.strerror}; "
                                "a cgroup v2 parent holding processes cannot: set c.GradingKernelManager.cgroup_parent "
                                "to an empty cgroup the grader may write)") from None


def _mkdir(path: str) -> None:
    try:
        os.mkdir(path, 0o755)
    except OSError as exc:
        raise CgroupUnavailable(f"cannot create the cgroup {path} ({exc.strerror})") from None


def _write(directory: str, name: str, value: object, optional: bool = False) -> None:
    path = os.path.join(directory, name)
    if optional and not os.path.exists(path):
        return
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except OSError as exc:
        raise CgroupUnavailable(f"cannot set {path} to {value} ({exc.strerror})") from None


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _remove(path: str, deadline: float = 2.0) -> None:
    """Kill the processes in ``path`` and remove it; tasks still exiting make rmdir fail (EBUSY)
    for a moment, so it is retried until ``deadline`` seconds have passed."""
    give_up = time.monotonic() + deadline
    while True:
        _kill_all(path)
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > give_up:
                log.warning("[labgrader] could not remove the kernel cgroup %s (processes left in it)", path)
                return
            time.sleep(0.02)


def _kill_all(path: str) -> None:
    kill_file = os.path.join(path, "cgroup.kill")  # v2, Linux 5.14+: every process, atomically
    if os.path.exists(kill_file):
        try:
            with open(kill_file, "w") as f:
                f.write("1")
            return
        except OSError:
            pass
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            pids = [int(line) for line in f if line.strip()]
    except OSError:
        return
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@functools.cache
def _sweep_once(parent: str) -> None:
    """Remove kernel cgroups left by graders that no longer run (killed with SIGKILL): their kernels
    died with them, so the cgroups are empty. Only empty ones go (rmdir refuses the others): a pid
    seen from another PID namespace must not kill anything."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        match = _STALE.match(name)
        if match and not _alive(int(match.group(1))):
            try:
                os.rmdir(os.path.join(parent, name))
            except OSError:
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@atexit.register
def _remove_leftovers() -> None:
    for path in list(_created):
        _remove(path, deadline=0.5)
