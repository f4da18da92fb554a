r"""What a student's code or cells produced is shown as text, never run by the browser or the lab.

Student code chooses its outputs: ``display(HTML("<script>..."))``, an SVG with ``onload=``,
``Javascript(...)``, Markdown with raw HTML, a markdown cell of their own with ``<img onerror=...>``,
a raw cell (nbconvert writes a raw cell without a mimetype into HTML as it is), a notebook edited
by hand with widget state (nbconvert then loads the widget manager, and any widget module named in
the state, from a CDN). Two kinds of page show them:

- the feedback page (``nbgrader generate_feedback``), which the student *and the instructor* open;
  nbconvert's ``sanitize_html`` does not reach markdown cells in nbgrader's feedback template, and
  its allow-list would also mangle the grader's own verdict lines;
- the autograded notebook, which nbgrader's formgrader renders inside the Jupyter server's own
  origin (the instructor's session: a script there can read ``source/`` and open a terminal), and
  which JupyterLab opens when the instructor clicks "Open live notebook".

So :class:`InertStudentContent` (shared by :class:`SanitizeOutputs`, for feedback, and
``SanitizeAutograded``, for the autograded notebook) makes student content inert:

- an output keeps only ``text/plain``, ``image/png`` and ``image/jpeg`` (valid base64); every other
  type (``text/html``, ``image/svg+xml``, ``application/javascript``, ``text/markdown``,
  ``text/latex``, widgets, anything unknown) is dropped, and its source is shown as plain text when
  the output has no useful plain text, so one still sees what the student displayed, as escaped
  text; the output's metadata keeps only a numeric width and height (no file names, no URLs);
- streams and errors are kept (both pages escape them; nbgrader scores errors and stderr);
- a markdown or raw cell is left as Markdown only if it is the instructor's: a cell whose grade id
  and source are those of a markdown cell in the gradebook (a locked cell, or an answer cell the
  student left as released); any other becomes a block of plain text;
- a grade comment (rendered from Markdown: an automatic comment can quote the student's code or
  error messages) keeps its emphasis and lists, but no HTML, links or images: ``\ [ ] ( ) < > & !``
  are backslash-escaped;
- the notebook's widget state (``metadata.widgets``) goes.

Outputs the grader writes itself carry ``metadata={"labgrader": "verdict"}``. One in the notebook
(the grader's, or forged by a student) keeps its plain text, and in feedback its HTML only through
a strict allow-list (nh3, the maintained binding of Rust's ammonia: a few inline tags, whose other
tags are removed; class/style/data-* attributes; a few CSS properties, without URLs), so a
forged marker gains nothing; the autograded notebook keeps no verdict HTML at all (the grader's
verdicts there are plain text).
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import re
from typing import Any

import nh3
from nbformat.notebooknode import NotebookNode
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Set

from labgrader.preprocessors.feedback_base import FeedbackPreprocessor
from labgrader.preprocessors.one_gradebook import lent_gradebook

SAFE_TYPES = {"text/plain", "image/png", "image/jpeg"}
# A plain text that says nothing about the content (IPython's repr of HTML(...), SVG(...)...).
DEFAULT_REPR = re.compile(r"<[\w.]+ object(?: at 0x[0-9a-fA-F]+)?>")
# Which dropped type's source is shown as text, first found first.
SHOWN_AS_TEXT = ["text/html", "text/markdown", "image/svg+xml", "text/latex", "application/javascript",
                 "text/javascript"]
VERDICT_TAGS = {"div", "span", "b", "strong", "i", "em", "code", "br", "p"}
# What the grader's verdict lines style (summarize_checks.py), and a little more.
VERDICT_CSS = {"color", "background", "background-color", "border-left", "padding", "margin", "font-weight",
               "font-style"}
# A CSS value kept in a verdict: colours, lengths, keywords, rgb(); nothing that fetches or escapes.
_CSS_VALUE = re.compile(r"[\w\s#%.,()+-]*")
_CSS_ACTIVE = re.compile(r"url|image-set|image|expression|var|attr", re.IGNORECASE)
IMAGE_TYPES = ("image/png", "image/jpeg")


def _verdict_css(style: str) -> str:
    """The declarations of ``style`` whose property is allowed and whose value cannot fetch anything."""
    kept = []
    for declaration in style.split(";"):
        name, colon, value = declaration.partition(":")
        name, value = name.strip().lower(), value.strip()
        if colon and name in VERDICT_CSS and _CSS_VALUE.fullmatch(value) and not _CSS_ACTIVE.search(value):
            kept.append(f"{name}:{value}")
    return ";".join(kept)


def _verdict_attribute(tag: str, name: str, value: str) -> str | None:
    return _verdict_css(value) if name == "style" else value


def _verdict_html(text: str) -> str:
    return nh3.clean(text, tags=VERDICT_TAGS, attributes={"*": {"class", "style"}}, generic_attribute_prefixes={"data-"},
                     attribute_filter=_verdict_attribute, strip_comments=True)


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _is_base64(value: Any) -> bool:
    try:
        base64.b64decode("".join(_text(value).split()), validate=True)
        return True
    except (binascii.Error, ValueError):
        return False


def inert_markdown(text: str) -> str:
    """Markdown that renders the same words without raw HTML, links, images or entities."""
    return re.sub(r"([\\\[\]()<>&!])", r"\\\1", text)


def _longest_fence_run(text: str) -> int:
    return max((len(m) for m in re.findall(r"`+|~+", text)), default=0)


def fenced(text: str) -> str:
    """Markdown that shows ``text`` verbatim: a code fence longer than any run of ` or ~ in it."""
    fence = "~" * max(3, _longest_fence_run(text) + 1)
    return f"{fence}\n{text}\n{fence}"


def is_fenced(text: str) -> bool:
    """``text`` is what :func:`fenced` makes (one code block nothing inside can close): inert already,
    so feedback does not fence again what autograde fenced."""
    m = re.fullmatch(r"(~{3,})\n(.*)\n\1", text, re.DOTALL)
    return m is not None and _longest_fence_run(m.group(2)) < len(m.group(1))


def is_verdict(output: NotebookNode) -> bool:
    return output.get("metadata", {}).get("labgrader") == "verdict"


def inert_verdict(output: NotebookNode, keep_html: bool = True) -> NotebookNode:
    """A verdict line (the grader's, or a forgery): its plain text, and its HTML (if kept) through
    the allow-list."""
    data = output.get("data", {})
    kept = {"text/plain": _text(data.get("text/plain", ""))}
    if keep_html and "text/html" in data:
        kept["text/html"] = _verdict_html(_text(data["text/html"]))
    output.data = NotebookNode(kept)
    output.metadata = NotebookNode(labgrader="verdict")
    return output


def inert_data(data: dict[str, Any], safe_types: set[str] = SAFE_TYPES) -> tuple[dict[str, Any], str | None]:
    """``(kept, shown)``: the types rendered as they are (images only if valid base64; plain text
    untouched), and the source of the first dropped type as text (``None`` when nothing was dropped)."""
    kept = {k: v for k, v in data.items() if k in safe_types}
    for image in IMAGE_TYPES:
        if image in kept and not _is_base64(kept[image]):
            del kept[image]
    dropped = [k for k in SHOWN_AS_TEXT if k in data] + sorted(set(data) - set(kept) - set(SHOWN_AS_TEXT))
    if not dropped:
        return kept, None
    source = data[dropped[0]]
    return kept, source if isinstance(source, str) else _text(source) if isinstance(source, list) else repr(source)


def says_nothing(plain: Any) -> bool:
    """No plain text, or only IPython's default repr (``<IPython.core.display.HTML object>``)."""
    plain = _text(plain).strip()
    return not plain or bool(DEFAULT_REPR.fullmatch(plain))


def image_metadata(metadata: Any) -> NotebookNode:
    """width/height are written into <img>; anything else (file names, URLs) is dropped."""
    return NotebookNode({
        k: NotebookNode({d: v for d, v in m.items() if d in ("width", "height") and isinstance(v, (int, float))})
        for k, m in (metadata or {}).items() if k in IMAGE_TYPES and isinstance(m, dict)})


def instructor_markdown(resources: dict[str, Any]) -> dict[str, str]:
    """{grade id: source} of the instructor's markdown cells, from the gradebook (what nbgrader
    recorded at generate_assignment: a student cannot change it)."""
    info = resources.get("nbgrader", {})
    if not info.get("db_url"):
        return {}
    lent = lent_gradebook(resources)  # the submission's session, or one of its own (plain nbgrader)
    with contextlib.nullcontext(lent) if lent else Gradebook(info["db_url"]) as gb:
        try:
            notebook = gb.find_notebook(info["notebook"], info["assignment"])
        except MissingEntry:
            return {}
        return {cell.name: cell.source for cell in notebook.source_cells if cell.cell_type == "markdown"}


class InertStudentContent(NbGraderPreprocessor):
    """Student content made inert (see the module's docstring). Subclasses say what becomes of
    the outputs of a code cell (:meth:`inert_outputs`)."""

    safe_types = Set(SAFE_TYPES, config=True, help="Output mimetypes rendered as they are (nbconvert "
                     "escapes text/plain and embeds images as base64 data). Others are shown as text.")
    verdict_html = True  # a verdict line keeps its (allow-listed) HTML

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        nb.metadata.pop("widgets", None)
        self._instructor_text = instructor_markdown(resources)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell: NotebookNode, resources: dict[str, Any], index: int) -> tuple[NotebookNode, dict[str, Any]]:
        grading = cell.metadata.get("nbgrader", {})
        if isinstance(grading.get("comment"), str):
            grading["comment"] = inert_markdown(grading["comment"])
        if cell.cell_type == "code":
            cell.outputs = self.inert_outputs(cell.get("outputs", []))
        elif cell.cell_type in ("markdown", "raw") and not self._is_instructors(cell):
            source = cell.source if is_fenced(cell.source) else fenced(cell.source)
            cell = NotebookNode(cell_type="markdown", id=cell.get("id", f"cell-{index}"), source=source,
                                metadata=NotebookNode({k: v for k, v in cell.metadata.items() if k == "nbgrader"}))
        return cell, resources

    def _is_instructors(self, cell: NotebookNode) -> bool:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        return cell.cell_type == "markdown" and grade_id in self._instructor_text \
            and self._instructor_text[grade_id] == cell.source

    def inert_outputs(self, outputs: list[NotebookNode]) -> list[NotebookNode]:
        return [o for o in (self.sanitize_output(o) for o in outputs) if o is not None]

    def sanitize_output(self, output: NotebookNode) -> NotebookNode | None:
        """One output made inert, in place (``None``: nothing worth showing is left): the plain
        text shows the dropped source when it said nothing by itself."""
        kind = output.get("output_type")
        if kind in ("stream", "error"):
            return output  # both pages escape them (nbconvert's ansi2html, JupyterLab's renderer)
        if kind not in ("display_data", "execute_result"):
            return None
        if is_verdict(output):
            return inert_verdict(output, self.verdict_html)
        kept, shown = inert_data(output.get("data", {}), self.safe_types)
        if shown is not None and says_nothing(kept.get("text/plain", "")):
            kept["text/plain"] = shown
        if not kept:
            return None
        output.data = NotebookNode(kept)
        output.metadata = image_metadata(output.get("metadata"))
        return output


class SanitizeOutputs(InertStudentContent):
    """Feedback: student content inert before the page is rendered (runs before SummarizeChecks,
    which adds the grader's verdict lines)."""

    # nbconvert's HTML exporter configures it for every preprocessor it runs (feedback_base.py)
    display_data_priority = FeedbackPreprocessor.display_data_priority
