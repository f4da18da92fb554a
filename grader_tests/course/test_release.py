"""release/ is what nbgrader generates from source/ (every lab, its notebooks and the files beside
them, such as the students' guide), and it leaks no solution or hidden test:
`python -m labgrader check-release`, the check the docs tell an instructor to run, on this repository."""
import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import ASSIGNMENT, REPO, copy_course
from labgrader.release_check import secret_lines

pytestmark = pytest.mark.slow  # nbgrader commands

NOTEBOOK = f"{ASSIGNMENT}/embeddings.ipynb"


def check_release(course):
    return subprocess.run([sys.executable, "-m", "labgrader", "check-release", "--course", str(course)],
                          capture_output=True, text=True, timeout=600)


def test_every_lab_is_released_as_nbgrader_generates_it():
    result = check_release(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("release check: 0 problem(s) in 2 assignment(s)")


def test_a_stale_students_guide_or_notebook_and_a_leak_are_caught(tmp_path):
    course = copy_course(tmp_path / "course")
    (course / "source" / ASSIGNMENT / "README.md").write_text("# A newer guide\n")
    source = nbformat.read(course / "source" / NOTEBOOK, as_version=4)
    leaked = next(line for c in source.cells for line in secret_lines(c.source) if len(line) > 12)
    released = nbformat.read(course / "release" / NOTEBOOK, as_version=4)
    released.cells[0].source += "\n" + leaked
    nbformat.write(released, course / "release" / NOTEBOOK)
    result = check_release(course)
    assert result.returncode == 1
    assert f"release/{ASSIGNMENT}/README.md is out of date with source/" in result.stdout
    assert f"release/{NOTEBOOK} is out of date with source/ (first difference at cell 1)" in result.stdout
    assert f"release/{NOTEBOOK} leaks a line of a solution or hidden test" in result.stdout
    shutil.rmtree(course)


def test_no_solution_or_hidden_test_line_reaches_the_student():
    source = nbformat.read(REPO / "source" / NOTEBOOK, as_version=4)
    release_text = nbformat.read(REPO / "release" / NOTEBOOK, as_version=4)
    release_lines = {line.strip() for c in release_text.cells for line in c.source.splitlines()}
    secrets = [line for c in source.cells for line in secret_lines(c.source)]
    assert len(secrets) >= 10
    assert [line for line in secrets if line in release_lines] == []
    assert "labgrader" not in "".join(c.source for c in release_text.cells)
