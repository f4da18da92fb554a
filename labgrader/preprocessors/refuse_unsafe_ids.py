"""Autograde: refuse a notebook whose student folder name nbgrader would expand as a glob.

nbgrader_config.py already makes plain nbgrader skip such folders (labgrader.student_ids); this
step is the backstop for what that cannot express (an id with a comma), and for a notebook
converted with a student id given on the command line.
"""
from nbgrader.preprocessors import NbGraderPreprocessor

from labgrader.errors import LabgraderError
from labgrader.student_ids import refusal


class UnsafeStudentIdError(LabgraderError):
    pass


class RefuseUnsafeIds(NbGraderPreprocessor):
    """Stop before anything runs when the submission's student id is unsafe (the reason says why)."""

    def preprocess(self, nb, resources):
        reason = refusal(resources.get("nbgrader", {}).get("student", ""))
        if reason:
            raise UnsafeStudentIdError(f"not graded: {reason}")
        return nb, resources
