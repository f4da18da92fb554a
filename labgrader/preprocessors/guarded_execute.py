"""nbgrader's Execute, plus: hidden tests kept out of the kernel, the answers handed over and
cross-checked by the grader's own silent cells, the lab's objects pinned, time limits, output
budgets, and surviving a dead kernel."""
from __future__ import annotations

import asyncio
import copy
import signal
import time

from nbclient.util import ensure_async, run_sync
from nbclient.exceptions import CellControlSignal, CellExecutionComplete, CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_code_cell
from nbgrader.preprocessors import Execute
from traitlets import Integer, Type

from labgrader.cells import grade_id, is_student_cell, is_test_cell, without_hidden_tests
from labgrader.context import GradingContext, Handover, context_of
from labgrader.judging import faithful
from labgrader.judging.evidence import assigned_names, hint
from labgrader.judging.protocol import Malformed, validate
from labgrader.kernels.export import EVIDENCE_MIME, MIME as EXPORT_MIME, OUTPUTS_MIME, PIN_MIME
from labgrader.kernels.session import DROPPED_MIME, NOTE as UNREADABLE_NOTE, Flooded
from labgrader.record import KERNEL_DIED, TIMED_OUT

# The grader's silent cells: names and plain data as Python literals, nothing else (no test text).
WATCH = "import labgrader.kernels.export as _lg; _lg.watch({transport!r}, {modules!r}); del _lg"
PIN = "import labgrader.kernels.export as _lg; _lg.pin(globals(), {names!r}, failed={failed!r}); del _lg"
ARGUMENTS = "_lg.arguments({grade_id!r}, {calls!r}); "
HANDOVER = "import labgrader.kernels.export as _lg; {arguments}_lg.answer({grade_id!r}, globals(), *{names!r}); del _lg"
# the seal first: it puts back what student code changed since the hand-over before the models run
CHECK = ("import labgrader.kernels.export as _lg\ntry:\n    _lg.seal({grade_id!r})\n"
         "finally:\n    _lg.outputs({grade_id!r}, {inputs!r})\n    del _lg")
GRADER_MIMES = (EXPORT_MIME, OUTPUTS_MIME, EVIDENCE_MIME, PIN_MIME)
KEPT = 3  # records of one kind kept per step (more are only counted: one is expected)
# Kernels start with neither the working copy nor '' on sys.path (PYTHONSAFEPATH): a lab that ships
# modules beside its notebooks (or lets a hand-in carry some, Lab.handin_files) gets the working
# copy at the END of sys.path, after every installed module, so nothing there can shadow one.
WORKDIR_LAST = "import os as _o, sys as _s; _s.path.append(_o.getcwd()); del _o, _s"
# Engine modules a hand-over travels through, watched whatever the lab (see export.watch).
TRANSPORT = ("builtins", "json", "base64", "labgrader", "labgrader.kernels", "labgrader.kernels.export",
           "IPython.core.displaypub", "IPython.core.display_functions", "IPython.display", "jupyter_client.session",
           "jupyter_client.jsonutil")


