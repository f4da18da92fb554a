"""Every graded cell's result into the notebook's record, once grading is done (before KeepRecord)."""
from __future__ import annotations

from typing import Any

from nbformat import NotebookNode
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import determine_grade, is_grade

from labgrader.cells import grade_id
from labgrader.context import CourseCache, context_of
from labgrader.record import CheckResult
from labgrader.text import one_line


class RecordChecks(NbGraderPreprocessor):
    """Adds a ``CheckResult`` per graded cell to the context's record: its points and the score
    nbgrader's SaveAutoGrades gives it (``determine_grade``, read from the graded cell as nbgrader
    reads it), the grader's message, the error the cell's own code raised, and whether that error
    is what the student sees running the cell (the released cell holds visible tests; for stock
    nbgrader tests with no lab, also no hidden tests, whose failure would show in the same error).
    Visible and hidden tests are worked out once per assignment (``CourseCache.test_visibility``).
    The summary, the reports, the grading service's pages and its journal read these results."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        context = context_of(resources)
        if context is None:
            return nb, resources
        try:
            visibility = CourseCache.test_visibility(CourseDirectory(config=self.config), context.assignment,
                                                     context.notebook)
        except OSError:  # no released notebook: nothing is shown before the due date
            visibility = {}
        record, checks = context.record, []
        for cell in nb.cells:
            if not is_grade(cell):
                continue
            gid = grade_id(cell) or "?"
            score, points = determine_grade(cell, self.log)
            shown, hidden = visibility.get(gid, (False, True))
            if context.lab is None:  # a stock test's error may come from its hidden part
                error, shown = _error(cell), shown and not hidden
            else:  # the grader kept what the cell's own code raised before its hand-over
                error = record.kernel_errors.get(gid, "")
            checks.append(CheckResult(gid, float(points), None if score is None else float(score), shown,
                                      record.messages.get(gid, "" if context.lab is not None else error), error))
        record.checks = checks
        return nb, resources


def _error(cell: NotebookNode) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return one_line(str(output.get("evalue", "")) or str(output.get("ename", "")), 1000)
    return ""
