"""nbgrader's Execute, plus: arming the in-kernel checks before any student code runs, a
per-submission time limit, an output cap, and surviving a dead kernel."""
import secrets
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_code_cell
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_locked, is_solution
from traitlets import Integer, Type, default

ARM = "import labgrader.kernels.checks as _lg; _lg.arm({key!r}); del _lg"
CAPTURE = "import labgrader.kernels.checks as _lg; _lg.capture(globals()); del _lg"


def error_output(ename, message):
    return NotebookNode(output_type="error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


class GuardedExecute(Execute):
    """Execute a submission; just before the first cell a student could have written, hand the
    in-kernel checks a fresh secret key, and just before the first answer cell let them capture
    the objects the locked cells built. Both run silently and leave no history.

    The key reaches the next preprocessors through ``resources["labgrader"]["key"]``. When the
    kernel dies or the submission runs out of time, the cells that already ran keep their
    outputs (and so their points) and the remaining ones get an error saying why.
    """

    kernel_manager_class = Type(
        "labgrader.kernels.manager.GradingKernelManager", config=True,
        help="Kernel manager that starts each submission's kernel (quiet TensorFlow, sandbox).")
    submission_timeout = Integer(300, config=True, help="Wall-clock seconds for a whole submission.")
    max_output_bytes = Integer(1_000_000, config=True, help="Output kept per cell; the rest is dropped.")

    @default("error_on_timeout")
    def _timeout_error(self):
        """What an interrupted cell shows (nbgrader's default has an empty message)."""
        message = f"This cell ran longer than {self.timeout} s and was interrupted."
        return {"ename": "CellTimeoutError", "evalue": message, "traceback": [f"CellTimeoutError: {message}"]}

    def __init__(self, *args, **kwargs):
        # nbgrader's Execute would force AsyncKernelManager; keep ours unless told otherwise.
        kwargs.setdefault("kernel_manager_class", self.__class__.kernel_manager_class.default_value)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        resources = resources if resources is not None else {}
        self._key = secrets.token_hex(32)
        self._armed = self._captured = False
        self._stopped = None          # why the remaining cells are not run
        self._deadline = time.monotonic() + self.submission_timeout
        self._output_bytes = {}
        resources.setdefault("labgrader", {}).update(key=self._key, faults=[])
        self.timeout_func = self._cell_timeout
        try:
            return super().preprocess(nb, resources, km=km)
        except DeadKernelError:
            # nbclient's shutdown of a dead kernel can raise again; the cells are already marked.
            return self.nb, self.resources

    def _cell_timeout(self, cell):
        return max(1, min(self.timeout, int(self._deadline - time.monotonic()) + 1))

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._stopped is None and time.monotonic() > self._deadline:
            self._stop(resources, f"the whole notebook took more than {self.submission_timeout} s")
        if self._stopped is not None:
            cell.outputs = [error_output("NotRun", f"This cell was not run because {self._stopped}.")]
            return cell, resources
        try:
            if not self._armed and not (is_locked(cell) and not is_solution(cell)):
                self._run_trusted(ARM.format(key=self._key), index)
                self._armed = True
            if not self._captured and is_solution(cell):
                self._run_trusted(CAPTURE, index)
                self._captured = True
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            why = "the code exited the process, ran out of memory, or crashed"
            cell.outputs.append(error_output("DeadKernel", f"The kernel died while running this cell: {why}."))
            self._stop(resources, "the kernel died in an earlier cell")
            return cell, resources
        except CellTimeoutError:
            cell.outputs.append(error_output(
                "CellTimeoutError", f"This cell ran longer than {self.timeout} s and did not stop when interrupted."))
            self._stop(resources, "an earlier cell ran too long and could not be interrupted")
            return cell, resources

    def _stop(self, resources, why):
        self._stopped = why
        resources["labgrader"]["faults"].append(why)

    def _run_trusted(self, code, index):
        probe = new_code_cell(code)
        self.execute_cell(probe, index, store_history=False)
        errors = [o for o in probe.outputs if o.output_type == "error"]
        if errors:
            raise RuntimeError(
                "Could not set up the hidden checks in the kernel (%s: %s). Is the labgrader package "
                "installed in the kernel's Python environment?" % (errors[0].ename, errors[0].evalue))

    def output(self, outs, msg, display_id, cell_index):
        """Keep at most ``max_output_bytes`` of output per cell: a flood must not fill the grader's memory."""
        size = len(str(msg.get("content", "")))
        used = self._output_bytes.get(cell_index, 0)
        self._output_bytes[cell_index] = used + size
        if used + size <= self.max_output_bytes:
            return super().output(outs, msg, display_id, cell_index)
        if used <= self.max_output_bytes:
            outs.append(NotebookNode(output_type="stream", name="stdout",
                                     text=f"\n[output truncated after {self.max_output_bytes} bytes]\n"))
        return None
