"""Grade the hidden tests in the grader's process, from the answers the kernel handed over."""
from __future__ import annotations

import time

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer

from labgrader.cells import grade_id, is_student_cell, is_test_cell
from labgrader.context import Handover, context_of, mark_broken
from labgrader.judging import faithful
from labgrader.judging.answers import Answers, UnknownName
from labgrader.judging.evidence import differences, hint, identities, needles, structure
from labgrader.judging.keras_models import NotGradable
from labgrader.judging.protocol import MAX_EXPORT_BYTES, Malformed, validate, validate_evidence, validate_pin
from labgrader.lab import Check, LabError, Verdict
from labgrader.text import one_line

NO_EXPORT = ("The grader's checks of this cell did not finish (an earlier error in the cell, or code in the "
             "notebook that stopped them): fix the errors shown above and run the notebook again.")
FORGED = ("The grader received hand-overs for this cell that it did not ask for: remove code that writes "
          "grading messages or changes how the notebook runs.")
MALFORMED = "The hand-over of this cell holds something no genuine hand-over would: run the notebook unchanged."
CHANGED = ("{name} is not the object the lab's own cells built: run the lab's cells unchanged and do not "
           "rebind or change {name} before them.")
SNAPSHOT_GONE = "the export module's snapshot of the kernel is gone (cleared by code in the notebook)"
UNFAITHFUL = ("{name} does not compute what its layers describe (the grader ran it on inputs of its own): build it "
              "from Keras's built-in layers and do not change them, their weights or how they are called afterwards.")
NOT_CHECKED = "{name} cannot be graded: the grader cannot check that it computes what it describes ({why})."
CHANGED_BETWEEN = ("{name} was not the same object in every test cell that checks it (it changed between {first} and "
                   "{then}): build it once, in its answer cell, and do not change it afterwards.")
HOOK_WORDS = ["register", "pre_execute", "pre_run_cell", "Thread"]


def kernel_message(cell, limit=300):
    """The first error the kernel showed in ``cell``, as one line of plain text."""
    for output in cell.outputs:
        if output.output_type == "error":
            return one_line(str(output.get("evalue", "")) or str(output.get("ename", "")), limit)
    return ""


def verdict_output(passed: bool, message: str) -> NotebookNode:
    text = "All checks passed." if passed else message
    return NotebookNode(output_type="display_data", metadata={"labgrader": "verdict"}, data={"text/plain": text})


def failure_output(message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename="CheckFailed", evalue=message, traceback=["CheckFailed: " + message])


