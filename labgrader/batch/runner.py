"""Grade a class on a pool of workers; record what failed and why."""
import contextlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from tqdm import tqdm

from labgrader.kernels import forkserver
from labgrader.sandbox import SandboxUnavailable, check_once
from labgrader.student_ids import refusal

from . import task
from .preflight import check_submission


def sqlite_with_busy_timeout(db_url, seconds=120):
    """Several workers write to one SQLite file: let each wait for the lock instead of failing."""
    if db_url.startswith("sqlite:") and "timeout=" not in db_url:
        return db_url + ("&" if "?" in db_url else "?") + f"timeout={seconds}"
    return db_url


def submissions(root, assignment, students=None):
    base = Path(root) / "submitted"
    found = sorted(p.name for p in base.iterdir() if (p / assignment).is_dir()) if base.is_dir() else []
    return [s for s in found if not students or s in students]


def grade_class(root, assignment="embeddings", students=None, workers=None, executor=None,
                force=True, progress=True, notebook="embeddings.ipynb", warm=True):
    """Autograde every submission of ``assignment`` (or ``students``) and return the report.

    ``executor``: any ``concurrent.futures.Executor`` whose workers were started with
    ``task.init_worker(root, db_url)``; by default a local process pool of ``workers``
    processes (cores + 1). A distributed engine plugs in here (Dask's ``Client.get_executor()``
    is one); its workers need the course directory and, to fork warm kernels, a fork server of
    their own (the LABGRADER_FORKSERVER variable), else they start each kernel cold under bwrap.
    ``warm``: fork each kernel from a parent that imported TensorFlow once (else start each cold).
    """
    root = Path(root).resolve()
    task.quiet_nbgrader_warnings()
    config = task.load_config(root)
    db_url = sqlite_with_busy_timeout(config.CourseDirectory.db_url)
    _require_sandbox(config)
    _require_assignment(db_url, assignment)
    started = time.monotonic()
    report = {"assignment": assignment, "db_url": config.CourseDirectory.db_url, "results": []}

    gradable = []
    for student in submissions(root, assignment, students):
        if refusal(student):  # a glob-like id would make nbgrader grade someone else's notebook
            _record_failure(db_url, assignment, student, refusal(student))
            report["results"].append(asdict(task.Outcome(student, False, 0.0, refusal(student))))
            continue
        check = check_submission(root / "submitted" / student / assignment, notebook)
        if check.error:
            _record_failure(db_url, assignment, student, check.error)
            report["results"].append(asdict(task.Outcome(student, False, 0.0, check.error, check.notes)))
        else:
            gradable.append((student, check.notes))

    # One more worker than cores: each worker also waits on its kernel (start-up, messages).
    workers = workers or (os.cpu_count() or 1) + 1
    own = executor is None
    with contextlib.ExitStack() as stack:
        server = None
        if warm and gradable:
            # Kernels are forked from one parent that imports TensorFlow once (workers inherit the variable).
            server = stack.enter_context(forkserver.Running(wait=False))
            os.environ["LABGRADER_FORKSERVER"] = server.socket
            stack.callback(os.environ.pop, "LABGRADER_FORKSERVER", None)
        executor = executor or ProcessPoolExecutor(max_workers=workers, initializer=task.init_worker,
                                                   initargs=(root, db_url))
        if own:
            stack.callback(executor.shutdown)
        if server:
            server.ready()
        _grade_all(executor, gradable, assignment, force, progress, db_url, report)

    report["results"].sort(key=lambda r: r["student"])

    report["seconds"] = round(time.monotonic() - started, 2)
    report["workers"] = workers
    (root / "grading_report.json").write_text(json.dumps(report, indent=2))
    return report


def _grade_all(executor, gradable, assignment, force, progress, db_url, report):
    futures = {executor.submit(task.grade_submission, assignment, s, force): (s, notes) for s, notes in gradable}
    with tqdm(total=len(futures), unit="submission", disable=not progress, dynamic_ncols=True) as bar:
        for future in as_completed(futures):
            student, notes = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # a worker process died: the submission is reported, not lost
                outcome = task.Outcome(student, False, 0.0, f"grading worker failed: {type(exc).__name__}: {exc}")
            outcome.notes = notes + outcome.notes
            if not outcome.ok:
                _record_failure(db_url, assignment, outcome.student, outcome.error)
            report["results"].append(asdict(outcome))
            bar.set_postfix_str(outcome.student[:20])
            bar.update()


def _require_sandbox(config):
    """Stop before touching any grade when the sandbox cannot be made (unless opted out)."""
    if config.GradingKernelManager.get("sandbox", True):
        try:
            check_once()
        except SandboxUnavailable as exc:
            raise SystemExit(f"Cannot grade: {exc}") from None


def _require_assignment(db_url, assignment):
    with Gradebook(db_url) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise SystemExit(f"The gradebook has no assignment {assignment!r}: run "
                             f"`nbgrader generate_assignment {assignment}` first.") from None


def _record_failure(db_url, assignment, student, reason):
    """A submission that could not be graded scores 0 and is flagged for manual grading, so a
    failed re-grade never leaves an old grade standing silently."""
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