def error_output(ename: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


class GuardedExecute(Execute):
    """Execute a submission in a sandboxed kernel (``GradingKernelManager``).

    A graded test cell runs without its hidden test region (nbgrader's ``BEGIN HIDDEN TESTS``):
    no hidden test text ever enters the kernel, where hooks, input transformers or audit hooks
    could read it. The autograded notebook keeps the cell as nbgrader restored it.

    Around the notebook's own cells it runs the grader's silent cells, which leave no history and
    carry no expectation and no test text: right after each lab cell that binds one of the lab's
    ``pinned_names``, that object is pinned (so every export carries the lab's own objects,
    whatever student code binds to those names later); just before the first cell a student could
    have written, the export module takes its snapshot (``export.watch``); right after each graded
    test cell that ran without an error, the hand-over of the names ``Lab.handovers`` lists for it
    (with the arguments of function answers), then the seal (what student code changed, put
    back) and the cross-check (the Keras models it handed over, called on inputs the grader drew
    from what the hand-over says: ``judging.faithful``).

    The grader's records (hand-overs, cross-check results, seals, pins) are taken from the kernel's
    messages as they arrive and kept in the grading context, never in the notebook's outputs, so
    nothing a cell does to its outputs (``clear_output``) removes one; records no step asked for
    are counted, for JudgeAnswers to flag. Test cells run with ``store_history=False``.

    Each cell may print ``max_output_bytes`` and the notebook ``max_notebook_output_bytes`` in all
    (the rest is dropped, with a note). When the kernel dies or the submission runs out of time,
    the cells that already ran keep their outputs, the remaining ones get an error saying why, and
    the fault goes into the notebook's record.
    """

    kernel_manager_class = Type(
        "labgrader.kernels.manager.GradingKernelManager", klass="jupyter_client.manager.KernelManager", config=True,
        help="Kernel manager that starts each submission's kernel (quiet TensorFlow, sandbox).")
    submission_timeout = Integer(300, config=True, help="Wall-clock seconds for a whole submission.")
    max_output_bytes = Integer(1_000_000, config=True, help="Output kept per cell; the rest is dropped.")
    max_notebook_output_bytes = Integer(
        5_000_000, config=True, help="Output kept for the whole notebook (all cells together); the rest is "
        "dropped, so the autograded notebook and its feedback stay small whatever the student prints.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # nbgrader's Execute forces AsyncKernelManager as a keyword, which beats config: keep ours,
        # or what the course configured.
        configured = self._find_my_config(self.config).get("kernel_manager_class")
        self.kernel_manager_class = configured or type(self).kernel_manager_class.default_value

    def preprocess(self, nb, resources=None, km=None):
        resources = resources if resources is not None else {}
        self._context: GradingContext | None = context_of(resources)
        self._released = {c.source for c in self._context.release.cells} \
            if self._context is not None and self._context.release is not None else None
        self._pins = self._pin_plan(nb)
        self._watched = False
        self._path_set = False
        self._stopped: str | None = None          # why the remaining cells are not run
        self._cut: set[int] = set()               # cells whose outputs did not all arrive
        self._ended: dict[str, tuple[int, str]] = {}  # request id of a grader step whose "idle" arrived -> (index, step)
        self._handed_at: dict[int, str] = {}      # index of a graded test cell whose hand-over is complete -> its grade id
        self._flooded: Flooded | None = None      # the grader ended the kernel: it sent more than it reads
        self._deadline = time.monotonic() + self.submission_timeout
        self._output_bytes: dict[int, int] = {}
        self._notebook_bytes = 0
        self._malformed = 0                       # output messages nbclient could not turn into outputs
        self._step: tuple[int, str] | None = None  # (cell index, the grader's step) while one of its silent cells runs
        self._kept: dict[tuple[int, str, str], list] = {}   # (index, step or "cell", mime) -> the first records
        self._counts: dict[tuple[int, str, str], int] = {}  # (index, step or "cell", mime) -> records arrived
        self._dropped: dict[tuple[int, str], dict] = {}     # (index, the grader's step) -> why a record was dropped unread
        self.timeout_func = self._cell_timeout
        started = time.monotonic()
        try:
            return super().preprocess(nb, resources, km=km)
        except DeadKernelError:
            # nbclient's shutdown of a dead kernel can raise again; the cells are already marked.
            return self.nb, self.resources
        finally:
            if self._context is not None:
                self._context.record.timings["execute"] = round(time.monotonic() - started, 3)

    async def _async_cleanup_kernel(self) -> None:
        km = self.km
        await super()._async_cleanup_kernel()
        context = getattr(self, "_context", None)
        if context is not None and hasattr(km, "kernel_stderr"):  # the kernel has ended: all it wrote
            context.record.stderr = km.kernel_stderr()

    _cleanup_kernel = run_sync(_async_cleanup_kernel)

    def _lab(self):
        return self._context.lab if self._context is not None else None

    def _pin_plan(self, nb) -> dict[int, tuple[str, ...]]:
        """Which lab cells bind which pinned names (by cell index), read from their source."""
        lab = self._lab()
        if lab is None or not lab.pinned_names:
            return {}
        plan = {}
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and not self._writable(cell):
                names = tuple(n for n in lab.pinned_names if n in assigned_names(cell.source))
                if names:
                    plan[index] = names
        return plan

    @staticmethod
    def _lab_modules(lab) -> bool:
        """Whether the lab ships Python modules beside its notebooks, or lets hand-ins carry some."""
        import os
        folder = os.path.dirname(lab.path)
        return bool(lab.handin_files) or any(name.endswith(".py") and name != "grading.py" for name in os.listdir(folder))

    def _writable(self, cell) -> bool:
        """A cell the student could have written (anything but a released locked cell as released)."""
        if self._released is None:
            return cell.cell_type == "code" and not (cell.metadata.get("nbgrader", {}).get("locked") and
                                                     not cell.metadata.get("nbgrader", {}).get("solution"))
        return is_student_cell(cell, self._released) and not is_test_cell(cell)

    def _cell_timeout(self, cell):
        # A cell that ended (its reply came) whose outputs do not all arrive within iopub_timeout has
        # lost some: the kernel's IOPub (ZeroMQ PUB) drops what a busy grader does not take in time,
        # its closing "idle" status among them. Its grading goes on with what arrived (nbclient stops
        # waiting for the rest), where nbgrader's default stopped the notebook as if the cell had run
        # too long: an honest cell printing 9,500 lines on a loaded grader cost its student 6 points.
        # Only an interrupted cell that still sends no "idle" stops the notebook (_async_handle_timeout).
        self.raise_on_iopub_timeout = False
        return max(1, min(self.timeout, int(self._deadline - time.monotonic()) + 1))

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._stopped is None and time.monotonic() > self._deadline:
            self._stop(f"the whole notebook took more than {self.submission_timeout} s", TIMED_OUT)
        if self._stopped is not None:
            cell.outputs = [error_output("NotRun", f"This cell was not run because {self._stopped}.")]
            return cell, resources
        lab = self._lab()
        try:
            if lab is not None and not self._path_set:
                self._path_set = True
                if self._lab_modules(lab):
                    self._run_trusted(WORKDIR_LAST, index)
            if lab is not None and not self._watched and self._writable(cell):
                self._watched = True
                self._run_trusted(WATCH.format(transport=list(TRANSPORT), modules=list(lab.watched_modules)), index)
                self._context.watched = True
            test = is_test_cell(cell)
            self._check_assign_resources(resources)
            dropped, unread = getattr(self.km, "dropped_messages", 0), self._unreadable()
            if lab is not None and test:
                cell = self._run_visible(cell, index)
            else:  # test cells of labs without grading.py run whole: their hidden tests are nbgrader's
                cell = self.execute_cell(cell, index, store_history=not test)
            if index in self._cut:  # first: nbgrader's LimitOutput keeps a cell's first outputs
                cell.outputs.insert(0, NotebookNode(output_type="stream", name="stdout", text=(
                    "[outputs missing: the grader could not take them in as fast as this cell sent them]\n")))
            if getattr(self.km, "dropped_messages", 0) > dropped:  # the kernel manager's socket cap
                cell.outputs.append(NotebookNode(output_type="stream", name="stdout", text=(
                    f"\n[output truncated: a message over {self.km.max_message_bytes} bytes was dropped]\n")))
            if self._unreadable() != unread:
                self._flag_unreadable(cell, index, unread)
            if not (lab is not None and test):
                self._note_stray(cell, index, "cell", {})
            if index in self._pins:
                failed = any(o.output_type == "error" for o in cell.outputs)
                self._run_trusted(PIN.format(names=list(self._pins[index]), failed=failed), index, step="pin")
                self._context.pins.append(self._records(index, "pin", PIN_MIME))
                self._note_stray(cell, index, "pin", {PIN_MIME: 1})
            if lab is not None and test:
                self._hand_over(cell, index)
            return cell, resources
        except DeadKernelError:
            if self._flooded is not None:  # the grader ended it (_async_poll_output_msg)
                return self._after_flood(cell, resources, self._flooded)
            why = "the code exited the process, ran out of memory, or crashed"
            cell.outputs.append(error_output("DeadKernel", f"The kernel died while running this cell: {why}."))
            self._stop("the kernel died in an earlier cell", KERNEL_DIED)
            return cell, resources
        except Flooded as flooded:  # the grader stopped reading this kernel's outputs (GradingSession.max_messages)
            return self._after_flood(cell, resources, flooded)
        except CellTimeoutError:
            cell.outputs.append(error_output(
                "CellTimeoutError", f"This cell ran longer than {self.timeout} s and did not stop when interrupted."))
            self._stop("an earlier cell ran too long and could not be interrupted", TIMED_OUT)
            return cell, resources

    def _run_visible(self, cell, index: int):
        """A graded test cell as the kernel gets it: its visible code only, out of the input
        history; the notebook keeps the whole cell, with the outputs of what ran."""
        visible = copy.deepcopy(cell)
        visible.source = without_hidden_tests(cell.source)
        try:
            self.execute_cell(visible, index, store_history=False)
        finally:
            self.nb.cells[index] = cell  # nbclient stores what it ran at the cell's place
            cell.outputs = visible.outputs
            cell.execution_count = visible.get("execution_count")
        return cell

    def _hand_over(self, cell, index: int) -> None:
        """After a graded test cell: the grader's hand-over of the names the lab lists for it (when
        the cell's own code raised nothing), the cross-check of the Keras models it handed over and
        the seal; what arrived goes into the context (``Handover``), for JudgeAnswers."""
        context, gid = self._context, grade_id(cell)
        assert context is not None and context.lab is not None
        handover = context.handovers[gid] = Handover()
        names = context.lab.handovers.get(gid)
        if names is not None and not any(o.output_type == "error" for o in cell.outputs):
            calls = context.arguments.get(gid)
            code = HANDOVER.format(grade_id=gid, names=list(names),
                                   arguments=ARGUMENTS.format(grade_id=gid, calls=calls) if calls is not None else "")
            self._run_trusted(code, index, required=False, step="handover")
            handover.exports = self._records(index, "handover", EXPORT_MIME)
            handover.inputs = self._inputs(handover.exports)
        context.sealed.add(gid)
        self._run_trusted(CHECK.format(grade_id=gid, inputs=faithful.wire(handover.inputs)), index,
                          required=False, step="check")
        handover.outputs = self._records(index, "check", OUTPUTS_MIME)
        handover.seals = self._records(index, "check", EVIDENCE_MIME)
        handover.unasked = self._unasked(index)
        self._handed_at[index] = gid
        handover.dropped = {step: why for (where, step), why in self._dropped.items() if where == index}
        handover.complete = True

    def _inputs(self, exports: list) -> dict:
        """The cross-check's inputs for the (one) hand-over: {ref: arrays} drawn by this grader."""
        if len(exports) != 1:
            return {}
        try:
            export = validate(exports[0])
        except Malformed:
            return {}
        context = self._context
        assert context is not None and context.lab is not None
        return faithful.plan(export, context.cross_check_rng, context.lab.cross_check_inputs)

    def _records(self, index: int, step: str, mime: str) -> list:
        """The first records of type ``mime`` that arrived during ``step`` at cell ``index``."""
        return list(self._kept.get((index, step, mime), []))

    def _surplus(self, index: int, step: str, expected: dict[str, int]) -> int:
        """How many of the grader's records arrived during ``step`` beyond those it asked for."""
        return sum(max(0, self._counts.get((index, step, mime), 0) - expected.get(mime, 0)) for mime in GRADER_MIMES)

    def _note_stray(self, cell, index: int, step: str, expected: dict[str, int]) -> None:
        """Grader records that arrived outside any graded test cell beyond what ``step`` asked for
        (while a lab or student cell ran, or after a pin): only student code writes those."""
        count = self._surplus(index, step, expected)
        if count and self._context is not None:
            label = grade_id(cell) or f"cell {index + 1}"
            self._context.stray[label] = self._context.stray.get(label, 0) + count

    def _late(self, step: tuple[int, str], msg) -> None:
        """A grader's record for one of its steps that arrived after that step's "idle": an honest
        kernel sends the step's records before its idle, so this one came after a forged idle (a
        hook published its own record, then "idle", and the grader's genuine one came too late to
        be seen). It counts as a record nobody asked for, so that hand-over is refused and flagged."""
        data = (msg.get("content") or {}).get("data") if isinstance(msg.get("content"), dict) else None
        kinds = [mime for mime in GRADER_MIMES if mime in data] if isinstance(data, dict) else []
        if not kinds:
            return
        index, name = step
        key = (index, name, kinds[0])
        self._counts[key] = self._counts.get(key, 0) + 1
        gid = self._handed_at.get(index)
        if gid is not None and self._context is not None:
            self._context.handovers[gid].unasked = self._unasked(index)

    def _unasked(self, index: int) -> int:
        return self._surplus(index, "cell", {}) + self._surplus(index, "handover", {EXPORT_MIME: 1}) + \
            self._surplus(index, "check", {OUTPUTS_MIME: 1, EVIDENCE_MIME: 1})

    def _after_flood(self, cell, resources, flooded):
        cell.outputs.append(error_output("Flooded", f"This cell sent the grader {flooded} and was stopped."))
        self._stop(f"the notebook sent the grader {flooded}", None)
        return cell, resources

    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        """nbclient's reader of a cell's outputs, plus: a grader's record for one of its steps that
        already ended counts as late (``_late``); a cell it stopped waiting for is noted (``_cut``);
        once the kernel has sent more than the grader reads (Flooded), the kernel is ended at once:
        no later cell runs anyway, and a flood left to the cell's time limit cost its whole length in
        kernel CPU and the grader's look at each message, however few reached the limit."""
        step = self._step
        assert self.kc is not None
        try:
            while True:  # nbclient's loop, plus a look at what arrives for a grader's step already ended
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=None))
                parent = msg["parent_header"].get("msg_id")
                if parent == parent_msg_id:
                    try:
                        self.process_message(msg, cell, cell_index)
                    except CellExecutionComplete:
                        if step is not None:
                            self._ended[parent_msg_id] = step
                        return
                elif parent in self._ended:
                    self._late(self._ended[parent], msg)
        except asyncio.CancelledError:  # nbclient stopped waiting for the rest (see _cell_timeout)
            if step is None:
                self._cut.add(cell_index)
            raise
        except Flooded as flooded:
            self._flooded = flooded
            await self.km.signal_kernel(signal.SIGKILL)  # (the execute reply's wait ends: a dead kernel)
            raise

    async def _async_handle_timeout(self, timeout, cell=None):
        """nbclient interrupts the cell (the next ones run); it says so in the cell, and the
        record keeps it as a fault for the reports."""
        message = f"This cell ran longer than {timeout} s and was interrupted."
        self.error_on_timeout = {"ename": "CellTimeoutError", "evalue": message,
                                 "traceback": [f"CellTimeoutError: {message}"]}
        if self._context is not None and cell is not None:
            self._context.record.fault(TIMED_OUT, f"timed out in cell {grade_id(cell) or 'added by the student'}: {message}")
        self.raise_on_iopub_timeout = True  # interrupted and still busy: the notebook stops (CellTimeoutError)
        return await super()._async_handle_timeout(timeout, cell)

    def on_cell_executed(self, **kwargs):
        """nbgrader's: a reply that says the cell raised, with no matching error output, adds one
        (so a failing cell whose error output was lost still fails). The reply is the kernel's, so
        what it says is checked and cut first: text of bounded size, a traceback of strings (a
        forged 1.9 MB ``evalue`` per cell made a 28 MB autograded notebook past every output
        budget; a traceback of non-strings made the notebook invalid, ungradable)."""
        reply = kwargs.get("execute_reply")
        content = reply.get("content") if isinstance(reply, dict) else None
        if not isinstance(content, dict):
            return None
        if content.get("status") == "error":
            trace = content.get("traceback")
            content.update(ename=str(content.get("ename") or "Error")[:200], evalue=str(content.get("evalue") or "")[:2000],
                           traceback=[str(line)[:2000] for line in trace[:40]] if isinstance(trace, list) else [])
        return super().on_cell_executed(**kwargs)

    def _unreadable(self) -> dict[str, int]:
        """Messages dropped so far as unreadable, by reason (the client's session's and nbclient's)."""
        counts = dict(getattr(getattr(self.kc, "session", None), "unreadable", {}))
        if self._malformed:
            counts["malformed message"] = self._malformed
        return counts

    def _flag_unreadable(self, cell, index: int, before: dict[str, int]) -> None:
        """No honest kernel sends a message the grader cannot read: evidence for a human."""
        now = self._unreadable()
        reasons = ", ".join(f"{why} ({now[why] - before.get(why, 0)})" for why in sorted(now)
                            if now[why] != before.get(why, 0))
        if self._context is None:
            return
        cells = [(grade_id(c) or f"cell {i + 1}", c.source) for i, c in enumerate(self.nb.cells)
                 if c.cell_type == "code" and self._writable(c)]
        self._context.record.flag(grade_id(cell) or f"cell {index + 1}",
                                  f"the kernel sent messages the grader could not read: {reasons}",
                                  hint(cells, ["send", "session", "socket", "iopub"]))

    def process_message(self, msg, cell, cell_index):
        """nbclient's, except that an output it cannot handle (a malformed message from student
        code) becomes a note in the cell instead of ending the notebook's grading."""
        try:
            return super().process_message(msg, cell, cell_index)
        except CellControlSignal:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError):
            self._malformed += 1
            cell.outputs.append(NotebookNode(output_type="stream", name="stdout",
                                             text=UNREADABLE_NOTE.format(why="malformed message")))
            return None

    def _stop(self, why: str, kind: str | None) -> None:
        """The remaining cells are not run, because ``why``: a fault of ``kind`` (TIMED_OUT,
        KERNEL_DIED; None: a fault the reports do not count by kind, as a flood of messages)."""
        self._stopped = why
        if self._context is not None:
            if kind is None:
                self._context.record.faults.append(why)
            else:
                self._context.record.fault(kind, why)

    def _run_trusted(self, code: str, index: int, required: bool = True, step: str = "setup") -> list:
        """Run the grader's ``code`` silently at the place of cell ``index``; its outputs. The
        grader's records arriving meanwhile are kept as ``step``'s."""
        probe = new_code_cell(code)
        cell = self.nb.cells[index]
        self._step = (index, step)
        try:
            self.execute_cell(probe, index, store_history=False)
        finally:
            self._step = None
            # nbclient stores what it ran at the cell's place: put the notebook's own cell back
            self.nb.cells[index] = cell
        errors = [o for o in probe.outputs if o.output_type == "error"]
        if errors and required:
            raise RuntimeError(
                "Could not run the grader's own step in the kernel (%s: %s). Either the notebook's own "
                "code made it fail (a hook, a patched module), or the labgrader package is not "
                "importable by the kernel's Python." % (errors[0].ename, errors[0].evalue))
        return probe.outputs

    def output(self, outs, msg, display_id, cell_index):
        """Keep at most ``max_output_bytes`` per cell and ``max_notebook_output_bytes`` in all. The
        grader's records (hand-overs, cross-check results, seals, pins) never become outputs: each
        is counted as it arrives, with the step it arrived in, and the first few are kept."""
        data = msg.get("content", {}).get("data") or {}
        if isinstance(data, dict) and DROPPED_MIME in data and self._step is not None and self._step[0] == cell_index:
            # one of the grader's records was too large to read (GradingSession): its step says so
            found = data[DROPPED_MIME] if isinstance(data[DROPPED_MIME], dict) else {}
            self._dropped.setdefault(self._step, {"why": str(found.get("why") or "too large")[:200],
                                                  "scope": "notebook" if found.get("scope") == "notebook" else "message"})
            return None
        kinds = [mime for mime in GRADER_MIMES if mime in data] if isinstance(data, dict) else []
        if kinds:
            step = self._step[1] if self._step is not None and self._step[0] == cell_index else "cell"
            key = (cell_index, step, kinds[0])
            self._counts[key] = self._counts.get(key, 0) + 1
            kept = self._kept.setdefault(key, [])
            if len(kept) < KEPT:
                kept.append(data[kinds[0]])
            return None
        size = len(str(msg.get("content", "")))
        used = self._output_bytes.get(cell_index, 0)
        self._output_bytes[cell_index] = used + size
        if used + size <= self.max_output_bytes and self._notebook_bytes + size <= self.max_notebook_output_bytes:
            self._notebook_bytes += size  # what is kept counts against the notebook's budget
            return super().output(outs, msg, display_id, cell_index)
        if not any(o.get("name") == "stdout" and "[output truncated" in o.get("text", "") for o in outs):
            limit = "this cell's" if used + size > self.max_output_bytes else "the notebook's"
            outs.append(NotebookNode(output_type="stream", name="stdout",
                                     text=f"\n[output truncated: over {limit} output limit]\n"))
        return None
