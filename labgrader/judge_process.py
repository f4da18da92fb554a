"""The lab's judge, run on one submission's answers under that submission's caps, in a process of its own.

Judging a hand-over rebuilds Keras models and runs them, in the grader, on data a student shaped:
whatever limits the rebuild checks, the judge's own work (TensorFlow, numpy, the lab's helpers) is
what a student can make expensive. So every judgement runs in a child of the grading process, the
*judge process*, one request at a time, and each notebook's judging gets a budget:

- CPU: ``JudgeLimits.cpu_seconds`` for all the test cells of one notebook, counted by the judge
  process itself (``setitimer(ITIMER_PROF)``: CPU time of all its threads); when it runs out, the
  cell being judged and the notebook's remaining ones are not gradable, the process is replaced.
  A wall-clock backstop in the grader (``wall_seconds``) ends a judge process that stops using CPU.
- memory: ``JudgeLimits.memory_bytes`` for everything the judge process allocates, counted by a
  memory cgroup of its own (where the grader may make one: root, cgroup v1 or a delegated v2); past
  it the kernel's OOM killer ends the judge process, never the grading process, and the cell is not
  gradable. Without a cgroup (an ordinary user's grader) the judge process caps its data segment
  instead (``RLIMIT_DATA``: heap and private anonymous mappings; file-backed and shared pages are not
  counted, and a C library that cannot allocate may abort the judge process rather than raise: the
  grader reports it the same way). A judge process that has grown past half its limit over many
  honest submissions is replaced before the next notebook, so an honest student never pays for
  earlier ones.

The grading process never runs a TensorFlow operation itself (TensorFlow is not safe to fork once
its thread pools exist): it forks the judge process on first use and again after a cap was hit.
Whatever goes wrong in there is the one submission's: the request's ``Outcome`` says what, and no
exception crosses back. The lab's judge raising on a student's answer is an ``Outcome`` too
(``raised``): a lab error stops grading only when it happens on the instructor's own answers, in the
readiness check (labgrader/reference_run.py).
"""
from __future__ import annotations

import gc
import logging
import os
import resource
import signal
import socket
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from traitlets import Float, Integer, Unicode
from traitlets.config import Configurable

from labgrader.text import one_line

log = logging.getLogger("labgrader.judging")
MiB = 1024 ** 2
PROCESS_NAME = b"labgrader-judge"


class JudgeLimits(Configurable):
    """What judging one submission's notebook may cost the grader (the judge process's caps)."""

    cpu_seconds = Float(30.0, config=True, help="CPU seconds the judge process may spend on the test cells of one "
                        "notebook (an honest notebook of the embeddings lab needs about 1 s). Past it, the cell being "
                        "judged and the notebook's remaining ones are not gradable, with a message that says so.")
    memory_bytes = Integer(1536 * MiB, config=True, help="Memory the judge process may hold, in bytes (its cgroup's "
                           "limit; without a writable cgroup, its data segment's). Past it the judge process is killed "
                           "and the cell it was judging is not gradable. Judging an honest notebook of the embeddings "
                           "lab holds about 0.3 GiB.")
    cgroup_parent = Unicode("", config=True, help="cgroup (a path as /proc/self/cgroup shows it) below which the judge "
                            "process gets its memory cgroup; empty: the grader's own cgroup.")

    def caps(self) -> Caps:
        return Caps(self.cpu_seconds, self.memory_bytes, self.cgroup_parent)


@dataclass(frozen=True)
class Caps:
    cpu_seconds: float = 30.0
    memory_bytes: int = 1536 * MiB
    cgroup_parent: str = ""

    @property
    def wall_seconds(self) -> float:
        """How long the grader waits for a judgement of ``cpu_seconds`` on a busy machine."""
        return 4 * self.cpu_seconds + 30


