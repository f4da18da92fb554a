"""What happened to a submission, recorded where it happened and kept with it.

Every grading step adds to the ``NotebookRecord`` of the notebook it works on (repairs as
``notes``, ``faults`` (cells interrupted or not run), evidence ``flags``, each check's ``messages``),
``RecordChecks`` adds every graded cell's result (``CheckResult``: points, score, visible or not,
message), and the last step keeps it in the autograded notebook's metadata (``metadata.labgrader``),
on both paths: plain ``nbgrader autograde`` and the batch command write the same record. The batch's
``SubmissionRecord`` gathers a submission's notebook records and its gradebook totals; the summary,
``grading_report_<assignment>.json``, the class report, the grading service's journal, pages and
``--status`` read these records, and parse no prose.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labgrader.text import printable

METADATA_KEY = "labgrader"
VERSION = 1
MAX_LISTED = 20  # flags listed in the summary, the report and the gradebook; the rest are counted
MAX_KEPT = 200   # flags kept per notebook; beyond that only counted (a student can make thousands)
# What kind of fault stopped cells from running (NotebookRecord.fault_kinds), for reports to count
TIMED_OUT, KERNEL_DIED = "timed out", "kernel died"
STDERR_KEPT = 64 * 1024  # characters of a kernel's stderr kept in its record


@dataclass(frozen=True)
class Flag:
    """Evidence that a submission tampered with what the grader sees; flags are for a human."""
    where: str           # a grade id, "hand-in", or a cell
    seen: str            # what the grader saw, in words
    line: str = ""       # a line of the student's that may have done it (a hint), "" when none

    def __str__(self) -> str:
        text = f"{self.where}: {self.seen}"
        return text + (f" (line: {self.line})" if self.line else "")

    @classmethod
    def from_dict(cls, data: Any) -> Flag:
        if not isinstance(data, dict):
            return cls("?", printable(str(data))[:300])
        return cls(*(printable(str(data.get(k, "")))[:300] for k in ("where", "seen", "line")))


def flag_lines(flags: list[Flag], limit: int = MAX_LISTED, dropped: int = 0) -> list[str]:
    """The first ``limit`` flags, one line each, then how many more (``dropped``: flags counted but
    not kept): the same listing everywhere."""
    lines = [str(flag) for flag in flags[:limit]]
    more = max(0, len(flags) - limit) + dropped
    if more:
        lines.append(f"... and {more} more")
    return lines


@dataclass(frozen=True)
class CheckResult:
    """One graded cell, as the grader ran it: what every report and page of it reads."""
    id: str                  # the grade id
    points: float            # its max score
    score: float | None      # what nbgrader scores it (None: needs manual grading)
    visible: bool            # its outcome before the due date is what the student sees running the cell
    message: str = ""        # the grader's verdict ("" passed)
    kernel_error: str = ""   # the error the cell's own code raised in the kernel (what the student sees)

    @classmethod
    def from_dict(cls, data: Any) -> CheckResult:
        if not isinstance(data, dict):
            return cls("?", 0.0, 0.0, False)
        score = data.get("score")
        return cls(printable(str(data.get("id", "?")))[:300], _number(data.get("points")),
                   _number(score) if score is not None else None, bool(data.get("visible")),
                   str(data.get("message", "")), str(data.get("kernel_error", "")))


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


@dataclass
class NotebookRecord:
    notebook: str = ""
    notes: list[str] = field(default_factory=list)          # repairs made before grading
    faults: list[str] = field(default_factory=list)         # a cell interrupted; why the remaining cells did not run
    flags: list[Flag] = field(default_factory=list)         # evidence for a human to review
    messages: dict[str, str] = field(default_factory=dict)  # grade id -> the check's message ("" passed)
    # grade id -> the error the test cell's own code raised in the kernel, before any hand-over: what
    # the student sees running that cell (the grading service shows these before the due date)
    kernel_errors: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    dropped_flags: int = 0                                   # flags beyond MAX_KEPT, counted only
    checks: list[CheckResult] = field(default_factory=list)  # every graded cell, after grading (RecordChecks)
    stderr: str = ""                                         # what the kernel wrote to its stderr (printable text)
    fault_kinds: list[str] = field(default_factory=list)    # TIMED_OUT, KERNEL_DIED: what the faults were

    def fault(self, kind: str, text: str) -> None:
        """A fault of ``kind`` (TIMED_OUT, KERNEL_DIED), said in ``text``."""
        self.faults.append(text)
        if kind not in self.fault_kinds:
            self.fault_kinds.append(kind)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def flag(self, where: str, seen: str, line: str = "") -> None:
        flag = Flag(where, seen, line)
        if flag in self.flags:
            return
        if len(self.flags) >= MAX_KEPT:
            self.dropped_flags += 1
        else:
            self.flags.append(flag)

    def to_metadata(self) -> dict:
        data = asdict(self)
        data["version"] = VERSION
        return data

    @classmethod
    def from_metadata(cls, data: Any) -> NotebookRecord:
        """A record kept by the grader (defensive: a bad one reads as empty, never raises)."""
        if not isinstance(data, dict):
            return cls()
        strings = lambda key: [printable(str(v)) for v in data.get(key, []) if isinstance(v, str)][:1000]
        return cls(notebook=str(data.get("notebook", "")), notes=strings("notes"), faults=strings("faults"),
                   flags=[Flag.from_dict(f) for f in data.get("flags", [])[:10_000]],
                   messages={str(k): str(v) for k, v in (data.get("messages") or {}).items()},
                   kernel_errors={str(k): str(v) for k, v in (data.get("kernel_errors") or {}).items()},
                   timings={str(k): float(v) for k, v in (data.get("timings") or {}).items()
                            if isinstance(v, (int, float))},
                   dropped_flags=int(data["dropped_flags"]) if isinstance(data.get("dropped_flags"), int) else 0,
                   checks=[CheckResult.from_dict(c) for c in (data.get("checks") or [])[:10_000]],
                   stderr=printable(str(data.get("stderr", "")))[:STDERR_KEPT],
                   fault_kinds=[k for k in (data.get("fault_kinds") or []) if k in (TIMED_OUT, KERNEL_DIED)])


def read_notebook_record(nb: Any) -> NotebookRecord | None:
    """The record an autograded notebook keeps, or None (not graded by this engine)."""
    data = nb.get("metadata", {}).get(METADATA_KEY)
    return NotebookRecord.from_metadata(data) if data is not None else None


@dataclass
class SubmissionRecord:
    student: str
    assignment: str = ""
    ok: bool = False                                       # graded (flagged ones too)
    seconds: float = 0.0                                   # wall-clock time of the whole submission
    error: str = ""                                        # why it was not graded ("" when graded)
    notes: list[str] = field(default_factory=list)         # repairs (renamed notebook, restored test cells)
    faults: list[str] = field(default_factory=list)        # "<notebook>: a cell interrupted, or why the rest did not run"
    flags: list[dict] = field(default_factory=list)        # Flag dicts, "<notebook>: " prefixed where
    scores: dict = field(default_factory=dict)             # notebook -> {grade id: score}
    messages: dict = field(default_factory=dict)           # notebook -> {grade id: message}
    timings: dict = field(default_factory=dict)            # step -> seconds
    lab_error: str = ""                                    # the lab is broken: grading stopped here
    dropped_flags: int = 0                                 # flags counted but not kept
    checks: dict = field(default_factory=dict)             # notebook -> [CheckResult dicts]
    faults_by_notebook: dict = field(default_factory=dict)  # notebook -> its faults
    score: float = 0.0                                     # the gradebook's total, once graded
    max_score: float = 0.0
    late_penalty: float = 0.0                              # nbgrader's late-submission penalty
    seconds_late: float = 0.0
    stderr: dict = field(default_factory=dict)             # notebook -> what its kernel wrote to stderr ("" omitted)
    fault_kinds: list = field(default_factory=list)        # TIMED_OUT, KERNEL_DIED, over its notebooks

    @property
    def needs_review(self) -> bool:
        return not self.ok or bool(self.flags)

    def add_notebook(self, record: NotebookRecord) -> None:
        self.notes += [n for n in record.notes if n not in self.notes]
        self.faults += [f"{record.notebook}: {f}" for f in record.faults]
        self.flags += [asdict(f) for f in record.flags]
        self.dropped_flags += record.dropped_flags
        self.messages[record.notebook] = dict(record.messages)
        self.checks[record.notebook] = [asdict(c) for c in record.checks]
        self.faults_by_notebook[record.notebook] = list(record.faults)
        if record.stderr:
            self.stderr[record.notebook] = record.stderr
        self.fault_kinds += [k for k in record.fault_kinds if k not in self.fault_kinds]
        for step, seconds in record.timings.items():
            self.timings[step] = round(self.timings.get(step, 0.0) + seconds, 3)

    def check_objects(self, notebook: str) -> list[CheckResult]:
        return [CheckResult.from_dict(c) for c in self.checks.get(notebook, [])]

    def flag_objects(self) -> list[Flag]:
        return [Flag.from_dict(f) for f in self.flags]

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SubmissionRecord:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def report_path(root: str | Path, assignment: str) -> Path:
    """Where the batch writes the grading report of ``assignment`` (one file per assignment)."""
    return Path(root) / f"grading_report_{assignment}.json"
