"""Grade a class on a pool of workers; record what failed and why."""
import contextlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from tqdm import tqdm

from labgrader.judging.lab import load_lab, notebook_names
from labgrader.judging.reference import NotReady, check_ready
from labgrader.kernels import forkserver
from labgrader.sandbox import SandboxUnavailable, check_once
from labgrader.student_ids import refusal

from . import task
from .preflight import check_submission
from .record import SubmissionRecord, report_path


def sqlite_with_busy_timeout(db_url, seconds=120):
    """Several workers write to one SQLite file: let each wait for the lock instead of failing."""
    if db_url.startswith("sqlite:") and "timeout=" not in db_url:
        return db_url + ("&" if "?" in db_url else "?") + f"timeout={seconds}"
    return db_url


def submissions(root, assignment, students=None):
    base = Path(root) / "submitted"
    found = sorted(p.name for p in base.iterdir() if (p / assignment).is_dir()) if base.is_dir() else []
    return [s for s in found if not students or s in students]


def grade_class(root, assignment, students=None, workers=None, executor=None,
                force=True, progress=True, warm=True):
    """Autograde every submission of ``assignment`` (or ``students``) and return the report
    (also written to ``grading_report_<assignment>.json``): one SubmissionRecord (as a dict) per
    submission in ``report["results"]``. The assignment's notebooks are the gradebook's.

    ``executor``: any ``concurrent.futures.Executor`` whose workers were started with
    ``task.init_worker(root, db_url)``; by default a local process pool of ``workers``
    processes (cores + 1). A distributed engine plugs in here (Dask's ``Client.get_executor()``
    is one); its workers need the course directory and, to fork warm kernels, a fork server of
    their own (the LABGRADER_FORKSERVER variable), else they start each kernel cold under bwrap.
    ``warm``: fork each kernel from a parent that imported the lab's ``warm_imports`` once (else
    start each cold). Before any submission is graded, one kernel runs the instructor's notebook
    with its hidden tests (labgrader.judging.ready): if it cannot, grading stops (SystemExit).
    """
    root = Path(root).resolve()
    task.quiet_nbgrader_warnings()
    config = task.load_config(root)
    db_url = sqlite_with_busy_timeout(config.CourseDirectory.db_url)
    task.require_sandboxed(config)
    _require_sandbox(config)
    _require_assignment(db_url, assignment)
    notebooks = [f"{name}.ipynb" for name in notebook_names(db_url, assignment)]
    started = time.monotonic()
    report = {"assignment": assignment, "notebooks": notebooks, "db_url": config.CourseDirectory.db_url,
              "results": []}

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

    # One more worker than cores: each worker also waits on its kernel (start-up, messages).
    workers = workers or (os.cpu_count() or 1) + 1
    own = executor is None
    with contextlib.ExitStack() as stack:
        server = None
        if warm and gradable:
            # Kernels are forked from one parent that imports the lab's modules once (workers inherit the variable).
            lab = load_lab(task.course_directory(config), assignment)
            server = stack.enter_context(forkserver.Running(wait=False, imports=getattr(lab, "warm_imports", ()), config=config))
            os.environ["LABGRADER_FORKSERVER"] = server.socket
            stack.callback(os.environ.pop, "LABGRADER_FORKSERVER", None)
        executor = executor or ProcessPoolExecutor(max_workers=workers, initializer=task.init_worker,
                                                   initargs=(root, db_url))
        if own:
            stack.callback(executor.shutdown)
        if server:
            server.ready()
        if gradable:
            if server:  # the check's kernel is forked like the students' ones
                config.GradingKernelManager.fork_server = server.socket
            _require_ready(config, assignment, [n[:-len(".ipynb")] for n in notebooks])
        _grade_all(executor, gradable, assignment, force, progress, db_url, report)

    report["results"].sort(key=lambda r: r["student"])

    report["seconds"] = round(time.monotonic() - started, 2)
    report["workers"] = workers
    report_path(root, assignment).write_text(json.dumps(report, indent=2))
    return report


def _grade_all(executor, gradable, assignment, force, progress, db_url, report):
    futures = {executor.submit(task.grade_submission, assignment, s, force): (s, notes) for s, notes in gradable}
    with tqdm(total=len(futures), unit="submission", disable=not progress, dynamic_ncols=True) as bar:
        for future in as_completed(futures):
            student, notes = futures[future]
            try:
                record = future.result()
            except Exception as exc:  # a worker process died or refused: the submission is reported, not lost
                record = SubmissionRecord(student, assignment, error=f"grading worker failed: {type(exc).__name__}: {exc}")
            record.notes = notes + record.notes
            if not record.ok:
                _record_failure(db_url, assignment, record.student, record.error)
            report["results"].append(record.as_dict())
            bar.set_postfix_str(record.student[:20])
            bar.update()


def _require_sandbox(config):
    """Stop before touching any grade when the sandbox cannot be made (unless opted out)."""
    if config.GradingKernelManager.get("sandbox", True):
        try:
            check_once()
        except SandboxUnavailable as exc:
            raise SystemExit(f"Cannot grade: {exc}") from None


def _require_ready(config, assignment, notebooks):
    """One kernel per notebook runs the instructor's notebook with its hidden tests before any
    student's is graded (labgrader.judging.ready): zeros for a whole class are worse than no grades."""
    coursedir = task.course_directory(config)
    lab = load_lab(coursedir, assignment)
    if lab is None:
        return
    try:
        check_ready(config, coursedir, assignment, notebooks, lab)
    except NotReady as exc:
        raise SystemExit(str(exc)) from None


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
