"""Grade the hidden tests in the grader's process, from the answers the kernel handed over."""
from __future__ import annotations

import time

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer

from labgrader.cells import grade_id, is_student_cell, is_test_cell
from labgrader.context import Handover, context_of
from labgrader.judge_process import JudgeLimits, Outcome, Request, judge_process
from labgrader.judging import faithful
from labgrader.judging.evidence import Hints, differences, identities, needles, structure
from labgrader.judging.protocol import MAX_EXPORT_BYTES, Malformed, validate, validate_evidence, validate_pin
from labgrader.text import one_line, printable

NO_EXPORT = ("The grader's checks of this cell did not finish (an earlier error in the cell, or code in the "
             "notebook that stopped them): fix the errors shown above and run the notebook again.")
FORGED = ("The grader received hand-overs for this cell that it did not ask for: remove code that writes "
          "grading messages or changes how the notebook runs.")
MALFORMED = "The hand-over of this cell holds something no genuine hand-over would: run the notebook unchanged."
CHANGED = ("{name} is not the object the lab's own cells built: run the lab's cells unchanged and do not "
           "rebind or change {name} before them.")
SNAPSHOT_GONE = "the export module's snapshot of the kernel is gone (cleared by code in the notebook)"
OTHER_NAMES = "the hand-over names other answers or lab objects than the instructor's run handed over"
NOT_JUDGED = "The grader could not judge this answer ({why}), so this check scores 0: {advice}"
ADVICE = "run the notebook unchanged, and build your answer from the lab's own objects and built-in layers."
SIMPLER = "build a simpler answer, as the question asks."
UNFAITHFUL = ("{name} does not compute what its layers describe (the grader ran it on inputs of its own): build it "
              "from Keras's built-in layers and do not change them, their weights or how they are called afterwards.")
NOT_CHECKED = "{name} cannot be graded: the grader cannot check that it computes what it describes ({why})."
CHANGED_BETWEEN = ("{name} was not the same object in every test cell that checks it (it changed between {first} and "
                   "{then}): build it once, in its answer cell, and do not change it afterwards.")
