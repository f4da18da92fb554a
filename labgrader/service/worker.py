"""In a grading worker (the service's local pool, or a Dask worker): one submission, from the copy
the service keeps of it to its feedback.

Under the student's grading lock (labgrader/locks.py, which ``python -m labgrader autograde``
takes too): the kept files (labgrader/service/store.py) are written where they count
(``submitted/`` when the gradebook keeps this submission, else the shadow course:
labgrader/service/shadow.py), with the trusted time in ``timestamp.txt``; the batch's pre-flight
checks them; the batch's task grades them (nbgrader's Autograde, sandboxed kernel forked from the
warm fork server); nbgrader's GenerateFeedback writes that student's feedback, which is kept in the
store. Everything the service needs comes in the job (``Job``: the course's facts as the service
read them, so the worker asks the gradebook nothing of its own) and goes back as a ``Result``.
"""
from __future__ import annotations

import datetime as _dt
import os
import shutil
import signal
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from nbgrader.api import Gradebook
from traitlets.config import Config

from labgrader.batch import task
from labgrader.batch.converter import SubmissionFeedback
from labgrader.batch.preflight import check_submission
from labgrader.course import Course
from labgrader.exchange.entries import collected_time
from labgrader.exchange.times import format_timestamp, parse_time
from labgrader.locks import student_lock
from labgrader.record import SubmissionRecord
from labgrader.safety import paths
from labgrader.text import one_line

from .policy import keeps_in_gradebook
from .shadow import set_extension, shadow_config
from .store import FileRef, Manifest, Store

MAX_FEEDBACK_BYTES = 64 * paths.MiB


@dataclass
class Job:
    """One grading, as the service hands it to a worker."""
    key: str
    assignment: str
    student: str
    time: str                                   # the trusted time of receipt (UTC)
    files: list[list[Any]]                      # the manifest: [path, sha256, size]
    notebooks: list[str]                        # the assignment's, without .ipynb
    due: str | None = None                      # the assignment's due date (UTC), as the service read it
    extension_seconds: float = 0.0              # the student's extension

    def manifest(self) -> Manifest:
        return Manifest(tuple(FileRef(p, s, int(n)) for p, s, n in self.files))

    def student_due(self) -> _dt.datetime | None:
        if self.due is None:
            return None
        return parse_time(self.due) + _dt.timedelta(seconds=self.extension_seconds)


@dataclass
class Result:
    """What a grading gives back: the record, where it went, and its cost."""
    record: dict[str, Any]                      # SubmissionRecord.as_dict()
    target: str = "gradebook"                   # or "shadow": graded for the student only
    lab_error: str = ""                         # the lab, not the submission, is broken
    kept_instead: str = ""                      # shadow: the submission the gradebook keeps (its time)
    kept_on_time: bool = False
    feedback: dict[str, list[Any]] = field(default_factory=dict)  # notebook -> [sha256, size] of nbgrader's page
    feedback_error: str = ""
    seconds: float = 0.0                        # wall clock in the worker
    cpu_seconds: float = 0.0                    # the worker's CPU time

    @property
    def charge(self) -> float:
        """What the grading costs its student's budget (policy.grading_budget_seconds)."""
        return max(self.seconds, self.cpu_seconds)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def init_pool_worker(root: str, db_url: str, settings: dict[str, dict[str, Any]]) -> None:
    """Initializer of the local pool's workers: the batch's, plus: die with the service (a killed
    service leaves no worker grading on its own), and leave Ctrl-C to the service."""
    from labgrader.sandbox.namespaces import die_with_parent
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in (signal.SIGTERM, signal.SIGHUP):  # not the service's stop handlers (inherited by the fork)
        signal.signal(signum, signal.SIG_DFL)
    task.init_worker(root, db_url, settings)


