"""A base for the preprocessors of `nbgrader generate_feedback`.

nbconvert's HTML exporter configures ``NbConvertBase.display_data_priority`` for every
preprocessor it runs; nbgrader's NbGraderPreprocessor redeclares that trait without
``config=True``, so traitlets warns once per preprocessor ("Config option
`display_data_priority` not recognized") on every feedback run. Declaring it configurable again
keeps an instructor's terminal free of warnings they did not cause.
"""
import os
import re

import nbgrader
from nbgrader.preprocessors import ClearHiddenTests as _ClearHiddenTests
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List

from labgrader.text import ESCAPES

HIDDEN_LINES = "labgrader_hidden_lines"  # resources: {grade id: the cell's hidden-test line numbers}
CELL_FRAME = re.compile(r"^Cell In\[\d+\], line (\d+)\s*$", re.M)  # IPython's frame of the cell's own code


class FeedbackPreprocessor(NbGraderPreprocessor):
    display_data_priority = List(NbGraderPreprocessor.display_data_priority.default_value).tag(config=True)


class ClearHiddenTests(_ClearHiddenTests):
    """nbgrader's ClearHiddenTests (jupyter/nbgrader#917), without the warning above. Before the
    hidden tests go, it notes which lines they were on, so that a failure of a stock hidden test
    (an ``assert`` without a message) can be told apart from the cell's visible code failing."""
    display_data_priority = FeedbackPreprocessor.display_data_priority

    def preprocess_cell(self, cell, resources, index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        lines = hidden_lines(cell.source, self.begin_test_delimeter, self.end_test_delimeter)
        if grade_id and lines:
            resources.setdefault(HIDDEN_LINES, {})[grade_id] = lines
        return super().preprocess_cell(cell, resources, index)


def hidden_lines(source: str, begin: str, end: str) -> set[int]:
    """The 1-based numbers of the lines between the hidden-test delimiters."""
    found, inside = set(), False
    for number, line in enumerate(source.splitlines(), 1):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            found.add(number)
    return found


def failure_message(error, hidden: set[int]) -> str:
    """What a failed test cell tells the student: the error's message; for an error without one (a
    bare ``assert``), which part failed and the exception's type, never the hidden code."""
    message = str(error.get("evalue", "")).strip()
    if message:
        return message
    kind = str(error.get("ename", "")) or "an error"
    frame = CELL_FRAME.search(ESCAPES.sub("", "\n".join(map(str, error.get("traceback", [])))))
    if frame and int(frame.group(1)) in hidden:
        return f"a hidden test of this cell failed ({kind})."
    return f"this cell's code raised {kind}: run the notebook to see where."


# (template_name, template_file): page.html.j2 extends nbgrader's feedback/index.html.j2
FEEDBACK_TEMPLATE = ("labgrader_feedback", "page.html.j2")


def feedback_template_dirs() -> list[str]:
    """Where nbconvert finds the feedback page's template: ours (``labgrader/templates/labgrader_feedback``:
    checks named in the table of contents, no MathJax), then nbgrader's ``feedback`` it extends."""
    ours = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "templates")
    nbgraders = os.path.join(os.path.dirname(os.path.abspath(nbgrader.__file__)), "server_extensions", "formgrader",
                             "templates")
    return [ours, nbgraders]
