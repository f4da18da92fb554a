"""An assignment's own grading module: ``source/<assignment>/grading.py``.

It lives with the lab (nbgrader's ``CourseDirectory.ignore`` keeps it out of the release and out
of students' working copies) and is imported only by the grader. What it defines:

``before_student_code``  (optional) code run silently in the kernel just before the first cell a
                         student could have written, e.g. to keep references to the objects the
                         lab's own cells built
``reference_probes()``   the probes for the reference run of the instructor's notebook
``probes(rng, reference)``  fresh probes for one submission (``rng``: numpy Generator)
``judge(grade_id, observations, probe, reference)`` -> ``labgrader.judging.values.Verdict``
"""
import hashlib
import importlib.util
import os

MODULE_FILE = "grading.py"


def lab_directory(coursedir, assignment):
    return coursedir.format_path(coursedir.source_directory, ".", assignment)


def load_lab(coursedir, assignment):
    """The assignment's grading module, or None when it has none (plain nbgrader tests)."""
    path = os.path.join(lab_directory(coursedir, assignment), MODULE_FILE)
    if not os.path.isfile(path):
        return None
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(f"labgrader_lab_{assignment}_{digest}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("reference_probes", "probes", "judge"):
        if not callable(getattr(module, name, None)):
            raise RuntimeError(f"{path} must define a function {name}() (see labgrader/judging/lab.py)")
    return module
