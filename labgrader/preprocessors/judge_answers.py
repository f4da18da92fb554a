"""Grade the hidden tests in the grader (its judge process), from the answers the kernel handed over."""
from __future__ import annotations

import time

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer

from labgrader.cells import grade_id, is_student_cell, is_test_cell
from labgrader.context import context_of
from labgrader.judge_process import JudgeLimits, Outcome, Request, judge_process
from labgrader.judging.evidence import Hints, differences, identities, needles, structure
from labgrader.judging.protocol import (EVIDENCE_MIME, MAX_EXPORT_BYTES, Malformed, records_in, validate,
                                        validate_evidence, validate_pin)
from labgrader.kernels.session import DROPPED_MIME
from labgrader.text import one_line, printable

NO_EXPORT = ("The hidden tests of this cell did not finish (an earlier error in the cell, or code in the "
             "notebook that stopped them): fix the errors shown above and run the notebook again.")
FORGED = ("This cell's output holds hand-overs to the grader that its tests did not make: "
          "remove code that writes grading messages or changes how the notebook runs.")
MALFORMED = "The hidden tests of this cell handed over something no genuine test would: run the notebook unchanged."
CHANGED = ("{name} is not the object the lab's own cells built: run the lab's cells unchanged and do not "
           "rebind or change {name} before them.")
