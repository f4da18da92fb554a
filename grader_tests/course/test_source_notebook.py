"""The instructor's notebook runs top to bottom on the pinned stack, cleanly."""
import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ASSIGNMENT, REPO
from labgrader.cells import is_test_cell

pytestmark = pytest.mark.slow  # runs the instructor's notebook

SOURCE = REPO / "source" / ASSIGNMENT / "embeddings.ipynb"


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.read(SOURCE, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(SOURCE.parent)}}).execute()
    return nb


def test_only_the_hidden_test_regions_raise_saying_why(executed):
    """Run by hand, every cell runs cleanly up to the hidden test regions, which only the grader
    skips: each fails with a message that says where the checks run and that this is expected."""
    errors = {c.metadata.nbgrader["grade_id"]: o for c in executed.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"}
    graded = [c.metadata.nbgrader["grade_id"] for c in executed.cells if is_test_cell(c)]
    assert sorted(errors) == sorted(graded)
    for output in errors.values():
        assert output.ename == "AssertionError" and "Grade with the course's nbgrader_config.py" in output.evalue
        assert "The checks above passed; this error is expected" in output.evalue


def test_no_cell_writes_to_stderr(executed):
    """No TensorFlow start-up log, no Keras warning (input_length is gone)."""
    stderr = [(i, o.text[:200]) for i, c in enumerate(executed.cells) if c.cell_type == "code"
              for o in c.outputs if o.get("name") == "stderr"]
    assert stderr == []


def test_every_demo_cell_is_locked_and_every_answer_cell_is_graded():
    nb = nbformat.read(SOURCE, as_version=4)
    kinds = [c.metadata.nbgrader for c in nb.cells]
    answers = [m["grade_id"] for m in kinds if m.get("solution")]
    tests = {m["grade_id"]: m["points"] for m in kinds if m.get("grade") and not m.get("solution")}
    assert answers == ["q1_answer", "q2_answer"]
    assert sum(tests.values()) == 8
    assert all(m.get("locked") for m in kinds if not m.get("solution"))


def test_the_readme_points_table_matches_the_notebook():
    nb = nbformat.read(SOURCE, as_version=4)
    readme = (REPO / "README.md").read_text()
    for cell in nb.cells:
        meta = cell.metadata.nbgrader
        if meta.get("grade") and not meta.get("solution"):
            assert f"| `{meta['grade_id']}` | {meta['points']} |" in readme, meta["grade_id"]
