"""Autograde: the autograded notebook keeps only inert student output.

Threat: nbgrader's formgrader renders ``autograded/<student>/<assignment>/<notebook>.ipynb`` with
nbconvert inside the Jupyter server's own origin, and nbgrader's JupyterLab extension runs any lab
command the formgrader frame posts to it. A student's ``_repr_html_`` with a ``<script>`` therefore
ran as the instructor, read ``source/`` (solutions included) and could open a terminal. This step
applies feedback's rules (``sanitize_outputs.InertStudentContent``) to the notebook nbgrader writes,
right after JudgeAnswers has put the grader's verdicts in the graded test cells.

Scores do not change: nbgrader's SaveAutoGrades, which runs later, reads only errors, stderr
streams and the ``text/plain`` of the first ``execute_result`` of a graded cell, and (for answer
cells) whether the source still has its released checksum. Errors and streams are kept as they are;
an ``execute_result`` is never dropped and keeps its ``text/plain`` as the kernel sent it (the
source of what was dropped from it is shown in a separate ``display_data`` right after, which
nbgrader does not score); an answer cell is rewritten as text only when its source is not the
released one (and then its checksum differed already).
"""
from nbformat.notebooknode import NotebookNode

from labgrader.preprocessors.sanitize_outputs import InertStudentContent, image_metadata, inert_data, says_nothing


class SanitizeAutograded(InertStudentContent):
    """Student content in the autograded notebook made inert (see the module's docstring)."""

    verdict_html = False  # JudgeAnswers writes plain text: any verdict HTML here is forged

    def inert_outputs(self, outputs):
        inert = []
        for output in outputs:
            if output.get("output_type") == "execute_result":  # even one marked as a verdict (forged)
                inert += self._inert_result(output)
            elif (kept := self.sanitize_output(output)) is not None:
                inert.append(kept)
        return inert

    def _inert_result(self, output):
        kept, shown = inert_data(output.get("data", {}), self.safe_types)
        output.data = NotebookNode(kept)  # text/plain, if any, untouched: nbgrader reads partial credit there
        output.metadata = image_metadata(output.get("metadata"))
        if shown is None or not says_nothing(kept.get("text/plain", "")):
            return [output]
        return [output, NotebookNode(output_type="display_data", metadata=NotebookNode(),
                                     data=NotebookNode({"text/plain": shown}))]
