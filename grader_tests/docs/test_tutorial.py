"""docs/writing-a-lab.md, tested as written: its lab is built from the page alone (the notebook from its
captioned cells, grading.py and the corpus snippets from its captioned files), its shell commands run in
page order in a course, and the right and the wrong answers it gives score what their `# expect:` lines
say, on both paths, with the messages the page quotes."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import snippets
from conftest import generated_course, lab_corpus
from labgrader.reports.gradebook import cell_scores
from pages import REPO, runnable, tutorial_cells, tutorial_files

pytestmark = pytest.mark.slow
PAGE = REPO / "docs" / "writing-a-lab.md"
KINDS = {  # Create Assignment's choices, as nbgrader writes them into a cell's metadata
    "Read-only": {"grade": False, "locked": True, "solution": False},
    "Autograded answer": {"grade": False, "locked": False, "solution": True},
    "Autograder tests": {"grade": True, "locked": True, "solution": False},
    "Manually graded answer": {"grade": True, "locked": False, "solution": True},
}


def assignment_name():
    (grading,) = [path for path in tutorial_files(PAGE) if path.endswith("/grading.py")]
    return Path(grading).parent.name


def notebook_from_page():
    """The notebook the page describes, cell by cell, as Create Assignment would mark it."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    numbers = []
    for number, kind, grade_id, points, block in tutorial_cells(PAGE):
        numbers.append(number)
        make = nbformat.v4.new_markdown_cell if block.language == "markdown" else nbformat.v4.new_code_cell
        cell = make(block.text.rstrip("\n"))
        cell.metadata["nbgrader"] = dict(KINDS[kind], grade_id=grade_id, schema_version=3)
        if points is not None:
            cell.metadata["nbgrader"]["points"] = points
        nb.cells.append(cell)
    assert numbers == list(range(1, len(numbers) + 1)), "the page's cells are numbered 1, 2, 3, ..."
    return nb


def run_block(course, block, env):
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", block.text], cwd=course, env=env, capture_output=True,
                            text=True, timeout=1500)
    assert result.returncode == 0, f"{block.where}:\n{block.text}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_the_tutorials_lab_is_built_from_the_page_and_graded_as_the_page_says(tmp_path):
    assignment = assignment_name()
    text = PAGE.read_text()
    notebook = f"source/{assignment}/{assignment}.ipynb"
    assert f"`{notebook}`" in text, "the page says where the notebook goes"
    course = tmp_path / "course"
    shutil.copytree(generated_course(), course, symlinks=True)
    for path, content in tutorial_files(PAGE).items():
        (course / path).parent.mkdir(parents=True, exist_ok=True)
        (course / path).write_text(content)
    nbformat.write(notebook_from_page(), course / notebook)
    corpus = lab_corpus(assignment, folder=course / "grader_tests" / f"submissions_{assignment}")
    assert {s.kind for s in corpus} == {"correct", "wrong"}

    # the instructor runs the notebook: the visible checks pass, each hidden region fails with its message
    nb = nbformat.read(course / notebook, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True,
                   resources={"metadata": {"path": str(course)}}).execute()
    quoted = text.split("stops with its message (`")[1].split("`)")[0]
    errors = {c.metadata["nbgrader"]["grade_id"]: o.evalue for c in nb.cells for o in c.get("outputs", [])
              if o.output_type == "error"}
    graded = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata["nbgrader"]["grade"]]
    assert graded and errors == {gid: quoted for gid in graded}

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # the environment on PATH
    ran = []
    for block in runnable(PAGE):
        if "labgrader autograde" in block.text and not any("labgrader autograde" in b for b in ran):
            release = course / "release" / assignment  # made by the page's own generate_assignment
            for snippet in corpus:  # handed in as the page says: submitted/<name>/<assignment>/
                snippets.write_assignment(snippet, release, course / "submitted" / snippet.name / assignment)
        run_block(course, block, env)
        ran.append(block.text)
    assert any("check-release" in b for b in ran) and any("labgrader autograde" in b for b in ran)

    scores = cell_scores(f"sqlite:///{course}/gradebook.db", assignment)
    assert scores == {s.name: s.expected for s in corpus}
    report = json.loads((course / f"grading_report_{assignment}.json").read_text())
    flat = " ".join(text.split())
    for record in report["results"]:
        assert not record["flags"], record
        for message in record["messages"][assignment].values():
            assert not message or " ".join(message.split()) in flat, f"the page does not quote {message!r}"
    assert (course / "reports" / f"{assignment}.html").is_file()

    # the other path: plain nbgrader, re-grading (--force), the same scores
    result = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "autograde", assignment, "--force"],
                            cwd=course, env=env, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    assert cell_scores(f"sqlite:///{course}/gradebook.db", assignment) == scores
