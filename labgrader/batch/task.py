"""One submission, graded by nbgrader's own Autograde converter (in a worker process)."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.api import Gradebook
from nbgrader.converters import Autograde, NbGraderException
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

from labgrader.batch.converter import SubmissionAutograde
from labgrader.config import load_course_config
from labgrader.context import broken
from labgrader.errors import LabgraderError
from labgrader.course import unguarded_problem
from labgrader.lab import LabError, load_lab
from labgrader.locks import LockUnavailable, student_lock
from labgrader.record import SubmissionRecord, read_notebook_record
from labgrader.reference_run import PreAutograde, check_ready as reference_check

_config: Config | None = None


class NotInitialized(LabgraderError, RuntimeError):
    """grade_submission in a process that did not run init_worker: it would grade unsandboxed."""


def course_directory(config: Config) -> CourseDirectory:
    return CourseDirectory(config=config)


def init_worker(root: str | Path, db_url: str, settings: dict[str, dict[str, Any]] | None = None) -> None:
    """Run in every worker process before it grades: the course's own configuration, read as plain
    nbgrader reads it, with the batch's ``settings`` on top (e.g. the fork server's socket). The
    readiness check is not repeated here: the batch ran it once before dispatching."""
    global _config
    config = load_course_config(root, db_url, settings)
    config.Autograde.pre_convert_hook = PreAutograde(config, check=False, announce=False)
    require_sandboxed(config)
    _config = config
    quiet_nbgrader_warnings()


def require_sandboxed(config: Config) -> None:
    """Refuse a configuration whose autograde steps would not start kernels through our sandboxed
    executor (stock nbgrader: student code with the grader's permissions)."""
    problem = unguarded_problem(config)
    if problem:
        raise NotInitialized(problem)


def quiet_nbgrader_warnings() -> None:
    """nbgrader 0.9's gradebook code triggers harmless SQLAlchemy 2 session warnings on every
    submission; they would bury the progress bar and the summary."""
    import warnings
    from sqlalchemy.exc import SAWarning
    warnings.filterwarnings("ignore", category=SAWarning)


def check_ready(assignment: str, notebooks: list[str]) -> None:
    """A task: the readiness check (labgrader.reference_run), run in a worker so that rebuilding
    the instructor's answers runs TensorFlow there, never in the batch's parent (which forks)."""
    _require_initialized()
    reference_check(_config, assignment, notebooks)


class _Collect(logging.Handler):
    """nbgrader's own error lines: the reason of a failure nbgrader reports only in its log."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def worker_config() -> Config:
    """This worker's course configuration (as init_worker prepared it)."""
    _require_initialized()
    assert _config is not None
    return _config


def _require_initialized() -> None:
    if _config is None:
        raise NotInitialized("this process was not started through labgrader.batch.task.init_worker "
                             "(the course's sandboxed configuration): refusing to grade")


def grade_submission(assignment: str, student: str, force: bool = True, config: Config | None = None) -> SubmissionRecord:
    """Autograde one student's submission and return its SubmissionRecord, read from the records
    the grading steps kept in the autograded notebooks and the scores nbgrader saved; never raises,
    except in a process that did not run ``init_worker`` (NotInitialized: it refuses to grade).
    ``config``: another course configuration made from this worker's (the grading service's course
    for resubmissions the gradebook does not keep). The student's grading lock is held throughout:
    the grading service takes the same one (labgrader/locks.py)."""
    own = worker_config()  # refuses in a process init_worker did not prepare
    grading = config or own
    coursedir = CourseDirectory(config=grading)
    try:
        with student_lock(coursedir.root, assignment, student):
            return _grade(coursedir, grading, assignment, student, force)
    except LockUnavailable as exc:
        return SubmissionRecord(student, assignment, error=str(exc))


def _grade(coursedir: CourseDirectory, config: Config, assignment: str, student: str, force: bool) -> SubmissionRecord:
    """One gradebook session for the whole submission: nbgrader's steps, the scores, the names."""
    started = time.monotonic()
    coursedir.assignment_id, coursedir.student_id = assignment, student
    with Gradebook(coursedir.db_url, coursedir.course_id) as gradebook:
        ok, error = _convert(SubmissionAutograde(gradebook, coursedir=coursedir, config=config), force)
        gradebook.db.rollback()  # whatever a failed step left half done; nbgrader's steps commit their own
        record = SubmissionRecord(student, assignment, ok, time.monotonic() - started, error)
        if not ok:
            record.lab_error = _lab_error(coursedir, assignment)
        for notebook in gradebook.find_assignment(assignment).notebooks:
            path = Path(coursedir.format_path(coursedir.autograded_directory, student, assignment)) / f"{notebook.name}.ipynb"
            if ok and path.is_file() and not path.is_symlink():
                kept = read_notebook_record(nbformat.read(path, as_version=4))
                if kept is not None:
                    kept.notebook = notebook.name
                    record.add_notebook(kept)
        if ok:
            record_totals(record, gradebook)
    record.timings["grading"] = round(record.seconds, 3)
    return record


def _convert(converter: Autograde, force: bool) -> tuple[bool, str]:
    """Run nbgrader's converter; (ok, why not) from nbgrader's own error log."""
    converter.force = force
    collect = _Collect()
    converter.log.addHandler(collect)
    try:
        converter.start()
        return True, ""
    except NbGraderException:
        return False, _reason(collect.records) or "nbgrader could not grade this submission"
    except Exception as exc:  # anything else must not take the batch down
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        converter.log.removeHandler(collect)


def _lab_error(coursedir: CourseDirectory, assignment: str) -> str:
    """Why grading stopped, when the lab (not the submission) is broken in this process."""
    try:
        lab = load_lab(coursedir, assignment)
    except LabError as exc:
        return str(exc)
    return broken(lab) if lab is not None else ""


def notebook_scores(db_url: str, assignment: str, student: str) -> dict[str, dict[str, float]]:
    """{notebook: {grade id: score}} of one submission, as nbgrader saved them."""
    record = SubmissionRecord(student, assignment)
    with Gradebook(db_url) as gb:
        record_totals(record, gb)
    return record.scores


def record_totals(record: SubmissionRecord, gradebook: Gradebook) -> None:
    """What nbgrader saved of a graded submission, into its record, from an open gradebook session:
    each cell's score, the total, the late penalty and how late it was."""
    submission = gradebook.find_submission(record.assignment, record.student)
    record.scores = {nb.name: {grade.name: grade.score for grade in nb.grades} for nb in submission.notebooks}
    record.score, record.max_score = float(submission.score or 0.0), float(submission.max_score or 0.0)
    record.late_penalty = float(submission.late_submission_penalty or 0.0)
    record.seconds_late = float(submission.total_seconds_late or 0.0)


def _reason(records: list[logging.LogRecord]) -> str:
    """The most telling line of nbgrader's error log for a failed submission."""
    for record in records:
        text = record.getMessage()
        for line in reversed(text.strip().splitlines()):
            if ("Error" in line or "LabError" in line) and "Traceback" not in line:
                return line.strip()
    return records[-1].getMessage().strip().splitlines()[-1] if records else ""


__all__ = ["NotInitialized", "check_ready", "course_directory", "grade_submission", "init_worker",
           "load_course_config", "notebook_scores", "quiet_nbgrader_warnings", "record_totals", "require_sandboxed", "worker_config"]
