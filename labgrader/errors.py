"""The one base of labgrader's exceptions.

Every exception class labgrader defines derives from ``LabgraderError`` (and, where callers catch
it by kind, from the built-in one it is: ``RuntimeError``, ``OSError``, ``ValueError``...), so a
command reports any of them the same way: its message, which says what is wrong and what to do,
and exit status 2 (``labgrader/__main__.py``). grader_tests/unit/test_architecture.py checks it.
"""


class LabgraderError(Exception):
    """An error of labgrader's; the message is for the instructor and names the fix."""