class JudgeAnswers(NbGraderPreprocessor):
    """Runs right after GuardedExecute. For every graded test cell, takes the one hand-over the
    grader's silent step received after it (``GradingContext.handovers``; validated: schema, size,
    the cell's own grade id, the same names the instructor's run handed over), checks that it is
    faithful to what the kernel runs (``judging.faithful``: every Keras model it names computed, in
    the kernel, what its rebuild computes on the grader's inputs; a name handed over by several
    cells is one and the same object), rebuilds the answers in this process and asks the lab's
    ``judge`` for the verdict. An unfaithful answer fails without being judged. The cell's outputs
    are then replaced by the grader's own: a verdict line, plus an error carrying the message when
    it failed, so that nbgrader's SaveAutoGrades scores it and nothing the kernel printed there
    reaches the autograded notebook or feedback.

    Flags, for a human, on evidence the grader sees: hand-overs that are malformed, that the grader
    did not ask for (written by the notebook's code: during a cell, or beside the grader's own), or
    missing after a cell that finished without an error; answers that compute something else than
    they describe, or change between test cells with no cell of the notebook's in between; lab
    objects whose structure is not what the lab's cells built; what the export module saw student
    code change. An exception raised by the lab's judge is the lab's bug: grading stops
    (``LabError``) and no student is flagged."""

    max_export_bytes = Integer(MAX_EXPORT_BYTES, config=True, help="Largest hand-over accepted, in bytes.")

    def preprocess(self, nb, resources):
        context = context_of(resources)
        if context is None or context.lab is None or not context.reference:
            return nb, resources
        self._context = context
        released = {c.source for c in context.release.cells} if context.release is not None else set()
        self._writable = {i for i, c in enumerate(nb.cells) if is_student_cell(c, released) and not is_test_cell(c)}
        self._student_cells = [(grade_id(c) or f"cell {i + 1}", c.source) for i, c in enumerate(nb.cells)
                               if i in self._writable]
        self._exports: dict[str, dict | Malformed] = {}
        self._pinned = self._pinned_identities()
        for where, count in context.stray.items():
            self._flag(where, f"hand-overs to the grader written outside a test cell ({count})",
                       ["MIME", "export", "display", "publish"])
        started = time.monotonic()
        self._changed_between = self._one_object_per_name(nb)
        try:
            return super().preprocess(nb, resources)
        finally:
            context.record.timings["judge"] = round(time.monotonic() - started, 3)

    def _flag(self, where: str, seen: str, words: list[str] | None = None) -> None:
        self._context.record.flag(where, seen, hint(self._student_cells, words or []))

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        gid = grade_id(cell)
        if not (is_test_cell(cell) and gid in self._context.reference):
            return cell, resources
        self._evidence(gid)
        passed, message = self._judge(cell, gid)
        self._context.record.messages[gid] = "" if passed else message
        cell.outputs = [verdict_output(passed, message)] + ([] if passed else [failure_output(message)])
        return cell, resources

    def _export(self, gid: str) -> dict | Malformed | None:
        """The one hand-over the grader received for ``gid``, validated once (None: none, or several)."""
        handover = self._context.handovers.get(gid)
        if handover is None or len(handover.exports) != 1:
            return None
        if gid not in self._exports:
            try:
                self._exports[gid] = validate(handover.exports[0], self.max_export_bytes)
            except Malformed as exc:
                self._exports[gid] = exc
        return self._exports[gid]

    def _one_object_per_name(self, nb) -> dict[str, str]:
        """{answer name: why it fails} for the names whose hand-overs in different test cells do
        not describe one object (kernel identities, structure); flagged when no cell the student
        could write ran in between (a hook or a thread changed it)."""
        first: dict[str, tuple[str, str, int]] = {}
        changed: dict[str, str] = {}
        for index, cell in enumerate(nb.cells):
            gid = grade_id(cell)
            export = self._export(gid) if is_test_cell(cell) and gid in self._context.reference else None
            if not isinstance(export, dict):
                continue
            for name in export["answers"]:
                mark = faithful.fingerprint(export, name)
                if name not in first:
                    first[name] = (gid, mark, index)
                elif mark != first[name][1] and name not in changed:
                    before, where = first[name][0], first[name][2]
                    changed[name] = CHANGED_BETWEEN.format(name=name, first=before, then=gid)
                    if not self._writable & set(range(where + 1, index)):
                        self._flag(gid, f"{name} changed between the hand-overs of {before} and {gid} with no cell of "
                                   "the notebook's in between (code run by a hook or a thread changed it)",
                                   [name] + HOOK_WORDS)
        return changed

    def _pinned_identities(self) -> dict[str, frozenset | None]:
        """{pinned name: the kernel identities of the lab's object and all it reaches}, from what the
        silent pin cells handed over right after the lab cells ran (None: the pin cannot be trusted)."""
        pinned: dict[str, frozenset | None] = {}
        for records in self._context.pins:
            if len(records) != 1:
                self._flag("lab cells", f"a silent pin handed over {len(records)} records instead of one",
                           ["MIME", "publish", "display"])
            try:
                record = validate_pin(records[0]) if len(records) == 1 else None
            except Malformed as exc:
                self._flag("lab cells", f"a malformed pin ({exc})")
                record = None
            if record is None:
                pinned.update((name, None) for name in self._context.lab.pinned_names)
                continue
            for seen in record["evidence"]:
                self._flag("lab cells", one_line(seen, 200), needles(seen))
            for name, encoded in record["names"].items():
                pinned[name] = identities(record, encoded)
        return pinned

    def _changed(self, gid: str, export: dict, reference: dict) -> dict[str, str]:
        """Pinned names whose objects in this hand-over are not the lab's: not the very objects
        pinned after the lab's cells (kernel identities), or not the structure the instructor's run
        gave them. Each is flagged; the judge then cannot use them."""
        changed = {}
        for name in export["lab"]:
            if name in self._pinned and identities(export, export["lab"][name]) != self._pinned[name]:
                changed[name] = CHANGED.format(name=name)
                self._flag(gid, f"the lab's own {name} is not the object the lab's cells built (it is not the "
                           "object pinned right after them, or reaches other layers or weights)", ["_pinned", name])
        names = differences(structure(export), {k: v for k, v in structure(reference).items() if k in export["lab"]})
        for name in names:
            if name not in changed:
                changed[name] = CHANGED.format(name=name)
                self._flag(gid, f"the lab's own {name} is not what the lab's cells built (its layers, settings or "
                           "sharing differ from the instructor's run)", ["_pinned", name])
        return changed

    def _evidence(self, gid: str) -> None:
        """What the grader's check after a test cell saw (GuardedExecute's seal), as flags."""
        handover = self._context.handovers.get(gid) or Handover()
        reported = False
        for record in handover.seals:
            try:
                evidence = validate_evidence(record)
            except Malformed:
                continue
            if evidence["grade_id"] == gid:
                reported = True
                if self._context.watched and not evidence["watched"]:
                    self._flag(gid, SNAPSHOT_GONE, ["_watch", "_watched"])
                for seen in evidence["seen"]:
                    self._flag(gid, one_line(seen, 200), needles(seen))
        if gid in self._context.sealed and not reported:
            self._flag(gid, "the grader's own check after this test cell reported nothing (its module was "
                       "replaced or removed in the kernel)", ["sys.modules", "labgrader", "export"])

    def _judge(self, cell, gid: str) -> tuple[bool, str]:
        handover = self._context.handovers.get(gid) or Handover()
        problems = []
        if handover.unasked:
            problems.append(f"{handover.unasked} hand-over message(s) the grader did not ask for (written by code "
                            "in the notebook, during the test cell or beside the grader's own)")
        export = self._export(gid)
        if isinstance(export, Malformed):
            problems.append(f"a malformed hand-over ({export})")
        elif isinstance(export, dict) and export["grade_id"] != gid:
            problems.append("a hand-over for another cell")
        for problem in problems:
            self._flag(gid, problem, ["MIME", "publish", "display", "clear_output"])
        if problems:
            return False, FORGED
        if isinstance(export, dict) and not handover.complete:  # the kernel died or hung during the grader's steps
            return False, kernel_message(cell) or NO_EXPORT
        if not isinstance(export, dict):
            message = kernel_message(cell)
            if message:  # the cell's own (visible) code stopped before its hand-over
                self._context.record.kernel_errors[gid] = message
            if not message:  # the cell ran to its end, yet its hand-over never arrived
                self._flag(gid, "the test cell finished without an error but handed nothing over",
                           ["display", "publish", "send", "export"])
            return False, message or NO_EXPORT
        return self._verdict(gid, export)

    def _unfaithful(self, gid: str, export: dict, answers: Answers) -> str:
        """Why the hand-over cannot be trusted to be what the kernel runs ("" when it can): an
        answer that changed between test cells, a Keras model whose cross-check failed (flagged)
        or that could not be cross-checked."""
        for name in export["answers"]:
            if name in self._changed_between:
                return self._changed_between[name]
        handover = self._context.handovers.get(gid) or Handover()
        finding = faithful.cross_check(export, handover.inputs, handover.outputs, answers.rebuilt)
        if finding is None:
            return ""
        if not finding.evidence:
            return NOT_CHECKED.format(name=finding.name, why=finding.problem)
        self._flag(gid, f"{finding.name} does not compute what the hand-over describes: {finding.problem}",
                   [finding.name, "_layers", "_functional", "kernel", "activation", "call", "register"])
        return UNFAITHFUL.format(name=finding.name)

    def _verdict(self, gid: str, export: dict) -> tuple[bool, str]:
        context, lab = self._context, self._context.lab
        reference = context.reference[gid]
        if set(export["answers"]) != set(reference["answers"]) or not set(export["lab"]) <= set(reference["lab"]):
            self._flag(gid, "the hand-over names other answers than the test cell hands over")
            return False, MALFORMED
        for seen in export["evidence"]:
            self._flag(gid, one_line(seen, 200), needles(seen))
        if context.watched and not export["watched"]:
            self._flag(gid, SNAPSHOT_GONE, ["_watch", "_watched"])
        changed = self._changed(gid, export, reference)
        allowed = set(lab.allowed_layers) if lab.allowed_layers is not None else None
        try:
            answers = Answers(export, allowed, changed)
            check = Check(gid, answers, Answers(reference, allowed), context.rng, context.arguments.get(gid))
        except Malformed as exc:
            self._flag(gid, f"a malformed hand-over ({exc})")
            return False, MALFORMED
        unfaithful = self._unfaithful(gid, export, answers)
        if unfaithful:
            return False, unfaithful
        try:
            verdict = lab.judge(check)
            if not isinstance(verdict, Verdict):
                raise TypeError(f"judge returned {type(verdict).__name__}, not a Verdict (passed() or failed(message))")
        except NotGradable as exc:
            return False, str(exc)
        except Malformed as exc:  # rebuilding met something the exporter never writes
            self._flag(gid, f"a malformed hand-over ({exc})")
            return False, MALFORMED
        except (UnknownName, Exception) as exc:
            message = (f"the lab {lab.name!r} ({lab.path}) is broken: its judge raised "
                       f"{type(exc).__name__}: {one_line(exc, 300)} while grading {gid!r} for {context.student!r}. "
                       "Fix grading.py and grade again; no student was flagged.")
            mark_broken(lab, message)
            raise LabError(message) from exc
        if not verdict.passed and not verdict.message:
            return False, "This check failed."
        return bool(verdict.passed), ("" if verdict.passed else one_line(verdict.message, 1000))
