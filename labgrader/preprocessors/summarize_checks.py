"""Feedback: put each graded check's verdict, points and message at the top of its cell."""
from __future__ import annotations

from typing import Any

from nbformat.notebooknode import NotebookNode

from labgrader.cells import is_test_cell
from labgrader.preprocessors.feedback_base import HIDDEN_LINES, FeedbackPreprocessor, failure_message
from labgrader.templates import render


class SummarizeChecks(FeedbackPreprocessor):
    """For feedback (after GetGrades): a one-line verdict per graded test cell, e.g.
    "Passed: 2 / 2 points" or "Failed: 0 / 2 points. model3 has its own copy of ...", built
    from the cell's score and the grader's message (JudgeAnswers), never from test code or
    from what the kernel printed there: the cell's outputs are replaced by this line."""

    def preprocess_cell(self, cell: NotebookNode, resources: dict[str, Any], index: int) -> tuple[NotebookNode, dict[str, Any]]:
        if not is_test_cell(cell):
            return cell, resources
        meta = cell.metadata.nbgrader
        score, points = float(meta.get("score") or 0), float(meta["points"])
        errors = [o for o in cell.outputs if o.output_type == "error"]
        passed = score >= points and not errors
        message = failure_message(errors[0], resources.get(HIDDEN_LINES, {}).get(meta.get("grade_id"), set())) \
            if errors else "All checks passed."
        label = "Passed" if passed else "Failed"
        text = f"{label}: {score:g} / {points:g} points. {message}"
        colour = "#1b7f3b" if passed else "#b3261e"
        summary = render("verdict.html.j2", passed=passed, colour=colour, label=label, score=score, points=points,
                         message=message)
        # Under a graded test cell, feedback shows only what the grader wrote: this verdict line.
        cell.outputs = [NotebookNode(output_type="display_data", metadata={"labgrader": "verdict"},
                                     data={"text/html": summary, "text/plain": text})]
        return cell, resources
