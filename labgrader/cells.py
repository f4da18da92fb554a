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


BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"  # nbgrader's ClearHiddenTests defaults


def hidden_tests(source):
    """The lines of ``source`` inside nbgrader's hidden test regions (the delimiter lines excluded)."""
    return _split_hidden(source)[1]


def without_hidden_tests(source):
    """``source`` without its hidden test regions, as nbgrader's ClearHiddenTests cuts them (an
    unterminated region runs to the end: nothing of it is kept)."""
    return "\n".join(_split_hidden(source)[0])


def _split_hidden(source):
    kept, hidden, inside = [], [], False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            inside = True
        elif END_HIDDEN in line:
            inside = False
        elif inside:
            hidden.append(line)
        else:
            kept.append(line)
    return kept, hidden
