"""The first step of each autograde pass: the notebook's grading context (labgrader.context)."""
from __future__ import annotations

import fnmatch
import importlib.util
import os

from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

from labgrader.context import KEY, build
from labgrader.lab import Lab
from labgrader.record import read_notebook_record
from labgrader.safety import paths
from labgrader.text import filter_log


class PrepareGrading(NbGraderPreprocessor):
    """First step of the sanitize pass: builds the GradingContext every later step reads
    (``resources["labgrader"]``), drops any grading record the student's notebook carries (only
    the grader writes one), and takes Python code handed in beside the notebook out of the
    kernel's working copy (the hand-in in ``submitted/`` keeps it): code the lab does not declare
    (``Lab.handin_files``) is never imported by the kernel, and a file named like a module the
    kernel could import is flagged. It also makes every log line printable text (student ids,
    file names and messages reach the terminal through it)."""

    sanitizing = True

    def preprocess(self, nb, resources):
        filter_log(self.log)
        context = build(self.config, resources, sanitizing=self.sanitizing)
        if self.sanitizing:
            nb.metadata.pop(KEY, None)
            for cell in nb.cells:
                cell.metadata.pop(KEY, None)
            if context.lab is not None:
                self._keep_code_out(context)
        else:
            kept = read_notebook_record(nb)  # written by KeepRecord at the end of the sanitize pass
            if kept is not None:
                kept.notebook = context.notebook
                context.record = kept
        resources[KEY] = context
        return nb, resources

    def _keep_code_out(self, context) -> None:
        coursedir = CourseDirectory(config=self.config)
        workdir = coursedir.format_path(coursedir.autograded_directory, context.student, context.assignment)
        if not os.path.isdir(workdir):
            return
        lab_folder = coursedir.format_path(coursedir.source_directory, ".", context.assignment)
        keep = set(os.listdir(lab_folder)) if os.path.isdir(lab_folder) else set()
        for name, what in paths.importable_entries(workdir, keep):
            if _declared(context.lab, name):
                continue
            paths.remove_entry(workdir, name)
            context.record.note(f"{name} ({what}) handed in beside the notebook was not given to the kernel: "
                                "this lab takes no Python code besides the notebook")
            module = name.partition(".")[0]
            if module and _importable(module):
                context.record.flag("hand-in", f"{name} is named like the module {module!r}, which it would "
                                    "shadow in the kernel")


def _declared(lab: Lab, name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in lab.handin_files)


def _importable(module: str) -> bool:
    """Whether ``module`` names a module the grader's Python (the kernels' too) can import."""
    if not module.isidentifier():
        return False
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class ResumeGrading(PrepareGrading):
    """First step of the autograde pass: the same context, and the record the sanitize pass kept."""

    sanitizing = False
