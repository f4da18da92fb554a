r"""Feedback: what a student's code or cells produced is shown as text, never run by the browser.

Student code chooses its outputs: ``display(HTML("<script>..."))``, an SVG with ``onload=``,
``Javascript(...)``, Markdown with raw HTML, a markdown cell of their own with ``<img onerror=...>``,
a notebook edited by hand with widget state. nbconvert's HTML exporter writes these into the
feedback page as they are (its ``sanitize_html`` option does not reach markdown cells in nbgrader's
feedback template, and its bleach allow-list would also mangle the grader's own verdict lines),
and the student *and the instructor* open that page. So, before the page is rendered:

- an output keeps only ``text/plain``, ``image/png`` and ``image/jpeg`` (valid base64); every other
  type (``text/html``, ``image/svg+xml``, ``application/javascript``, ``text/markdown``,
  ``text/latex``, widgets...) is dropped, and its source becomes the ``text/plain`` when the output
  has no useful plain text, so the student still sees what they displayed, as escaped text;
  the output's metadata keeps only a numeric width and height (no file names, no URLs);
- streams and errors are kept (nbconvert escapes them: ``ansi2html``);
- a markdown or raw cell is rendered as Markdown only if it is the instructor's: a locked cell
  whose source is the one in the gradebook; any other is shown as a block of plain text;
- a grade comment (shown under the cell, rendered from Markdown: an automatic comment can quote
  the student's code or error messages) keeps its emphasis and lists, but no HTML, links or images:
  ``\ [ ] ( ) < > & !`` are backslash-escaped;
- the notebook's widget state (``metadata.widgets``, which loads and runs widget JavaScript) goes.

Outputs the grader writes itself carry ``metadata={"labgrader": "verdict"}``. This step runs
before SummarizeChecks, which adds them; one already in the notebook (or forged by a student) is
kept as HTML only through a strict allow-list (a few inline tags, class/style/data-* attributes,
CSS without URLs), so a forged marker gains nothing.
"""
import base64
import binascii
import re

import bleach
from bleach.css_sanitizer import ALLOWED_CSS_PROPERTIES, CSSSanitizer
from nbformat.notebooknode import NotebookNode
from nbgrader.api import Gradebook, MissingEntry
from labgrader.preprocessors.feedback_base import FeedbackPreprocessor
from traitlets import Set

SAFE_TYPES = {"text/plain", "image/png", "image/jpeg"}
# A plain text that says nothing about the content (IPython's repr of HTML(...), SVG(...)...).
DEFAULT_REPR = re.compile(r"<[\w.]+ object(?: at 0x[0-9a-fA-F]+)?>")
# Which dropped type's source is shown as text, first found first.
SHOWN_AS_TEXT = ["text/html", "text/markdown", "image/svg+xml", "text/latex", "application/javascript",
                 "text/javascript"]
VERDICT_TAGS = {"div", "span", "b", "strong", "i", "em", "code", "br", "p"}


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


def fenced(text):
    """Markdown that shows ``text`` verbatim: a code fence longer than any run of ` or ~ in it."""
    longest = max((len(m) for m in re.findall(r"`+|~+", text)), default=0)
    fence = "~" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


class SanitizeOutputs(FeedbackPreprocessor):
    """Make student-controlled content inert in feedback HTML (see the module's docstring)."""

    safe_types = Set(SAFE_TYPES, config=True, help="Output mimetypes rendered as they are (nbconvert "
                     "escapes text/plain and embeds images as base64 data). Others are shown as text.")

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)
        self._instructor_text = self._locked_text_cells(resources)
        return super().preprocess(nb, resources)

    def _locked_text_cells(self, resources):
        """{grade id: source} of the instructor's locked markdown cells, from the gradebook."""
        info = resources.get("nbgrader", {})
        if not info.get("db_url"):
            return {}
        texts = {}
        with Gradebook(info["db_url"]) as gb:
            try:
                notebook = gb.find_notebook(info["notebook"], info["assignment"])
            except MissingEntry:
                return {}
            for cell in notebook.source_cells:
                if cell.cell_type == "markdown" and cell.locked:
                    texts[cell.name] = cell.source
        return texts

    def preprocess_cell(self, cell, resources, index):
        grading = cell.metadata.get("nbgrader", {})
        if isinstance(grading.get("comment"), str):
            grading["comment"] = inert_markdown(grading["comment"])
        if cell.cell_type == "code":
            cell.outputs = [o for o in (self.sanitize_output(o) for o in cell.get("outputs", [])) if o is not None]
        elif cell.cell_type in ("markdown", "raw") and not self._is_instructors(cell):
            cell = NotebookNode(cell_type="markdown", id=cell.get("id", f"cell-{index}"), source=fenced(cell.source),
                                metadata=NotebookNode({k: v for k, v in cell.metadata.items() if k == "nbgrader"}))
        return cell, resources

    def _is_instructors(self, cell):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        return cell.cell_type == "markdown" and grade_id in self._instructor_text \
            and self._instructor_text[grade_id] == cell.source

    def sanitize_output(self, output):
        kind = output.get("output_type")
        if kind in ("stream", "error"):
            return output  # nbconvert's template escapes them (ansi2html)
        if kind not in ("display_data", "execute_result"):
            return None
        data = output.get("data", {})
        if output.get("metadata", {}).get("labgrader") == "verdict":
            kept = {"text/plain": _text(data.get("text/plain", ""))}
            if "text/html" in data:
                kept["text/html"] = _verdict_html(_text(data["text/html"]))
            output.data = NotebookNode(kept)
            output.metadata = NotebookNode(labgrader="verdict")
            return output
        kept = {k: v for k, v in data.items() if k in self.safe_types}
        for image in ("image/png", "image/jpeg"):
            if image in kept and not _is_base64(kept[image]):
                del kept[image]
        plain = _text(kept.get("text/plain", ""))
        dropped = [k for k in SHOWN_AS_TEXT if k in data] + sorted(set(data) - set(kept) - set(SHOWN_AS_TEXT))
        if dropped and (not plain.strip() or DEFAULT_REPR.fullmatch(plain.strip())):
            source = data[dropped[0]]
            kept["text/plain"] = source if isinstance(source, str) else _text(source) \
                if isinstance(source, list) else repr(source)
        if not kept:
            return None
        output.data = NotebookNode(kept)
        # width/height are written into <img>; anything else (file names, URLs) is dropped
        output.metadata = NotebookNode({
            k: NotebookNode({d: v for d, v in m.items() if d in ("width", "height") and isinstance(v, (int, float))})
            for k, m in output.get("metadata", {}).items() if k in ("image/png", "image/jpeg") and isinstance(m, dict)})
        return output
