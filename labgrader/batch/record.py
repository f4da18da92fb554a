"""One record per submission: what happened to it, produced where it happened.

The steps that grade a submission put structured facts into nbgrader's ``resources``
(``resources["labgrader"]``: ``notes`` from RestoreTestCells, ``faults`` from GuardedExecute,
``flags`` from JudgeObservations and FlagTampering); the batch task reads them from the
converter, per notebook, with the scores nbgrader saved. The record then goes, unchanged, to
the gradebook (a submission that was not graded), the end-of-run summary, the grading report
(``grading_report_<assignment>.json`` in the course root) and the class report.
"""
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class SubmissionRecord:
    student: str
    assignment: str = ""
    ok: bool = False                               # graded (flagged ones too)
    seconds: float = 0.0                           # wall-clock time of the whole submission
    error: str = ""                                # why it was not graded ("" when graded)
    notes: list = field(default_factory=list)      # repairs made before grading (renamed notebook, restored test cells)
    faults: list = field(default_factory=list)     # "<notebook>: why the remaining cells did not run"
    flags: list = field(default_factory=list)      # tampering findings (dicts of labgrader.judging.scan.Finding)
    scores: dict = field(default_factory=dict)     # notebook -> {grade id: score}
    timings: dict = field(default_factory=dict)    # step -> seconds

    @property
    def needs_review(self):
        return not self.ok or bool(self.flags)

    def as_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def report_path(root, assignment):
    """Where the batch writes the grading report of ``assignment`` (one file per assignment)."""
    return Path(root) / f"grading_report_{assignment}.json"
