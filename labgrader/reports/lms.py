"""Grades in a file a learning-management system imports: Canvas's gradebook CSV.

Canvas (Grades > Import) matches each row to a student by "SIS Login ID" (here: the nbgrader
student id) and takes the points from the column named after the assignment. The "Points
Possible" row tells Canvas the maximum.
"""
from __future__ import annotations

import os

from labgrader.reports.csv_safe import Writer
from labgrader.reports.gradebook import total_scores

HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def write_canvas_csv(db_url: str, assignment: str, path: str | os.PathLike[str], column: str | None = None) -> str | os.PathLike[str]:
    totals = total_scores(db_url, assignment)
    column = column or assignment
    maximum = next(iter(totals.values()))[1] if totals else 0
    with open(path, "w", newline="") as f:
        out = Writer(f)  # a student id like =HYPERLINK(...) stays text
        out.writerow(HEADER + [column])
        out.writerow(["Points Possible", "", "", "", "", f"{maximum:g}"])
        for student, (score, _) in sorted(totals.items()):
            out.writerow([student, "", "", student, "", f"{score:g}"])
    return path
