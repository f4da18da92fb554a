"""Grading as an ordinary user: the same sandbox (through unprivileged user namespaces) and the
same scores as root, on both grading paths.

Run as root, these tests create a throw-away user (ordinary_user.py) and run, as that user, the
sandbox tests of this folder and a representative part of the hostile corpus graded by plain
`nbgrader autograde` and by the batch command. Run by an ordinary user, the other tests of this
folder test that user's sandbox directly, and these skip."""
import os
import sys

import pytest

from conftest import ASSIGNMENT, CORPUS, REPO, batch_exit_status, class_course
import snippets as submissions
from labgrader.reports.gradebook import cell_scores
from ordinary_user import ordinary_user  # noqa: F401 (fixture)
from test_caps import assert_isolation_outputs

# One of each kind of attack the sandbox stops (files, processes, caps, descriptors, environment,
# kernel faults, tampering): the whole corpus twice more as non-root would cost minutes, and
# everything else in it is decided by the grader (same code whoever runs it), not by the sandbox.
pytestmark = [pytest.mark.slow, pytest.mark.rootless]  # a throw-away user, nested pytest, two gradings of 18 submissions

HOSTILE = ["reads_source_solutions", "lists_other_students", "writes_gradebook", "symlinks_notebook_to_gradebook",
           "spawns_daemon", "fills_tmp", "fills_working_copy", "thread_bomb", "uses_inherited_fds",
           "reads_environment_secrets", "kernel_os_exit", "allocates_12gb", "tamper_gc_swaps_code",
           "allocates_memfd", "stores_kernel_key", "reads_kernel_key", "floods_one_message"]
HONEST = ["correct/add_method", "correct/explicit_input", "wrong/model3_is_model2", "wrong/fresh_embedding"]


def test_the_sandbox_tests_pass_as_an_ordinary_user(ordinary_user):
    """test_sandbox.py, test_caps.py (but the slow hostile grading, below), test_isolation.py and
    test_isolation_parts.py (no cgroup: the fallback), run by the user."""
    tmp_path = ordinary_user.workspace()
    result = ordinary_user.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'base'}",
         "grader_tests/sandbox/test_sandbox.py", "grader_tests/sandbox/test_caps.py",
         "grader_tests/sandbox/test_isolation.py", "grader_tests/sandbox/test_isolation_parts.py",
         "-k", "not hostile_submissions and not uid_leases"], cwd=REPO)
    tail = result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, tail
    assert " passed" in tail and " failed" not in tail, tail


@pytest.fixture(scope="module")
def user_course(ordinary_user):
    snippets = [submissions.load(CORPUS / "hostile" / f"{name}.py") for name in HOSTILE]
    snippets += [submissions.load(CORPUS / f"{name}.py") for name in HONEST]
    base = ordinary_user.workspace()
    course = class_course(base / "course", snippets)
    ordinary_user.give(base)
    return course, snippets


@pytest.mark.parametrize("path", ["plain", "batch"])
def test_hostile_submissions_score_as_with_root(ordinary_user, user_course, path):
    course, snippets = user_course
    command = ["nbgrader", "autograde", ASSIGNMENT, "--force"] if path == "plain" else \
        [sys.executable, "-m", "labgrader", "autograde", ASSIGNMENT, "--workers", "3"]
    before = set(_kernel_dirs(ordinary_user))
    result = ordinary_user.run(command, cwd=course, LABGRADER_TEST_SECRET="hunter2-do-not-leak")
    expected_status = 0 if path == "plain" else batch_exit_status(course, ASSIGNMENT)  # flagged ones: 1
    assert result.returncode == expected_status, result.stdout[-3000:] + result.stderr[-3000:]
    assert "sandbox" not in result.stderr.lower() or "unavailable" not in result.stderr.lower()
    scores = cell_scores(f"sqlite:///{course}/gradebook.db", ASSIGNMENT)
    for snippet in snippets:  # the expectations the corpus tests check as root
        assert scores[snippet.name] == snippet.expected, snippet.name
    autograded = course / "autograded"
    outputs = (autograded / "fills_tmp" / ASSIGNMENT / "embeddings.ipynb").read_text()
    assert "No space left on device" in outputs or "File too large" in outputs
    assert "hunter2-do-not-leak" not in (autograded / "reads_environment_secrets" / ASSIGNMENT / "embeddings.ipynb").read_text()
    assert all(p.stat().st_uid == ordinary_user.uid for p in autograded.rglob("*"))
    assert_isolation_outputs(autograded, with_cgroups=False)  # an ordinary user gets no cgroup: memfd refused
    assert set(_kernel_dirs(ordinary_user)) <= before  # no kernel's scratch left behind


def _kernel_dirs(user):
    return [p for p in os.listdir("/tmp") if p.startswith("labgrader-kernel-")
            and os.stat(os.path.join("/tmp", p)).st_uid == user.uid]
