"""Flags report evidence, never imports, on both grading paths (plain `nbgrader autograde` and the
batch command): a flagged submission is graded as usual and marked needs-manual-grade with what
the grader saw and the line that likely did it; every hidden tampering attempt of the corpus says
what was seen; no honest submission (correct, wrong, or exploring: os, sys, time, warnings,
matplotlib, help, %timeit, compile...) is ever flagged."""
import json
import tempfile

import nbformat
import pytest
from nbgrader.api import Gradebook

from conftest import ASSIGNMENT, corpus, plain_sample
from labgrader.record import MAX_LISTED, read_notebook_record
from labgrader.reports.class_report import collect, write_report

pytestmark = pytest.mark.slow  # reads the shared graded classes

HONEST, CHEAT = "list_and_flatten", "tamper_stdlib_encoder_hook"
SEEN, LINE = "json.dumps was rebound", "q1_answer, line 9: json.dumps = forging_dumps"
FLAGGABLE = [s for s in corpus() if s.expected_flags is not None]


def notebook_flags(course, student):
    path = course / "autograded" / student / ASSIGNMENT / "embeddings.ipynb"
    record = read_notebook_record(nbformat.read(path, as_version=4)) if path.exists() else None
    return [str(flag) for flag in record.flags] if record else []


def gradebook_state(course):
    """{student: (needs_manual_grade of every grade, comments)}"""
    state = {}
    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        for submission in gb.assignment_submissions(ASSIGNMENT):
            [notebook] = submission.notebooks
            state[submission.student_id] = ([g.needs_manual_grade for g in notebook.grades],
                                            [c.auto_comment or "" for c in notebook.comments])
    return state


def check_flagged(course):
    state = gradebook_state(course)
    flags, comments = state[CHEAT]
    assert flags and all(flags)
    assert comments and all(SEEN in c and LINE in c for c in comments)
    for student in (HONEST, "instructor_solution"):
        flags, comments = state[student]
        assert not any(flags) and not any("Flagged" in c for c in comments)
    data = collect(course, ASSIGNMENT)  # the class report reads the records: graded, not an error
    assert CHEAT in data.flags and CHEAT not in data.errors and HONEST not in data.flags
    assert any(f.seen == SEEN and f.line == LINE for f in data.flags[CHEAT])
    with tempfile.TemporaryDirectory() as out:  # the shared class stays as graded (other workers read it)
        page = write_report(course, ASSIGNMENT, out_dir=out)[0].read_text()
    section = page[page.index('<table id="flags">'):]
    section = section[:section.index("</table>")]
    assert CHEAT in section and HONEST not in section and "json.dumps = forging_dumps" in section


@pytest.mark.parametrize("snippet", FLAGGABLE, ids=lambda s: s.name)
def test_each_submission_is_flagged_with_what_was_seen_or_not_at_all(graded_corpus, snippet):
    flags = notebook_flags(graded_corpus["course"], snippet.name)
    if not snippet.expected_flags:
        assert flags == [], flags[:3]
    for words in snippet.expected_flags:
        assert any(words in flag for flag in flags), (words, flags[:5])


PLAIN = [s for s in plain_sample() if s.expected_flags is not None]


@pytest.mark.parametrize("snippet", PLAIN, ids=lambda s: s.name)
def test_plain_nbgrader_flags_the_same_way(plain_graded, snippet):
    flags = notebook_flags(plain_graded["course"], snippet.name)
    if not snippet.expected_flags:
        assert flags == [], flags[:3]
    for words in snippet.expected_flags:
        assert any(words in flag for flag in flags), (words, flags[:5])


def test_plain_nbgrader_marks_the_flagged_submission_for_manual_grading(plain_graded):
    check_flagged(plain_graded["course"])


def test_the_batch_command_flags_it_in_the_gradebook_summary_and_report(graded_corpus):
    course, stdout = graded_corpus["course"], graded_corpus["stdout"]
    check_flagged(course)
    summary = stdout[stdout.index("Flagged for manual review ("):]
    # one line per flagged student (the first finding, shortened); the findings are in the report
    [line] = [line for line in summary.splitlines() if line.startswith(f"  {CHEAT}: ")]
    assert "finding" in line and "q1_param_count: " in line and f"  {HONEST}:" not in summary
    assert f"grading_report_{ASSIGNMENT}.json" in summary.splitlines()[0]
    results = {r["student"]: r for r in json.loads((course / f"grading_report_{ASSIGNMENT}.json").read_text())["results"]}
    assert results[HONEST]["flags"] == [] and results["instructor_solution"]["flags"] == []
    assert {"where": "q1_param_count", "seen": SEEN, "line": LINE} in results[CHEAT]["flags"]


def test_a_flood_of_findings_is_listed_the_same_capped_way_everywhere(graded_corpus):
    """Many flags (one per test cell and more): the summary, the grading report's gradebook comment
    and the class report list the first MAX_LISTED and count the rest, the same way."""
    course = graded_corpus["course"]
    flooded = max(FLAGGABLE, key=lambda s: len(notebook_flags(course, s.name)))
    count = len(notebook_flags(course, flooded.name))
    comments = gradebook_state(course)[flooded.name][1]
    lines = [line for line in comments[0].splitlines() if line.startswith("- ")]
    assert len(lines) == min(count, MAX_LISTED) + (count > MAX_LISTED)
