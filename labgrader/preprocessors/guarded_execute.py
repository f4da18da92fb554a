"""nbgrader's Execute, plus arming the in-kernel checks before any student code runs."""
import secrets

from nbformat.v4 import new_code_cell
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_locked, is_solution
from traitlets import Type

ARM = "import labgrader.kernels.checks as _lg; _lg.arm({key!r}); del _lg"
CAPTURE = "import labgrader.kernels.checks as _lg; _lg.capture(globals()); del _lg"


class GuardedExecute(Execute):
    """Execute a submission; just before the first cell a student could have written, hand the
    in-kernel checks a fresh secret key, and just before the first answer cell let them capture
    the objects the locked cells built. Both run silently and leave no history.

    The key reaches the next preprocessors through ``resources["labgrader"]["key"]``.
    """

    kernel_manager_class = Type(
        "labgrader.kernels.manager.GradingKernelManager",
        config=True,
        help="Kernel manager that starts each submission's kernel (quiet TensorFlow, sandbox).",
    )

    def __init__(self, *args, **kwargs):
        # nbgrader's Execute would force AsyncKernelManager; keep ours unless told otherwise.
        kwargs.setdefault("kernel_manager_class", self.__class__.kernel_manager_class.default_value)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        resources = resources if resources is not None else {}
        self._key = secrets.token_hex(32)
        self._armed = self._captured = False
        resources.setdefault("labgrader", {})["key"] = self._key
        return super().preprocess(nb, resources, km=km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            if not self._armed and not (is_locked(cell) and not is_solution(cell)):
                self._run_trusted(ARM.format(key=self._key), index)
                self._armed = True
            if not self._captured and is_solution(cell):
                self._run_trusted(CAPTURE, index)
                self._captured = True
        return super().preprocess_cell(cell, resources, index)

    def _run_trusted(self, code, index):
        probe = new_code_cell(code)
        self.execute_cell(probe, index, store_history=False)
        errors = [o for o in probe.outputs if o.output_type == "error"]
        if errors:
            raise RuntimeError(
                "Could not set up the hidden checks in the kernel (%s: %s). Is the labgrader package "
                "installed in the kernel's Python environment?" % (errors[0].ename, errors[0].evalue))
