"""Grade a whole class: pre-flight checks, one isolated task per submission on a pool of workers,
a consistent gradebook, a grading report."""
from .runner import grade_class

__all__ = ["grade_class"]
