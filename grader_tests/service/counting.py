"""The counters of test_service_work_once.py: every gradebook opened and notebook read, written to a
file with the process and the submission being graded there. The service's pool workers are forked
by multiprocessing's fork server, not by the driver, so they do not inherit the driver's wrappers:
their initializer (``init_counting_worker``) installs the same ones."""
import functools
import json
import os

current = {"student": None}


def install(calls):
    import nbformat
    import nbgrader.api

    from labgrader.service import worker
    log = open(calls, "a", buffering=1)

    def counted(owner, name, what):
        original = getattr(owner, name)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            log.write(json.dumps({"pid": os.getpid(), "what": what, "student": current["student"]}) + "\n")
            return original(*args, **kwargs)
        setattr(owner, name, wrapper)

    counted(nbgrader.api.Gradebook, "__init__", "gradebook")
    counted(nbformat, "read", "notebook read")
    original = worker.grade_job

    @functools.wraps(original)
    def grade_job(job):
        current["student"] = job["student"]
        try:
            return original(job)
        finally:
            current["student"] = None
    worker.grade_job = grade_job


def init_counting_worker(calls, root, db_url, settings):
    install(calls)
    from labgrader.service.worker import init_pool_worker
    init_pool_worker(root, db_url, settings)
