"""Feedback: put each graded check's verdict, points and message at the top of its cell."""
import html

from nbformat.notebooknode import NotebookNode
from labgrader.preprocessors.feedback_base import FeedbackPreprocessor

from labgrader.cells import is_test_cell


class SummarizeChecks(FeedbackPreprocessor):
    """For feedback (after GetGrades): a one-line verdict per graded test cell, e.g.
    "Passed: 2 / 2 points" or "Failed: 0 / 2 points. model3 has its own copy of ...", built
    from the cell's score and the grader's message (JudgeObservations), never from test code or
    from what the kernel printed there: the cell's outputs are replaced by this line."""

    def preprocess_cell(self, cell, resources, index):
        if not is_test_cell(cell):
            return cell, resources
        meta = cell.metadata.nbgrader
        score, points = float(meta.get("score") or 0), float(meta["points"])
        errors = [o for o in cell.outputs if o.output_type == "error"]
        passed = score >= points and not errors
        message = errors[0].get("evalue", "") if errors else "All checks passed."
        label = "Passed" if passed else "Failed"
        text = f"{label}: {score:g} / {points:g} points. {message}"
        colour = "#1b7f3b" if passed else "#b3261e"
        summary = (f'<div class="labgrader-verdict" data-passed="{str(passed).lower()}" '
                   f'style="border-left:4px solid {colour};padding:4px 8px;margin:4px 0;'
                   f'background:{colour}14"><b style="color:{colour}">{label}</b> '
                   f'({score:g} / {points:g} points): {html.escape(message)}</div>')
        # Under a graded test cell, feedback shows only what the grader wrote: this verdict line.
        cell.outputs = [NotebookNode(output_type="display_data", metadata={"labgrader": "verdict"},
                                     data={"text/html": summary, "text/plain": text})]
        return cell, resources
