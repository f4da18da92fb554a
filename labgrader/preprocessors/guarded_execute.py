"""nbgrader's Execute, plus: the probes of the hidden tests sent to the kernel, a per-submission
time limit, an output cap, and surviving a dead kernel."""
import secrets
import time

import numpy as np

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_code_cell
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_locked, is_solution
from traitlets import Any, Dict, Integer, Type, default

from labgrader.cells import is_test_cell

ARM = ("import labgrader.kernels.observe as _lg_observe; _lg_observe.arm({modules!r}, {classes!r}); "
       "_lg_observe.load({sources!r}); del _lg_observe")
# Probe and sources travel as Python literals: no kernel function (json.loads...) parses them.
SETUP = ("import labgrader.kernels.observe as _lg_observe; "
         "_lg_observe.setup({grade_id!r}, {probe!r}, {sources!r}); del _lg_observe")


def add_nonces(probes):
    """Each probe gets a fresh nonce that its observation must carry back (no replays)."""
    return {grade_id: dict(probe, nonce=secrets.token_hex(16)) for grade_id, probe in probes.items()}


def submission_probes(config, resources):
    """The lab's probes for one submission, chosen here from a fresh random seed (or {} when the
    assignment has no grading module: plain nbgrader tests)."""
    from labgrader.judging.lab import load_lab
    from labgrader.judging.reference import reference_observations
    info = resources.get("nbgrader", {})
    coursedir = CourseDirectory(config=config)
    lab = load_lab(coursedir, info.get("assignment", ""))
    if lab is None:
        return None, {}
    reference = reference_observations(config, coursedir, info["assignment"], info["notebook"], lab)
    rng = np.random.default_rng(secrets.randbits(128))
    return lab, add_nonces(lab.probes(rng, reference))


def observer_sources(config, resources, lab):
    """{module: source} of the lab's observer modules, read by the grader from the lab folder
    (not from the student's working copy, where student code could rewrite them)."""
    from labgrader.judging.lab import lab_directory
    names = getattr(lab, "observer_modules", ())
    if not names:
        return {}
    folder = resources.get("labgrader_lab_directory") or lab_directory(
        CourseDirectory(config=config), resources["nbgrader"]["assignment"])
    sources = {}
    for name in names:
        with open(f"{folder}/{name}.py", encoding="utf-8") as f:
            sources[name] = f.read()
    return sources


def error_output(ename, message):
    return NotebookNode(output_type="error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


class GuardedExecute(Execute):
    """Execute a submission. Just before the first cell a student could have written, run the
    lab's ``before_student_code``; just before each graded test cell, send that cell's probe
    (chosen by the grader for this submission, with a nonce). Both run silently and leave no
    history; nothing secret enters the kernel, and the kernel decides nothing (the observations
    its hidden tests report are judged by JudgeObservations).

    The probes reach the next preprocessors through ``resources["labgrader"]["probes"]``. When
    the kernel dies or the submission runs out of time, the cells that already ran keep their
    outputs and the remaining ones get an error saying why.
    """

    kernel_manager_class = Type(
        "labgrader.kernels.manager.GradingKernelManager", config=True,
        help="Kernel manager that starts each submission's kernel (quiet TensorFlow, sandbox).")
    submission_timeout = Integer(300, config=True, help="Wall-clock seconds for a whole submission.")
    max_output_bytes = Integer(1_000_000, config=True, help="Output kept per cell; the rest is dropped.")
    probes = Dict(default_value=None, allow_none=True, help="Probes to send (default: the lab's, for this submission).")
    lab = Any(None, help="The assignment's grading module (default: loaded from the course).")

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
        if self.probes is None:  # a fresh choice for every notebook, never reused
            self._lab, self._probes = submission_probes(self.config, resources)
        else:
            self._lab, self._probes = self.lab, self.probes
        self._sources = observer_sources(self.config, resources, self._lab)
        self._armed = False
        self._stopped = None          # why the remaining cells are not run
        self._deadline = time.monotonic() + self.submission_timeout
        self._output_bytes = {}
        resources.setdefault("labgrader", {}).update(probes=self._probes, faults=[])
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
                self._armed = True
                if self._lab is not None:
                    self._run_trusted(ARM.format(modules=list(getattr(self._lab, "protected_modules", ())),
                                                 classes=list(getattr(self._lab, "protected_classes", ())),
                                                 sources=self._sources), index)
                    if getattr(self._lab, "before_student_code", None):
                        self._run_trusted(self._lab.before_student_code, index)
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if is_test_cell(cell) and grade_id in self._probes:
                # after student code ran, a failure here only means no valid observation (scored 0);
                # in the reference run (probes given) it means the lab itself is broken
                self._run_trusted(SETUP.format(grade_id=grade_id, probe=self._probes[grade_id],
                                               sources=self._sources), index, required=self.probes is not None)
            dropped = getattr(self.km, "dropped_messages", 0)
            cell, resources = super().preprocess_cell(cell, resources, index)
            if getattr(self.km, "dropped_messages", 0) > dropped:  # the kernel manager's socket cap
                cell.outputs.append(NotebookNode(output_type="stream", name="stdout", text=(
                    f"\n[output truncated: a message over {self.km.max_message_bytes} bytes was dropped]\n")))
            return cell, resources
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

    def _run_trusted(self, code, index, required=True):
        probe = new_code_cell(code)
        cell = self.nb.cells[index]
        try:
            self.execute_cell(probe, index, store_history=False)
        finally:
            # nbclient stores what it ran at the cell's place: put the notebook's own cell back
            # (else, when the cell itself then fails to run, the grader's code would be left there)
            self.nb.cells[index] = cell
        errors = [o for o in probe.outputs if o.output_type == "error"]
        if errors and required:
            raise RuntimeError(
                "Could not set up the hidden tests in the kernel (%s: %s). Is the labgrader package "
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
