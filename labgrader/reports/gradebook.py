"""Read scores back from nbgrader's gradebook (SQLite or any db_url nbgrader accepts)."""
from __future__ import annotations

from nbgrader.api import Gradebook, MissingEntry


def cell_scores(db_url: str, assignment: str) -> dict[str, dict[str, float]]:
    """{student: {grade_id: score}} for every submission of ``assignment``."""
    scores: dict[str, dict[str, float]] = {}
    with Gradebook(db_url) as gb:
        for submission in gb.assignment_submissions(assignment):
            per_cell = scores.setdefault(submission.student_id, {})
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    per_cell[grade.name] = grade.score
    return scores


def total_scores(db_url: str, assignment: str) -> dict[str, tuple[float, float]]:
    """{student: (score, max_score)}, the score after the late penalty (as `nbgrader export` gives it)."""
    totals: dict[str, tuple[float, float]] = {}
    with Gradebook(db_url) as gb:
        try:
            submissions = gb.assignment_submissions(assignment)
        except MissingEntry:
            return totals
        for submission in submissions:
            penalty = submission.late_submission_penalty or 0.0
            totals[submission.student_id] = (max(0.0, submission.score - penalty), submission.max_score)
    return totals


def late_penalties(db_url: str, assignment: str) -> dict[str, float]:
    """{student: points taken for lateness} of the late submissions."""
    with Gradebook(db_url) as gb:
        try:
            submissions = gb.assignment_submissions(assignment)
        except MissingEntry:
            return {}
        return {s.student_id: s.late_submission_penalty for s in submissions if s.late_submission_penalty}


def max_points(db_url: str, assignment: str) -> dict[str, float]:
    """{grade_id: points} of the assignment's graded cells."""
    with Gradebook(db_url) as gb:
        return {cell.name: cell.max_score for notebook in gb.find_assignment(assignment).notebooks
                for cell in notebook.grade_cells}


def flagged_students(db_url: str, assignment: str) -> list[str]:
    """Students with a grade that needs manual grading (what could not be graded automatically)."""
    with Gradebook(db_url) as gb:
        return sorted({submission.student_id for submission in gb.assignment_submissions(assignment)
                       if any(grade.needs_manual_grade for nb in submission.notebooks for grade in nb.grades)})
