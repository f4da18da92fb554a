"""labgrader's CheckCellMetadata accepts and refuses exactly what nbgrader's does, with the same errors."""
import copy
import time

import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator

from labgrader.preprocessors.check_cell_metadata import CheckCellMetadata, FastMetadataValidator

from conftest import REPO

NOTEBOOK = REPO / "source" / "embeddings" / "embeddings.ipynb"


def graded(nb):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))


def corrupt_points(nb):
    graded(nb).metadata.nbgrader["points"] = "two"


def drop_points(nb):
    del graded(nb).metadata.nbgrader["points"]


def duplicate_id(nb):
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")]
    cells[1].metadata.nbgrader["grade_id"] = cells[0].metadata.nbgrader["grade_id"]


def old_schema(nb):
    graded(nb).metadata.nbgrader["schema_version"] = 1


def unknown_type(nb):
    graded(nb).metadata.nbgrader["locked"] = "yes"


def outcome(validator, nb):
    try:
        validator.validate_nb(nb)
    except Exception as exc:  # the exception nbgrader's users see: type and message
        return type(exc), str(exc)
    return None


@pytest.mark.parametrize("damage", [None, corrupt_points, drop_points, duplicate_id, old_schema, unknown_type])
def test_same_verdict_as_nbgrader(damage):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    if damage:
        damage(nb)
    theirs = outcome(MetadataValidator(), copy.deepcopy(nb))
    ours = outcome(FastMetadataValidator(), copy.deepcopy(nb))
    assert ours == theirs
    assert (theirs is None) == (damage is None)


def test_preprocessor_refuses_like_nbgrader():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    corrupt_points(nb)
    with pytest.raises(Exception, match="the nbgrader metadata may be corrupted"):
        CheckCellMetadata().preprocess(nb, {})


def test_cheaper_than_nbgrader():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    FastMetadataValidator().validate_nb(nb)  # compiled once
    costs = []
    for validator in (MetadataValidator, FastMetadataValidator):
        started = time.process_time()
        for _ in range(3):
            validator().validate_nb(nb)
        costs.append(time.process_time() - started)
    assert costs[1] < costs[0] / 3, costs
