"""One submission, graded by nbgrader's own Autograde converter (in a worker process)."""
import logging
import time

from nbgrader.converters import Autograde, NbGraderException
from nbgrader.coursedir import CourseDirectory
from traitlets.config.loader import PyFileConfigLoader

from .record import SubmissionRecord

_config = None

SANDBOXED_STEP = "GuardedExecute"  # runs every kernel through the sandboxed kernel manager


class NotInitialized(RuntimeError):
    """grade_submission in a process that did not run init_worker: it would grade unsandboxed."""


def load_config(root, db_url=None):
    """nbgrader_config.py of the course, as plain `nbgrader` would read it from the repo root."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    if db_url:
        config.CourseDirectory.db_url = db_url
    return config


def course_directory(config):
    return CourseDirectory(config=config)


def init_worker(root, db_url):
    """Run in every worker process before it grades: the course's own configuration."""
    global _config
    config = load_config(root, db_url)
    require_sandboxed(config)
    _config = config
    quiet_nbgrader_warnings()


def require_sandboxed(config):
    """Refuse a configuration whose autograde steps would not start kernels through our
    sandboxed kernel manager (stock nbgrader: student code with the grader's permissions)."""
    steps = config.Autograde.get("autograde_preprocessors", [])
    names = {getattr(step, "__name__", str(step).rpartition(".")[2]) for step in steps}
    if SANDBOXED_STEP not in names:
        raise NotInitialized(f"the course's nbgrader_config.py does not run {SANDBOXED_STEP} in "
                             "c.Autograde.autograde_preprocessors: refusing to grade without the sandbox")


def quiet_nbgrader_warnings():
    """nbgrader 0.9's gradebook code triggers harmless SQLAlchemy 2 session warnings on every
    submission; they would bury the progress bar and the summary."""
    import warnings
    from sqlalchemy.exc import SAWarning
    warnings.filterwarnings("ignore", category=SAWarning)


class _Collect(logging.Handler):
    """nbgrader's own error lines: the reason of a failure nbgrader reports only in its log."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


class RecordingAutograde(Autograde):
    """nbgrader's Autograde, keeping each notebook's ``resources["labgrader"]`` (what the
    preprocessors recorded) instead of dropping it after the notebook is written."""

    def start(self):
        self.recorded = {}
        super().start()

    def write_single_notebook(self, output, resources):
        # called twice per notebook: after sanitizing (RestoreTestCells' notes) and after grading
        notebook = resources.get("nbgrader", {}).get("notebook", resources.get("unique_key", "?"))
        recorded = self.recorded.setdefault(notebook, {})
        for key, value in resources.get("labgrader", {}).items():
            if isinstance(value, list):
                recorded.setdefault(key, []).extend(v for v in value if v not in recorded[key])
            else:
                recorded[key] = value
        return super().write_single_notebook(output, resources)


def grade_submission(assignment, student, force=True):
    """Autograde one student's submission and return its SubmissionRecord; never raises, except
    in a process that did not run ``init_worker`` (NotInitialized: it refuses to grade)."""
    if _config is None:
        raise NotInitialized("this process was not started through labgrader.batch.task.init_worker "
                             "(the course's sandboxed configuration): refusing to grade")
    started = time.monotonic()
    coursedir = CourseDirectory(config=_config)
    coursedir.assignment_id, coursedir.student_id = assignment, student
    converter = RecordingAutograde(coursedir=coursedir, config=_config)
    converter.force = force
    collect = _Collect()
    converter.log.addHandler(collect)
    try:
        converter.start()
        ok, error = True, ""
    except NbGraderException:
        ok, error = False, _reason(collect.records) or "nbgrader could not grade this submission"
    except Exception as exc:  # anything else must not take the batch down
        ok, error = False, f"{type(exc).__name__}: {exc}"
    finally:
        converter.log.removeHandler(collect)
    record = SubmissionRecord(student, assignment, ok, time.monotonic() - started, error)
    for notebook, facts in sorted(getattr(converter, "recorded", {}).items()):
        record.notes += facts.get("notes", [])
        record.faults += [f"{notebook}: {fault}" for fault in facts.get("faults", [])]
        record.flags += facts.get("flags", [])
    if ok:
        record.scores = notebook_scores(_config.CourseDirectory.db_url, assignment, student)
    record.timings["grading"] = round(record.seconds, 3)
    return record


def notebook_scores(db_url, assignment, student):
    """{notebook: {grade id: score}} of one submission, as nbgrader saved them."""
    from nbgrader.api import Gradebook
    with Gradebook(db_url) as gb:
        submission = gb.find_submission(assignment, student)
        return {nb.name: {grade.name: grade.score for grade in nb.grades} for nb in submission.notebooks}


def _reason(records):
    """The most telling line of nbgrader's error log for a failed submission."""
    for record in records:
        text = record.getMessage()
        for line in reversed(text.strip().splitlines()):
            if "Error" in line and "Traceback" not in line:
                return line.strip()
    return records[-1].getMessage().strip().splitlines()[-1] if records else ""
