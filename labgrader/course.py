"""One course, as labgrader's commands see it: the batch (labgrader/batch/), Dask workers and the
grading service (labgrader/service/) ask it, by name, for what they used to derive each on its own.

- its nbgrader configuration (read as plain nbgrader reads it: labgrader/config.py), and the
  configurables made from it: a setting is read from the class that declares it, with that
  class's default (``Course.configured``), never restated as ``config.X.get(name, default)``;
- its gradebook's facts, read in one session and kept until ``refresh``: the assignments, their
  notebooks, due dates and the students' extensions (``due``: the date that applies to one student);
- the labs (``lab``: labgrader/lab.py, imported once per process);
- the set-up checks that stop grading before any grade is touched (``problems``, ``require``);
- the gradebook rows every grading needs, made once before workers start (``prepare_rows``: two
  workers inserting the same course or student row at once fail one honest grading), and the
  record of a submission that could not be graded (``record_failure``).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config, Configurable

from labgrader.config import load_course_config
from labgrader.errors import LabgraderError
from labgrader.lab import Lab, load_lab

UTC = _dt.timezone.utc
T = TypeVar("T", bound=Configurable)


class CourseProblem(LabgraderError, RuntimeError):
    """The course cannot be graded or served as it is; the message says what to do."""


@dataclass(frozen=True)
class AssignmentFacts:
    """What the gradebook says of one assignment."""
    name: str
    notebooks: tuple[str, ...]                  # without .ipynb
    due: _dt.datetime | None = None             # aware, UTC
    extensions: dict[str, _dt.timedelta] = field(default_factory=dict)  # student -> extension

    def due_for(self, student: str | None) -> _dt.datetime | None:
        """The due date that applies to ``student`` (nbgrader: the assignment's plus their extension)."""
        extension = self.extensions.get(student or "")
        if self.due is None:
            return None
        return self.due + extension if extension else self.due


def unguarded_problem(config: Config) -> str:
    """Why the configuration's autograde steps would not start kernels through the sandboxed
    executor (stock nbgrader: student code with the grader's permissions), or ""."""
    from nbgrader.converters import Autograde
    from traitlets.utils.importstring import import_item

    from labgrader.preprocessors.guarded_execute import GuardedExecute
    steps = Autograde(config=config).autograde_preprocessors
    classes = [import_item(step) if isinstance(step, str) else step for step in steps]
    if any(isinstance(step, type) and issubclass(step, GuardedExecute) for step in classes):
        return ""
    return ("the course's nbgrader_config.py does not run GuardedExecute in c.Autograde.autograde_preprocessors: "
            "refusing to grade without the sandbox")


def sqlite_with_busy_timeout(db_url: str, seconds: int = 120) -> str:
    """Several workers write to one SQLite file: let each wait for the lock instead of failing."""
    if db_url.startswith("sqlite:") and "timeout=" not in db_url:
        return db_url + ("&" if "?" in db_url else "?") + f"timeout={seconds}"
    return db_url


class Course:
    """A course root and everything read from it once (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str], config: Config | None = None, db_url: str | None = None):
        self.root = str(Path(root).resolve())
        self.config = config if config is not None else load_course_config(self.root)
        self.db_url = sqlite_with_busy_timeout(db_url or self.config.CourseDirectory.db_url)
        self.coursedir = CourseDirectory(config=self.config)
        self.course_id: str = self.coursedir.course_id
        self._configured: dict[type, Configurable] = {}
        self._facts: dict[str, AssignmentFacts] = {}

    # -- configuration -------------------------------------------------------------------------

    def configured(self, cls: type[T], **kwargs: Any) -> T:
        """One instance of the configurable ``cls`` made from the course's configuration: its traits
        are what the course set, else the class's own defaults."""
        found = self._configured.get(cls)
        if found is None:
            found = self._configured[cls] = cls(config=self.config, **kwargs)
        return found  # type: ignore[return-value]

    @property
    def sandboxed(self) -> bool:
        from labgrader.kernels.manager import GradingKernelManager
        return bool(self.configured(GradingKernelManager).sandbox)

    @property
    def exchange_root(self) -> str:
        from nbgrader.exchange.default.exchange import Exchange
        return str(self.configured(Exchange).root)

    def path(self, folder: str, student: str, assignment: str) -> str:
        """nbgrader's ``<root>/<folder>/<student>/<assignment>`` for this course."""
        return str(self.coursedir.format_path(folder, student, assignment))

    # -- the gradebook's facts -----------------------------------------------------------------

    def gradebook_made(self) -> bool:
        """Whether the gradebook exists and nbgrader finished making it, this course's row included
        (opening one that has not got it would insert it, racing the instructor's first nbgrader
        command: its own insert then fails with "UNIQUE constraint failed: course.id")."""
        if not self.db_url.startswith("sqlite:///"):
            return True  # a database server: made by its administrator
        path = self.db_url[len("sqlite:///"):].split("?")[0]
        if not os.path.isfile(path):
            return False
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
                if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'").fetchone() is None:
                    return False
                return db.execute("SELECT 1 FROM course WHERE id = ?", (self.course_id,)).fetchone() is not None
        except sqlite3.Error:
            return False

    def refresh(self) -> dict[str, AssignmentFacts]:
        """Read every assignment's notebooks, due date and extensions, in one gradebook session."""
        from nbgrader.api import Gradebook
        facts = {}
        with Gradebook(self.db_url, self.course_id) as gb:
            for assignment in gb.assignments:
                extensions = {s.student_id: s.extension for s in assignment.submissions if s.extension}
                due = assignment.duedate.replace(tzinfo=UTC) if assignment.duedate else None
                facts[assignment.name] = AssignmentFacts(assignment.name, tuple(nb.name for nb in assignment.notebooks),
                                                         due, extensions)
        self._facts = facts
        return facts

    def assignments(self) -> list[str]:
        return sorted(self._facts or self.refresh())

    def facts(self, assignment: str) -> AssignmentFacts:
        """The assignment as last read (read now if never); KeyError when the gradebook has none."""
        if assignment not in self._facts:
            self.refresh()
        return self._facts[assignment]

    def notebooks(self, assignment: str) -> list[str]:
        return list(self.facts(assignment).notebooks)

    def due(self, assignment: str, student: str | None = None) -> _dt.datetime | None:
        return self.facts(assignment).due_for(student)

    def lab(self, assignment: str) -> Lab | None:
        return load_lab(self.coursedir, assignment)

    # -- checks --------------------------------------------------------------------------------

    def problems(self, assignment: str | None = None) -> list[str]:
        """Why this course cannot be graded here now (empty: it can)."""
        found = []
        if not self.gradebook_made():
            found.append("no gradebook yet: run nbgrader generate_assignment")
        elif assignment is not None and assignment not in (self._facts or self.refresh()):
            found.append(f"The gradebook has no assignment {assignment!r}: run "
                         f"`nbgrader generate_assignment {assignment}` first.")
        found += self._setup_problems()
        return found

    def _setup_problems(self) -> list[str]:
        unguarded = unguarded_problem(self.config)
        if unguarded:
            return [unguarded]
        if self.sandboxed:
            from labgrader.sandbox import SandboxUnavailable, check_once
            try:
                check_once()
            except SandboxUnavailable as exc:
                return [f"Cannot grade: {exc}"]
        return []

    def require(self, assignment: str | None = None) -> None:
        """Raise CourseProblem with every reason this course cannot be graded (see ``problems``)."""
        found = self.problems(assignment)
        if found:
            raise CourseProblem("; ".join(found))

    # -- rows ----------------------------------------------------------------------------------

    def prepare_rows(self, assignment: str, students: Iterable[str]) -> None:
        """The course rows (nbgrader's converters and steps open the gradebook under the course id
        and under nbgrader's default one) and the students' rows, made before any worker grades
        (not with ``c.Autograde.create_student = False``: nbgrader then refuses a student it does
        not know, and so does the batch)."""
        from nbgrader.api import Gradebook
        from nbgrader.converters import Autograde
        with Gradebook(self.db_url) as gb:
            if Autograde(config=self.config).create_student:
                for student in students:
                    gb.update_or_create_student(student)
        if self.course_id != "default_course":
            Gradebook(self.db_url, self.course_id).close()

    def record_failure(self, assignment: str, student: str, reason: str) -> None:
        record_failure(self.db_url, assignment, student, reason)


def record_failure(db_url: str, assignment: str, student: str, reason: str) -> None:
    """A submission that could not be graded scores 0 and is flagged for manual grading, so a
    failed re-grade never leaves an old grade standing silently."""
    from nbgrader.api import Gradebook
    with Gradebook(db_url) as gb:
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                grade.auto_score = 0
                grade.manual_score = None
                grade.needs_manual_grade = True
            for comment in notebook.comments:
                comment.auto_comment = f"Not graded automatically: {reason}"
        gb.db.commit()


__all__ = ["AssignmentFacts", "Course", "CourseProblem", "record_failure", "sqlite_with_busy_timeout",
           "unguarded_problem"]
