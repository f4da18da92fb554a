"""The instructor's notebook, run as a submission is run: the reference every check compares with,
and the readiness check that a class can be graded at all.

Composed from above, as nbgrader's ``Validator`` composes its steps: this module builds the
notebook's context and runs ``GuardedExecute`` on the instructor's source notebook; the steps never
import it. ``check_ready`` then judges the instructor's own answers with the lab's judges, which must
give full marks: a lab whose judge fails or raises on the instructor's answers stops grading before
any student is graded (an instructor's bug never reads as a student's cheating).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, Callable

import nbformat
import numpy as np
from nbgrader.coursedir import CourseDirectory

import ast

from labgrader.cells import grade_id, hidden_tests, is_test_cell
from labgrader.context import GradingContext, Handover, arguments_for, mark_broken
from labgrader.judging import faithful
from labgrader.judging import reference as reference_store
from labgrader.kernels import forkserver
from labgrader.judge_process import JudgeLimits, Outcome, Request, judge_process
from labgrader.judging.protocol import Malformed, validate
from labgrader.lab import MODULE_FILE, Lab, LabError, load_lab, notebook_names
from labgrader.preprocessors.guarded_execute import GuardedExecute
from labgrader.record import NotebookRecord
from labgrader.text import one_line


class NotReady(LabError):
    """A class cannot be graded: the instructor's notebook does not run, or the lab's judges do not
    give it full marks. The message says what to fix."""


def run_reference(config: Any, lab: Lab, notebook: str, rng: np.random.Generator | None = None
                  ) -> tuple[dict[str, dict], dict[str, list], dict[str, Handover]]:
    """Run the instructor's ``notebook`` (without .ipynb) in a scratch copy of the lab folder,
    sandboxed and handed over like any submission; return what the grader received after each
    graded test cell, validated (one object per name), the arguments its function answers were
    called with (the judges must see the same calls), and each cell's ``Handover`` (the
    cross-check's inputs and the kernel's results: ``judge_reference`` cross-checks them)."""
    folder = os.path.dirname(lab.path)
    nb = nbformat.read(os.path.join(folder, notebook + ".ipynb"), as_version=4)
    check_test_cells(lab, notebook, nb)
    graded = [grade_id(c) for c in nb.cells if is_test_cell(c)]
    rng = rng if rng is not None else np.random.default_rng(0)
    arguments = arguments_for(lab, graded, rng)
    context = GradingContext(lab.name, notebook, "(the instructor's notebook)", lab, NotebookRecord(notebook=notebook),
                             rng=rng, arguments=arguments, cross_check_rng=np.random.default_rng(2))
    workdir = tempfile.mkdtemp(prefix="labgrader-reference-")
    try:
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if name != MODULE_FILE and not name.endswith(".ipynb") and os.path.isfile(path) and not os.path.islink(path):
                shutil.copy(path, workdir)
        nb, _ = GuardedExecute(config=config).preprocess(nb, {"metadata": {"path": workdir}, "labgrader": context})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    exports = {}
    for cell in nb.cells:
        if is_test_cell(cell):
            gid = grade_id(cell)
            exports[gid] = _handed_over(notebook, cell, context.handovers.get(gid) or Handover())
    _one_object_per_name(notebook, exports)
    return exports, arguments, context.handovers


def check_test_cells(lab: Lab, notebook: str, nb: Any) -> None:
    """Every graded test cell of the instructor's notebook is one the lab hands answers over for
    (``Lab.handovers``), and its hidden test region fails: run by anything but this grader (nbgrader's
    stock configuration), a cell whose hidden tests pass would give its points whatever the answer."""
    for cell in nb.cells:
        if not is_test_cell(cell):
            continue
        gid = grade_id(cell)
        if gid not in lab.handovers:
            raise NotReady(f"{lab.path}: Lab.handovers has no entry for the graded cell {gid!r} of {notebook}.ipynb: "
                           "list the names the grader hands over after it (e.g. handovers={" f"{gid!r}: (\"answer\",)" "}).")
        if not _fails(hidden_tests(cell.source)):
            raise NotReady(
                f"{notebook}.ipynb: the graded cell {gid!r} has no hidden test region that fails. The grader never runs "
                "that region; nbgrader's stock configuration (a course copied without its nbgrader_config.py) does, "
                "and would then give the cell's points whatever the answer. End the cell with\n"
                "### BEGIN HIDDEN TESTS\nraise AssertionError(\"graded only with the course's nbgrader_config.py\")\n"
                "### END HIDDEN TESTS")


def _fails(lines: list[str]) -> bool:
    """Whether code runs a ``raise`` statement at its top level (so it always fails when run)."""
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return False
    return any(isinstance(statement, ast.Raise) for statement in tree.body)


def _handed_over(notebook: str, cell: Any, handover: Handover) -> dict:
    """The one valid hand-over the grader received after the instructor's test ``cell``."""
    gid = grade_id(cell)
    if len(handover.exports) != 1 or handover.unasked:
        errors = [f"{o.ename}: {one_line(o.evalue, 200)}" for o in cell.outputs if o.output_type == "error"]
        raise NotReady(
            f"The instructor's notebook {notebook}.ipynb handed over {len(handover.exports)} answers after the graded "
            f"cell {gid!r} instead of one ({errors[0] if errors else 'no error shown'}): its visible code must run "
            "without an error, and nothing in the notebook may write the grader's messages; run it top to bottom "
            "in Jupyter and fix it.")
    try:
        export = validate(handover.exports[0])
    except Malformed as exc:
        raise NotReady(f"{notebook}.ipynb: the hand-over of {gid!r} is malformed ({exc})") from None
    if export["grade_id"] != gid:
        raise NotReady(f"{notebook}.ipynb: the hand-over after {gid!r} is for another cell")
    return export


