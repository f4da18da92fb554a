"""One grading context per notebook: built by the first step, read by every later one.

nbgrader converts a submission's notebook in two passes (sanitize, then execute and grade), each
with its own ``resources``. The first step of each pass (``PrepareGrading``) puts a
``GradingContext`` in ``resources["labgrader"]``: the lab, the released notebook, the instructor's
reference exports, this submission's randomness and the arguments sent to its function answers,
and the ``NotebookRecord`` every step adds to. The record crosses from the first pass to the
second inside the notebook nbgrader writes in between (``metadata.labgrader``, written by the
grader before any kernel starts; a student's own copy of that key is dropped on the way in).

What does not depend on the submission (the lab, the release, the reference) is loaded once per
process (``CourseCache``): a class is graded against one lab, one release and one reference run.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import Any

import nbformat
import numpy as np
from nbgrader.coursedir import CourseDirectory

from labgrader.cells import grade_id, is_test_cell
from labgrader.judging import reference as reference_store
from labgrader.lab import Lab, LabError, load_lab
from labgrader.record import NotebookRecord

KEY = "labgrader"

_broken: dict[str, str] = {}  # lab digest -> why grading stopped (a lab error stops every later submission)


def mark_broken(lab: Lab, message: str) -> None:
    _broken[lab.digest] = message


def broken(lab: Lab) -> str:
    return _broken.get(lab.digest, "")


@dataclass
class Handover:
    """What reached the grader for one graded test cell, taken from the kernel's messages as they
    arrived (GuardedExecute), whatever the notebook's outputs show afterwards."""
    exports: list = field(default_factory=list)   # export records of the grader's hand-over step (one, unless forged)
    inputs: dict = field(default_factory=dict)    # ref -> the arrays the grader sent for the cross-check
    outputs: list = field(default_factory=list)   # the kernel's cross-check results (one record, unless forged)
    seals: list = field(default_factory=list)     # the seal's evidence records (one, unless forged)
    unasked: int = 0                              # grader records no step asked for (while the cell's own code ran...)
    complete: bool = False                        # every step ran (False: the kernel died or hung meanwhile)


@dataclass
class GradingContext:
    assignment: str
    notebook: str                            # without .ipynb
    student: str
    lab: Lab | None                          # None: no grading.py, stock nbgrader tests (our steps stand aside)
    record: NotebookRecord
    release: Any = None                      # the released notebook (nbformat node)
    reference: dict[str, dict] = field(default_factory=dict)  # grade id -> the instructor's validated export
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(secrets.randbits(128)))
    arguments: dict[str, list] = field(default_factory=dict)  # grade id -> calls for a function answer
    cross_check_rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(secrets.randbits(128)))  # its inputs
    handin: str = ""                         # submitted/<student>/<assignment>
    sealed: set = field(default_factory=set)  # grade ids whose test cell the grader checked after (GuardedExecute)
    handovers: dict[str, Handover] = field(default_factory=dict)  # grade id -> what its hand-over steps received
    stray: dict[str, int] = field(default_factory=dict)  # cell label -> grader records written outside any test cell
    pins: list = field(default_factory=list)  # per silent pin cell, the pin records it put out (one, unless forged)
    watched: bool = False                     # the export module took its snapshot (GuardedExecute ran watch)


def context_of(resources: dict) -> GradingContext | None:
    """The notebook's context, when PrepareGrading built one."""
    value = resources.get(KEY)
    return value if isinstance(value, GradingContext) else None


class CourseCache:
    """Per process: what every submission of an assignment shares."""

    _releases: dict[tuple[str, str], Any] = {}

    @classmethod
    def release(cls, coursedir: CourseDirectory, assignment: str, notebook: str) -> Any:
        return cls._read(coursedir.release_directory, coursedir, assignment, notebook)

    @classmethod
    def _read(cls, folder: str, coursedir: CourseDirectory, assignment: str, notebook: str) -> Any:
        path = os.path.join(coursedir.format_path(folder, ".", assignment), notebook + ".ipynb")
        stamp = os.stat(path).st_mtime_ns
        key = (path, str(stamp))
        if key not in cls._releases:
            cls._releases[key] = nbformat.read(path, as_version=4)
        return cls._releases[key]

    @classmethod
    def test_visibility(cls, coursedir: CourseDirectory, assignment: str, notebook: str) -> dict[str, tuple[bool, bool]]:
        """grade id -> (its test cell, as released, holds tests the student can see and run; it holds
        hidden tests in the instructor's notebook): a fact of the assignment, read once per process.
        A source notebook that cannot be read counts every cell as hiding some."""
        release = cls.release(coursedir, assignment, notebook)
        try:
            source = cls._read(coursedir.source_directory, coursedir, assignment, notebook)
            hidden = {grade_id(c) for c in source.cells if is_test_cell(c) and "BEGIN HIDDEN TESTS" in c.source}
        except OSError:
            hidden = None
        found = {}
        for cell in release.cells:
            if is_test_cell(cell):
                code = [line for line in cell.source.splitlines() if line.strip() and not line.strip().startswith("#")]
                found[grade_id(cell)] = (bool(code), hidden is None or grade_id(cell) in hidden)
        return found


def build(config: Any, resources: dict, sanitizing: bool) -> GradingContext:
    """The context of the notebook nbgrader is converting (``resources["nbgrader"]``)."""
    info = resources.get("nbgrader", {})
    coursedir = CourseDirectory(config=config)
    assignment, notebook, student = info.get("assignment", ""), info.get("notebook", ""), info.get("student", "")
    lab = load_lab(coursedir, assignment)
    context = GradingContext(assignment, notebook, student, lab, NotebookRecord(notebook=notebook))
    context.handin = coursedir.format_path(coursedir.submitted_directory, student, assignment)
    if lab is None:
        return context
    if broken(lab):
        raise LabError(f"grading stopped: {broken(lab)}")
    context.release = CourseCache.release(coursedir, assignment, notebook)
    if not sanitizing:
        reference = reference_store.load(coursedir, lab, notebook)
        if reference is None:
            raise LabError(f"no reference run of the instructor's {notebook}.ipynb for {lab.path}: grade with "
                           "`nbgrader autograde` or `python -m labgrader autograde`, which run it first")
        context.reference = reference
        context.arguments = arguments_for(lab, context.reference, context.rng)
    return context


def arguments_for(lab: Lab, grade_ids: Any, rng: np.random.Generator) -> dict[str, list]:
    """The calls each function answer gets, chosen for one submission (a lab bug is a LabError)."""
    if lab.arguments is None:
        return {}
    chosen = {}
    for grade_id in grade_ids:
        try:
            calls = lab.arguments(grade_id, rng)
        except Exception as exc:
            raise LabError(f"{lab.path}: arguments({grade_id!r}, rng) raised {type(exc).__name__}: {exc}") from None
        if calls is not None:
            chosen[grade_id] = calls
    return chosen
