"""Shared fixtures: a throw-away copy of the course, and the whole corpus graded once by the
real `nbgrader autograde` (real kernels, real TensorFlow).

The suite runs on pytest-xdist workers (``./course test`` passes ``-n auto --dist loadfile``);
what a run shares is partitioned here, from the fixtures a test uses (never a list of tests):

- the unix accounts (``class_users``: instructor, alice...; ``ordinary_user``) have fixed names:
  each worker makes them in a private copy of /etc (grader_tests/private_etc.py), with uids of its
  own, so two workers each run their own hub and class (across runs, the machine-wide
  ``/tmp/labgrader-hub.lock`` still applies). Every test that uses them is marked ``hub``; those
  modules are scheduled first (the longest);
- a module's tests run on one worker (``loadfile``), so a module- or class-scoped fixture (a
  graded class, a hub's term, a server, a browser) is made once;
- the shared graded classes (``graded_corpus``, ``plain_graded``) and the generated template
  course are made once per run, by whichever process gets there first, in a folder every worker
  of the run shares (``run_dir()``); the others wait for them and read them. The tests that read
  a shared class are scheduled last: the class grades in the background meanwhile.

Markers (pyproject.toml): ``slow`` is set by each module (``pytestmark``) or test; ``hub``,
``browser``, ``dask``, ``postgres`` and ``rootless`` say what a test needs, and each needs
``slow`` too (refused at collection otherwise). Testing guide: docs/testing.md.
"""
import contextlib
import fcntl
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import snippets as submissions

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "grader_tests" / "submissions"
ASSIGNMENT = "embeddings"
COURSE_FILES = ["source", "release", "nbgrader_config.py"]


# The class on a real JupyterHub (grader_tests/hub/hub.py): its fixtures are a plugin, registered once,
# so that every module shares one hub (a session fixture imported into two modules would be two).
sys.path.insert(0, str(REPO / "grader_tests" / "hub"))
pytest_plugins = ["hub"]

RESOURCE_MARKERS = ("hub", "browser", "dask", "postgres", "rootless")  # each implies slow
UNIX_ACCOUNTS = ("class_users", "ordinary_user")  # fixtures that make unix accounts: their tests are `hub`

_run: dict = {}  # this process's pytest config ("config"), for run_dir()


SLOW_MODULE = re.compile(r"^pytestmark = \[?pytest\.mark\.slow\b", re.M)


def pytest_ignore_collect(collection_path, config):
    """The fast loop (``-m "not slow"``) does not import a module marked ``slow`` as a whole (its
    ``pytestmark``): each of its tests would be deselected anyway, after seconds of imports."""
    if config.option.markexpr == "not slow" and collection_path.suffix == ".py" and \
            collection_path.name.startswith("test_") and SLOW_MODULE.search(collection_path.read_text()):
        return True
    return None


@pytest.hookimpl(trylast=True)  # after pytest's own (the base temp folder)
def pytest_configure(config):
    _run["config"] = config
    config.pluginmanager.register(RunOrder(), "labgrader-run-order")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:  # this worker's own user database, before any test makes an account
        import pwd

        import private_etc
        from users import GROUP, MARK
        stale = [entry.pw_name for entry in pwd.getpwall() if entry.pw_gecos == MARK] + ["labgrader-t13"]
        private_etc.make_private(config._tmp_path_factory.getbasetemp() / "etc", private_etc.worker_index(worker),
                                 stale, [GROUP])


@pytest.hookimpl(tryfirst=True)  # before RunOrder sorts by the hub marker
def pytest_collection_modifyitems(config, items):
    unmarked = []
    for item in items:
        if _uses(item, UNIX_ACCOUNTS):
            item.add_marker(pytest.mark.hub)
        needs = [name for name in RESOURCE_MARKERS if item.get_closest_marker(name)]
        if needs and not item.get_closest_marker("slow"):
            unmarked.append(f"{item.nodeid} ({', '.join(needs)})")
    if unmarked:
        raise pytest.UsageError("these tests need a slow resource but are not marked slow (set "
                                "`pytestmark = pytest.mark.slow` in the module):\n  " + "\n  ".join(unmarked))


def _uses(item, fixtures):
    return any(name in getattr(item, "fixturenames", ()) for name in fixtures)


class RunOrder:
    """The order workers take tests in: the modules that make unix accounts first (the hub's
    terms: the longest), then the rest, then the tests that read a shared class (it grades in the
    background meanwhile). ./course test passes --no-loadscope-reorder so that xdist keeps it.
    (Ranking the rest longest first, by marker, was slower from a fresh clone: 20 min 30 s.)"""

    @pytest.hookimpl(trylast=True)  # after -m and pytest's own ordering by fixture scope (the sort is stable)
    def pytest_collection_modifyitems(self, items):
        items.sort(key=lambda item: 0 if item.get_closest_marker("hub") else 2 if _uses(item, SHARED_CLASSES) else 1)


