"""Hostile student content for the tests of what the instructor's pages show (formgrader,
JupyterLab, feedback): what the snippet format cannot carry (a markdown cell and a raw cell of the
student's own with raw HTML, widget state in the notebook's metadata), and raw outputs as a kernel
sends them (to build an autograded notebook that skipped SanitizeAutograded, as one graded before
it existed would have). Each payload runs ``ATTACK``; each carries a visible ``FG-...`` marker."""
import nbformat
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_markdown_cell, new_output, new_raw_cell

# What a script would do as the instructor (the corpus' hostile/formgrader_xss.py does the same).
ATTACK = ('try { window.top.__pwned = 1 } catch (e) {} try { document.title = "PWN" + "ED" } catch (e) {} '
          'fetch("/api/contents/source/embeddings/embeddings.ipynb").then(r => r.text())'
          '.then(t => document.body.prepend("LEAK" + "ED " + t.slice(0, 300))); '
          'window.parent.postMessage(JSON.stringify({command: "terminal:create-new", arguments: {}}), "*")')
SCRIPT = f"<script>{ATTACK}</script>"
IMG = f"<img src=x onerror='{ATTACK}'>"

MARKDOWN_CELL = f"{IMG} FG-MARKDOWN-CELL [link](javascript:{ATTACK}) {SCRIPT}"
RAW_CELL = f"{SCRIPT}FG-RAW-CELL"
WIDGET_STATE = {"application/vnd.jupyter.widget-state+json": {
    "version_major": 2, "version_minor": 0,
    "state": {"fg-widget": {"model_name": "HTMLModel", "model_module": "@jupyter-widgets/controls",
                            "model_module_version": "2.0.0",
                            "state": {"value": f"{IMG}FG-WIDGET-STATE"}}}}}
# what the autograded notebook shows as text once inert (the corpus snippet's outputs and the cells above)
MARKERS = ["FG-HTML", "FG-SVG", "FG-JAVASCRIPT", "FG-WIDGET-VIEW", "FG-REPR-HTML", "FG-MARKDOWN-CELL", "FG-RAW-CELL"]


def add_text_cells_and_widgets(path, position=2):
    """Add the student's own markdown and raw cells (after the first cells) and widget state."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(position, new_markdown_cell(MARKDOWN_CELL))
    nb.cells.insert(position + 1, new_raw_cell(RAW_CELL))
    nb.metadata["widgets"] = WIDGET_STATE
    nbformat.write(nb, path)


def raw_outputs():
    """The outputs a student's cell sends, as nbclient saves them (nothing made inert)."""
    display = lambda data, **meta: new_output("display_data", data=data, metadata=meta)  # noqa: E731
    return [
        display({"text/html": f"{SCRIPT}{IMG}FG-HTML", "text/plain": "<IPython.core.display.HTML object>"}),
        display({"image/svg+xml": f"<svg xmlns='http://www.w3.org/2000/svg' onload='{ATTACK}'>{SCRIPT}"
                                  "<text y='20'>FG-SVG</text></svg>",
                 "text/plain": "<IPython.core.display.SVG object>"}),
        display({"application/javascript": ATTACK + " // FG-JAVASCRIPT",
                 "text/plain": "<IPython.core.display.Javascript object>"}),
        display({"text/markdown": f"{IMG} FG-MARKDOWN-OUTPUT [x](javascript:{ATTACK})"}),
        display({"application/vnd.jupyter.widget-view+json": {"model_id": "fg-widget", "version_major": 2,
                                                              "version_minor": 0},
                 "text/plain": "FG-WIDGET-VIEW"}),
        display({"text/html": f"{IMG}FG-FORGED-VERDICT", "text/plain": "forged"}, labgrader="verdict"),
        display({"image/png": f"\" onerror=\"{ATTACK}", "text/plain": "FG-BAD-PNG"},
                **{"image/png": {"width": 10, "filename": "../../x"}}),
        new_output("execute_result", execution_count=3,
                   data={"text/html": f"{SCRIPT}{IMG}FG-REPR-HTML", "text/plain": "<__main__.Report object at 0x7f>"}),
        new_output("stream", name="stdout", text=f"{SCRIPT}FG-STREAM\n"),
        new_output("error", ename="ValueError", evalue=f"{IMG}FG-ERROR", traceback=[f"ValueError: {IMG}FG-ERROR"]),
    ]


def with_raw_outputs(autograded_path, student_cell_index):
    """Put the raw outputs back into a cell of an autograded notebook, and the hostile cells and
    widget state around it: the notebook SanitizeAutograded would have written without itself."""
    nb = nbformat.read(autograded_path, as_version=4)
    nb.cells[student_cell_index].outputs = [NotebookNode(o) for o in raw_outputs()]
    nb.cells.insert(student_cell_index, new_markdown_cell(MARKDOWN_CELL))
    nb.cells.insert(student_cell_index + 1, new_raw_cell(RAW_CELL))
    nb.metadata["widgets"] = WIDGET_STATE
    nbformat.write(nb, autograded_path)
