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
    rescan_seconds = Float(30.0, config=True,
                           help="Seconds between two full scans of inbound (besides inotify), and of the due dates.")
    settle_seconds = Float(0.5, config=True,
                           help="An entry is collected once nothing in it changed for this long (nbgrader submit "
                                "writes an entry in several steps).")
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


def queue_order(rows: Iterable[dict]) -> list[dict]:
    """Submissions in the order they are graded: by trusted time (a burst drains in the order it
    arrived), then by key; a student's next submission waits while one of theirs is in flight."""
    return sorted(rows, key=lambda r: (r["time_ns"], r["key"]))


def dispatchable(queued: list[dict], busy_students: set[tuple[str, str]], free: int) -> list[dict]:
    """From ``queued`` (in queue order), the next ``free`` submissions to start: at most one per
    student and assignment in flight (the student's grading lock would only make a worker wait)."""
    chosen: list[dict] = []
    taken = set(busy_students)
    for row in queued:
        if len(chosen) >= free:
            break
        who = (row["assignment"], row["student"])
        if who in taken:
            continue
        taken.add(who)
        chosen.append(row)
    return chosen


def student_due(due: _dt.datetime | None, extension: _dt.timedelta | None) -> _dt.datetime | None:
    """The due date that applies to one student (nbgrader: the assignment's plus their extension)."""
    if due is None:
        return None
    return due + extension if extension else due
