"""nbgrader preprocessors, one configurable step per file (as in nbgrader's own preprocessors/)."""
from .guarded_execute import GuardedExecute
from .restore_test_cells import RestoreTestCells
from .summarize_checks import SummarizeChecks
from .verdicts import JudgeVerdicts

__all__ = ["GuardedExecute", "JudgeVerdicts", "RestoreTestCells", "SummarizeChecks"]
