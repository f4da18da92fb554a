r"""What a student's code or cells produced is shown as text, never run by the browser or the lab.

Student code chooses its outputs: ``display(HTML("<script>..."))``, an SVG with ``onload=``,
``Javascript(...)``, Markdown with raw HTML, a markdown cell of their own with ``<img onerror=...>``,
a raw cell (nbconvert writes a raw cell without a mimetype into HTML as it is), a notebook edited
by hand with widget state (nbconvert then loads the widget manager, and any widget module named in
the state, from a CDN). Two kinds of page show them:

- the feedback page (``nbgrader generate_feedback``), which the student *and the instructor* open;
  nbconvert's ``sanitize_html`` does not reach markdown cells in nbgrader's feedback template, and
  its bleach allow-list would also mangle the grader's own verdict lines;
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
a strict allow-list (a few inline tags, class/style/data-* attributes, CSS without URLs), so a
forged marker gains nothing; the autograded notebook keeps no verdict HTML at all (the grader's
verdicts there are plain text).
"""
import base64
import binascii
import re

import bleach
from bleach.css_sanitizer import ALLOWED_CSS_PROPERTIES, CSSSanitizer
from nbformat.notebooknode import NotebookNode
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Set

from labgrader.preprocessors.feedback_base import FeedbackPreprocessor

SAFE_TYPES = {"text/plain", "image/png", "image/jpeg"}
# A plain text that says nothing about the content (IPython's repr of HTML(...), SVG(...)...).
DEFAULT_REPR = re.compile(r"<[\w.]+ object(?: at 0x[0-9a-fA-F]+)?>")
# Which dropped type's source is shown as text, first found first.
SHOWN_AS_TEXT = ["text/html", "text/markdown", "image/svg+xml", "text/latex", "application/javascript",
                 "text/javascript"]
VERDICT_TAGS = {"div", "span", "b", "strong", "i", "em", "code", "br", "p"}
IMAGE_TYPES = ("image/png", "image/jpeg")


class _CssWithoutUrls(CSSSanitizer):
    """bleach's CSS filter checks property names only: also drop values that fetch or escape."""

    def sanitize_css(self, style):
        kept = [d for d in super().sanitize_css(style).split(";")
                if d.strip() and not re.search(r"url\(|image-set|expression|\\|@", d, re.IGNORECASE)]
        return ";".join(kept)


_VERDICT_CSS = _CssWithoutUrls(allowed_css_properties=set(ALLOWED_CSS_PROPERTIES)
                               | {"border-left", "padding", "margin", "background", "font-weight"})


def _verdict_html(text):
    return bleach.clean(text, tags=VERDICT_TAGS, strip=False, strip_comments=True, css_sanitizer=_VERDICT_CSS,
                        attributes=lambda tag, name, value: name in ("class", "style") or name.startswith("data-"))


def _text(value):
    return "".join(value) if isinstance(value, list) else str(value)


def _is_base64(value):
    try:
        base64.b64decode("".join(_text(value).split()), validate=True)
        return True
    except (binascii.Error, ValueError):
        return False


def inert_markdown(text):
    """Markdown that renders the same words without raw HTML, links, images or entities."""
    return re.sub(r"([\\\[\]()<>&!])", r"\\\1", text)


def _longest_fence_run(text):
    return max((len(m) for m in re.findall(r"`+|~+", text)), default=0)


def fenced(text):
    """Markdown that shows ``text`` verbatim: a code fence longer than any run of ` or ~ in it."""
    fence = "~" * max(3, _longest_fence_run(text) + 1)
    return f"{fence}\n{text}\n{fence}"


def is_fenced(text) -> bool:
    """``text`` is what :func:`fenced` makes (one code block nothing inside can close): inert already,
    so feedback does not fence again what autograde fenced."""
    m = re.fullmatch(r"(~{3,})\n(.*)\n\1", text, re.DOTALL)
    return bool(m) and _longest_fence_run(m.group(2)) < len(m.group(1))


def is_verdict(output) -> bool:
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


def inert_data(data: dict, safe_types=SAFE_TYPES) -> tuple[dict, str | None]:
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


def says_nothing(plain) -> bool:
    """No plain text, or only IPython's default repr (``<IPython.core.display.HTML object>``)."""
    plain = _text(plain).strip()
    return not plain or bool(DEFAULT_REPR.fullmatch(plain))


def image_metadata(metadata) -> NotebookNode:
    """width/height are written into <img>; anything else (file names, URLs) is dropped."""
    return NotebookNode({
        k: NotebookNode({d: v for d, v in m.items() if d in ("width", "height") and isinstance(v, (int, float))})
        for k, m in (metadata or {}).items() if k in IMAGE_TYPES and isinstance(m, dict)})


class InertStudentContent(NbGraderPreprocessor):
    """Student content made inert (see the module's docstring). Subclasses say what becomes of
    the outputs of a code cell (:meth:`inert_outputs`)."""

    safe_types = Set(SAFE_TYPES, config=True, help="Output mimetypes rendered as they are (nbconvert "
                     "escapes text/plain and embeds images as base64 data). Others are shown as text.")
    verdict_html = True  # a verdict line keeps its (allow-listed) HTML

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)
        self._instructor_text = self._instructor_text_cells(resources)
        return super().preprocess(nb, resources)

    def _instructor_text_cells(self, resources):
        """{grade id: source} of the instructor's markdown cells, from the gradebook."""
        info = resources.get("nbgrader", {})
        if not info.get("db_url"):
            return {}
        with Gradebook(info["db_url"]) as gb:
            try:
                notebook = gb.find_notebook(info["notebook"], info["assignment"])
            except MissingEntry:
                return {}
            return {cell.name: cell.source for cell in notebook.source_cells if cell.cell_type == "markdown"}

    def preprocess_cell(self, cell, resources, index):
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

    def _is_instructors(self, cell):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        return cell.cell_type == "markdown" and grade_id in self._instructor_text \
            and self._instructor_text[grade_id] == cell.source

    def inert_outputs(self, outputs: list) -> list:
        return [o for o in (self.sanitize_output(o) for o in outputs) if o is not None]

    def sanitize_output(self, output):
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
