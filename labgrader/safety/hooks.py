"""nbgrader converter hooks that keep student-controlled paths from steering the grader.

nbgrader has no step that may veto a submission before it reads it: ``pre_convert_hook`` runs
after the destination is prepared and before ``init_assignment`` copies the hand-in's files and the
notebook is opened, but an exception in it is only logged. ``refuse_unsafe_handin`` therefore
refuses by emptying the list of notebooks it is given (nbgrader's own list, passed by
reference): nbgrader never opens the notebook (no FIFO to hang on, no link to follow into
another student's hand-in or the solutions) and fails that submission with an error, grading
the others. What remains: nbgrader's ``init_assignment`` still copies the refused hand-in's
*other* files (with ``shutil.copy``, which follows links) before it fails, then deletes the
student's ``autograded/`` folder; the batch command's pre-flight refuses such hand-ins before
nbgrader sees them.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from traitlets.log import get_logger

from labgrader.student_ids import excluded

from . import paths


def _log() -> logging.Logger | logging.LoggerAdapter[Any]:
    # The running nbgrader app's logger (plain path), else the one the converter uses (batch).
    return get_logger()


def refuse_unsafe_handin(assignment: str, student: str, notebooks: list[str], **_: Any) -> None:
    """``Autograde.pre_convert_hook``: refuse a hand-in holding anything but regular files and
    folders within the size caps, and clear the working copy of what earlier kernels left in it."""
    if not notebooks:
        return
    handin = os.path.dirname(notebooks[0])
    who = os.path.basename(os.path.dirname(handin))
    problems = paths.handin_problems(handin, notebook=os.path.basename(notebooks[0]))
    if problems:
        _log().error("[labgrader] %s: not graded: %s", who, "; ".join(problems))
        notebooks.clear()  # nbgrader then fails this submission without opening it
        return
    # A kernel of an earlier run may have left links or FIFOs in the working copy, which
    # nbgrader keeps (it removes only the notebook) and would write and chmod through.
    workdir = _working_copy(handin)
    if workdir:
        for note in paths.reclaim(workdir):
            _log().warning("[labgrader] %s: %s", who, note)


def reclaim_autograded(assignment: str, student: str, notebooks: list[str], **_: Any) -> None:
    """``GenerateFeedback.pre_convert_hook``: before nbgrader copies the working copy's files
    into ``feedback/`` (``shutil.copy``: follows links, expands sparse files, no size cap), leave
    only regular files within the caps there."""
    for workdir in sorted({os.path.dirname(nb) for nb in notebooks}):
        # the graded notebooks nbgrader wrote after grading are not counted against the working
        # copy's budget (grading took the copy back without them): what grading kept stays
        written = sum(os.lstat(nb).st_size for nb in notebooks
                      if os.path.dirname(nb) == workdir and os.path.isfile(nb) and not os.path.islink(nb))
        for note in paths.reclaim(workdir, max_total_bytes=paths.MAX_TOTAL_BYTES + written):
            _log().warning("[labgrader] %s: %s", os.path.basename(os.path.dirname(workdir)), note)


def _working_copy(handin: str) -> str | None:
    """``autograded/<student>/<assignment>`` for ``submitted/<student>/<assignment>`` (nbgrader's
    default directory structure; other layouts are left to the preprocessor after the kernel)."""
    student_dir = os.path.dirname(handin)
    submitted = os.path.dirname(student_dir)
    if os.path.basename(submitted) != "submitted":
        return None
    return os.path.join(os.path.dirname(submitted), "autograded", os.path.basename(student_dir),
                        os.path.basename(handin))


def exclude_unsafe_handins(c: Any, root: str) -> None:
    """For nbgrader_config.py: make plain nbgrader skip hand-ins that hold anything but regular
    files and folders within the caps (through ``CourseDirectory.student_id_exclude``, as
    ``labgrader.student_ids`` does), printing why, so that nbgrader's ``init_assignment`` never
    copies their files either (the pre-convert hook cannot stop that copy). The batch command's
    pre-flight refuses the same hand-ins and records them in the gradebook."""
    submitted = os.path.join(root, "submitted")
    if not os.path.isdir(submitted):
        return
    unsafe: dict[str, str] = {}
    for student in sorted(os.listdir(submitted)):
        folder = os.path.join(submitted, student)
        try:
            assignments = sorted(os.listdir(folder)) if not os.path.islink(folder) and os.path.isdir(folder) else [""]
            for assignment in assignments:
                handin = os.path.join(folder, assignment) if assignment else folder
                if assignment and os.path.isfile(handin) and not os.path.islink(handin):
                    continue  # a stray file beside the assignment folders: nbgrader never reads it
                problems = paths.handin_problems(handin)
                if problems:
                    unsafe[student] = "; ".join(problems)
        except OSError as exc:
            unsafe[student] = str(exc)
    skipped = [name for name in unsafe if "," not in name]
    if not skipped:
        return
    current = c.CourseDirectory.get("student_id_exclude", "")
    c.CourseDirectory.student_id_exclude = ",".join(filter(None, [current] + skipped))
    for name in skipped:  # announced by the plain path's pre-convert hook; the batch reports them itself
        excluded.setdefault(os.path.realpath(root), {})[name] = f"{name}: not graded: {unsafe[name]}"
