"""One submission, graded by nbgrader's own Autograde converter (in a worker process)."""
import logging
import time
from dataclasses import dataclass, field

from nbgrader.converters import Autograde, NbGraderException
from nbgrader.coursedir import CourseDirectory
from traitlets.config.loader import PyFileConfigLoader

_config = None


@dataclass
class Outcome:
    student: str
    ok: bool
    seconds: float
    error: str = ""
    notes: list = field(default_factory=list)
    flags: list = field(default_factory=list)  # FlagTampering's findings: graded, but to be reviewed


def load_config(root, db_url=None):
    """nbgrader_config.py of the course, as plain `nbgrader` would read it from the repo root."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    if db_url:
        config.CourseDirectory.db_url = db_url
    return config


def init_worker(root, db_url):
    global _config
    _config = load_config(root, db_url)
    quiet_nbgrader_warnings()


def quiet_nbgrader_warnings():
    """nbgrader 0.9's gradebook code triggers harmless SQLAlchemy 2 session warnings on every
    submission; they would bury the progress bar and the summary."""
    import warnings
    from sqlalchemy.exc import SAWarning
    warnings.filterwarnings("ignore", category=SAWarning)


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def grade_submission(assignment, student, force=True):
    """Autograde one student's submission; never raises."""
    started = time.monotonic()
    coursedir = CourseDirectory(config=_config)
    coursedir.assignment_id, coursedir.student_id = assignment, student
    converter = Autograde(coursedir=coursedir, config=_config)
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
    prefix = f"[labgrader] {student}: "
    notes = [r.getMessage()[len(prefix):] for r in collect.records if r.getMessage().startswith(prefix)]
    flags = [flag for r in collect.records for flag in getattr(r, "flags", [])]
    return Outcome(student, ok, time.monotonic() - started, error, notes, flags)


def _reason(records):
    """The most telling line of nbgrader's error log for a failed submission."""
    for record in records:
        text = record.getMessage()
        for line in reversed(text.strip().splitlines()):
            if "Error" in line and "Traceback" not in line:
                return line.strip()
    return records[-1].getMessage().strip().splitlines()[-1] if records else ""