@dataclass
class Request:
    """One graded test cell to judge: what the lab's ``judge`` gets, as plain data."""
    lab: tuple[str, str, str]              # the lab's grading.py, assignment, digest (labgrader.lab.load_lab)
    grade_id: str
    export: dict                           # the student's validated hand-over
    reference: dict                        # the instructor's, for the same cell
    rng: np.random.Generator
    arguments: list | None = None
    allowed: set[str] | None = None        # Lab.allowed_layers
    changed: dict[str, str] = field(default_factory=dict)  # pinned names that are not the lab's -> why
    own_reference: bool = False            # judging the instructor's own answers (the readiness check)
    cpu_seconds: float = 30.0              # what is left of the notebook's CPU budget
    warm: tuple[str, ...] = ()             # Lab.warm_imports: imported before the CPU budget starts
    # the behavioural cross-check (labgrader.judging.faithful), run on the rebuild before the judge:
    inputs: dict = field(default_factory=dict)   # ref -> the arrays the grader sent to the kernel
    outputs: list | None = None            # the kernel's cross-check result records (None: no cross-check)


@dataclass
class Outcome:
    """What became of one request. ``kind``: "verdict" (``passed``, ``message``), "not_gradable" (the
    rebuild or the judge said why, in ``message``), "malformed" (a hand-over no exporter writes),
    "unfaithful" (the cross-check found that the answer ``name`` is not what the kernel runs:
    ``message`` says why, ``evidence`` whether only tampering explains it), "raised" (the judge
    raised ``message``), "over_cpu", "over_memory", "died" (the judge process ended for another
    reason; ``message`` says how)."""
    kind: str
    passed: bool = False
    message: str = ""
    name: str = ""                         # "unfaithful": the answer (or pinned) name the finding is about
    evidence: bool = False                 # "unfaithful": something only tampering explains (to flag)
    cpu_seconds: float = 0.0
    rng_state: dict | None = None          # the request's generator after judging (the next cell draws on)

    @property
    def over_cap(self) -> bool:
        return self.kind in ("over_cpu", "over_memory", "died")


class _OverCpu(BaseException):
    """Raised in the judge process by its CPU timer (a BaseException: no judge's ``except Exception`` eats it)."""


# --- in the judge process ---------------------------------------------------------------------

def judge_one(request: Request) -> Outcome:
    """The lab's verdict on one request, in this process, every exception turned into an Outcome:
    the answers rebuilt, cross-checked against what the kernel computed (when the request carries
    its results), then judged."""
    from labgrader.judging import faithful
    from labgrader.judging.answers import Answers
    from labgrader.judging.keras_models import NotGradable
    from labgrader.judging.protocol import Malformed
    from labgrader.lab import Check, Verdict, lab_at
    lab = lab_at(*request.lab)  # (the judge process imported it before its CPU timer started: _prepare)
    try:
        answers = Answers(request.export, request.allowed, request.changed)
        if request.outputs is not None:
            finding = faithful.cross_check(request.export, request.inputs, request.outputs, answers.rebuilt)
            if finding is not None:
                return Outcome("unfaithful", message=one_line(finding.problem, 500), name=finding.name,
                               evidence=finding.evidence)
        reference = answers if request.own_reference else Answers(request.reference, request.allowed)
        verdict = lab.judge(Check(request.grade_id, answers, reference, request.rng, request.arguments))
        if not isinstance(verdict, Verdict):
            raise TypeError(f"judge returned {type(verdict).__name__}, not a Verdict (passed() or failed(message))")
    except NotGradable as exc:
        return Outcome("not_gradable", message=one_line(exc, 1000))
    except Malformed as exc:
        return Outcome("malformed", message=one_line(exc, 300))
    except MemoryError:
        return Outcome("over_memory")
    except RecursionError:
        return Outcome("raised", message="RecursionError: the answer is nested too deeply")
    except Exception as exc:  # noqa: BLE001 (the lab's code on a student's data: anything)
        return Outcome("raised", message=f"{type(exc).__name__}: {one_line(exc, 300)}")
    return Outcome("verdict", bool(verdict.passed), "" if verdict.passed else one_line(verdict.message, 1000),
                   rng_state=dict(request.rng.bit_generator.state))


