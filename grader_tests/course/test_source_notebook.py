"""The instructor's notebook runs top to bottom on the pinned stack, cleanly."""
import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ASSIGNMENT, REPO

pytestmark = pytest.mark.slow  # runs the instructor's notebook

SOURCE = REPO / "source" / ASSIGNMENT / "embeddings.ipynb"


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.read(SOURCE, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(SOURCE.parent)}}).execute()
    return nb


def test_no_cell_raises(executed):
    errors = [(i, o.ename, o.evalue) for i, c in enumerate(executed.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert errors == []


def test_no_cell_writes_to_stderr(executed):
    """No TensorFlow start-up log, no Keras warning (input_length is gone)."""
    stderr = [(i, o.text[:200]) for i, c in enumerate(executed.cells) if c.cell_type == "code"
              for o in c.outputs if o.get("name") == "stderr"]
    assert stderr == []


def test_the_hidden_tests_hand_over_every_graded_answer_in_plain_jupyter(executed):
    """Run by the instructor outside the grader, each graded cell's hidden tests still hand the
    answer over as data (one record each, valid; the grader is what rebuilds and judges it)."""
    from labgrader.judging.protocol import MIME, validate
    records = [validate(o.data[MIME]) for c in executed.cells if c.cell_type == "code"
               for o in c.outputs if MIME in o.get("data", {})]
    assert [r["grade_id"] for r in records] == ["q1_param_count", "q2_structure", "q2_shares_layer",
                                                 "q2_same_predictions", "q2_follows_shared_weights"]
    assert records[0]["answers"]["trainable_params_model2"]["value"] == 40
    assert all(set(r["answers"]) == {"model3"} for r in records[1:])


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
