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
                "test_caps", "test_rootless", "test_sandbox", "test_second_lab", "test_lab_corpora", "test_tutorial"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__.rpartition(".")[2] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


class SharedClassesLast:
    """The tests that read a shared class run last: it grades in the background meanwhile (below)."""

    @pytest.hookimpl(trylast=True)  # after -m and pytest's own ordering by fixture scope (the sort is stable)
    def pytest_collection_modifyitems(self, items):
        items.sort(key=lambda item: any(name in getattr(item, "fixturenames", ()) for name in SHARED_CLASSES))


def pytest_configure(config):
    config.pluginmanager.register(SharedClassesLast(), "shared-classes-last")


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
        for assignment in sorted(p.name for p in (course / "source").iterdir() if p.is_dir()):
            nbgrader(course, "generate_assignment", assignment, "--force")
        _template["path"] = course
    return _template["path"]


def class_course(dest, snippets, extra_config=""):
    """A course copy with ``snippets`` handed in, plus the instructor's own solution."""
    course = Path(dest)
    shutil.copytree(generated_course(), course)
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(extra_config)
    if "db_url" in extra_config:  # another gradebook (PostgreSQL): the template's gradebook.db is not it
        (course / "gradebook.db").unlink()
        nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    release = course / "release" / ASSIGNMENT / submissions.NOTEBOOK
    for snippet in snippets:
        submissions.write_submission(snippet, release, course / "submitted" / snippet.name / ASSIGNMENT)
    solved = course / "submitted" / "instructor_solution" / ASSIGNMENT
    solved.mkdir(parents=True)
    shutil.copy(course / "source" / ASSIGNMENT / submissions.NOTEBOOK, solved)
    return course


def lab_corpora():
    """{assignment: its corpus folder} for every grader_tests/submissions_<assignment>/ of a lab in
    source/: a new lab's corpus is found by its folder's name (grader_tests/grading/test_lab_corpora.py)."""
    return {path.name.removeprefix("submissions_"): path
            for path in sorted((REPO / "grader_tests").glob("submissions_*"))
            if path.is_dir() and (REPO / "source" / path.name.removeprefix("submissions_")).is_dir()}


def lab_corpus(assignment, kind=None, folder=None):
    """The submissions of a lab's corpus (or of one kind: correct, wrong, hostile)."""
    folder = Path(folder) if folder else lab_corpora()[assignment]
    return [submissions.load(p) for p in sorted(folder.glob(f"{kind}/*" if kind else "*/*"))]


def lab_class_course(dest, assignment, snippets, template=None):
    """A course copy with ``snippets`` of ``assignment`` handed in (every notebook of it), plus the
    instructor's own notebooks as the student instructor_solution."""
    course = Path(dest)
    shutil.copytree(template or generated_course(), course, symlinks=True)
    release = course / "release" / assignment
    for snippet in snippets:
        submissions.write_assignment(snippet, release, course / "submitted" / snippet.name / assignment)
    solved = course / "submitted" / "instructor_solution" / assignment
    solved.mkdir(parents=True)
    for notebook in sorted((course / "source" / assignment).glob("*.ipynb")):
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


# The two shared classes (the whole corpus by the batch command, a sample by plain nbgrader) are
# each graded once per run, by a subprocess started as soon as the tests that read them are
# collected: they grade while the other tests run, and the tests that read them run last.
SHARED_CLASSES = ("graded_corpus", "plain_graded")
_grading: dict = {}


def _venv_env():
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def _start_grading(name, tmp_path_factory):
    if name == "graded_corpus":
        course = class_course(tmp_path_factory.mktemp("batch") / "course", corpus())
        command = [sys.executable, "-m", "labgrader", "autograde", ASSIGNMENT]
    else:
        course = class_course(tmp_path_factory.mktemp("plain") / "course", plain_sample())
        command = [str(Path(sys.executable).parent / "nbgrader"), "autograde", ASSIGNMENT]
    before = {name: tree_digest(course / name) for name in ("source", "release")}
    out, err = open(course.parent / "stdout.txt", "w+"), open(course.parent / "stderr.txt", "w+")
    process = subprocess.Popen(command, cwd=course, env=_venv_env(), stdout=out, stderr=err, start_new_session=True)
    _grading[name] = {"course": course, "process": process, "files": (out, err), "before": before}


