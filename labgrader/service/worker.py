"""In a grading worker (the service's local pool, or a Dask worker): one submission, from the copy
the service kept of it to its feedback.

Under the student's grading lock (labgrader/locks.py, which ``python -m labgrader autograde``
takes too): the kept copy goes where it counts (``submitted/`` when the gradebook keeps it, else
the shadow course: labgrader/service/shadow.py), the batch's pre-flight checks it, the batch's task
grades it (nbgrader's Autograde, sandboxed kernel forked from the warm fork server), nbgrader's
GenerateFeedback writes that student's feedback, and the pages are kept beside the copy. What the
service needs to write the student's page comes back as a plain dict.
"""
from __future__ import annotations

import datetime as _dt
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import GenerateFeedback, NbGraderException
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

from labgrader.batch import task
from labgrader.batch.preflight import check_submission
from labgrader.batch.runner import _record_failure
from labgrader.cells import grade_id, is_test_cell
from labgrader.exchange.entries import collected_time
from labgrader.exchange.times import format_timestamp, parse_time
from labgrader.lab import notebook_names
from labgrader.locks import student_lock
from labgrader.record import read_notebook_record
from labgrader.safety import paths
from labgrader.text import one_line

from .policy import keeps_in_gradebook, student_due
from .shadow import set_extension, shadow_config

FEEDBACK_DIR = "feedback"  # beside the kept copy: nbgrader's page of each notebook


def init_pool_worker(root: str, db_url: str, settings: dict[str, dict[str, Any]]) -> None:
    """Initializer of the local pool's workers: the batch's, plus: die with the service (a killed
    service leaves no worker grading on its own), and leave Ctrl-C to the service."""
    from labgrader.sandbox.namespaces import die_with_parent
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in (signal.SIGTERM, signal.SIGHUP):  # not the service's stop handlers (inherited by the fork)
        signal.signal(signum, signal.SIG_DFL)
    task.init_worker(root, db_url, settings)


def grade_job(job: dict[str, Any]) -> dict[str, Any]:
    """Grade one kept submission (``job``: key, assignment, student, kept, time). Returns what the
    service journals: ok, error, target ("gradebook" or "shadow"), score, notebooks' checks..."""
    config = task.worker_config()
    root = CourseDirectory(config=config).root
    assignment, student = job["assignment"], job["student"]
    handin = os.path.join(job["kept"], student, assignment)
    with student_lock(root, assignment, student):
        due, extension = _due(config.CourseDirectory.db_url, assignment, student)
        submitted = _submitted(config, assignment, student)
        current = collected_time(submitted) if os.path.isdir(submitted) else None
        new = parse_time(job["time"])
        if keeps_in_gradebook(new, current, student_due(due, extension)):
            target, grading = "gradebook", config
        else:
            target, grading = "shadow", shadow_config(config, assignment)
            if extension:
                set_extension(grading.CourseDirectory.db_url, assignment, student, extension)
            submitted = _submitted(grading, assignment, student)
        place(handin, submitted)
        result = _grade(grading, assignment, student, submitted, target)
        if target == "shadow" and current is not None:
            deadline = student_due(due, extension)
            result["kept_instead"] = format_timestamp(current)
            result["kept_on_time"] = deadline is None or current <= deadline
        if result.get("ok"):
            _keep_feedback(grading, assignment, student, job["kept"], result)
    return result


def _grade(config: Config, assignment: str, student: str, submitted: str, target: str) -> dict[str, Any]:
    db_url = config.CourseDirectory.db_url
    names = notebook_names(db_url, assignment)
    check = check_submission(submitted, [f"{name}.ipynb" for name in names])
    if check.error:
        if target == "gradebook":
            _record_failure(db_url, assignment, student, check.error)
        return {"ok": False, "error": check.error, "target": target}
    record = task.grade_submission(assignment, student, config=None if target == "gradebook" else config)
    if record.lab_error:
        return {"ok": False, "lab_error": record.lab_error, "error": record.lab_error, "target": target}
    if not record.ok:
        if target == "gradebook":
            _record_failure(db_url, assignment, student, record.error)
        return {"ok": False, "error": record.error, "target": target}
    result = {"ok": True, "error": "", "target": target, "notes": check.notes + record.notes,
              "flags": len(record.flags) + record.dropped_flags, "seconds": round(record.seconds, 3)}
    result.update(_scores(config, assignment, student, names))
    return result


