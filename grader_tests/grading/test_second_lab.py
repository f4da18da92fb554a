"""The engine is not the embeddings lab's: a course copied elsewhere grades the same, and a broken lab
(the second lab, numpy_basics, with a bug put in its judge) stops grading before any zero is recorded
and flags no one when the instructor's own answers meet the bug, and costs only the one cell when a
student's answer does. Every lab's corpus is graded on both paths by test_lab_corpora.py."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ASSIGNMENT, REPO, class_course, corpus, lab_class_course, lab_corpus, nbgrader
from labgrader.reports.gradebook import cell_scores

pytestmark = pytest.mark.slow
ENV = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
NUMPY_ASSIGNMENT = "numpy_basics"


def batch(course, *argv, assignment=NUMPY_ASSIGNMENT):
    return subprocess.run([sys.executable, "-m", "labgrader", *argv, assignment], cwd=course, env=ENV,
                          capture_output=True, text=True, timeout=900)


def test_a_course_copied_elsewhere_grades_the_same_with_plain_nbgrader(tmp_path):
    """The whole folder copied (the grader's package too): kernels import the grader's labgrader."""
    correct = [s for s in corpus("correct") if s.name == "list_and_flatten"]
    course = class_course(tmp_path / "first", correct)
    shutil.copytree(REPO / "labgrader", course / "labgrader", ignore=shutil.ignore_patterns("__pycache__"))
    moved = tmp_path / "next_semester"
    shutil.copytree(course, moved, symlinks=True)
    shutil.rmtree(course)
    nbgrader(moved, "autograde", ASSIGNMENT)
    scores = cell_scores(f"sqlite:///{moved}/gradebook.db", ASSIGNMENT)
    assert scores["list_and_flatten"] == correct[0].expected
    assert scores["instructor_solution"] == correct[0].expected


BROKEN_AT_LOAD = """
def judge(check):
    return JUDGE(check) if check.answers.value(QUESTIONS[check.grade_id][0]).kind != "function" else \\
        {"q1_column_means": 1}[check.grade_id.replace("q1", "q")]  # a typo: KeyError for every answer
"""
BROKEN_MIDWAY = """
def judge(check):
    function = check.answers.value(QUESTIONS[check.grade_id][0])
    if check.grade_id == "q1_column_means" and function.kind == "function" and function.results:
        got = function.results[0].as_array()
        expected = np.asarray(check.arguments[0][0], dtype=np.float64).mean(axis=0)
        if got is None or got.shape != expected.shape or not np.allclose(got, expected):
            raise KeyError("axis")  # a bug met only by a wrong answer that reaches the judge
    return JUDGE(check)
"""


def break_judge(course, body):
    """The lab's grading.py with its judge replaced by ``body`` (which may call the real one, JUDGE)."""
    grading = course / "source" / NUMPY_ASSIGNMENT / "grading.py"
    text = grading.read_text().replace("lab = Lab(judge=judge,", "JUDGE = judge\n" + body + "\nlab = Lab(judge=judge,")
    grading.write_text(text)


@pytest.mark.parametrize("path", ["plain", "batch"])
def test_a_lab_whose_judge_fails_the_instructor_stops_before_any_student(tmp_path, path):
    """A bug in grading.py reads as the lab's, never as a student's cheating: the readiness check
    judges the instructor's own answers, stops with the lab's name, the grade id and the exception,
    records no score and flags no one."""
    course = lab_class_course(tmp_path / "course", NUMPY_ASSIGNMENT, lab_corpus(NUMPY_ASSIGNMENT, "correct"))
    break_judge(course, BROKEN_AT_LOAD)
    result = nbgrader(course, "autograde", NUMPY_ASSIGNMENT, check=False) if path == "plain" else batch(course, "autograde")
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "grading.py" in out and "KeyError" in out and "q1_column_means" in out and "no student" in out
    assert cell_scores(f"sqlite:///{course}/gradebook.db", NUMPY_ASSIGNMENT) == {}
    assert not list((course / "autograded").glob("*/*/*.ipynb"))


def test_a_judge_that_breaks_on_one_answer_is_that_cell_only_and_flags_no_one(tmp_path):
    """The same bug met only by one student's answer, in the middle of a class: a hand-in can only
    change its own grade, so that cell is not gradable for that student (a fault naming the cell;
    the grader's log says the lab may have a bug), no one is flagged, and grading goes on: every
    other submission gets its own grade (issue 24: lab errors come only from the readiness check)."""
    snippets = lab_corpus(NUMPY_ASSIGNMENT)
    course = lab_class_course(tmp_path / "course", NUMPY_ASSIGNMENT, snippets)
    break_judge(course, BROKEN_MIDWAY)
    result = batch(course, "autograde", "--workers", "1")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    report = json.loads((course / f"grading_report_{NUMPY_ASSIGNMENT}.json").read_text())
    assert not report["stopped"] and not any(r["lab_error"] for r in report["results"])
    assert all(not r["flags"] for r in report["results"])
    met = {r["student"]: r for r in report["results"]}["hard_coded_for_the_notebook"]
    assert any("q1_column_means: not judged: the lab's checks stopped with an error on it" in f for f in met["faults"])
    scores = cell_scores(f"sqlite:///{course}/gradebook.db", NUMPY_ASSIGNMENT)
    for snippet in snippets:
        if snippet.name != "hard_coded_for_the_notebook":
            assert scores[snippet.name] == snippet.expected, snippet.name
    assert scores["hard_coded_for_the_notebook"]["q1_column_means"] == 0
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        for submission in gb.assignment_submissions(NUMPY_ASSIGNMENT):
            for notebook in submission.notebooks:
                assert not any("Flagged" in (c.auto_comment or "") for c in notebook.comments)