def _finished_grading(name, tmp_path_factory):
    """The class's grading, waited for (started now if it was not started with the run)."""
    if name not in _grading:
        _start_grading(name, tmp_path_factory)
    grading = _grading[name]
    try:
        grading["process"].wait(timeout=1800)
    except subprocess.TimeoutExpired:
        os.killpg(grading["process"].pid, 9)
        raise
    out, err = grading["files"]
    out.seek(0), err.seek(0)
    return grading["course"], grading["process"].returncode, out.read(), err.read(), grading["before"]


def pytest_collection_finish(session):
    if session.config.getoption("collectonly"):
        return
    wanted = {name for item in session.items for name in SHARED_CLASSES if name in getattr(item, "fixturenames", ())}
    for name in SHARED_CLASSES:
        if name in wanted:
            _start_grading(name, session.config._tmp_path_factory)


def pytest_sessionfinish(session):
    for grading in _grading.values():  # an interrupted run leaves no grading behind
        if grading["process"].poll() is None:
            os.killpg(grading["process"].pid, 9)


@pytest.fixture(scope="session")
def graded_corpus(tmp_path_factory):
    """The whole corpus (correct, wrong, hostile) and the instructor's solution, autograded by
    the batch command (`python -m labgrader autograde`), as the instructor would run it."""
    course, returncode, stdout, stderr, before = _finished_grading("graded_corpus", tmp_path_factory)
    assert returncode == batch_exit_status(course, ASSIGNMENT) == 1, stdout[-3000:] + stderr[-3000:]
    assert stdout.strip().splitlines()[-1].startswith("Needs attention:")  # said last
    return {"course": course, "scores": cell_scores(f"sqlite:///{course}/gradebook.db", ASSIGNMENT),
            "stdout": stdout, "before": before}


# Plain `nbgrader autograde` grades one submission at a time (seconds each), so it grades a sample of
# the corpus: each kind of valid answer, the honest imports that flags must never mind, the typical
# wrong answers, and one attack for each way of getting code run in the kernel (stdlib hook, hand-in
# package, thread, sys.modules, tracing, Keras and publisher patches, forged hand-overs), with the
# twins they are compared with, and one sandbox check. The batch command grades the whole corpus.
PLAIN_SAMPLE = {
    "correct": ["add_method", "explicit_input", "keras_namespace", "list_and_flatten", "rebinds_names_afterwards",
                "tf_keras_models_reshape", "explore_os_environ", "explore_sys_version", "explore_time_a_cell",
                "explore_warnings_filter", "explore_matplotlib_plot", "explore_shell_and_files"],
    "wrong": ["count_one_row", "counts_both_models_fresh_layer", "copied_weights", "fresh_embedding",
              "model3_is_model2", "typo_in_answer", "untouched", "wraps_model2"],
    "hostile": ["tamper_stdlib_encoder_hook", "tamper_shadows_export_package", "tamper_shadows_numpy_module",
                "tamper_thread_repatches_export", "tamper_sys_modules_export", "tamper_settrace_mutates",
                "tamper_patches_keras", "tamper_display_publisher_class", "tamper_session_send_rewrite",
                "tamper_replays_handover", "tamper_fake_model3_object", "tamper_escape_sequences_in_line",
                "redteam_display_pub_swap", "redteam_pinned_swap_faithful", "redteam_snapshot_disarmed",
                "reads_source_solutions"],
}


def plain_sample():
    """The submissions plain nbgrader grades (PLAIN_SAMPLE), checked to exist."""
    chosen = [s for kind, names in PLAIN_SAMPLE.items() for s in corpus(kind) if s.name in names]
    assert len(chosen) == sum(map(len, PLAIN_SAMPLE.values())), "PLAIN_SAMPLE names a missing submission"
    return chosen


@pytest.fixture(scope="session")
def plain_graded(tmp_path_factory):
    """A sample of the corpus (PLAIN_SAMPLE) autograded by plain `nbgrader autograde` from the
    course root, no extra flags (nbgrader_config.py sandboxes it)."""
    course, returncode, stdout, stderr, _ = _finished_grading("plain_graded", tmp_path_factory)
    assert returncode == 0, f"nbgrader autograde failed:\n{stdout[-3000:]}\n{stderr[-3000:]}"
    return {"course": course, "scores": cell_scores(f"sqlite:///{course}/gradebook.db", ASSIGNMENT),
            "stdout": stdout, "stderr": stderr}