def _on_cpu_timer(signum: int, frame: Any) -> None:
    raise _OverCpu()


def _serve(conn: Connection, caps: Caps, cgroup_procs: list[str], grader: int) -> None:
    """The judge process's loop: one request in, one Outcome out, until the grader goes away."""
    from labgrader.sandbox import cgroups
    from labgrader.sandbox.namespaces import die_with_parent
    die_with_parent()
    if os.getppid() != grader:  # the grader died before the line above
        return
    logging.disable(logging.CRITICAL)  # the grader's log files were closed here (_close_inherited)
    _name_process()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the grader's to handle
    signal.signal(signal.SIGPROF, _on_cpu_timer)
    if cgroup_procs:
        cgroups.join(cgroup_procs)
    else:
        _cap_data_segment(caps.memory_bytes)
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        outcome = Outcome("over_cpu")
        try:
            _prepare(request)
        except Exception as exc:  # noqa: BLE001 (the lab's grading.py or its imports: the readiness check says so)
            conn.send(Outcome("raised", message=f"{type(exc).__name__} while loading the lab: {one_line(exc, 300)}"))
            continue
        signal.setitimer(signal.ITIMER_PROF, max(request.cpu_seconds, 0.01))
        try:
            outcome = judge_one(request)
        except _OverCpu:
            pass
        finally:
            left, _ = signal.setitimer(signal.ITIMER_PROF, 0)
        outcome.cpu_seconds = max(0.0, request.cpu_seconds - left) if outcome.kind != "over_cpu" else request.cpu_seconds
        conn.send(outcome)
        if outcome.kind in ("over_cpu", "over_memory"):
            return  # interrupted anywhere: start the next notebook in a fresh process


def _prepare(request: Request) -> None:
    """What no submission should pay for, done once per judge process: the lab's module and its
    heavy imports, and TensorFlow's first operation when the lab uses Keras."""
    from labgrader.judging.keras_models import import_quietly
    from labgrader.lab import lab_at
    lab_at(*request.lab)
    import_quietly(request.warm)
    if not _warmed and any(name.split(".")[0] in ("keras", "tensorflow") for name in request.warm):
        from labgrader.judging.keras_models import warm_up
        warm_up()
        _warmed.append(True)


_warmed: list[bool] = []


def _name_process() -> None:
    try:
        import ctypes
        ctypes.CDLL(None).prctl(15, PROCESS_NAME, 0, 0, 0)  # PR_SET_NAME: ps and top show what it is
    except (OSError, AttributeError):
        pass


