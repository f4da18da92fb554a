"""Which cells are which, in nbgrader's metadata."""
from nbgrader.utils import is_grade, is_solution


def is_test_cell(cell):
    """An autograded test cell: a graded code cell that is not an answer cell."""
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)
