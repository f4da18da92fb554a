"""Call counters for the work-once tests (grader_tests/batch/test_work_once.py,
grader_tests/service/test_service_work_once.py): each call is written to a file, one JSON line, with
its process and the submission being graded there. A driver process installs them; processes forked
from it inherit them, and the service's pool workers, which are not (multiprocessing's fork server
starts them), install them in their initializer (``init_counting_worker``)."""
import functools
import json
import os


class CallLog:
    def __init__(self, path):
        self.log = open(path, "a", buffering=1)
        self.student = None  # the submission being graded in this process

    def count(self, owner, name, what):
        """Write a line for each call of ``owner.name``."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            self.log.write(json.dumps({"pid": os.getpid(), "what": what, "student": self.student}) + "\n")
            return original(*args, **kwargs)
        setattr(owner, name, wrapper)

    def grading(self, owner, name, student_of):
        """Calls counted while ``owner.name`` runs are that submission's (``student_of(*args)``)."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            self.student = student_of(*args, **kwargs)
            try:
                return original(*args, **kwargs)
            finally:
                self.student = None
        setattr(owner, name, wrapper)


def install_service_counters(path):
    """The service's: gradebooks opened and notebooks read, per job of ``worker.grade_job``."""
    import nbformat
    import nbgrader.api

    from labgrader.service import worker
    calls = CallLog(path)
    calls.count(nbgrader.api.Gradebook, "__init__", "gradebook")
    calls.count(nbformat, "read", "notebook read")
    calls.grading(worker, "grade_job", lambda job: job["student"])


def init_counting_worker(path, root, db_url, settings):
    install_service_counters(path)
    from labgrader.service.worker import init_pool_worker
    init_pool_worker(root, db_url, settings)