def _scores(config: Config, assignment: str, student: str, names: list[str]) -> dict[str, Any]:
    """Score, late penalty and each check (points, message, visible tests' error) of each notebook."""
    coursedir = CourseDirectory(config=config)
    autograded = coursedir.format_path(coursedir.autograded_directory, student, assignment)
    release = coursedir.format_path(coursedir.release_directory, ".", assignment)
    with Gradebook(config.CourseDirectory.db_url) as gb:
        submission = gb.find_submission(assignment, student)
        summary = {"score": submission.score, "max_score": submission.max_score,
                   "penalty": submission.late_submission_penalty or 0.0,
                   "late_seconds": submission.total_seconds_late or 0.0, "notebooks": {}}
        grades = {nb.name: {g.name: (g.score, g.max_score) for g in nb.grades} for nb in submission.notebooks}
    source = coursedir.format_path(coursedir.source_directory, ".", assignment)
    for name in names:
        graded = nbformat.read(os.path.join(autograded, f"{name}.ipynb"), as_version=4)
        kept = read_notebook_record(graded)
        visible = _visible_tests(os.path.join(release, f"{name}.ipynb"))
        hidden = _hidden_tests(os.path.join(source, f"{name}.ipynb"))
        errors = {grade_id(c): _error(c) for c in graded.cells if is_test_cell(c)}
        checks = []
        for gid, shown in visible.items():
            score, points = grades.get(name, {}).get(gid, (0.0, 0.0))
            if kept is None:  # stock nbgrader tests (no lab of ours): a cell's error may come from its hidden part
                shown, error = shown and hidden is not None and gid not in hidden, errors.get(gid, "")
            else:  # the grader recorded what the cell's own code raised before its hand-over
                error = kept.kernel_errors.get(gid, "")
            checks.append({"id": gid, "points": points, "score": score, "visible": shown,
                           "message": kept.messages.get(gid, "") if kept else error, "kernel_error": error})
        summary["notebooks"][name] = {"checks": checks, "faults": list(kept.faults) if kept else []}
    return summary


def _visible_tests(release_notebook: str) -> dict[str, bool]:
    """grade id -> whether its test cell, as released, has tests the student can see and run."""
    nb = nbformat.read(release_notebook, as_version=4)
    found = {}
    for cell in nb.cells:
        if is_test_cell(cell):
            code = [line for line in cell.source.splitlines() if line.strip() and not line.strip().startswith("#")]
            found[grade_id(cell)] = bool(code)
    return found


def _hidden_tests(source_notebook: str) -> set[str] | None:
    """Grade ids whose test cell holds hidden tests (nbgrader's delimiter), in the instructor's
    notebook (None when it cannot be read: then every cell counts as hiding some)."""
    try:
        nb = nbformat.read(source_notebook, as_version=4)
    except OSError:
        return None
    return {grade_id(c) for c in nb.cells if is_test_cell(c) and "BEGIN HIDDEN TESTS" in c.source}


def _error(cell: Any) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return one_line(str(output.get("evalue", "")) or str(output.get("ename", "")), 1000)
    return ""


def _keep_feedback(config: Config, assignment: str, student: str, kept: str, result: dict[str, Any]) -> None:
    """nbgrader's GenerateFeedback for this student; its pages are kept beside the copy."""
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id, coursedir.student_id = assignment, student
    converter = GenerateFeedback(coursedir=coursedir, config=config)
    converter.force = True
    try:
        converter.start()
    except (NbGraderException, Exception) as exc:  # the grade stands; the page falls back to the checks
        result["feedback_error"] = one_line(f"{type(exc).__name__}: {exc}", 300)
        return
    source = coursedir.format_path(coursedir.feedback_directory, student, assignment)
    target = os.path.join(kept, FEEDBACK_DIR)
    os.makedirs(target, mode=0o700, exist_ok=True)
    for name in result["notebooks"]:
        try:
            data = paths.read_regular(os.path.join(source, f"{name}.html"))
        except (OSError, paths.UnsafePath) as exc:
            result["feedback_error"] = one_line(str(exc), 300)
            continue
        Path(target, f"{name}.html").write_bytes(data)


def place(kept: str, dest: str) -> None:
    """Put a copy of the kept hand-in at ``dest`` (replacing what is there only once it is whole).
    The kept copy holds only regular files and folders (the collector made it)."""
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".placing-", dir=parent)
    try:
        shutil.copytree(kept, staging, symlinks=True, dirs_exist_ok=True)
        os.chmod(staging, 0o755)
        if os.path.lexists(dest):
            old = dest + ".old-" + os.path.basename(staging)
            os.rename(dest, old)
            os.rename(staging, dest)
            shutil.rmtree(old)
        else:
            os.rename(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _submitted(config: Config, assignment: str, student: str) -> str:
    coursedir = CourseDirectory(config=config)
    return coursedir.format_path(coursedir.submitted_directory, student, assignment)


def _due(db_url: str, assignment: str, student: str) -> tuple[_dt.datetime | None, _dt.timedelta | None]:
    """The assignment's due date (UTC) and the student's extension, from the gradebook."""
    with Gradebook(db_url) as gb:
        found = gb.find_assignment(assignment).duedate
        try:
            extension = gb.find_submission(assignment, student).extension
        except MissingEntry:
            extension = None
    return (found.replace(tzinfo=_dt.timezone.utc) if found else None), extension
