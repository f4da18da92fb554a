"""nbgrader configuration for the Categorical Embeddings course (used from the repo root)."""
import os
import sys

# The grader's own package lives next to this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties, ClearOutput, DeduplicateIds, GetGrades,
    IgnorePattern, LimitOutput, OverwriteCells, OverwriteKernelspec, SaveAutoGrades)
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402

from labgrader.preprocessors import (  # noqa: E402
    ClearHiddenTests, GuardedExecute, JudgeObservations, RefuseUnsafeIds, RestoreTestCells, SanitizeOutputs, SummarizeChecks)
from labgrader.student_ids import exclude_unsafe  # noqa: E402
from labgrader.preprocessors.flag_tampering import FlagTampering  # noqa: E402
from labgrader.preprocessors.reclaim_working_copy import ReclaimWorkingCopy  # noqa: E402
from labgrader.preprocessors.sanitize_autograded import SanitizeAutograded  # noqa: E402
# nbgrader's CheckCellMetadata, its JSON schema checked once per process instead of once per cell
from labgrader.preprocessors.check_cell_metadata import CheckCellMetadata  # noqa: E402

c = get_config()  # noqa: F821

c.CourseDirectory.course_id = "categorical-embeddings"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")

# Student folders named like globs (a*, [ab]x) would make nbgrader grade another student's
# notebook in their place: skip them, saying why (labgrader/student_ids.py).
exclude_unsafe(c, c.CourseDirectory.root)

# The lab's grading module (source/<assignment>/grading.py) is the grader's: never released,
# never copied into a student's working copy.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "grading.py"]

# Students are created on the fly when their submission is graded.
c.Autograde.create_student = True

# Student-controlled paths: a hand-in holding links, FIFOs, devices or oversized files is refused
# before nbgrader opens it; feedback copies only regular files within caps (labgrader/safety/).
# ...and, before the first submission, one kernel must run the hidden tests of the instructor's
# notebook, else grading stops with what to fix (labgrader/judging/ready.py).
c.Autograde.pre_convert_hook = "labgrader.judging.ready.pre_autograde"
c.GenerateFeedback.pre_convert_hook = "labgrader.safety.hooks.reclaim_autograded"
from labgrader.safety.hooks import exclude_unsafe_handins  # noqa: E402
exclude_unsafe_handins(c, c.CourseDirectory.root)  # so nbgrader does not even copy their files

# Before execution: nbgrader's sanitizing, plus putting back deleted or renamed test cells.
c.Autograde.sanitize_preprocessors = [
    RefuseUnsafeIds,  # a student id nbgrader would expand as a glob (a*, [ab]x) is refused, with the reason
    ClearOutput,
    DeduplicateIds,
    OverwriteKernelspec,
    RestoreTestCells,
    OverwriteCells,
    CheckCellMetadata,
]

# Execution: nbgrader's Execute + the probes of the hidden tests; the grader judges what they observed.
c.Autograde.autograde_preprocessors = [
    GuardedExecute,
    ReclaimWorkingCopy,  # the kernel is gone: nothing it left is written, chmod'ed or copied through
    JudgeObservations,
    SanitizeAutograded,  # student output inert in the autograded notebook (formgrader renders it as the instructor)
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    FlagTampering,  # after SaveAutoGrades (which resets needs_manual_grade): tampering code -> manual review
    AssignLatePenalties,
    CheckCellMetadata,
]

# A cell of this lab needs well under a second; 30 s leaves room for a slow machine.
# (GuardedExecute and nbgrader validate's Execute both read it.)
c.Execute.timeout = 30
c.LimitOutput.max_lines = 200
# `nbgrader validate` cuts lines at 90 characters by default: show students whole messages.
c.Validator.width = 250

# Feedback: no hidden test code (jupyter/nbgrader#917), and a verdict line per check.
c.GenerateFeedback.preprocessors = [
    GetGrades,
    ClearHiddenTests,
    SanitizeOutputs,  # students' outputs and cells shown as text, never run (before the grader's verdicts)
    SummarizeChecks,
    CSSHTMLHeaderPreprocessor,
]

# `nbgrader export`: the same CSV, with cells a spreadsheet will not run as formulas.
c.ExportApp.plugin_class = "labgrader.reports.export.SafeCsvExportPlugin"

# Names a cell added before the first answer cell must not rebind (FlagTampering) are the lab's:
# ``protected_names`` in source/<assignment>/grading.py (add course-wide ones here).
