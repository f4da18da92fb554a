"""Grade test cells by their signed verdicts, not by the absence of an error."""
from nbgrader.preprocessors import NbGraderPreprocessor
from nbformat.notebooknode import NotebookNode
from traitlets import Bool

from labgrader.cells import is_test_cell
from labgrader.kernels.checks import VERDICT_MIME, verify

NO_VERDICT = ("The hidden checks of this cell did not finish (an earlier error in the cell, or code "
              "in the notebook that stopped them): fix the errors shown above and run the notebook again.")
FORGED = "This cell's output contains a grading verdict that the grader did not issue."


class JudgeVerdicts(NbGraderPreprocessor):
    """Runs right after GuardedExecute. A graded test cell keeps its points only if it emitted a
    genuine passing verdict; otherwise an error output carrying the check's message is left in
    the cell, so nbgrader's own grading (SaveAutoGrades) scores it 0. Raw verdict records are
    replaced by their readable text, and tracebacks by their last line, so that neither the
    autograded notebook nor the feedback shows hidden test code."""

    require_verdict = Bool(True, help="Score graded test cells without a genuine verdict 0.").tag(config=True)

    def preprocess(self, nb, resources):
        self._key = resources.get("labgrader", {}).get("key")
        if self._key is None:  # not executed by GuardedExecute: plain nbgrader behaviour
            return nb, resources
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if not is_test_cell(cell):
            return cell, resources
        grade_id = cell.metadata.nbgrader["grade_id"]
        genuine, forged = [], False
        for output in cell.outputs:
            record = output.get("data", {}).get(VERDICT_MIME)
            if record is None:
                continue
            if verify(record, self._key) and record.get("grade_id") == grade_id:
                genuine.append(record)
                output.data = {"text/plain": record["message"] or "All hidden checks passed."}
            else:
                forged = True
                output.data = {"text/plain": FORGED}
        for output in cell.outputs:
            if output.output_type == "error":
                # IPython shows source lines around the failure: they could be hidden-test lines.
                output.traceback = [f"{output.ename}: {output.evalue}"]
        passed = bool(genuine) and all(r["passed"] for r in genuine) and not forged
        if not passed and (genuine or self.require_verdict):
            message = next((r["message"] for r in genuine if not r["passed"]), FORGED if forged else NO_VERDICT)
            self._mark_failed(cell, message)
        return cell, resources

    @staticmethod
    def _mark_failed(cell, message):
        if any(o.output_type == "error" for o in cell.outputs):
            return
        cell.outputs.append(NotebookNode(output_type="error", ename="CheckFailed", evalue=message,
                                         traceback=["CheckFailed: " + message]))
