"""nbgrader preprocessors, one configurable step per file (as in nbgrader's own preprocessors/)."""
from .guarded_execute import GuardedExecute
from .refuse_unsafe_ids import RefuseUnsafeIds
from .restore_test_cells import RestoreTestCells
from .sanitize_outputs import SanitizeOutputs
from .summarize_checks import SummarizeChecks
from .verdicts import JudgeVerdicts

__all__ = ["GuardedExecute", "JudgeVerdicts", "RefuseUnsafeIds", "RestoreTestCells", "SanitizeOutputs",
           "SummarizeChecks"]
