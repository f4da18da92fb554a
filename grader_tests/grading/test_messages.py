"""A failing check tells the student, in one sentence, what is wrong and what to do."""
import nbformat
import pytest

from conftest import ASSIGNMENT, corpus

pytestmark = pytest.mark.slow  # reads the shared graded class

WRONG = corpus("wrong")


def graded_cells(course, student):
    nb = nbformat.read(course / "autograded" / student / ASSIGNMENT / "embeddings.ipynb", as_version=4)
    return {c.metadata.nbgrader["grade_id"]: c for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata.nbgrader.get("solution")}


@pytest.mark.parametrize("snippet", WRONG, ids=[s.name for s in WRONG])
def test_every_failed_check_has_an_actionable_message(graded_corpus, snippet):
    for grade_id, cell in graded_cells(graded_corpus["course"], snippet.name).items():
        if snippet.expected.get(grade_id):
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert errors, f"{grade_id} failed without an error output"
        message = errors[0].evalue
        assert message and ": " in message, f"{grade_id}: bare or vague message {message!r}"
        assert message.count(". ") == 0, f"{grade_id}: more than one sentence: {message!r}"


@pytest.mark.parametrize("snippet", corpus("correct"), ids=lambda s: s.name)
def test_no_graded_cell_writes_to_stderr_for_a_correct_answer(graded_corpus, snippet):
    for grade_id, cell in graded_cells(graded_corpus["course"], snippet.name).items():
        assert not [o for o in cell.outputs if o.get("name") == "stderr"], grade_id


def test_wrong_counts_never_reveal_the_answer(graded_corpus):
    for student in ("count_one_row", "copied_weights", "no_flatten"):
        cell = graded_cells(graded_corpus["course"], student)["q1_param_count"]
        shown = [o.get("evalue") or o.get("text") or o.get("data", {}).get("text/plain") for o in cell.outputs]
        assert shown and not any("40" in text for text in shown), shown
