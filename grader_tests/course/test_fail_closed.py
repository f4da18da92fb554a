"""Without the engine, nothing passes: a course graded by nbgrader's stock configuration (copied
without its nbgrader_config.py) gives a blank notebook 0, each graded cell saying to grade with the
course's configuration. The engine never runs a hidden test region; nbgrader's stock Execute does,
and every lab's hidden regions fail."""
import os
import shutil

import nbformat
import pytest
from jupyter_core.paths import jupyter_config_path

from conftest import ASSIGNMENT, REPO, nbgrader
from labgrader.reports.gradebook import cell_scores

NUMPY_ASSIGNMENT = "numpy_basics"  # the second lab (source/numpy_basics/)

pytestmark = pytest.mark.slow
LABS = sorted(path.parent.name for path in (REPO / "source").glob("*/grading.py"))  # every lab graded by the engine


def stock_course(dest):
    """The course's labs without any nbgrader_config.py: nbgrader's defaults, nothing of labgrader's."""
    for folder in jupyter_config_path():
        assert not any(os.path.exists(os.path.join(folder, f"nbgrader_config.{ext}")) for ext in ("py", "json")), \
            f"{folder} holds an nbgrader config: this machine's nbgrader is not stock"
    shutil.copytree(REPO / "source", dest / "source", ignore=shutil.ignore_patterns("nbgrader_config.py"))
    return dest


def hand_in_blank(course, assignment, student="blank"):
    nbgrader(course, "generate_assignment", assignment, "--force")
    target = course / "submitted" / student / assignment
    target.mkdir(parents=True)
    for notebook in (course / "release" / assignment).glob("*.ipynb"):
        shutil.copy(notebook, target)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = stock_course(tmp_path_factory.mktemp("stock") / "course")
    for assignment in LABS:
        hand_in_blank(course, assignment)
        nbgrader(course, "autograde", assignment)
    return course


@pytest.mark.parametrize("assignment", LABS)
def test_a_blank_notebook_scores_zero_under_nbgrader_stock_configuration(graded, assignment):
    scores = cell_scores(f"sqlite:///{graded}/gradebook.db", assignment)["blank"]
    assert scores and set(scores.values()) == {0}, scores


def test_each_graded_cell_says_to_grade_with_the_course_configuration(graded):
    nb = nbformat.read(graded / "autograded" / "blank" / ASSIGNMENT / "embeddings.ipynb", as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and
             not c.metadata.get("nbgrader", {}).get("solution")]
    assert len(tests) == 5
    assert all(any(o.output_type == "error" for o in cell.outputs) for cell in tests)
    hidden_only = [c for c in tests if "model3 exists" not in c.source and "numbers" not in c.source]
    assert len(hidden_only) == 3
    for cell in hidden_only:  # no visible check: the hidden region is what fails, saying why
        [error] = [o for o in cell.outputs if o.output_type == "error"]
        assert "Grade with the course's nbgrader_config.py" in error.evalue
