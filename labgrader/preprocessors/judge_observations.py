"""Grade the hidden tests in the grader's process, from what the kernel observed."""
import re

from nbformat.notebooknode import NotebookNode
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer

from labgrader.cells import is_test_cell
from labgrader.judging.lab import load_lab
from labgrader.judging.protocol import MIME, Malformed, records_in, validate
from labgrader.judging.reference import reference_observations

NO_OBSERVATION = ("The hidden tests of this cell did not finish (an earlier error in the cell, or code in the "
                  "notebook that stopped them): fix the errors shown above and run the notebook again.")
FORGED = ("This cell's output contains grading observations that the grader did not ask for: "
          "remove code that writes grading messages or changes how the notebook runs.")
MALFORMED = "The hidden tests of this cell reported something no genuine test would: run the notebook unchanged."
CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f]")


def kernel_message(cell, limit=300):
    """The first error the kernel showed in ``cell``, as one line of plain text."""
    for output in cell.outputs:
        if output.output_type == "error":
            text = CONTROL.sub("", str(output.get("evalue", "")) or str(output.get("ename", ""))).strip()
            return text[:limit] + ("..." if len(text) > limit else "")
    return ""


def verdict_output(passed, message):
    text = "All checks passed." if passed else message
    return NotebookNode(output_type="display_data", metadata={"labgrader": "verdict"}, data={"text/plain": text})


def failure_output(message):
    return NotebookNode(output_type="error", ename="CheckFailed", evalue=message, traceback=["CheckFailed: " + message])


class JudgeObservations(NbGraderPreprocessor):
    """Runs right after GuardedExecute. For every graded test cell, takes the one observation
    record the cell's hidden tests reported (validated: schema, size, the cell's own grade id and
    nonce) and asks the lab's ``judge`` for the verdict, against expectations from the reference
    run and the probes the grader chose. The cell's outputs are then replaced by the grader's
    own: a verdict line, plus an error carrying the message when it failed, so that nbgrader's
    SaveAutoGrades scores it and nothing the kernel printed there (hidden test code included)
    reaches the autograded notebook or feedback.

    Records that are malformed, carry another nonce or grade id, come twice, or appear outside
    their test cell score nothing and are listed in ``resources["labgrader"]["flags"]``.
    """

    max_observation_bytes = Integer(64 * 1024, config=True, help="Largest observation record accepted.")

    def preprocess(self, nb, resources):
        state = resources.get("labgrader", {})
        self._probes = state.get("probes")
        if not self._probes:  # not executed by GuardedExecute, or no grading module: plain nbgrader
            return nb, resources
        info = resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        self._lab = load_lab(coursedir, info["assignment"])
        self._reference = reference_observations(self.config, coursedir, info["assignment"], info["notebook"], self._lab)
        self._flags = state.setdefault("flags", [])
        return super().preprocess(nb, resources)

    def _flag(self, where, reason):
        # the fields of labgrader.judging.scan.Finding: FlagTampering records both kinds alike
        self._flags.append({"cell_index": -1, "cell": where, "line": 0, "code": "(what the kernel reported)",
                            "reason": reason})

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if not (is_test_cell(cell) and grade_id in self._probes):
            found = list(records_in(cell))
            if found:
                self._flag(grade_id or f"cell {index + 1}", "grading observations written outside a test cell")
                cell.outputs = [o for i, o in enumerate(cell.outputs) if i not in {i for i, _ in found}]
            return cell, resources

        passed, message = self._judge(cell, grade_id)
        cell.outputs = [verdict_output(passed, message)] + ([] if passed else [failure_output(message)])
        return cell, resources

    def _judge(self, cell, grade_id):
        probe = self._probes[grade_id]
        genuine, problems = [], []
        for _, record in records_in(cell):
            try:
                record = validate(record, self.max_observation_bytes)
            except Malformed as exc:
                problems.append(f"malformed observation ({exc})")
                continue
            if record["grade_id"] != grade_id or record["nonce"] != probe["nonce"]:
                problems.append("observation for another cell or another run (wrong grade id or nonce)")
            else:
                genuine.append(record["observations"])
        if len(genuine) > 1:
            problems.append(f"{len(genuine)} observations where the test reports one")
        if problems:
            for problem in problems:
                self._flag(grade_id, problem)
            return False, FORGED
        if not genuine:
            return False, kernel_message(cell) or NO_OBSERVATION
        try:
            verdict = self._lab.judge(grade_id, genuine[0], probe, self._reference)
        except (Malformed, KeyError, IndexError, TypeError, ValueError) as exc:
            self._flag(grade_id, f"malformed observation ({type(exc).__name__}: {str(exc)[:200]})")
            return False, MALFORMED
        return bool(verdict.passed), ("" if verdict.passed else verdict.message)
