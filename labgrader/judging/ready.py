"""Fail fast: before the first submission of a class is graded, check that a grading kernel can
run the hidden-test machinery at all (else every student would be recorded with 0).

Plain ``nbgrader autograde`` runs the check from its pre-convert hook (``pre_autograde``, set in
nbgrader_config.py), once per process and assignment; the batch command runs it before it
dispatches any submission. A failure stops grading with one message saying what to do.
"""
from nbgrader.coursedir import CourseDirectory

from .lab import load_lab, notebook_names
from .reference import NotReady, check_ready

_checked = set()


def ensure_ready(config, assignment):
    """Raise NotReady unless each notebook of ``assignment`` runs its hidden tests in a kernel
    (a reference run of the instructor's notebook); checked once per process."""
    coursedir = CourseDirectory(config=config)
    key = (coursedir.root, assignment)
    if key in _checked:
        return
    lab = load_lab(coursedir, assignment)
    if lab is not None:  # no grading module: stock nbgrader tests, nothing of ours runs in the kernel
        check_ready(config, coursedir, assignment, notebook_names(coursedir.db_url, assignment), lab)
    _checked.add(key)


def pre_autograde(assignment, student, notebooks, **kw):
    """``Autograde.pre_convert_hook`` of plain nbgrader: the readiness check, then the hand-in's
    path safety (labgrader.safety.hooks). nbgrader only logs a hook's exceptions, so a failed
    check ends the command (SystemExit) before anything is recorded for this submission."""
    from traitlets.config import Application

    from labgrader.safety.hooks import refuse_unsafe_handin
    if Application.initialized():  # plain nbgrader; the batch checks before dispatching workers
        try:
            ensure_ready(Application.instance().config, assignment)
        except NotReady as exc:
            Application.instance().log.error("%s", exc)
            raise SystemExit(f"\n{exc}") from None
    refuse_unsafe_handin(assignment, student, notebooks, **kw)
