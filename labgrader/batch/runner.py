"""Grade a class on a pool of workers; record what failed and why."""
from __future__ import annotations

import contextlib
import importlib
import json
import os
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from tqdm import tqdm

from labgrader.config import load_course_config
from labgrader.errors import LabgraderError
from labgrader.course import Course, record_failure, sqlite_with_busy_timeout
from labgrader.exchange.report import refusals
from labgrader.kernels import forkserver
from labgrader.kernels.manager import GradingKernelManager
from labgrader.lab import LabError, load_lab, notebook_names
from labgrader.quiet import quiet_tensorflow_import
from labgrader.record import SubmissionRecord, report_path
from labgrader.sandbox import SandboxUnavailable, check_once, scratch
from labgrader.student_ids import refusal

from . import task
from .preflight import check_submission


class GradingStopped(LabgraderError, RuntimeError):
    """The class cannot be graded here (no sandbox, no assignment, a broken lab); the message says
    what to do. Nothing was recorded for the submissions not graded."""


def submissions(root: str | Path, assignment: str, students: list[str] | None = None) -> list[str]:
    base = Path(root) / "submitted"
    found = sorted(p.name for p in base.iterdir() if (p / assignment).is_dir()) if base.is_dir() else []
    return [s for s in found if not students or s in students]


def grade_class(root: str | Path, assignment: str, students: list[str] | None = None, workers: int | None = None,
                executor: Executor | None = None, force: bool = True, progress: bool = True,
                warm: bool = True) -> dict[str, Any]:
    """Autograde every submission of ``assignment`` (or ``students``) and return the report (also
    written to ``grading_report_<assignment>.json``): one SubmissionRecord (as a dict) per
    submission in ``report["results"]``. The assignment's notebooks are the gradebook's.

    ``executor``: any ``concurrent.futures.Executor`` whose workers were started with
    ``task.init_worker(root, db_url, settings)``; by default a local process pool of ``workers``
    processes (cores + 1). ``warm``: fork each kernel from a parent that imported the lab's
    ``warm_imports`` once (else start each cold). Before any submission is graded, a worker runs
    the instructor's notebook and judges it (labgrader.reference_run): if that fails, or if a
    lab error stops grading midway, GradingStopped says why (``report["stopped"]`` too).
    """
    root = Path(root).resolve()
    task.quiet_nbgrader_warnings()
    config = load_course_config(root)
    db_url = sqlite_with_busy_timeout(config.CourseDirectory.db_url)
    task.require_sandboxed(config)
    _require_sandbox(config)
    _require_assignment(db_url, assignment)
    try:
        lab = load_lab(task.course_directory(config), assignment)
    except LabError as exc:
        raise GradingStopped(str(exc)) from None
    names = notebook_names(db_url, assignment)
    notebooks = [f"{name}.ipynb" for name in names]
    started = time.monotonic()
    report: dict[str, Any] = {"assignment": assignment, "notebooks": notebooks, "db_url": config.CourseDirectory.db_url,
                              "results": [], "stopped": "", "refused": refusals(str(root), assignment)}

    gradable = []
    for student in submissions(root, assignment, students):
        if refusal(student):  # a glob-like id would make nbgrader grade someone else's notebook
            _record_failure(db_url, assignment, student, refusal(student))
            report["results"].append(SubmissionRecord(student, assignment, error=refusal(student)).as_dict())
            continue
        check = check_submission(root / "submitted" / student / assignment, notebooks)
        if check.error:
            _record_failure(db_url, assignment, student, check.error)
            report["results"].append(SubmissionRecord(student, assignment, error=check.error, notes=check.notes).as_dict())
        else:
            gradable.append((student, check.notes))

    # The rows every grading writes to, made here once: workers inserting the same row at once fail
    # one honest grading ("UNIQUE constraint failed: course.id").
    Course(root, config, db_url).prepare_rows(assignment, [student for student, _ in gradable])
    # One more worker than cores: each worker also waits on its kernel (start-up, messages).
    workers = workers or (os.cpu_count() or 1) + 1
    own = executor is None
    try:
        with contextlib.ExitStack() as stack:
            settings: dict[str, dict[str, Any]] = {}
            server = None
            if warm and gradable:
                # Kernels are forked from one parent that imports the lab's modules once.
                server = stack.enter_context(forkserver.Running(wait=False, imports=lab.warm_imports if lab else (), config=config))
                settings["GradingKernelManager"] = {"fork_server": server.socket}
            if own and gradable and lab is not None:
                warm_up(lab.warm_imports)  # imported here, inherited by the workers (no TensorFlow op runs here)
            executor = executor or ProcessPoolExecutor(max_workers=workers, initializer=task.init_worker,
                                                       initargs=(root, db_url, settings))
            if own:
                stack.callback(executor.shutdown, cancel_futures=True)
            if server:
                server.ready()
            if gradable and lab is not None:
                try:  # in a worker: judging the instructor's answers runs TensorFlow
                    executor.submit(task.check_ready, assignment, names).result()
                except LabError as exc:
                    raise GradingStopped(str(exc)) from None
            _grade_all(executor, gradable, assignment, force, progress, db_url, report)
    finally:
        if own:  # the pool's workers have ended (os._exit: no atexit); what a kernel's teardown missed
            scratch.remove_stale()
        report["results"].sort(key=lambda r: r["student"])
        report["seconds"] = round(time.monotonic() - started, 2)
        report["workers"] = workers
        report_path(root, assignment).write_text(json.dumps(report, indent=2))
    if report["stopped"]:
        raise GradingStopped(report["stopped"])
    return report


