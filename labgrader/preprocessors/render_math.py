"""Feedback: the instructor's math rendered when the page is made, as MathML.

nbconvert leaves ``$...$`` for MathJax, which nbgrader's feedback page loads from a CDN: offline, or
in JupyterLab's HTML viewer (scripts off), students saw raw TeX. Here each ``$...$`` and ``$$...$$``
of the instructor's markdown cells (the gradebook's source, unchanged: never a student's text)
becomes MathML (``latex2mathml``), which browsers render natively: no script, no network. Code
spans and fences are left alone; TeX that does not convert stays as it was. The page's template
(``labgrader/templates/labgrader_feedback``) no longer loads MathJax.
"""
from __future__ import annotations

import re

from latex2mathml.converter import convert

from labgrader.preprocessors.feedback_base import FeedbackPreprocessor
from labgrader.preprocessors.sanitize_outputs import instructor_markdown

CODE = re.compile(r"(^(```|~~~).*?^\2[^\n]*$|`+[^`]*`+)", re.S | re.M)
MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?![\s$])([^$]+?)(?<![\s\\])\$(?![\d$])", re.S)


def to_mathml(tex: str, display: bool) -> str | None:
    try:
        return convert(tex.strip(), display="block" if display else "inline")
    except Exception:  # TeX latex2mathml does not know: leave it as the instructor wrote it
        return None


def render(markdown: str) -> str:
    """``markdown`` with its math as MathML, code spans and fences untouched."""
    def math(match: re.Match) -> str:
        display = match.group(1) is not None
        mathml = to_mathml(match.group(1) if display else match.group(2), display)
        return mathml if mathml is not None else match.group(0)

    parts = CODE.split(markdown)
    # re.split with two groups: [text, code, fence marker, text, code, fence marker, ...]
    out = []
    for index in range(0, len(parts), 3):
        out.append(MATH.sub(math, parts[index]))
        if index + 1 < len(parts):
            out.append(parts[index + 1])
    return "".join(out)


class RenderMath(FeedbackPreprocessor):
    """After SanitizeOutputs: the math of the instructor's markdown cells as MathML."""

    def preprocess(self, nb, resources):
        self._instructor_text = instructor_markdown(resources)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "markdown" and grade_id in self._instructor_text \
                and self._instructor_text[grade_id] == cell.source and "$" in cell.source:
            cell.source = render(cell.source)
        return cell, resources
