"""nbgrader preprocessors, one configurable step per file (as in nbgrader's own preprocessors/)."""
from .feedback_base import ClearHiddenTests
from .guarded_execute import GuardedExecute
from .judge_observations import JudgeObservations
from .refuse_unsafe_ids import RefuseUnsafeIds
from .restore_test_cells import RestoreTestCells
from .sanitize_outputs import SanitizeOutputs
from .summarize_checks import SummarizeChecks

__all__ = ["ClearHiddenTests", "GuardedExecute", "JudgeObservations", "RefuseUnsafeIds", "RestoreTestCells", "SanitizeOutputs",
           "SummarizeChecks"]