HOOK_WORDS = ["register", "pre_execute", "pre_run_cell", "Thread"]
UNREAD = "a hand-over too large to read"  # what one object per question compares such a hand-over as


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
    faithful to what the kernel runs (a name handed over by several cells is one and the same
    object; and, in the judge process, ``judging.faithful``'s cross-check: every Keras model it
    names computed, in the kernel, what its rebuild computes on the grader's inputs), then has the
    judge process rebuild the answers and ask the lab's ``judge`` for the verdict. An unfaithful
    answer fails without being judged. The cell's outputs
    are then replaced by the grader's own: a verdict line, plus an error carrying the message when
    it failed, so that nbgrader's SaveAutoGrades scores it and nothing the kernel printed there
    reaches the autograded notebook or feedback.

    Flags, for a human, on evidence the grader sees: hand-overs that are malformed, that the grader
    did not ask for (written by the notebook's code: during a cell, or beside the grader's own), or
    missing after a cell that finished without an error; answers that compute something else than
    they describe, or change between test cells with no cell of the notebook's in between; lab
    objects whose structure is not what the lab's cells built; what the export module saw student
    code change.

    A hand-in can only change its own grade: the rebuild, the cross-check and the judge run in the
    judge process under this notebook's caps (labgrader/judge_process.py, ``JudgeLimits``), and
    whatever happens while judging a student's hand-over (the judge raising, a cap hit, the judge
    process dying) makes that cell not gradable, with a message for the student and a fault for
    the instructor, never a lab error: those come only from the instructor's own answers (the
    readiness check)."""

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
        self._hints = Hints(self._student_cells)
        self._exports: dict[str, dict | Malformed] = {}
        self._pinned = self._pinned_identities()
        self._caps = JudgeLimits(config=self.config).caps()
        self._cpu_left = self._caps.cpu_seconds  # the judge process's CPU for this notebook's cells
        self._stopped: Outcome | None = None     # a cap this notebook's judging hit: its later cells are not judged
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
        self._context.record.flag(where, seen, self._hints.line(words or []))

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        gid = grade_id(cell)
        if not (is_test_cell(cell) and gid in self._context.reference):
            return cell, resources
        try:
            self._evidence(gid)
            passed, message = self._judge(cell, gid)
        except Exception as exc:  # noqa: BLE001 (a hand-over no check here expected: this student's, never the class's)
            why = f"the grader met an error reading it ({type(exc).__name__})"
            self._not_judged_fault(gid, why, one_line(exc, 300))
            passed, message = False, NOT_JUDGED.format(why=why, advice=ADVICE)
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
        could write ran in between (a hook or a thread changed it). A hand-over too large to read by
        itself (``Handover.dropped``, scope "message") is no object the grader saw: it differs from any
        it did see (fail closed: the same object makes a hand-over of the same size), and is no
        evidence. One dropped for the kernel's totals (scope "notebook") may be the same object: it
        is not compared."""
        first: dict[str, tuple[str, str, int]] = {}
        changed: dict[str, str] = {}
        for index, cell in enumerate(nb.cells):
            gid = grade_id(cell)
            export = self._export(gid) if is_test_cell(cell) and gid in self._context.reference else None
            if isinstance(export, dict):
                marks = {name: faithful.fingerprint(export, name) for name in export["answers"]}
            elif export is None and is_test_cell(cell) and gid in self._context.reference and \
                    (self._context.handovers.get(gid) or Handover()).dropped.get("handover", {}).get("scope") == "message":
                marks = {name: UNREAD for name in self._context.reference[gid]["answers"]}
            else:
                continue
            for name, mark in marks.items():
                if name not in first:
                    first[name] = (gid, mark, index)
                elif mark != first[name][1] and name not in changed:
                    before, where = first[name][0], first[name][2]
                    changed[name] = CHANGED_BETWEEN.format(name=name, first=before, then=gid)
                    if UNREAD not in (mark, first[name][1]) and not self._writable & set(range(where + 1, index)):
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
        too_large = handover.dropped.get("handover") if export is None else handover.dropped.get("check")
        if too_large and not kernel_message(cell):  # too large for the grader to read: not evidence of anything
            why = f"its hand-over was larger than the grader reads ({one_line(too_large['why'], 200)})"
            self._not_judged_fault(gid, why)
            return False, NOT_JUDGED.format(why=why, advice=SIMPLER)
        if not isinstance(export, dict):
            message = kernel_message(cell)
            if message:  # the cell's own (visible) code stopped before its hand-over
                self._context.record.kernel_errors[gid] = message
            if not message:  # the cell ran to its end, yet its hand-over never arrived
                self._flag(gid, "the test cell finished without an error but handed nothing over",
                           ["display", "publish", "send", "export"])
            return False, message or NO_EXPORT
        return self._verdict(gid, export)

    def _unfaithful(self, gid: str, outcome: Outcome) -> str:
        """Why the hand-over cannot be trusted to be what the kernel runs, from the judge process's
        cross-check (``outcome`` of kind "unfaithful"): a Keras model whose cross-check failed
        (flagged) or that could not be cross-checked."""
        if not outcome.evidence:
            return NOT_CHECKED.format(name=outcome.name, why=outcome.message)
        self._flag(gid, f"{outcome.name} does not compute what the hand-over describes: {outcome.message}",
                   [outcome.name, "_layers", "_functional", "kernel", "activation", "call", "register"])
        return UNFAITHFUL.format(name=outcome.name)

    def _verdict(self, gid: str, export: dict) -> tuple[bool, str]:
        context, lab = self._context, self._context.lab
        reference = context.reference[gid]
        if set(export["answers"]) != set(reference["answers"]) or set(export["lab"]) != set(reference["lab"]):
            self._flag(gid, OTHER_NAMES, ["_pinned", "export"])
            return False, MALFORMED
        for seen in export["evidence"]:
            self._flag(gid, one_line(seen, 200), needles(seen))
        if context.watched and not export["watched"]:
            self._flag(gid, SNAPSHOT_GONE, ["_watch", "_watched"])
        changed = self._changed(gid, export, reference)
        for name in export["answers"]:
            if name in self._changed_between:
                return False, self._changed_between[name]
        if self._cpu_left <= 0:
            return self._not_judged(gid, self._stopped or Outcome("over_cpu"), earlier=True)
        handover = context.handovers.get(gid) or Handover()
        outcome = judge_process(self._caps).judge(Request(
            (lab.path, lab.name, lab.digest), gid, export, reference, context.rng, context.arguments.get(gid),
            set(lab.allowed_layers) if lab.allowed_layers is not None else None, changed, cpu_seconds=self._cpu_left,
            warm=lab.warm_imports, inputs=handover.inputs, outputs=handover.outputs))
        self._cpu_left -= outcome.cpu_seconds
        if outcome.over_cap:
            self._stopped = outcome
        if outcome.rng_state is not None:
            context.rng.bit_generator.state = outcome.rng_state
        if outcome.kind == "verdict":
            return outcome.passed, outcome.message or ("" if outcome.passed else "This check failed.")
        if outcome.kind == "not_gradable":
            return False, outcome.message
        if outcome.kind == "unfaithful":
            return False, self._unfaithful(gid, outcome)
        if outcome.kind == "malformed":  # rebuilding met something the exporter never writes
            self._flag(gid, f"a malformed hand-over ({outcome.message})")
            return False, MALFORMED
        return self._not_judged(gid, outcome)

    def _not_judged(self, gid: str, outcome: Outcome, earlier: bool = False) -> tuple[bool, str]:
        """The judge raised on this answer, or judging it hit this notebook's caps: not gradable,
        the student told why (a fault too, which both the instructor and the student's feedback
        list), the judge's own error in the grader's log only (it may quote the lab's expectations).
        Never a flag: an honest answer can meet a lab's bug."""
        caps = self._caps
        if outcome.over_cap:  # the notebook's remaining cells would likely cost as much again: not judged
            self._cpu_left = 0
        if outcome.kind == "over_cpu":
            why, advice = f"judging this notebook took more than the grader's {caps.cpu_seconds:g} s of CPU", SIMPLER
        elif outcome.kind == "over_memory":
            why, advice = f"judging it needed more than the grader's {caps.memory_bytes // 2 ** 20} MiB of memory", SIMPLER
        elif outcome.kind == "raised":
            why, advice = "the lab's checks stopped with an error on it", ADVICE
        else:
            why, advice = "the grader's judge process ended while judging it", ADVICE
        if earlier:
            why = f"an earlier check of this notebook stopped its judging: {why}"
        self._not_judged_fault(gid, why, outcome.message, lab_bug=outcome.kind == "raised" and not earlier)
        return False, NOT_JUDGED.format(why=why, advice=advice)

    def _not_judged_fault(self, gid: str, why: str, detail: str = "", lab_bug: bool = False) -> None:
        context = self._context
        context.record.faults.append(f"{gid}: not judged: {why}")
        lab = f"if the answer is an honest one, {context.lab.path if context.lab else 'the lab'} may have a bug: fix it " \
            "and grade again" if lab_bug else "c.JudgeLimits and c.GradingSession set the limits"
        self.log.warning("[labgrader] %s: %s not judged: %s%s (%s)", printable(context.student)[:100], gid, why,
                         f": {detail}" if detail else "", lab)
