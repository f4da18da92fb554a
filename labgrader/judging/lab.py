"""An assignment's own grading module: ``source/<assignment>/grading.py``.

It lives with the lab (nbgrader's ``CourseDirectory.ignore`` keeps it out of the release and out
of students' working copies) and is imported only by the grader. What it defines:

``before_student_code``  (optional) code run silently in the kernel just before the first cell a
                         student could have written, e.g. to keep references to the objects the
                         lab's own cells built
``reference_probes()``   the probes for the reference run of the instructor's notebook
``probes(rng, reference)``  fresh probes for one submission (``rng``: numpy Generator)
``judge(grade_id, observations, probe, reference)`` -> ``labgrader.judging.values.Verdict``
``observer_modules``     (optional) names of the modules beside the notebook that the hidden tests
                         import; the grader sends its own copy of each before every test cell
``protected_modules``, ``protected_classes``  (optional) dotted names put back as they were
                         before student code, before every test cell
``protected_names``      (optional) names the lab's own cells define, which a cell added before the
                         first answer must not rebind (flagged by FlagTampering)
``warm_imports``         (optional) modules the batch command's fork server imports once, so that
                         each submission's kernel starts with them loaded (e.g. "tensorflow")

The notebooks of an assignment, their names and grade ids come from nbgrader (the gradebook
written by ``nbgrader generate_assignment``); one grading module serves all of them, so grade
ids must be unique within the assignment.
"""
import hashlib
import importlib.util
import os

MODULE_FILE = "grading.py"


def lab_directory(coursedir, assignment):
    return coursedir.format_path(coursedir.source_directory, ".", assignment)


def notebook_names(db_url, assignment):
    """The assignment's notebook names (without .ipynb), as nbgrader's gradebook records them."""
    from nbgrader.api import Gradebook
    with Gradebook(db_url) as gb:
        return [notebook.name for notebook in gb.find_assignment(assignment).notebooks]


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
