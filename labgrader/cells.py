"""Which cells are which, in nbgrader's metadata."""
from nbgrader.utils import is_grade, is_locked, is_solution


def is_test_cell(cell):
    """An autograded test cell: a graded code cell that is not an answer cell."""
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)


def grade_id(cell):
    """The cell's nbgrader grade id, or None."""
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def is_student_cell(cell, released_sources):
    """A code cell the student could have written: unlocked, or not one the release holds as it is."""
    return cell.cell_type == "code" and (not is_locked(cell) or cell.source not in released_sources)
