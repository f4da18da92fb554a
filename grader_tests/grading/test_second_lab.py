"""The engine is not the embeddings lab's: a second lab (numpy_basics, two notebooks) graded by
plain `nbgrader autograde` and by the batch command, per notebook, with its own reports; a
course copied elsewhere grades the same; a broken set-up stops grading before any zero is recorded."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import (ASSIGNMENT, NUMPY_ASSIGNMENT, REPO, batch_exit_status, class_course, corpus, nbgrader,
                      numpy_class_course, numpy_corpus)
from labgrader.reports.gradebook import cell_scores

pytestmark = pytest.mark.slow
ENV = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
FULL = {"q1_column_means": 2.0, "q2_standardize": 2.0, "q3_outer_sum": 1.0}


def batch(course, *argv, assignment=NUMPY_ASSIGNMENT):
    return subprocess.run([sys.executable, "-m", "labgrader", *argv, assignment], cwd=course, env=ENV,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("path", ["plain", "batch"])
def test_the_numpy_lab_is_graded_per_cell_and_per_notebook_on_both_paths(tmp_path, path):
    snippets = numpy_corpus()
    course = numpy_class_course(tmp_path / "course", snippets)
    if path == "plain":
        nbgrader(course, "autograde", NUMPY_ASSIGNMENT)
    else:
        result = batch(course, "autograde")
        assert result.returncode == batch_exit_status(course, NUMPY_ASSIGNMENT), result.stdout + result.stderr
        report = json.loads((course / f"grading_report_{NUMPY_ASSIGNMENT}.json").read_text())
        assert report["notebooks"] == ["arrays.ipynb", "broadcasting.ipynb"]
        records = {r["student"]: r for r in report["results"]}
        assert records["solved"]["scores"] == {"arrays": {"q1_column_means": 2.0, "q2_standardize": 2.0},
                                               "broadcasting": {"q3_outer_sum": 1.0}}
        assert records["hands_in_one_notebook"]["notes"] == ["'broadcasting.ipynb' was not handed in: its cells score 0"]
        assert not (course / "grading_report.json").exists()
        # no notebook was copied to another lab's name
        assert sorted(p.name for p in (course / "submitted" / "solved" / NUMPY_ASSIGNMENT).iterdir()) == \
            ["arrays.ipynb", "broadcasting.ipynb"]
    scores = cell_scores(f"sqlite:///{course}/gradebook.db", NUMPY_ASSIGNMENT)
    assert scores.pop("instructor_solution") == FULL
    assert scores == {s.name: s.expected for s in snippets}

    # its own class report, per notebook
    result = batch(course, "report")
    assert result.returncode == 0, result.stderr
    table = (course / "reports" / f"{NUMPY_ASSIGNMENT}.csv").read_text().splitlines()
    assert table[0].startswith("student,total,max,arrays.ipynb,broadcasting.ipynb,q1_column_means")
    assert any(line.startswith("hands_in_one_notebook,4,5,4,0,") for line in table)
    page = (course / "reports" / f"{NUMPY_ASSIGNMENT}.html").read_text()
    assert 'data-notebook="broadcasting"' in page and "embeddings" not in page


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


@pytest.mark.parametrize("path", ["plain", "batch"])
def test_a_broken_setup_stops_grading_with_one_message_and_records_nothing(tmp_path, path):
    """The kernels cannot run the hidden tests (here: the lab's observer module is broken): one
    clear message, a non-zero exit, and no student recorded with a zero."""
    course = numpy_class_course(tmp_path / "course", [s for s in numpy_corpus("correct")])
    (course / "source" / NUMPY_ASSIGNMENT / "observers.py").write_text("raise ImportError('broken on purpose')\n")
    if path == "plain":
        result = nbgrader(course, "autograde", NUMPY_ASSIGNMENT, check=False)
    else:
        result = batch(course, "autograde")
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"Cannot grade {NUMPY_ASSIGNMENT!r}" in out and "broken on purpose" in out
    assert cell_scores(f"sqlite:///{course}/gradebook.db", NUMPY_ASSIGNMENT) == {}
