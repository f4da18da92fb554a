"""Shared fixtures: a throw-away copy of the course, and the whole corpus graded once by the
real `nbgrader autograde` (real kernels, real TensorFlow)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import snippets as submissions
from labgrader.reports.gradebook import cell_scores

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "grader_tests" / "submissions"
ASSIGNMENT = "embeddings"
COURSE_FILES = ["source", "release", "nbgrader_config.py"]


# The class on a real JupyterHub (grader_tests/hub/hub.py): its fixtures are a plugin, registered once,
# so that every module shares one hub (a session fixture imported into two modules would be two).
sys.path.insert(0, str(REPO / "grader_tests" / "hub"))
pytest_plugins = ["hub"]


# Modules whose tests start kernels, nbgrader commands or Chromium: `-m "not slow"` skips them
# (a new module that does so: add it here, or set ``pytestmark = pytest.mark.slow`` in it).
SLOW_MODULES = {"test_distributed", "test_postgresql", "test_demo", "test_release", "test_source_notebook",
                "test_corpus", "test_hostile", "test_messages", "test_validate", "test_flags",
                "test_class_report", "test_feedback_and_export", "test_outputs_hostile", "test_path_attacks",
                "test_caps", "test_rootless", "test_sandbox", "test_second_lab"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__.rpartition(".")[2] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


def nbgrader(course, *args, check=True, timeout=1800):
    """Run a real nbgrader command in ``course``, with the venv's bin/ on PATH (alembic)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *args], cwd=course, env=env,
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"nbgrader {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def copy_course(dest):
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in COURSE_FILES:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    return dest


def corpus(kind=None):
    """Every submission of the corpus (or of one kind: correct, wrong, hostile)."""
    pattern = f"{kind}/*" if kind else "*/*"
    return [submissions.load(p) for p in sorted(CORPUS.glob(pattern))]


@pytest.fixture
def course(tmp_path):
    return copy_course(tmp_path / "course")


_template = {}


def generated_course():
    """A copy of the course whose assignments nbgrader generated (release/ and gradebook.db), made
    once per test run: every class course starts as a copy of it (generate_assignment costs seconds)."""
    if "path" not in _template:
        import atexit
        import tempfile
        base = Path(tempfile.mkdtemp(prefix="labgrader-template-"))
        atexit.register(shutil.rmtree, base, True)
        course = copy_course(base / "course")
        for assignment in (ASSIGNMENT, NUMPY_ASSIGNMENT):
            nbgrader(course, "generate_assignment", assignment, "--force")
        _template["path"] = course
    return _template["path"]


def class_course(dest, snippets, extra_config=""):
    """A course copy with ``snippets`` handed in, plus the instructor's own solution."""
    course = Path(dest)
    shutil.copytree(generated_course(), course)
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(extra_config)
    release = course / "release" / ASSIGNMENT / submissions.NOTEBOOK
    for snippet in snippets:
        submissions.write_submission(snippet, release, course / "submitted" / snippet.name / ASSIGNMENT)
    solved = course / "submitted" / "instructor_solution" / ASSIGNMENT
    solved.mkdir(parents=True)
    shutil.copy(course / "source" / ASSIGNMENT / submissions.NOTEBOOK, solved)
    return course


NUMPY_ASSIGNMENT = "numpy_basics"  # the second lab: two notebooks
NUMPY_CORPUS = REPO / "grader_tests" / "submissions_numpy_basics"


def numpy_corpus(kind=None):
    """The second lab's submissions (kept apart from the embeddings corpus above)."""
    return [submissions.load(p) for p in sorted(NUMPY_CORPUS.glob(f"{kind}/*" if kind else "*/*"))]


def numpy_class_course(dest, snippets):
    """A course copy with ``snippets`` of the numpy_basics lab handed in (every notebook), plus
    the instructor's own notebooks."""
    course = Path(dest)
    shutil.copytree(generated_course(), course)
    release = course / "release" / NUMPY_ASSIGNMENT
    for snippet in snippets:
        submissions.write_assignment(snippet, release, course / "submitted" / snippet.name / NUMPY_ASSIGNMENT)
    solved = course / "submitted" / "instructor_solution" / NUMPY_ASSIGNMENT
    solved.mkdir(parents=True)
    for notebook in sorted((course / "source" / NUMPY_ASSIGNMENT).glob("*.ipynb")):
        shutil.copy(notebook, solved)
    return course


def batch_exit_status(course, assignment):
    """The exit status `python -m labgrader autograde` owes, from its grading report: 1 when a
    submission was not graded or was flagged."""
    import json
    results = json.loads((course / f"grading_report_{assignment}.json").read_text())["results"]
    return 1 if any(not r["ok"] or r["flags"] for r in results) else 0


def tree_digest(path):
    """Content of every file below ``path``, to prove that grading did not change it."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(Path(path).rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def graded_corpus(tmp_path_factory):
    """The whole corpus (correct, wrong, hostile) and the instructor's solution, autograded by
    the batch command (`python -m labgrader autograde`), as the instructor would run it."""
    course = class_course(tmp_path_factory.mktemp("batch") / "course", corpus())
    before = {name: tree_digest(course / name) for name in ("source", "release")}
    result = subprocess.run([sys.executable, "-m", "labgrader", "autograde", ASSIGNMENT], cwd=course,
                            capture_output=True, text=True, timeout=1800,
                            env=dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"))
    assert result.returncode == batch_exit_status(course, ASSIGNMENT) == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1].startswith("Needs attention:")  # said last
    return {"course": course, "scores": cell_scores(f"sqlite:///{course}/gradebook.db", ASSIGNMENT),
            "stdout": result.stdout, "before": before}


@pytest.fixture(scope="session")
def plain_graded(tmp_path_factory):
    """The correct, wrong and tampering (tamper_*) submissions autograded by plain `nbgrader autograde`
    from the course root."""
    tampering = [s for s in corpus("hostile") if s.name.startswith("tamper_")]
    course = class_course(tmp_path_factory.mktemp("plain") / "course", corpus("correct") + corpus("wrong") + tampering)
    result = nbgrader(course, "autograde", ASSIGNMENT)
    return {"course": course, "scores": cell_scores(f"sqlite:///{course}/gradebook.db", ASSIGNMENT),
            "stdout": result.stdout, "stderr": result.stderr}
