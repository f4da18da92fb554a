"""Flag a submission whose own cells hold code that tampers with grading, for a human to review."""
import logging

import nbformat
from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, Unicode

from labgrader.judging.lab import load_lab
from labgrader.judging.scan import Finding, scan

# The first line of the gradebook comment a flag writes; the class report finds flags by it.
HEADER = "Flagged for manual review: this notebook holds code that can tamper with grading."
# Log messages announcing the findings (the batch command reads them from the resources).
LOG_PREFIX = "[labgrader flag]"


class FlagTampering(NbGraderPreprocessor):
    """Scans the cells the student could have written (labgrader.judging.scan) against the
    released notebook. On findings, the submission is still graded and its scores stand (the
    checks decide scores), but every grade of the notebook is marked ``needs_manual_grade`` in the
    gradebook and each answer cell's comment (shown under the cell in formgrader and in feedback)
    says what was found, with the offending lines. Runs after SaveAutoGrades, which would
    otherwise reset both. The findings also go to ``resources["labgrader"]["flags"]`` and, for
    the terminal (a warning)."""

    protected_names = List(
        Unicode(), default_value=[],
        help="Course-wide names that must not be rebound in a cell the student added before the "
             "first answer cell, where the grader takes its references (added to the lab's own "
             "``protected_names`` from its grading.py).",
    ).tag(config=True)

    max_listed = 20  # findings written into the comment; the rest are counted

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        path = coursedir.format_path(coursedir.release_directory, ".", info["assignment"])
        release = nbformat.read(f"{path}/{info['notebook']}.ipynb", as_version=4)
        # what JudgeObservations found in the observations (forged, replayed, malformed), then the scan
        earlier = [Finding(**flag) for flag in resources.get("labgrader", {}).get("flags", [])]
        lab = load_lab(coursedir, info["assignment"])
        names = list(self.protected_names) + list(getattr(lab, "protected_names", ()))
        findings = earlier + scan(nb, release, names, getattr(lab, "allowed_imports", None))
        flags = [f.as_dict() for f in findings]
        resources.setdefault("labgrader", {})["flags"] = flags
        if findings:
            self._record(info, findings)
            self.log.log(logging.WARNING, "%s %s: %d finding(s): %s", LOG_PREFIX, info.get("student"),
                         len(findings), "; ".join(map(str, findings[:3])))
        return nb, resources

    def _record(self, info, findings):
        lines = [f"- {f}" for f in findings[:self.max_listed]]
        if len(findings) > self.max_listed:
            lines.append(f"- ... and {len(findings) - self.max_listed} more")
        text = "\n".join([HEADER] + lines)
        with Gradebook(info["db_url"]) as gb:
            notebook = gb.find_submission_notebook(info["notebook"], info["assignment"], info["student"])
            for grade in notebook.grades:
                grade.needs_manual_grade = True
            for comment in notebook.comments:
                # Keep nbgrader's own comment ("No response.") under ours.
                comment.auto_comment = text + (f"\n\n{comment.auto_comment}" if comment.auto_comment else "")
            gb.db.commit()