def _one_object_per_name(notebook: str, exports: dict[str, dict]) -> None:
    """The instructor's answers pass what every student's must: each name handed over by several
    cells is one object (the cross-check of each Keras model is ``judge_reference``'s)."""
    first: dict[str, tuple[str, str]] = {}
    for gid, export in exports.items():
        for name in export["answers"]:
            mark = faithful.fingerprint(export, name)
            if first.setdefault(name, (gid, mark))[1] != mark:
                raise NotReady(f"{notebook}.ipynb: {name} changes between the graded cells {first[name][0]!r} and {gid!r} "
                               "in the instructor's own run (a test cell's visible code builds or changes it); the "
                               "grader requires one object per name: build it fully in its answer cell.")


def judge_reference(config: Any, lab: Lab, notebook: str, exports: dict[str, dict], arguments: dict[str, list],
                    rng: np.random.Generator, handovers: dict[str, Handover] | None = None) -> None:
    """The lab's judges on the instructor's own answers, called with the arguments the kernel ran
    them on, in the judge process under the caps every submission gets (labgrader/judge_process.py),
    after the cross-check every student's answers get (``handovers``: what the kernel computed on
    the grader's inputs): each must pass (NotReady otherwise: here, and only here, the judge's
    errors are the lab's)."""
    caps = JudgeLimits(config=config).caps()
    allowed = set(lab.allowed_layers) if lab.allowed_layers is not None else None
    cpu_left = caps.cpu_seconds
    for gid, export in exports.items():
        handover = (handovers or {}).get(gid)
        outcome = judge_process(caps).judge(Request(
            (lab.path, lab.name, lab.digest), gid, export, export, rng, arguments.get(gid), allowed, own_reference=True,
            cpu_seconds=cpu_left, warm=lab.warm_imports, inputs=handover.inputs if handover else {},
            outputs=handover.outputs if handover else None))
        cpu_left -= outcome.cpu_seconds
        if outcome.rng_state is not None:
            rng.bit_generator.state = outcome.rng_state
        if outcome.kind == "verdict" and outcome.passed:
            continue
        where = f"on the instructor's own answer to {gid!r} in {notebook}.ipynb"
        if outcome.kind == "unfaithful":
            raise NotReady(_unfaithful(notebook, gid, outcome))
        if outcome.kind == "raised":
            raise NotReady(f"{lab.path}: the judge raised {outcome.message} {where}; fix grading.py (no student was graded).")
        if outcome.over_cap:
            why = {"over_cpu": f"took more than {caps.cpu_seconds:g} s of CPU for the notebook (c.JudgeLimits.cpu_seconds)",
                   "over_memory": f"needed more than {caps.memory_bytes // 2 ** 20} MiB (c.JudgeLimits.memory_bytes)"}.get(
                outcome.kind, f"did not finish ({outcome.message})")
            raise NotReady(f"{lab.path}: judging {why} {where}: every submission gets the same caps; make the judge "
                           "cheaper or raise the cap (no student was graded).")
        raise NotReady(f"{lab.path}: the judge fails the instructor's own answer to {gid!r} in {notebook}.ipynb "
                       f"({one_line(outcome.message, 300)}); fix grading.py or the notebook (no student was graded).")


def _unfaithful(notebook: str, gid: str, outcome: Outcome) -> str:
    return (f"{notebook}.ipynb: the instructor's {outcome.name} handed over after {gid!r} fails the grader's cross-check "
            f"({outcome.message}); the grader cannot check this answer faithfully (see Lab.cross_check_inputs for the "
            "inputs it draws).")


