"""nbgrader's Autograde converter on one gradebook session per submission.

The batch (``task.grade_submission``; the grading service grades through it too) opens the
gradebook once per submission and grades with ``SubmissionAutograde``, which does what
nbgrader's ``Autograde.init_assignment`` does on that session instead of opening five of its
own, and lends it to the steps (``labgrader.preprocessors.one_gradebook``). Plain ``nbgrader
autograde`` runs nbgrader's own converter, unchanged.
"""
from __future__ import annotations

import os
import shutil
from typing import Any

from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde, GenerateFeedback, NbGraderException
from nbgrader.converters.base import BaseConverter

from labgrader.preprocessors.one_gradebook import GRADEBOOK, Lent


class SubmissionAutograde(Autograde):
    """Autograde one submission on ``gradebook``, a session the caller opened and closes."""

    def __init__(self, gradebook: Gradebook, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gradebook = gradebook

    def init_single_notebook_resources(self, notebook_filename: str) -> dict[str, Any]:
        resources = super().init_single_notebook_resources(notebook_filename)
        resources[GRADEBOOK] = Lent(self.gradebook)
        return resources

    def init_assignment(self, assignment_id: str, student_id: str) -> None:
        """nbgrader's Autograde.init_assignment, on the one session."""
        BaseConverter.init_assignment(self, assignment_id, student_id)  # the hand-in's other files
        gb = self.gradebook
        if self.create_student:
            gb.update_or_create_student(student_id)
        else:
            self._require(gb.find_student, student_id, f"No student with ID '{student_id}' exists in the database")
        assignment = self._require(gb.find_assignment, assignment_id,
                                   f"No assignment with ID '{assignment_id}' exists in the database")
        timestamp = self.coursedir.get_existing_timestamp(self._format_source(assignment_id, student_id))
        if timestamp:
            submission = gb.update_or_create_submission(assignment_id, student_id, timestamp=timestamp)
            self.log.info("%s submitted at %s", submission, timestamp)
            if submission.total_seconds_late > 0:
                self.log.warning("%s is %s seconds late", submission, submission.total_seconds_late)
        else:
            gb.update_or_create_submission(assignment_id, student_id)
        self._overwrite_source_files(assignment_id, student_id)
        known = {notebook.name for notebook in assignment.notebooks}
        found: list[str] = list(self.notebooks)  # type: ignore[has-type]  # nbgrader's List trait
        for path in found:
            if os.path.splitext(os.path.basename(path))[0] not in known:
                self.log.warning("Skipping unknown notebook: %s", path)
        self.notebooks = [path for path in found if os.path.splitext(os.path.basename(path))[0] in known]
        if not self.notebooks:
            msg = "No notebooks found, did you forget to run 'nbgrader generate_assignment'?"
            self.log.error(msg)
            raise NbGraderException(msg)
        self._zero_missing_notebooks(gb, assignment, assignment_id, student_id)

    def _require(self, find: Any, key: str, message: str) -> Any:
        try:
            return find(key)
        except MissingEntry:
            self.log.error(message)
            raise NbGraderException(message) from None

    def _overwrite_source_files(self, assignment_id: str, student_id: str) -> None:
        """The assignment's own files (all but notebooks and what is ignored) over the student's."""
        self.log.info("Overwriting files with master versions from the source directory")
        dest_path = self._format_dest(assignment_id, student_id)
        source_path = self.coursedir.format_path(self.coursedir.source_directory, ".", assignment_id)
        source_files = set(utils.find_all_files(source_path, self.coursedir.ignore + ["*.ipynb"]))
        excluded = {os.path.join(source_path, name) for name in self.exclude_overwriting.get(assignment_id, [])}
        for filename in sorted(source_files - excluded):
            dest = os.path.join(dest_path, os.path.relpath(filename, source_path))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if os.path.exists(dest):
                os.remove(dest)
            self.log.info("Copying %s -> %s", filename, dest)
            shutil.copy(filename, dest)

    def _zero_missing_notebooks(self, gb: Gradebook, assignment: Any, assignment_id: str, student_id: str) -> None:
        """A notebook of the assignment the student did not hand in scores 0."""
        submitted = self.coursedir.format_path(self.coursedir.submitted_directory, student_id, assignment_id)
        for notebook in assignment.notebooks:
            path = os.path.join(submitted, f"{notebook.name}.ipynb")
            if not os.path.exists(path):
                self.log.warning("No submitted file: %s", path)
                for grade in gb.find_submission_notebook(notebook.name, assignment_id, student_id).grades:
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
                gb.db.commit()


class SubmissionFeedback(GenerateFeedback):
    """nbgrader's GenerateFeedback for one submission on ``gradebook``, a session the caller opened and
    closes (lent to GetGrades and SanitizeOutputs as SubmissionAutograde lends its own)."""

    def __init__(self, gradebook: Gradebook, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gradebook = gradebook

    def init_single_notebook_resources(self, notebook_filename: str) -> dict[str, Any]:
        resources = super().init_single_notebook_resources(notebook_filename)
        resources[GRADEBOOK] = Lent(self.gradebook)
        return resources