SNAPSHOT_GONE = "the export module's snapshot of the kernel is gone (cleared by code in the notebook)"
OTHER_NAMES = "the hand-over names other answers or lab objects than the instructor's run handed over"
NOT_JUDGED = "The grader could not judge this answer ({why}), so this check scores 0: {advice}"
ADVICE = "run the notebook unchanged, and build your answer from the lab's own objects and built-in layers."
SIMPLER = "build a simpler answer, as the question asks."


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
    """Runs right after GuardedExecute. For every graded test cell, takes the one hand-over its
    hidden tests made (validated: schema, size, the cell's own grade id, the same names the
    instructor's run handed over), and has the judge process rebuild the answers and ask the lab's
    ``judge`` for the verdict. The cell's outputs are then replaced by the grader's own: a verdict
    line, plus an error carrying the message when it failed, so that nbgrader's SaveAutoGrades
    scores it and nothing the kernel printed there reaches the autograded notebook or feedback.

    Flags, for a human, on evidence the grader sees: hand-overs that are malformed, duplicated,
    outside their cell or missing from a cell that finished without an error; lab objects whose
    structure is not what the lab's cells built; what the export module saw student code change.

    A hand-in can only change its own grade: the judge runs in the judge process under this
    notebook's caps (labgrader/judge_process.py, ``JudgeLimits``), and whatever happens while
    judging a student's hand-over (the judge raising, a cap hit, the judge process dying) makes
    that cell not gradable, with a message for the student and a fault for the instructor, never
    a lab error: those come only from the instructor's own answers (the readiness check).
    """

    max_export_bytes = Integer(MAX_EXPORT_BYTES, config=True, help="Largest hand-over accepted, in bytes.")

    def preprocess(self, nb, resources):
        context = context_of(resources)
        if context is None or context.lab is None or not context.reference:
            return nb, resources
        self._context = context
        released = {c.source for c in context.release.cells} if context.release is not None else set()
        self._student_cells = [(grade_id(c) or f"cell {i + 1}", c.source) for i, c in enumerate(nb.cells)
                               if is_student_cell(c, released) and not is_test_cell(c)]
        self._hints = Hints(self._student_cells)
        self._pinned = self._pinned_identities()
        self._caps = JudgeLimits(config=self.config).caps()
        self._cpu_left = self._caps.cpu_seconds  # the judge process's CPU for this notebook's cells
        self._stopped: Outcome | None = None     # a cap this notebook's judging hit: its later cells are not judged
        started = time.monotonic()
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
        self._evidence(cell, gid if is_test_cell(cell) and gid in self._context.reference else None)
        if not (is_test_cell(cell) and gid in self._context.reference):
            found = records_in(cell)
            if found:
                self._flag(gid or f"cell {index + 1}", "hand-overs to the grader written outside a test cell",
                           ["MIME", "export", "display", "publish"])
                drop = {i for i, _ in found}
                cell.outputs = [o for i, o in enumerate(cell.outputs) if i not in drop]
            return cell, resources
        try:
            passed, message = self._judge(cell, gid)
        except Exception as exc:  # noqa: BLE001 (a hand-over no check here expected: this student's, never the class's)
            why = f"the grader met an error reading it ({type(exc).__name__})"
            self._not_judged_fault(gid, why, one_line(exc, 300))
            passed, message = False, NOT_JUDGED.format(why=why, advice=ADVICE)
        self._context.record.messages[gid] = "" if passed else message
        cell.outputs = [verdict_output(passed, message)] + ([] if passed else [failure_output(message)])
        return cell, resources

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

    def _evidence(self, cell, gid: str | None) -> None:
        """What the grader's check after a test cell saw (GuardedExecute's seal), as flags; the
        records leave the notebook (elsewhere they can only be the student's)."""
        found = records_in(cell, EVIDENCE_MIME)
        reported = False
        for _, record in found:
            try:
                evidence = validate_evidence(record)
            except Malformed:
                continue
            if gid is not None and evidence["grade_id"] == gid:
                reported = True
                if self._context.watched and not evidence["watched"]:
                    self._flag(gid, SNAPSHOT_GONE, ["_watch", "_watched"])
                for seen in evidence["seen"]:
                    self._flag(gid, one_line(seen, 200), needles(seen))
        if found:
            drop = {i for i, _ in found}
            cell.outputs = [o for i, o in enumerate(cell.outputs) if i not in drop]
        if gid is not None and gid in self._context.sealed and not reported:
            self._flag(gid, "the grader's own check after this test cell reported nothing (its module was "
                       "replaced or removed in the kernel)", ["sys.modules", "labgrader", "export"])

    def _judge(self, cell, gid: str) -> tuple[bool, str]:
        exports, problems = [], []
        for _, record in records_in(cell):
            try:
                export = validate(record, self.max_export_bytes)
            except Malformed as exc:
                problems.append(f"a malformed hand-over ({exc})")
                continue
            if export["grade_id"] != gid:
                problems.append("a hand-over for another cell")
            else:
                exports.append(export)
        if len(exports) > 1:
            problems.append(f"{len(exports)} hand-overs where the test makes one")
        for problem in problems:
            self._flag(gid, problem, ["MIME", "publish", "display"])
        if problems:
            return False, FORGED
        if not exports:
            dropped = records_in(cell, DROPPED_MIME)
            if dropped and not kernel_message(cell):  # too large for the grader to read: not evidence of anything
                why = one_line(dropped[0][1].get("why", "") if isinstance(dropped[0][1], dict) else "", 200)
                self._not_judged_fault(gid, f"its hand-over was larger than the grader reads ({why})")
                return False, NOT_JUDGED.format(why=f"its hand-over was larger than the grader reads ({why})",
                                                advice=SIMPLER)
            message = kernel_message(cell)
            if message:  # the cell's own (visible) code stopped before its hand-over
                self._context.record.kernel_errors[gid] = message
            if not message:  # the cell ran to its end, yet its hand-over never arrived
                self._flag(gid, "the test cell finished without an error but handed nothing over",
                           ["display", "publish", "send", "export"])
            return False, message or NO_EXPORT
        return self._verdict(gid, exports[0])

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
        if self._cpu_left <= 0:
            return self._not_judged(gid, self._stopped or Outcome("over_cpu"), earlier=True)
        outcome = judge_process(self._caps).judge(Request(
            (lab.path, lab.name, lab.digest), gid, export, reference, context.rng, context.arguments.get(gid),
            set(lab.allowed_layers) if lab.allowed_layers is not None else None, changed, cpu_seconds=self._cpu_left,
            warm=lab.warm_imports))
        self._cpu_left -= outcome.cpu_seconds
        if outcome.over_cap:
            self._stopped = outcome
        if outcome.rng_state is not None:
            context.rng.bit_generator.state = outcome.rng_state
        if outcome.kind == "verdict":
            return outcome.passed, outcome.message or ("" if outcome.passed else "This check failed.")
        if outcome.kind == "not_gradable":
            return False, outcome.message
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