def check_ready(config: Any, assignment: str, notebooks: list[str] | None = None) -> Lab | None:
    """Before a class is graded: run each instructor notebook fresh (whatever is cached: the cache
    may come from another folder or machine), judge its answers, and keep its exports as the
    reference. Raises NotReady (a LabError) with what to fix; marks the lab broken so that every
    later submission in this process stops at once."""
    coursedir = CourseDirectory(config=config)
    lab = load_lab(coursedir, assignment)
    if lab is None:  # no grading.py: stock nbgrader tests, nothing of ours runs in the kernel
        return None
    notebooks = notebooks if notebooks is not None else notebook_names(coursedir.db_url, assignment)
    pinned: set[str] = set()
    graded: list[str] = []
    try:
        for notebook in notebooks:
            try:
                exports, arguments, handovers = run_reference(config, lab, notebook)
            except NotReady:
                raise
            except Exception as exc:
                raise NotReady(
                    f"Cannot grade {assignment!r}: a grading kernel could not run the instructor's {notebook}.ipynb "
                    f"({type(exc).__name__}: {one_line(exc, 300)}), so every submission would score 0. Check that "
                    "`python -c 'import labgrader'` works with the interpreter the kernels use, that the course's "
                    f"source/{assignment}/ is complete, and that source/{assignment}/{notebook}.ipynb runs top to bottom "
                    "in Jupyter (only its hidden test regions may fail there).") from None
            judge_reference(config, lab, notebook, exports, arguments, np.random.default_rng(1), handovers)
            pinned |= {name for export in exports.values() for name, value in export["lab"].items()
                       if value["kind"] != "undefined"}
            reference_store.store(coursedir, lab, notebook, exports)
            graded += list(exports)
        unknown = sorted(set(lab.handovers) - set(graded))
        if unknown:
            raise NotReady(f"{lab.path}: Lab.handovers names {unknown}, which no graded test cell of the lab's "
                           "notebooks has as its grade id (a typo?).")
        unbound = [name for name in lab.pinned_names if name not in pinned]
        if unbound:
            raise NotReady(f"{lab.path}: no locked cell of the instructor's notebooks binds {unbound} (Lab.pinned_names): "
                           "a pinned name must be assigned at the top level of a lab cell before the test cells.")
    except NotReady as exc:
        mark_broken(lab, str(exc))
        raise
    return lab


class PreAutograde:
    """``Autograde.pre_convert_hook`` for plain nbgrader (set in nbgrader_config.py with the course's
    config): once per process and lab, the readiness check; then, for every submission, the hand-in's
    path safety (labgrader.safety.hooks). It also names the lab's warm imports for the command's fork
    server (labgrader.kernels.forkserver.process_server), whose kernels the command's are forked from. nbgrader only logs a hook's exceptions, then records the
    submission (zeros in the gradebook), so a failed readiness check calls ``stop`` with the reason:
    nbgrader_config.py ends the command there, before any submission is recorded. The lab is marked
    broken as well, so any process that goes on stops every submission at its first step."""

    def __init__(self, config: Any, check: bool = True, announce: bool = True,
                 stop: Callable[[str], None] | None = None):
        self.config = config
        self.stop = stop            # called with the reason when the readiness check fails
        self.check = check          # the batch checked before dispatching: False in its workers
        self.announce = announce    # say which hand-ins nbgrader_config.py told nbgrader to skip
        self._checked: set[tuple[str, str, str]] = set()
        self._announced: set[str] = set()

    def __call__(self, assignment: str, student: str, notebooks: list, **kw: Any) -> None:
        from traitlets.log import get_logger

        from labgrader.safety.hooks import refuse_unsafe_handin
        coursedir = CourseDirectory(config=self.config)
        if self.announce and coursedir.root not in self._announced:
            from labgrader.student_ids import excluded
            self._announced.add(coursedir.root)
            for reason in excluded.get(os.path.realpath(coursedir.root), {}).values():
                get_logger().warning("[labgrader] %s", reason)
        try:
            lab = load_lab(coursedir, assignment)
        except LabError as exc:
            get_logger().error("%s", exc)
            lab = None
        if self.check and lab is not None:  # plain autograde: its kernels are forked warm (GradingKernelManager.warm_kernels)
            forkserver.warm_this_process(lab.warm_imports)
        key = (coursedir.root, assignment, lab.digest if lab else "")
        if self.check and lab is not None and key not in self._checked:
            self._checked.add(key)
            try:
                check_ready(self.config, assignment)
            except LabError as exc:
                get_logger().error("%s", exc)
                if self.stop is not None:  # nbgrader would log an exception and record the submission
                    self.stop(f"[labgrader] grading of {assignment!r} stopped before any student: {exc}")
        refuse_unsafe_handin(assignment, student, notebooks, **kw)
