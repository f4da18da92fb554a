"""A lab without grading.py, graded the stock nbgrader way (its hidden tests are asserts that run in
the student's kernel): the numpy_basics lab's first notebook with each hand-over replaced by a bare
hidden ``assert`` (no message), as many existing nbgrader courses write them."""
import shutil
from pathlib import Path

import nbformat

from conftest import REPO, nbgrader

ASSIGNMENT = "stock_asserts"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
HIDDEN = {  # grade id -> the hidden test that replaces the hand-over
    "q1_column_means": "assert np.allclose(column_means(np.ones((2, 3))), [1, 1, 1])",
    "q2_standardize": "assert np.allclose(standardize(np.arange(6.0).reshape(3, 2)).mean(axis=0), 0)",
}


def add_stock_lab(course: Path) -> Path:
    """source/stock_asserts/ in ``course``, its student version generated; returns the release notebook."""
    nb = nbformat.read(REPO / "source" / "numpy_basics" / "arrays.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in HIDDEN:
            visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
            cell.source = f"{visible}### BEGIN HIDDEN TESTS\n{HIDDEN[grade_id]}\n### END HIDDEN TESTS"
    folder = course / "source" / ASSIGNMENT
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / NOTEBOOK)
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    return course / "release" / ASSIGNMENT / NOTEBOOK


def hand_in(course: Path, student: str, answers: dict) -> None:
    """The released notebook with ``answers`` ({grade id: source}) as ``student``'s hand-in."""
    nb = nbformat.read(course / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / NOTEBOOK)