def warm_up(modules: tuple[str, ...]) -> None:
    """Import the lab's heavy modules (TensorFlow) before the workers are forked, quietly."""
    quiet_tensorflow_import()
    for name in modules:
        importlib.import_module(name)


def _grade_all(executor: Executor, gradable: list, assignment: str, force: bool, progress: bool, db_url: str,
               report: dict[str, Any]) -> None:
    futures: dict[Future, tuple[str, list]] = {
        executor.submit(task.grade_submission, assignment, s, force): (s, notes) for s, notes in gradable}
    decided = len(report["results"])  # refused before grading: counted, so the bar's total is the class's
    # on a terminal only (None: tqdm's own check), never as carriage-return lines in a log
    with tqdm(total=len(futures) + decided, initial=decided, unit="submission", disable=None if progress else True,
              dynamic_ncols=True) as bar:
        for future in as_completed(futures):
            student, notes = futures[future]
            if future.cancelled():
                continue
            try:
                record = future.result()
            except Exception as exc:  # a worker process died or refused: the submission is reported, not lost
                record = SubmissionRecord(student, assignment, error=f"grading worker failed: {type(exc).__name__}: {exc}")
            record.notes = notes + record.notes
            if record.lab_error:
                if not report["stopped"]:
                    report["stopped"] = record.lab_error
                    for other in futures:
                        other.cancel()  # those not started yet: their grades stay as they were
                record.error = f"not graded: grading stopped ({record.lab_error})"
            elif not record.ok:
                _record_failure(db_url, assignment, record.student, record.error)
            report["results"].append(record.as_dict())
            bar.set_postfix_str(record.student[:20])
            bar.update()
    for future, (student, notes) in futures.items():
        if future.cancelled():
            report["results"].append(SubmissionRecord(student, assignment, notes=notes,
                                                      error="not graded: grading stopped before it (see above)").as_dict())


def _require_sandbox(config: Any) -> None:
    """Stop before touching any grade when the sandbox cannot be made (unless opted out)."""
    if GradingKernelManager(config=config).sandbox:
        try:
            check_once()
        except SandboxUnavailable as exc:
            raise GradingStopped(f"Cannot grade: {exc}") from None


def _require_assignment(db_url: str, assignment: str) -> None:
    with Gradebook(db_url) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise GradingStopped(f"The gradebook has no assignment {assignment!r}: run "
                                 f"`nbgrader generate_assignment {assignment}` first.") from None


def _record_failure(db_url: str, assignment: str, student: str, reason: str) -> None:
    """A submission that could not be graded scores 0 and is flagged for manual grading, so a
    failed re-grade never leaves an old grade standing silently (``Course.record_failure``)."""
    record_failure(db_url, assignment, student, reason)
