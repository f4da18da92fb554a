"""Student ids that nbgrader cannot grade safely are refused, with the reason, on both paths.

nbgrader builds its paths with ``glob``: for the student folder ``a*`` it grades
``submitted/a*/embeddings`` *and* ``submitted/abc/...`` (another student, twice and concurrently
in the batch), and a folder ``[ab]x`` matches ``ax`` but not itself (it is dropped, ``ax`` is graded
in its place). Control characters in a folder name would reach the grader's terminal and logs.
Such ids are not graded: the batch (runner.py) records them as not graded, with the reason, and
plain nbgrader skips them through ``CourseDirectory.student_id_exclude`` (set by
``exclude_unsafe`` from nbgrader_config.py); its pre-convert hook says why.
"""
import os

from labgrader.text import printable

GLOB = set("*?[]")
# course root -> {student: why nbgrader was told to skip it}: announced by the plain path's
# pre-convert hook (labgrader.reference_run.PreAutograde); the batch reports them itself.
excluded: dict[str, dict[str, str]] = {}


def refusal(student_id):
    """Why ``student_id`` cannot be graded, or "" when it can."""
    if GLOB & set(student_id):
        return (f"student id {printable(student_id)!r} contains glob characters ({''.join(sorted(GLOB & set(student_id)))}), "
                "which nbgrader expands when it looks for submissions: grading it could grade another "
                "student's notebook in its place; rename the folder in submitted/ and grade again")
    if printable(student_id) != student_id or "\n" in student_id or "\t" in student_id:
        return (f"student id {printable(student_id)!r} contains control characters: rename the folder "
                "in submitted/ and grade again")
    return ""


def unsafe_folders(root):
    submitted = os.path.join(root, "submitted")
    names = sorted(os.listdir(submitted)) if os.path.isdir(submitted) else []
    return {name: refusal(name) for name in names if refusal(name)}


def exclude_unsafe(c, root):
    """For nbgrader_config.py: make plain nbgrader skip unsafe student folders (and say why).

    nbgrader splits ``student_id_exclude`` at commas, so an id with a comma is not added (it could
    exclude someone else); RefuseUnsafeIds stops such a notebook when it is converted.
    """
    unsafe = unsafe_folders(root)
    if not unsafe:
        return
    current = c.CourseDirectory.get("student_id_exclude", "")
    skipped = [name for name in unsafe if "," not in name]
    c.CourseDirectory.student_id_exclude = ",".join(filter(None, [current] + skipped))
    for name in skipped:
        excluded.setdefault(os.path.realpath(root), {})[name] = f"not graded: {unsafe[name]}"
