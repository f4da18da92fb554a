"""Flag a submission for a human when the grader saw evidence of tampering (never for an import)."""
from __future__ import annotations

import contextlib
from typing import Any

from nbformat.notebooknode import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor

from labgrader.context import context_of
from labgrader.preprocessors.one_gradebook import lent_gradebook
from labgrader.record import flag_lines

# The first line of the gradebook comment a flag writes.
HEADER = "Flagged for manual review: the grader saw evidence of tampering with what it is handed."


class FlagEvidence(NbGraderPreprocessor):
    """Runs after SaveAutoGrades (which would reset what it sets). When the notebook's record
    holds flags, the scores stand (the checks decide scores) but every grade of the notebook is
    marked ``needs_manual_grade`` in the gradebook, and each comment (shown under the cell in
    formgrader and in feedback) says what was seen, listed as everywhere else (the first
    ``labgrader.record.MAX_LISTED`` flags, then how many more)."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        context = context_of(resources)
        if context is None or not context.record.flags:
            return nb, resources
        info = resources["nbgrader"]
        text = "\n".join([HEADER] + [f"- {line}" for line in flag_lines(context.record.flags,
                                                                          dropped=context.record.dropped_flags)])
        lent = lent_gradebook(resources)  # the submission's session, or one of its own (plain nbgrader)
        with contextlib.nullcontext(lent) if lent else Gradebook(info["db_url"]) as gb:
            notebook = gb.find_submission_notebook(info["notebook"], info["assignment"], info["student"])
            for grade in notebook.grades:
                grade.needs_manual_grade = True
            for comment in notebook.comments:
                # Keep nbgrader's own comment ("No response.") under ours.
                comment.auto_comment = text + (f"\n\n{comment.auto_comment}" if comment.auto_comment else "")
            gb.db.commit()
        self.log.warning("[labgrader] %s: flagged for manual review: %s", context.student,
                         "; ".join(flag_lines(context.record.flags, 3)))
        return nb, resources
