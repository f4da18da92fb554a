"""Every lab's corpus (grader_tests/submissions_<assignment>/, found by its folder's name: a new lab
needs no fixture) graded on both paths, plain `nbgrader autograde` and the batch command: each cell
scores what its snippet's `# expect:` says, the instructor's notebooks get full marks, correct and
wrong submissions are never flagged; the batch's report and the class report are per notebook."""
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import REPO, batch_exit_status, lab_class_course, lab_corpora, lab_corpus, nbgrader
from labgrader.reports.gradebook import cell_scores, max_points

pytestmark = pytest.mark.slow
ENV = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def notebooks(assignment):
    return sorted(p.name for p in (REPO / "source" / assignment).glob("*.ipynb"))


def graded_cells(assignment):
    """{grade id: points} of the lab's graded test cells, from its source notebooks."""
    points = {}
    for name in notebooks(assignment):
        for cell in nbformat.read(REPO / "source" / assignment / name, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution"):
                points[meta["grade_id"]] = float(meta["points"])
    return points


def batch(course, *argv):
    return subprocess.run([sys.executable, "-m", "labgrader", *argv], cwd=course, env=ENV, capture_output=True,
                          text=True, timeout=1500)


@pytest.mark.parametrize("path", ["plain", "batch"])
@pytest.mark.parametrize("assignment", sorted(lab_corpora()))
def test_every_lab_corpus_scores_as_expected_on_both_paths(tmp_path, assignment, path):
    snippets = lab_corpus(assignment)
    assert snippets, f"grader_tests/submissions_{assignment}/ holds no submission"
    course = lab_class_course(tmp_path / "course", assignment, snippets)
    if path == "plain":
        nbgrader(course, "autograde", assignment)
    else:
        result = batch(course, "autograde", assignment)
        assert result.returncode == batch_exit_status(course, assignment), result.stdout[-3000:] + result.stderr[-3000:]
        report = json.loads((course / f"grading_report_{assignment}.json").read_text())
        assert report["notebooks"] == notebooks(assignment)
        records = {r["student"]: r for r in report["results"]}
        for snippet in snippets:
            if snippet.kind in ("correct", "wrong"):
                assert not records[snippet.name]["flags"], (snippet.name, records[snippet.name]["flags"])
            for skipped in snippet.skipped:  # a notebook not handed in: said, scored 0
                assert f"'{skipped}' was not handed in: its cells score 0" in records[snippet.name]["notes"]
            if not snippet.raw:  # no notebook copied to another notebook's name
                handed_in = sorted(set(notebooks(assignment)) - set(snippet.skipped))
                assert sorted(p.name for p in (course / "submitted" / snippet.name / assignment).iterdir()) == handed_in
        assert not (course / "grading_report.json").exists()
    scores = cell_scores(f"sqlite:///{course}/gradebook.db", assignment)
    assert scores.pop("instructor_solution") == graded_cells(assignment)
    assert scores == {s.name: s.expected for s in snippets}

    # the class report: per notebook, this lab's only
    result = batch(course, "report", assignment)
    assert result.returncode == 0, result.stderr
    table = (course / "reports" / f"{assignment}.csv").read_text().splitlines()
    header = table[0].split(",")
    assert header[:3] == ["student", "total", "max"]
    if len(notebooks(assignment)) > 1:
        assert header[3:3 + len(notebooks(assignment))] == notebooks(assignment)
    maximum = sum(max_points(f"sqlite:///{course}/gradebook.db", assignment).values())
    for snippet in snippets:
        assert any(line.startswith(f"{snippet.name},{sum(snippet.expected.values()):g},{maximum:g},") for line in table)
    page = (course / "reports" / f"{assignment}.html").read_text()
    if len(notebooks(assignment)) > 1:
        assert all(f'data-notebook="{Path(name).stem}"' in page for name in notebooks(assignment))
    others = [p.name for p in (REPO / "source").iterdir() if p.is_dir() and p.name != assignment]
    assert not any(other in page for other in others)
