"""Feedback: put each graded check's verdict, points and message at the top of its cell."""
import html

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor

from labgrader.cells import is_test_cell


class SummarizeChecks(NbGraderPreprocessor):
    """For feedback (after GetGrades): a one-line verdict per graded test cell, e.g.
    "Passed: 2 / 2 points" or "Failed: 0 / 2 points. model3 has its own copy of ...", built
    from the cell's score and its error message (never from test code)."""

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
        # the verdict line says it all: drop the raw verdict text and the CheckFailed error repeating it
        cell.outputs = [o for o in cell.outputs
                        if not (o.output_type == "error" and o.get("ename") == "CheckFailed")
                        and not (o.output_type == "display_data"
                                 and o.get("data", {}).get("text/plain") in (message, "All hidden checks passed."))]
        cell.outputs.insert(0, NotebookNode(output_type="display_data", metadata={},
                                            data={"text/html": summary, "text/plain": text}))
        return cell, resources
