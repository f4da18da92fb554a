"""`nbgrader validate`, the student's check before submitting, gives the right verdict."""
import shutil

import pytest

from conftest import ASSIGNMENT, corpus, nbgrader
import snippets as submissions

pytestmark = pytest.mark.slow  # nbgrader validate runs kernels


def student_notebook(course, name):
    snippet = {s.name: s for s in corpus()}[name]
    folder = course / "work" / name
    submissions.write_submission(snippet, course / "release" / ASSIGNMENT / submissions.NOTEBOOK, folder)
    return folder / submissions.NOTEBOOK


def test_a_solved_notebook_validates(course):
    result = nbgrader(course, "validate", str(student_notebook(course, "list_and_flatten")))
    assert "Success! Your notebook passes all the tests." in result.stdout


def test_an_unsolved_notebook_fails_with_the_visible_messages(course):
    result = nbgrader(course, "validate", str(student_notebook(course, "untouched")), check=False)
    out = result.stdout
    assert "Success!" not in out
    assert "trainable_params_model2 is not defined" in out


def test_a_wrong_form_is_reported_in_one_sentence(course):
    result = nbgrader(course, "validate", str(student_notebook(course, "answer_as_string")), check=False)
    assert "it must be a whole number such as 12" in result.stdout
