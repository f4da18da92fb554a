"""The batch does each piece of work once: one gradebook session per submission (nbgrader's steps
included), the lab folder hashed and the instructor's reference read once per process, and the
rows every submission needs made before the workers start.

The batch command runs in a subprocess whose functions are wrapped with counters before the
workers are forked (they inherit them; grader_tests/counting.py): each call is written to a file
with its process and the submission being graded there."""
import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from conftest import ASSIGNMENT, CORPUS, REPO, class_course
import snippets

pytestmark = pytest.mark.slow  # a batch grading of 3 submissions

SUBMISSIONS = ["correct/list_and_flatten", "wrong/copied_weights", "hostile/tamper_stdlib_encoder_hook"]

DRIVER = r'''
import json, sys
import nbgrader.api
import counting
from labgrader import lab
from labgrader.batch import runner, task
from labgrader.judging import reference

calls = counting.CallLog(sys.argv[2])
calls.count(nbgrader.api.Gradebook, "__init__", "gradebook")
calls.count(lab, "folder_digest", "digest")
calls.count(reference, "_read", "reference")
calls.grading(task, "grade_submission", lambda assignment, student, *args, **kwargs: student)
report = runner.grade_class(sys.argv[1], "embeddings", workers=2, progress=False)
print(json.dumps([r["student"] for r in report["results"] if r["ok"]]))
'''


@pytest.fixture(scope="module")
def counted(tmp_path_factory):
    base = tmp_path_factory.mktemp("work-once")
    course = class_course(base / "course", [snippets.load(CORPUS / f"{name}.py") for name in SUBMISSIONS])
    calls = base / "calls.jsonl"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "grader_tests"), str(REPO)]))
    result = subprocess.run([sys.executable, "-c", DRIVER, str(course), str(calls)], cwd=course,
                            capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    graded = json.loads(result.stdout.strip().splitlines()[-1])
    return graded, [json.loads(line) for line in calls.read_text().splitlines()], result.stdout


def test_every_submission_is_graded(counted):
    graded, _, _ = counted
    assert sorted(graded) == sorted(["instructor_solution"] + [name.split("/")[1] for name in SUBMISSIONS])


def test_a_submission_is_graded_on_one_gradebook_session(counted):
    graded, calls, _ = counted
    opens = Counter(call["student"] for call in calls if call["what"] == "gradebook" and call["student"])
    assert set(opens) == set(graded)  # counted in the workers, for each submission
    assert set(opens.values()) == {1}, opens  # nbgrader's steps and ours included (it was 12)


def test_the_lab_is_hashed_and_the_reference_read_once_per_process(counted):
    _, calls, _ = counted
    for what in ("digest", "reference"):
        per_process = Counter(call["pid"] for call in calls if call["what"] == what)
        assert per_process and max(per_process.values()) == 1, (what, per_process)
