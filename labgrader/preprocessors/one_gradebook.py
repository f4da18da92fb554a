"""nbgrader's gradebook steps on the submission's one gradebook session.

nbgrader's Autograde opens the gradebook five times before the first step, and four of its steps
(OverwriteKernelspec, OverwriteCells, SaveAutoGrades, AssignLatePenalties) each open it again: a
new engine, connection, schema check and course lookup per step, ten per submission; its
GenerateFeedback's GetGrades once more. The
converter the batch and the service grade with (``labgrader.batch.converter``) opens one session
per submission and lends it to the steps in ``resources[GRADEBOOK]``; these subclasses use it
and leave it open (its lender closes it). Without a lent session (plain ``nbgrader autograde``,
whose converter lends none) each step is exactly nbgrader's.
"""
from __future__ import annotations

import json
from typing import Any

from nbformat.notebooknode import NotebookNode
from nbgrader import preprocessors as nbgrader_steps
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor

GRADEBOOK = "labgrader_gradebook"  # resources key of the lent session

Resources = dict[str, Any]


class Lent:
    """The converter's session, as resources carry it: nbconvert deep-copies the resources before
    the steps run, and a copy of a session would be another session (or fail to copy)."""

    def __init__(self, gradebook: Gradebook) -> None:
        self.gradebook = gradebook

    def __deepcopy__(self, memo: dict[int, Any]) -> Lent:
        return self


def lent_gradebook(resources: Resources) -> Gradebook | None:
    """The session the converter lends for this submission (None: open your own)."""
    lent = resources.get(GRADEBOOK)
    return lent.gradebook if isinstance(lent, Lent) else None


def _ids(step: Any, resources: Resources) -> None:
    """What nbgrader's steps read from ``resources["nbgrader"]`` before they open the gradebook."""
    info = resources["nbgrader"]
    step.notebook_id, step.assignment_id = info["notebook"], info["assignment"]
    step.student_id, step.db_url = info.get("student"), info["db_url"]


class OverwriteKernelspec(nbgrader_steps.OverwriteKernelspec):
    """nbgrader's OverwriteKernelspec (the source notebook's kernelspec), on the lent session."""

    def preprocess(self, nb: NotebookNode, resources: Resources) -> tuple[NotebookNode, Resources]:
        gradebook = lent_gradebook(resources)
        if gradebook is None:
            return super().preprocess(nb, resources)
        info = resources["nbgrader"]
        kernelspec = gradebook.find_notebook(info["notebook"], info["assignment"]).kernelspec
        if kernelspec:
            nb.metadata["kernelspec"] = json.loads(kernelspec)
        return nb, resources


class OverwriteCells(nbgrader_steps.OverwriteCells):
    """nbgrader's OverwriteCells (locked and test cells as released), on the lent session."""

    def preprocess(self, nb: NotebookNode, resources: Resources) -> tuple[NotebookNode, Resources]:
        gradebook = lent_gradebook(resources)
        if gradebook is None:
            return super().preprocess(nb, resources)
        _ids(self, resources)
        self.gradebook = gradebook
        nb, resources = NbGraderPreprocessor.preprocess(self, nb, resources)  # each cell, as nbgrader's
        if self.add_missing_cells:
            nb, resources = self.add_missing_grade_cells(nb, resources)
            nb, resources = self.add_missing_task_cells(nb, resources)
        return nb, resources


class SaveAutoGrades(nbgrader_steps.SaveAutoGrades):
    """nbgrader's SaveAutoGrades (each graded cell's score and comment), on the lent session."""

    def preprocess(self, nb: NotebookNode, resources: Resources) -> tuple[NotebookNode, Resources]:
        gradebook = lent_gradebook(resources)
        if gradebook is None:
            return super().preprocess(nb, resources)
        _ids(self, resources)
        self.gradebook = gradebook
        return NbGraderPreprocessor.preprocess(self, nb, resources)  # each cell, as nbgrader's


class AssignLatePenalties(nbgrader_steps.AssignLatePenalties):
    """nbgrader's AssignLatePenalties (the notebook's penalty, reset first), on the lent session."""

    def preprocess(self, nb: NotebookNode, resources: Resources) -> tuple[NotebookNode, Resources]:
        gradebook = lent_gradebook(resources)
        if gradebook is None:
            return super().preprocess(nb, resources)
        _ids(self, resources)
        self.init_plugin()
        self.gradebook = gradebook
        submission = gradebook.find_submission(self.assignment_id, self.student_id)
        notebook = gradebook.find_submission_notebook(self.notebook_id, self.assignment_id, self.student_id)
        notebook.late_submission_penalty = None  # reset: a re-grade after the due date moved clears it
        if submission.total_seconds_late > 0:
            self.log.warning("%s is %s seconds late", submission, submission.total_seconds_late)
            penalty = self.plugin_inst.late_submission_penalty(self.student_id, notebook.score,
                                                               submission.total_seconds_late)
            self.log.warning("Late submission penalty: %s", penalty)
            if penalty is not None:
                notebook.late_submission_penalty = self._check_late_penalty(notebook, penalty)
        gradebook.db.commit()
        return nb, resources


class GetGrades(nbgrader_steps.GetGrades):
    """nbgrader's GetGrades (each cell's score and comment, the notebook's score, into the feedback),
    on the session lent by the feedback converter (``labgrader.batch.converter.SubmissionFeedback``)."""

    def preprocess(self, nb: NotebookNode, resources: Resources) -> tuple[NotebookNode, Resources]:
        gradebook = lent_gradebook(resources)
        if gradebook is None:
            return super().preprocess(nb, resources)
        _ids(self, resources)
        self.gradebook = gradebook
        nb, resources = NbGraderPreprocessor.preprocess(self, nb, resources)  # each cell, as nbgrader's
        notebook = gradebook.find_submission_notebook(self.notebook_id, self.assignment_id, self.student_id)
        penalty = notebook.late_submission_penalty or 0
        if penalty:
            self.log.warning("Late submission penalty: %s", penalty)
        info = resources["nbgrader"]
        info["score"], info["max_score"], info["late_penalty"] = notebook.score - penalty, notebook.max_score, penalty
        return nb, resources
