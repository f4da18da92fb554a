"""nbgrader preprocessors, one configurable step per file (as in nbgrader's own preprocessors/).

Autograde, sanitize pass: PrepareGrading, RefuseUnsafeIds, (nbgrader's ClearOutput, DeduplicateIds,
OverwriteKernelspec), RestoreTestCells, (OverwriteCells), CheckCellMetadata, KeepRecord.
Autograde, grading pass: ResumeGrading, GuardedExecute, ReclaimWorkingCopy, JudgeAnswers, SanitizeAutograded, (nbgrader's
IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades), FlagEvidence,
(AssignLatePenalties), CheckCellMetadata, RecordChecks, KeepRecord. Feedback: ClearHiddenTests, SanitizeOutputs,
RenderMath, SummarizeChecks. The order is set in nbgrader_config.py.
"""
from .check_cell_metadata import CheckCellMetadata
from .feedback_base import ClearHiddenTests
from .flag_evidence import FlagEvidence
from .guarded_execute import GuardedExecute
from .judge_answers import JudgeAnswers
from .keep_record import KeepRecord
from .prepare_grading import PrepareGrading, ResumeGrading
from .reclaim_working_copy import ReclaimWorkingCopy
from .record_checks import RecordChecks
from .refuse_unsafe_ids import RefuseUnsafeIds
from .render_math import RenderMath
from .restore_test_cells import RestoreTestCells
from .sanitize_autograded import SanitizeAutograded
from .sanitize_outputs import SanitizeOutputs
from .summarize_checks import SummarizeChecks

__all__ = ["CheckCellMetadata", "ClearHiddenTests", "FlagEvidence", "GuardedExecute", "JudgeAnswers", "KeepRecord",
           "PrepareGrading", "ReclaimWorkingCopy", "RecordChecks", "RefuseUnsafeIds", "RenderMath", "RestoreTestCells", "ResumeGrading",
           "SanitizeAutograded", "SanitizeOutputs", "SummarizeChecks"]
