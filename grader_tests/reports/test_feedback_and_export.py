"""Feedback shows every check's verdict and message and no hidden test code; grades export."""
import csv
import re
import shutil

import nbformat
import pytest

from conftest import ASSIGNMENT, REPO, nbgrader
from labgrader.reports.lms import write_canvas_csv

pytestmark = pytest.mark.slow  # nbgrader generate_feedback and export


@pytest.fixture(scope="module")
def feedback(graded_corpus, tmp_path_factory):
    course = tmp_path_factory.mktemp("feedback") / "course"
    shutil.copytree(graded_corpus["course"], course)
    nbgrader(course, "generate_feedback", ASSIGNMENT)
    pages = {p.parts[-3]: p.read_text() for p in course.glob(f"feedback/*/{ASSIGNMENT}/*.html")}
    return course, pages


def hidden_test_lines():
    source = nbformat.read(REPO / "source" / ASSIGNMENT / "embeddings.ipynb", as_version=4)
    lines, inside = [], False
    for cell in source.cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and line.strip():
                lines.append(line.strip())
    return lines


def test_feedback_is_written_for_every_graded_submission(feedback, graded_corpus):
    _, pages = feedback
    graded = {s for s in graded_corpus["scores"] if s not in ("empty_folder", "not_json")}
    assert graded <= set(pages)


def test_no_feedback_page_contains_a_hidden_test_line(feedback):
    import html
    course, pages = feedback
    secret = hidden_test_lines()
    assert len(secret) >= 10
    for student, page in pages.items():
        # a line the student wrote themselves (import observers...) is theirs to see
        submitted = "".join(course.glob(f"submitted/{student}/{ASSIGNMENT}/*.ipynb").__next__().read_text().split())
        text = html.unescape(re.sub(r"<[^>]+>", "", page))
        leaks = [line for line in secret if line in text and "".join(line.split()) not in submitted]
        assert leaks == [], (student, leaks[:3])


def test_feedback_shows_each_check_with_points_and_message(feedback):
    _, pages = feedback
    page = pages["copied_weights"]
    assert page.count('class="labgrader-verdict"') == 5
    assert "model3 has its own copy of the embedding weights" in page
    assert "(0 / 2 points)" in page and "(1 / 1 points)" in page


def test_nbgrader_export_and_the_canvas_csv(graded_corpus, tmp_path):
    course = graded_corpus["course"]
    nbgrader(course, "export", "--to", str(tmp_path / "grades.csv"))
    rows = list(csv.DictReader(open(tmp_path / "grades.csv")))
    assert {r["student_id"] for r in rows} == set(graded_corpus["scores"])
    canvas = write_canvas_csv(f"sqlite:///{course}/gradebook.db", ASSIGNMENT, tmp_path / "canvas.csv")
    lines = list(csv.reader(open(canvas)))
    assert lines[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ASSIGNMENT]
    assert lines[1][0] == "Points Possible" and lines[1][-1] == "8"
    assert ["list_and_flatten", "", "", "list_and_flatten", "", "8"] in lines
