"""What a student sees after Submit, and when: the course's policy (``c.GradingService.*`` in
nbgrader_config.py), and the pure decisions the service takes from it.

Levels, from least to most (each shows what the previous one shows):

- ``receipt``: the submission was received (its trusted time), and where it is (queued, graded);
- ``visible``: for each test cell with visible tests, whether they passed when the grader ran the
  notebook and their message (what the student sees running that cell themselves); faults that
  stopped the notebook; test cells made only of hidden tests are listed as checked, without outcome;
- ``score``: the total score too (which says how the hidden tests went, in sum);
- ``full``: nbgrader's feedback page: every check, its points and its message.

Hidden tests' outcomes are shown before the due date only at ``score`` or ``full``, which the
instructor must choose (``before_due``; default ``visible``). With no due date the assignment is
open: ``before_due`` applies.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass

from traitlets import Enum, Float, Integer, List, Unicode
from traitlets.config import LoggingConfigurable

LEVELS = ("receipt", "visible", "score", "full")
HOUR = 3600.0


class GradingService(LoggingConfigurable):
    """``python -m labgrader serve``: grade each submission as it arrives and release its feedback
    to its student alone (labgrader/service/)."""

    before_due = Enum(LEVELS, default_value="visible", config=True,
                      help="What a student sees before the due date (plus extension): receipt, visible, score or full. "
                           "score and full show the hidden tests' outcomes.")
    after_due = Enum(LEVELS, default_value="full", config=True,
                     help="What a student sees once the due date (plus extension) has passed.")
    max_per_hour = Integer(10, config=True,
                           help="Submissions of one assignment graded per student in any hour (0: no cap). "
                                "One over it waits for a free slot; only the newest waiting one is graded.")
    workers = Integer(0, config=True, help="Worker processes of the local pool (0: one per core, plus one).")
    burst_workers = Integer(-1, config=True,
                            help="Workers added for gradings that run long: a grading that has run longer than "
                                 "long_grading_seconds stops counting against `workers`, so slow notebooks cannot "
                                 "hold every worker (-1: as many as `workers`; 0: none).")
    long_grading_seconds = Float(10.0, config=True,
                                 help="After this many seconds a grading counts as long (see burst_workers).")
    grading_budget_seconds = Float(120.0, config=True,
                                   help="Grading time each student gets per hour (each grading costs the longer of the "
                                        "time it holds a worker and the CPU time its worker uses). A student over it is "
                                        "served after every student within it, and never takes the last "
                                        "reserved_workers free workers (0: no budget).")
    reserved_workers = Integer(1, config=True,
                               help="Workers a student over the grading budget never takes (kept for students within it).")
    max_bytes_per_student = Integer(512 * 1024 ** 2, config=True,
                                    help="Bytes the service keeps for one student (submissions waiting to be graded, "
                                         "pages): over it, their oldest finished submissions' pages are dropped, then "
                                         "a new submission is refused (0: no cap).")
    receipt_grace_seconds = Float(60.0, config=True,
                                  help="File-system exchange: an entry's time is its latest ctime, but never more than "
                                       "this many seconds before the service copied it (what a student changes without "
                                       "moving ctime, e.g. through a shared memory mapping, is never older than that).")
    incomplete_seconds = Float(30.0, config=True,
                               help="File-system exchange: an entry without nbgrader's submission_secret.txt (written "
                                    "last by nbgrader submit) is taken once nothing in it changed for this long.")
    rescan_seconds = Float(30.0, config=True,
                           help="Seconds between two scans of inbound for new entries (besides inotify), and of the due dates.")
    settle_seconds = Float(0.5, config=True,
                           help="An entry is taken once nothing in it changed for this long (nbgrader submit "
                                "writes an entry in several steps).")
    hung_seconds = Float(900.0, config=True,
                         help="A grading still running after this many seconds is hung outside its kernel (a "
                              "kernel's cells stop at GuardedExecute.submission_timeout, 300 s by default): the "
                              "local pool's workers are ended and started again, the hung submission is graded "
                              "again alone (then flagged, as any crash), the others in flight are queued again "
                              "as they were (0: never).")
    assignments = List(Unicode(), config=True,
                       help="Assignments served (default: every assignment of the gradebook).")


def level_at(policy: GradingService, now: _dt.datetime, due: _dt.datetime | None) -> str:
    """The level a student sees at ``now`` (aware UTC) for an assignment due at ``due``."""
    return policy.after_due if due is not None and now > due else policy.before_due


def shows(level: str, what: str) -> bool:
    """Whether ``level`` shows ``what`` (a level name): ``shows("score", "visible")`` is True."""
    return LEVELS.index(level) >= LEVELS.index(what)


@dataclass(frozen=True)
class CapDecision:
    allowed: bool
    used: int                 # gradings started for this student in the last hour
    next_slot: float | None   # when one frees up (epoch seconds), when not allowed


def cap_decision(admitted: Iterable[float], now: float, cap: int) -> CapDecision:
    """May one more submission be graded now? ``admitted``: when this student's earlier submissions
    of the assignment were admitted to the queue (epoch seconds); at most ``cap`` in any hour."""
    recent = sorted(t for t in admitted if now - HOUR < t <= now)
    if cap <= 0 or len(recent) < cap:
        return CapDecision(True, len(recent), None)
    return CapDecision(False, len(recent), recent[len(recent) - cap] + HOUR)


def rank(time: _dt.datetime, due: _dt.datetime | None) -> tuple[bool, _dt.datetime]:
    """How nbgrader's ``collect --before-duedate`` orders a student's submissions: on time first,
    then the newest."""
    return (due is None or time <= due, time)


def keeps_in_gradebook(new: _dt.datetime, current: _dt.datetime | None, due: _dt.datetime | None) -> bool:
    """Whether the submission at ``new`` goes into the gradebook, which holds the one at ``current``:
    the gradebook keeps the newest on-time submission, else the newest late one. The same time is the
    same submission graded again (a grading interrupted after its copy was put in place): it goes in."""
    return current is None or rank(new, due) >= rank(current, due)


@dataclass(frozen=True)
class Lanes:
    """How many gradings may run at once, and for whom (``GradingService``'s fairness settings)."""
    workers: int                 # gradings younger than ``long_after`` at once
    burst: int = 0               # more, while the rest have run long
    long_after: float = 10.0
    budget: float = 0.0          # grading seconds per student per hour (0: none)
    reserved: int = 1

    @classmethod
    def of(cls, policy: GradingService, workers: int) -> Lanes:
        burst = workers if policy.burst_workers < 0 else policy.burst_workers
        return cls(workers, burst, policy.long_grading_seconds, policy.grading_budget_seconds,
                   max(0, policy.reserved_workers))

    @property
    def capacity(self) -> int:
        return self.workers + self.burst


@dataclass(frozen=True)
class Running:
    """A grading in flight."""
    assignment: str
    student: str
    started: float               # epoch seconds
    suspect: bool = False        # it crashed a grading before: it runs alone


def over_budget(lanes: Lanes, used: float) -> bool:
    return lanes.budget > 0 and used >= lanes.budget


def queue_order(rows: Iterable[dict], usage: dict[str, float] | None = None, lanes: Lanes | None = None) -> list[dict]:
    """Submissions in the order they are served: round-robin between students, the student who used
    the least grading time in the last hour first (those over the budget after everyone within it),
    then whoever waited longest; a student's own submissions in the order they arrived."""
    usage = usage or {}
    lanes = lanes or Lanes(1)
    firsts: dict[tuple[str, str], int] = {}
    ordered = sorted(rows, key=lambda r: (r["time_ns"], r["key"]))
    turns = []
    for row in ordered:
        who = (row["assignment"], row["student"])
        turn = firsts[who] = firsts.get(who, -1) + 1
        used = usage.get(row["student"], 0.0)
        turns.append(((turn, over_budget(lanes, used), used, row["time_ns"], row["key"]), row))
    return [row for _, row in sorted(turns, key=lambda t: t[0])]


def plan(queued: list[dict], running: list[Running], usage: dict[str, float], now: float, lanes: Lanes) -> list[dict]:
    """The submissions to start now, from ``queued`` (rows of the journal). At most one grading per
    student and assignment in flight; a submission that crashed a grading runs alone; at most
    ``lanes.workers`` gradings younger than ``lanes.long_after`` and ``lanes.capacity`` in all; a
    student over the budget never takes the last ``lanes.reserved`` free workers."""
    if any(r.suspect for r in running):
        return []
    suspects = [r for r in queued if r["suspect"]]
    if suspects:
        return [] if running else queue_order(suspects, usage, lanes)[:1]
    busy = {(r.assignment, r.student) for r in running}
    fresh = sum(1 for r in running if now - r.started < lanes.long_after)
    total = len(running)
    chosen: list[dict] = []
    for row in queue_order(queued, usage, lanes):
        if fresh >= lanes.workers or total >= lanes.capacity:
            break
        who = (row["assignment"], row["student"])
        if who in busy:
            continue
        if over_budget(lanes, usage.get(row["student"], 0.0)) and lanes.capacity - total <= lanes.reserved:
            continue
        busy.add(who)
        chosen.append(row)
        fresh, total = fresh + 1, total + 1
    return chosen


def student_due(due: _dt.datetime | None, extension: _dt.timedelta | None) -> _dt.datetime | None:
    """The due date that applies to one student (nbgrader: the assignment's plus their extension)."""
    if due is None:
        return None
    return due + extension if extension else due