def grade_job(data: dict[str, Any]) -> dict[str, Any]:
    """Grade one kept submission (``data``: a ``Job`` as a dict); returns a ``Result`` as a dict."""
    started, cpu = time.monotonic(), time.process_time()
    job = Job(**data)
    config = task.worker_config()
    course = Course(config.CourseDirectory.root, config)
    with student_lock(course.root, job.assignment, job.student):
        result = _grade_kept(course, config, job)
    result.seconds, result.cpu_seconds = time.monotonic() - started, time.process_time() - cpu
    return result.as_dict()


def _grade_kept(course: Course, config: Config, job: Job) -> Result:
    submitted = course.path(course.coursedir.submitted_directory, job.student, job.assignment)
    current = collected_time(submitted) if os.path.isdir(submitted) else None
    new, due = parse_time(job.time), job.student_due()
    result = Result({})
    grading = config
    if not keeps_in_gradebook(new, current, due):
        result.target, grading = "shadow", shadow_config(config, job.assignment)
        if job.extension_seconds:
            set_extension(grading.CourseDirectory.db_url, job.assignment, job.student,
                          _dt.timedelta(seconds=job.extension_seconds))
        submitted = Course(grading.CourseDirectory.root, grading).path(
            course.coursedir.submitted_directory, job.student, job.assignment)
        if current is not None:
            result.kept_instead, result.kept_on_time = format_timestamp(current), due is None or current <= due
    place(Store(course.root), job.manifest(), new, submitted)
    record = _grade(Course(grading.CourseDirectory.root, grading), grading, job, submitted, result.target)
    result.record, result.lab_error = record.as_dict(), record.lab_error
    if record.ok:
        _keep_feedback(grading, job, course, result)
    return result


def _grade(course: Course, config: Config, job: Job, submitted: str, target: str) -> SubmissionRecord:
    check = check_submission(submitted, [f"{name}.ipynb" for name in job.notebooks])
    if check.error:
        if target == "gradebook":
            course.record_failure(job.assignment, job.student, check.error)
        return SubmissionRecord(job.student, job.assignment, error=check.error, notes=check.notes)
    record = task.grade_submission(job.assignment, job.student, config=None if target == "gradebook" else config)
    record.notes = check.notes + record.notes
    if not record.ok and not record.lab_error and target == "gradebook":
        course.record_failure(job.assignment, job.student, record.error)
    return record


def _keep_feedback(config: Config, job: Job, course: Course, result: Result) -> None:
    """nbgrader's GenerateFeedback for this student; its pages are kept in the service's store."""
    coursedir = Course(config.CourseDirectory.root, config).coursedir
    coursedir.assignment_id, coursedir.student_id = job.assignment, job.student
    try:
        with Gradebook(coursedir.db_url, coursedir.course_id) as gradebook:  # the submission's second and last
            converter = SubmissionFeedback(gradebook, coursedir=coursedir, config=config)
            converter.force = True
            converter.start()
    except Exception as exc:  # the grade stands; the page falls back to the checks
        result.feedback_error = one_line(f"{type(exc).__name__}: {exc}", 300)
        return
    source = coursedir.format_path(coursedir.feedback_directory, job.student, job.assignment)
    store = Store(course.root)
    for name in job.notebooks:
        try:
            ref = store.put_bytes(paths.read_regular(os.path.join(source, f"{name}.html"), MAX_FEEDBACK_BYTES))
        except (OSError, paths.UnsafePath) as exc:
            result.feedback_error = one_line(str(exc), 300)
            continue
        result.feedback[name] = [ref.sha256, ref.size]


def place(store: Store, manifest: Manifest, received: _dt.datetime, dest: str) -> None:
    """Write the kept files at ``dest`` with the trusted ``timestamp.txt`` (replacing what is there
    only once the new copy is whole)."""
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".placing-", dir=parent)
    try:
        folder = os.path.join(staging, "handin")
        store.materialize(manifest, folder)
        with open(os.path.join(folder, "timestamp.txt"), "x") as fh:
            fh.write(format_timestamp(received))
        paths.replace_folder(folder, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


__all__ = ["Job", "Result", "grade_job", "init_pool_worker", "place"]
