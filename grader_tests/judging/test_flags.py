"""Tampering is flagged from the grader's side, on both grading paths: plain `nbgrader autograde`
and the batch command. A flagged submission is graded as usual and marked needs-manual-grade with
the reason and the line; an honest one is not flagged and keeps its points."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from conftest import ASSIGNMENT, CORPUS, batch_exit_status, class_course, nbgrader
import snippets as submissions
from labgrader.reports.class_report import collect, write_report
from labgrader.reports.gradebook import cell_scores

HONEST, CHEAT = "list_and_flatten", "monkeypatches_helpers"
PATCH_LINE = "numpy.allclose = lambda *a, **k: True"


def snippets():
    return [submissions.load(CORPUS / "correct" / f"{HONEST}.py"), submissions.load(CORPUS / "hostile" / f"{CHEAT}.py")]


def gradebook_state(course):
    """{student: (needs_manual_grade of every grade, comments)}"""
    state = {}
    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        for submission in gb.assignment_submissions(ASSIGNMENT):
            [notebook] = submission.notebooks
            state[submission.student_id] = ([g.needs_manual_grade for g in notebook.grades],
                                            [c.auto_comment or "" for c in notebook.comments])
    return state


def check_gradebook(course):
    state = gradebook_state(course)
    flags, comments = state[CHEAT]
    assert flags and all(flags)
    assert comments and all(PATCH_LINE in c and "monkeypatching" in c for c in comments)
    for student in (HONEST, "instructor_solution"):
        flags, comments = state[student]
        assert not any(flags) and not any("Flagged" in c for c in comments)
    scores = cell_scores(f"sqlite:///{course}/gradebook.db", ASSIGNMENT)
    assert sum(scores[HONEST].values()) == 8 and sum(scores["instructor_solution"].values()) == 8
    # The class report lists it (from the gradebook), as graded, not as an error.
    data = collect(course, ASSIGNMENT)
    assert set(data.flags) == {CHEAT} and CHEAT not in data.errors
    assert any(f["code"] == PATCH_LINE and f["cell"] == "q1_answer" and f["line"] == 4 for f in data.flags[CHEAT])
    page = write_report(course, ASSIGNMENT)[0].read_text()
    section = page[page.index('<table id="flags">'):]
    section = section[:section.index("</table>")]
    assert CHEAT in section and HONEST not in section and "numpy.allclose = lambda *a, **k: True" in section


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    course = class_course(tmp_path_factory.mktemp("flags_plain") / "course", snippets())
    nbgrader(course, "autograde", ASSIGNMENT)
    return course


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    course = class_course(tmp_path_factory.mktemp("flags_batch") / "course", snippets())
    result = subprocess.run([sys.executable, "-m", "labgrader", "autograde", ASSIGNMENT], cwd=course,
                            capture_output=True, text=True, timeout=1200,
                            env=dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"))
    assert result.returncode == batch_exit_status(course, ASSIGNMENT), result.stdout[-3000:] + result.stderr[-3000:]
    return course, result.stdout


def test_plain_nbgrader_flags_the_tampering_submission_only(plain):
    check_gradebook(plain)


def test_the_batch_command_flags_it_in_the_gradebook_summary_and_report(batch):
    course, stdout = batch
    check_gradebook(course)
    summary = stdout[stdout.index("Flagged for manual review (1)"):]
    assert f"{CHEAT}: q1_answer, line 4:" in summary and PATCH_LINE in summary and HONEST not in summary
    results = {r["student"]: r for r in json.loads((course / f"grading_report_{ASSIGNMENT}.json").read_text())["results"]}
    assert results[HONEST]["flags"] == [] and results["instructor_solution"]["flags"] == []
    assert {"cell": "q1_answer", "line": 4, "code": PATCH_LINE} .items() <= next(
        f for f in results[CHEAT]["flags"] if f["line"] == 4).items()