def _cap_data_segment(limit: int) -> None:
    """Without a cgroup: the data segment (heap, private anonymous mappings) may grow by ``limit``."""
    data = _status_bytes(os.getpid(), "VmData") or 0
    hard = resource.getrlimit(resource.RLIMIT_DATA)[1]
    soft = data + limit if hard == resource.RLIM_INFINITY else min(data + limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _status_bytes(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


# --- in the grading process ---------------------------------------------------------------------

class JudgeProcess:
    """The grading process's judge process: forked on first use, replaced after a cap was hit."""

    def __init__(self, caps: Caps):
        self.caps = caps
        self.pid = 0
        self._conn: Connection | None = None
        self._cgroup: Any = None
        self._oom_kills = 0
        self._base_data = 0

    def judge(self, request: Request) -> Outcome:
        """``request`` judged in the judge process, within ``request.cpu_seconds`` of its CPU."""
        if self.pid and (self._ended() or self._grown()):
            self.stop()
        if not self.pid:
            self._start(request.warm)
        assert self._conn is not None
        try:
            self._conn.send(request)
            if self._conn.poll(min(self.caps.wall_seconds, 4 * request.cpu_seconds + 30)):
                outcome = self._conn.recv()
                if outcome.kind in ("over_cpu", "over_memory"):
                    self.stop()
                return outcome
            outcome = Outcome("died", message=f"it took more than {self.caps.wall_seconds:.0f} s")
        except (EOFError, OSError):
            outcome = self._death()
        self.stop()
        return outcome

    def _death(self) -> Outcome:
        """Why the judge process ended without answering."""
        status = self._reap(timeout=5)
        if self._cgroup is not None and self._cgroup.oom_kills() > self._oom_kills:
            return Outcome("over_memory")
        if status is not None and os.WIFSIGNALED(status):
            name = signal.Signals(os.WTERMSIG(status)).name
            return Outcome("died", message=f"the judge process ended with {name}")
        return Outcome("died", message="the judge process ended")

    def _ended(self) -> bool:
        """Gone between requests (killed with the thread that forked it, or from outside): start another."""
        try:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return True
        return bool(done)

    def _grown(self) -> bool:
        """Past half its memory limit (earlier submissions' leftovers): replace it."""
        if self._cgroup is not None:
            used = self._cgroup.usage_bytes()
        else:
            data = _status_bytes(self.pid, "VmData")
            used = None if data is None else data - self._base_data
        return used is not None and used > self.caps.memory_bytes // 2

    def _start(self, warm: tuple[str, ...]) -> None:
        from labgrader.judging.keras_models import import_quietly
        import_quietly(warm)  # here (no operation runs here): every judge process forked after shares them
        procs: list[str] = []
        self._cgroup = self._make_cgroup()
        if self._cgroup is not None:
            procs = self._cgroup.procs_files
            self._oom_kills = self._cgroup.oom_kills()
        ours, theirs = socket.socketpair()
        grader = os.getpid()
        gc.freeze()  # the objects inherited stay out of the child's collections: no copy-on-write for them
        pid = os.fork()
        if pid == 0:  # the judge process
            code = 0
            try:
                ours.close()
                _close_inherited(theirs.fileno())
                _serve(Connection(theirs.detach()), self.caps, procs, grader)
            except BaseException:  # noqa: BLE001
                code = 70
            finally:
                os._exit(code)
        gc.unfreeze()
        theirs.close()
        self.pid, self._conn = pid, Connection(ours.detach())
        self._base_data = _status_bytes(pid, "VmData") or 0

    def _make_cgroup(self) -> Any:
        from labgrader.sandbox import cgroups
        place = cgroups.find_place(self.caps.cgroup_parent)
        if place is None:
            _warn_once("[labgrader] the judge process runs without a memory cgroup (see the warning above): its memory "
                       "is capped through RLIMIT_DATA instead, which does not count file-backed or shared pages")
            return None
        try:
            return cgroups.KernelCgroup(place, self.caps.memory_bytes, max_pids=256)
        except OSError as exc:
            _warn_once(f"[labgrader] the judge process runs without a memory cgroup ({exc}): its memory is capped "
                       "through RLIMIT_DATA instead")
            return None

    def stop(self) -> None:
        """End the judge process (if any) and remove its cgroup."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap(timeout=5)
            self.pid = 0
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None

    def _reap(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while self.pid:
            try:
                done, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if done:
                return status
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)
        return None


def _close_inherited(keep: int) -> None:
    """The grader's sockets and pipes (kernels, gradebook) are not the judge process's to hold."""
    os.closerange(3, keep)
    os.closerange(keep + 1, _max_fd())


def _max_fd() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 65536


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


_shared: dict[Caps, JudgeProcess] = {}


def judge_process(caps: Caps) -> JudgeProcess:
    """This grading process's judge process for ``caps`` (one per process: the plain path's nbgrader,
    each batch or service worker)."""
    if caps not in _shared:
        for other in _shared.values():
            other.stop()
        _shared.clear()
        _shared[caps] = JudgeProcess(caps)
    return _shared[caps]


def _stop_all() -> None:
    for process in _shared.values():
        process.stop()


import atexit  # noqa: E402

atexit.register(_stop_all)