def run_dir() -> Path:
    """A folder every process of this test run shares: pytest's base temp of the run (an xdist
    worker's own base temp is a folder below it)."""
    base = _run["config"]._tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def run_lock(name):
    """Held by one process of the run at a time (the others wait)."""
    with open(run_dir() / f"{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def nbgrader(course, *args, check=True, timeout=1800):
    """Run a real nbgrader command in ``course``, with the venv's bin/ on PATH (alembic)."""
    result = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *args], cwd=course, env=_venv_env(),
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


def generated_course():
    """A copy of the course whose assignments nbgrader generated (release/ and gradebook.db), made
    once per test run (by the first worker that needs it): every class course starts as a copy of
    it (generate_assignment costs seconds). Read-only."""
    folder = run_dir() / "template"
    with run_lock("template"):
        if not (folder / "done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            course = copy_course(folder / "course")
            for assignment in sorted(p.name for p in (course / "source").iterdir() if p.is_dir()):
                nbgrader(course, "generate_assignment", assignment, "--force")
            (folder / "done").touch()
    return folder / "course"


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
    results = json.loads((course / f"grading_report_{assignment}.json").read_text())["results"]
    return 1 if any(not r["ok"] or r["flags"] for r in results) else 0


def tree_digest(path):
    """Content of every file below ``path``, to prove that grading did not change it."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(Path(path).rglob("*")) if p.is_file()}


# The two shared classes (the whole corpus by the batch command, a sample by plain nbgrader) are
# each graded once per run, by a subprocess that the first worker to collect the tests that read
# them starts: they grade while the other tests run, and the tests that read them run last. The
# class lives in run_dir()/<name>/ (course/, stdout.txt, stderr.txt, before.pickle), with the
# grading's pid and, once it has ended, its exit status (returncode), which every worker waits for.
SHARED_CLASSES = ("graded_corpus", "plain_graded")
GRADING_TIMEOUT = 1800
SHARED_NICENESS = 10


def _venv_env():
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def _start_grading(name):
    """Start grading the class ``name`` unless another process of the run did."""
    folder = run_dir() / name
    try:
        folder.mkdir()  # atomic: the first process of the run to get here grades, the others read
    except FileExistsError:
        return
    if name == "graded_corpus":
        course = class_course(folder / "course", corpus())
        command = [sys.executable, "-m", "labgrader", "autograde", ASSIGNMENT]
    else:
        course = class_course(folder / "course", plain_sample())
        command = [str(Path(sys.executable).parent / "nbgrader"), "autograde", ASSIGNMENT]
    (folder / "before.pickle").write_bytes(pickle.dumps({part: tree_digest(course / part) for part in ("source", "release")}))
    # the shell writes the exit status once the command has ended, for whichever worker waits
    script = '"$@" >"$OUT/stdout.txt" 2>"$OUT/stderr.txt"; echo $? >"$OUT/returncode.tmp"; mv "$OUT/returncode.tmp" "$OUT/returncode"'
    # Niced, but that only orders it within its own session: with the kernel's autogroups
    # (/proc/sys/kernel/sched_autogroup_enabled) each session weighs the same, and the grading and
    # each of its kernels are sessions, so it grades in the run's first 4-5 minutes beside the
    # tests. (Given less, by a cpu cgroup of weight 256, it filled the tests' waits, but its
    # kernels then ran past wall-clock limits and two hostile hand-ins scored otherwise.)
    process = subprocess.Popen(["nice", "-n", str(SHARED_NICENESS), "sh", "-c", script, "grade", *command], cwd=course,
                               env=dict(_venv_env(), OUT=str(folder)), stdin=subprocess.DEVNULL, start_new_session=True)
    (folder / "pid").write_text(str(process.pid))


def _finished_grading(name):
    """The class's grading, waited for (started now if no process of the run started it)."""
    folder = run_dir() / name
    _start_grading(name)
    deadline = time.monotonic() + GRADING_TIMEOUT
    while not (folder / "returncode").exists():
        if time.monotonic() > deadline:
            _stop_grading(folder)
            raise AssertionError(f"grading the shared class {name} took more than {GRADING_TIMEOUT} s")
        time.sleep(0.5)
    return {"course": folder / "course", "returncode": int((folder / "returncode").read_text()),
            "ended": (folder / "returncode").stat().st_mtime,  # (written last)
            "stdout": (folder / "stdout.txt").read_text(errors="replace"),
            "stderr": (folder / "stderr.txt").read_text(errors="replace"),
            "before": pickle.loads((folder / "before.pickle").read_bytes())}


def _stop_grading(folder):
    """End a grading still running (its whole session: the grader, its workers and kernels)."""
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        if not (folder / "returncode").exists():
            os.killpg(int((folder / "pid").read_text()), signal.SIGKILL)


def pytest_collection_finish(session):
    if session.config.getoption("collectonly"):
        return
    wanted = {name for item in session.items for name in SHARED_CLASSES if name in getattr(item, "fixturenames", ())}
    for name in SHARED_CLASSES:
        if name in wanted:
            _start_grading(name)


def pytest_sessionfinish(session):
    """An interrupted run leaves no grading behind. Under xdist the controller does it, once every
    worker is done (a worker that finishes first must not end a grading another one waits for)."""
    if os.environ.get("PYTEST_XDIST_WORKER") or "config" not in _run:
        return
    for name in SHARED_CLASSES:
        _stop_grading(run_dir() / name)


@pytest.fixture(scope="session")
def graded_corpus():
    """The whole corpus (correct, wrong, hostile) and the instructor's solution, autograded by
    the batch command (`python -m labgrader autograde`), as the instructor would run it."""
    graded = _finished_grading("graded_corpus")
    course, stdout = graded["course"], graded["stdout"]
    assert graded["returncode"] == batch_exit_status(course, ASSIGNMENT) == 1, stdout[-3000:] + graded["stderr"][-3000:]
    assert stdout.strip().splitlines()[-1].startswith("Needs attention:")  # said last
    from labgrader.reports.gradebook import cell_scores  # (nbgrader's gradebook: seconds to import)
    return {"course": course, "scores": cell_scores(f"sqlite:///{course}/gradebook.db", ASSIGNMENT),
            "stdout": stdout, "before": graded["before"], "ended": graded["ended"]}


# Plain `nbgrader autograde` grades one submission at a time (seconds each), so it grades a sample of
# the corpus: each kind of valid answer, the honest imports that flags must never mind, the typical
# wrong answers, and one attack for each way of getting code run in the kernel (stdlib hook, hand-in
# package, thread, sys.modules, tracing, Keras and publisher patches, forged hand-overs, IPython hooks,
# objects that compute something else than they describe), with the twins they are compared with, and
# one sandbox check. The batch command grades the whole corpus.
PLAIN_SAMPLE = {
    "correct": ["add_method", "explicit_input", "keras_namespace", "list_and_flatten", "rebinds_names_afterwards",
                "tf_keras_models_reshape", "explore_os_environ", "explore_sys_version", "explore_time_a_cell",
                "explore_warnings_filter", "explore_matplotlib_plot", "explore_shell_and_files", "explore_numpy_behavior",
                "global_average_pooling", "count_as_longdouble", "pooling_and_no_op_layers", "logs_every_step"],
    "wrong": ["count_one_row", "counts_both_models_fresh_layer", "copied_weights", "fresh_embedding",
              "model3_is_model2", "typo_in_answer", "untouched", "wraps_model2", "extra_dense_layer"],
    "hostile": ["tamper_stdlib_encoder_hook", "tamper_shadows_export_package", "tamper_shadows_numpy_module",
                "tamper_thread_repatches_export", "tamper_sys_modules_export", "tamper_settrace_mutates",
                "tamper_patches_keras", "tamper_display_publisher_class", "tamper_session_send_rewrite",
                "tamper_replays_handover", "tamper_fake_model3_object", "tamper_escape_sequences_in_line",
                "redteam_display_pub_swap", "redteam_pinned_swap_faithful", "redteam_snapshot_disarmed",
                "reads_source_solutions",
                # a hand-in reaches only its own grade (graded before most of the correct ones: names sort early),
                # and what it can make the grader spend is bounded
                "classwide_empties_pinned", "redteam_stops_class", "grader_cost_hint_long_line",
                "grader_cost_huge_handovers", "grader_cost_quadratic_calls", "grader_cost_nested_model_reuse",
                "grader_cost_message_flood",
                # what the kernel runs is what the grader judges; hidden tests never reach the kernel
                "redteam_post_run_cell_handover", "redteam_pre_run_cell_rebinds", "redteam_sequential_layers_replaced",
                "redteam_flatten_subclass_posing", "redteam_activation_named_linear", "redteam_dense_kernel_swapped",
                "redteam_hooks_read_hidden_tests", "redteam_forged_idle_handover"],
}


def plain_sample():
    """The submissions plain nbgrader grades (PLAIN_SAMPLE), checked to exist."""
    chosen = [s for kind, names in PLAIN_SAMPLE.items() for s in corpus(kind) if s.name in names]
    assert len(chosen) == sum(map(len, PLAIN_SAMPLE.values())), "PLAIN_SAMPLE names a missing submission"
    return chosen


@pytest.fixture(scope="session")
def plain_graded():
    """A sample of the corpus (PLAIN_SAMPLE) autograded by plain `nbgrader autograde` from the
    course root, no extra flags (nbgrader_config.py sandboxes it)."""
    graded = _finished_grading("plain_graded")
    assert graded["returncode"] == 0, f"nbgrader autograde failed:\n{graded['stdout'][-3000:]}\n{graded['stderr'][-3000:]}"
    course = graded["course"]
    from labgrader.reports.gradebook import cell_scores  # (nbgrader's gradebook: seconds to import)
    return {"course": course, "scores": cell_scores(f"sqlite:///{course}/gradebook.db", ASSIGNMENT),
            "stdout": graded["stdout"], "stderr": graded["stderr"], "ended": graded["ended"]}
