"""release/ is what nbgrader generates from source/, and it leaks no solution or hidden test."""
import re

import nbformat
import pytest

from conftest import ASSIGNMENT, REPO, nbgrader

pytestmark = pytest.mark.slow  # nbgrader commands

NOTEBOOK = f"{ASSIGNMENT}/embeddings.ipynb"


def cells(nb):
    return [(c.cell_type, c.source, {k: v for k, v in c.metadata.get("nbgrader", {}).items() if k != "checksum"})
            for c in nb.cells]


def test_release_is_up_to_date_with_source(course):
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    fresh = nbformat.read(course / "release" / NOTEBOOK, as_version=4)
    committed = nbformat.read(REPO / "release" / NOTEBOOK, as_version=4)
    assert cells(committed) == cells(fresh), "release/ is stale: run `nbgrader generate_assignment embeddings --force`"


def secret_lines(source_text):
    """Lines between BEGIN/END SOLUTION and BEGIN/END HIDDEN TESTS markers."""
    lines, inside = [], False
    for line in source_text.splitlines():
        if re.search(r"### BEGIN (SOLUTION|HIDDEN TESTS)", line):
            inside = True
        elif re.search(r"### END (SOLUTION|HIDDEN TESTS)", line):
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def test_no_solution_or_hidden_test_line_reaches_the_student():
    source = nbformat.read(REPO / "source" / NOTEBOOK, as_version=4)
    release_text = nbformat.read(REPO / "release" / NOTEBOOK, as_version=4)
    release_lines = {line.strip() for c in release_text.cells for line in c.source.splitlines()}
    secrets = [line for c in source.cells for line in secret_lines(c.source)]
    assert len(secrets) >= 10
    assert [line for line in secrets if line in release_lines and not line.startswith("#")] == []
    assert "labgrader" not in "".join(c.source for c in release_text.cells)
