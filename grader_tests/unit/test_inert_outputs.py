"""Fast tests of SanitizeAutograded (the autograded notebook) and SanitizeOutputs (feedback): every
active output becomes text, nbgrader's scores are those of the raw notebook, the instructor's text
stays Markdown and the student's becomes text. No kernel: notebooks and a gradebook made by hand."""
import copy
import itertools

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell
from nbgrader.api import Base, Gradebook
from sqlalchemy import create_engine
from nbgrader.utils import compute_checksum, determine_grade

import hostile_content
from labgrader.preprocessors.sanitize_autograded import SanitizeAutograded
from labgrader.preprocessors.sanitize_outputs import SAFE_TYPES, SanitizeOutputs

ACTIVE = {"text/html", "image/svg+xml", "application/javascript", "text/markdown", "text/latex",
          "application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json"}


def fresh_ids(cells):
    """Copies with cell ids of their own (a notebook may not hold one id twice)."""
    cells = copy.deepcopy(cells)
    for number, cell in enumerate(cells):
        cell.id = f"cell-{number}"
    return cells


def notebook_with(outputs, **metadata):
    nb = new_notebook(cells=[new_code_cell("x", outputs=copy.deepcopy(outputs))])
    nb.metadata.update(metadata)
    return nb


def sanitized(step, nb, resources=None):
    return step.preprocess(nb, resources or {})[0]


def texts(nb):
    return "\n".join(str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", "")) + str(o.get("evalue", ""))
                     for cell in nb.cells for o in cell.get("outputs", []))


@pytest.mark.parametrize("step", [SanitizeAutograded, SanitizeOutputs])
def test_every_active_output_becomes_text(step):
    nb = sanitized(step(), notebook_with(hostile_content.raw_outputs(), widgets=hostile_content.WIDGET_STATE))
    for output in nb.cells[0].outputs:
        kept = set(output.get("data", {}))
        if output.get("metadata", {}).get("labgrader") == "verdict":
            assert kept <= ({"text/plain"} if step is SanitizeAutograded else {"text/plain", "text/html"})
            assert "<img" not in output.data.get("text/html", "")
        else:
            assert kept <= SAFE_TYPES and not kept & ACTIVE, output
            assert set(output.get("metadata", {})) <= {"image/png", "image/jpeg"}
    assert "widgets" not in nb.metadata
    shown = texts(nb)
    for marker in ["FG-HTML", "FG-SVG", "FG-JAVASCRIPT", "FG-MARKDOWN-OUTPUT", "FG-WIDGET-VIEW", "FG-REPR-HTML",
                   "FG-STREAM", "FG-ERROR", "FG-BAD-PNG"]:
        assert marker in shown, marker
    assert not any("image/png" in o.get("data", {}) for o in nb.cells[0].outputs)  # not base64: dropped
    assert not any(o.get("metadata", {}).get("image/png", {}).get("filename") for o in nb.cells[0].outputs)


def test_an_execute_result_keeps_its_plain_text_and_shows_its_html_beside_it():
    nb = sanitized(SanitizeAutograded(), notebook_with([new_output(
        "execute_result", execution_count=1, data={"text/html": "<b>FG</b>", "text/plain": "<x.Y object at 0x1>"})]))
    result, shown = nb.cells[0].outputs
    assert result.output_type == "execute_result" and result.data == {"text/plain": "<x.Y object at 0x1>"}
    assert shown.output_type == "display_data" and shown.data == {"text/plain": "<b>FG</b>"}


def test_feedback_shows_the_html_in_place_of_a_default_repr():
    nb = sanitized(SanitizeOutputs(), notebook_with([new_output(
        "execute_result", execution_count=1, data={"text/html": "<b>FG</b>", "text/plain": "<x.Y object at 0x1>"})]))
    assert [o.data for o in nb.cells[0].outputs] == [{"text/plain": "<b>FG</b>"}]


# What nbgrader's determine_grade reads: errors, stderr, the first execute_result's text/plain.
POOL = [
    new_output("error", ename="E", evalue="e", traceback=["E"]),
    new_output("stream", name="stderr", text="warn\n"),
    new_output("stream", name="stdout", text="<b>out</b>\n"),
    new_output("execute_result", execution_count=1, data={"text/plain": "0.5"}),
    new_output("execute_result", execution_count=1, data={"text/plain": "<IPython.core.display.HTML object>",
                                                          "text/html": "0.25"}),
    new_output("execute_result", execution_count=1, data={"text/html": "0.75"}),  # no text/plain: nbgrader raises
    new_output("execute_result", execution_count=1, data={}),
    new_output("display_data", data={"text/html": "<script>x</script>", "text/plain": "1.5"}),
    new_output("display_data", data={"application/javascript": "0"}),
    new_output("execute_result", execution_count=1, data={"text/plain": ["0.5", "1"], "text/html": "<b>x</b>"},
               metadata={"labgrader": "verdict"}),  # a forged verdict marker
]


def grade(cell):
    try:
        return determine_grade(cell)
    except Exception as exc:  # the same failure before and after is the same outcome
        return type(exc).__name__


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_the_score_nbgrader_reads_is_that_of_the_raw_outputs(count):
    step = SanitizeAutograded()
    for outputs in itertools.product(POOL, repeat=count):
        cell = new_code_cell("x", metadata={"nbgrader": {"grade": True, "solution": False, "locked": True,
                                                         "grade_id": "t", "points": 2}},
                             outputs=copy.deepcopy(list(outputs)))
        before = grade(cell)
        nb = sanitized(step, new_notebook(cells=[cell]))
        assert grade(nb.cells[0]) == before, outputs


@pytest.mark.parametrize("then", [SanitizeAutograded, SanitizeOutputs])
def test_sanitizing_again_changes_nothing_more(then):
    """Feedback sanitizes what autograde already made inert: no second fence around a student's cell."""
    nb = notebook_with(hostile_content.raw_outputs())
    nb.cells += fresh_ids([new_markdown_cell(hostile_content.MARKDOWN_CELL), new_raw_cell("~~~\n" + hostile_content.RAW_CELL)])
    once = sanitized(SanitizeAutograded(), nb)
    assert sanitized(then(), copy.deepcopy(once)).cells[1:] == once.cells[1:]


@pytest.mark.parametrize("source", ["~~~\nx\n~~~~\n<script>x</script>\n~~~", "~~~\n~~~\n<b>x</b>\n~~~", "~~~ js\nx\n~~~",
                                    "~~~\nx\n~~~\n<img src=x onerror=alert(1)>"])
def test_a_cell_that_only_looks_fenced_is_fenced_again(source):
    nb = sanitized(SanitizeAutograded(), new_notebook(cells=[new_markdown_cell(source)]))
    assert nb.cells[0].source != source and source in nb.cells[0].source


# ------------------------------------------------------------------ text cells


@pytest.fixture
def gradebook(tmp_path):
    """A gradebook holding a locked instructor cell and a markdown answer cell, as released."""
    url = f"sqlite:///{tmp_path}/gradebook.db"
    engine = create_engine(url)
    Base.metadata.create_all(engine)  # nbgrader's own schema (a new gradebook would also run alembic: seconds)
    engine.dispose()
    intro = new_markdown_cell("# Lab\nThe **instructor's** text.", metadata={"nbgrader": {
        "grade": False, "solution": False, "locked": True, "grade_id": "intro"}})
    answer = new_markdown_cell("YOUR ANSWER HERE", metadata={"nbgrader": {
        "grade": True, "solution": True, "locked": False, "grade_id": "written", "points": 1}})
    for cell in (intro, answer):
        cell.metadata.nbgrader["checksum"] = compute_checksum(cell)
    with Gradebook(url) as gb:
        gb.add_assignment("a")
        gb.add_notebook("n", "a")
        for cell in (intro, answer):
            meta = cell.metadata.nbgrader
            gb.add_source_cell(meta["grade_id"], "n", "a", cell_type="markdown", locked=meta["locked"],
                               source=cell.source, checksum=meta["checksum"])
    return {"nbgrader": {"db_url": url, "notebook": "n", "assignment": "a"}}, intro, answer


@pytest.mark.parametrize("step", [SanitizeAutograded, SanitizeOutputs])
def test_only_the_instructors_text_stays_markdown(step, gradebook):
    resources, intro, answer = gradebook
    edited = copy.deepcopy(answer)
    edited.source = f"My answer {hostile_content.IMG}"
    forged = copy.deepcopy(intro)
    forged.source = hostile_content.MARKDOWN_CELL  # the instructor's grade id, the student's words
    cells = [intro, answer, edited, forged, new_markdown_cell(hostile_content.MARKDOWN_CELL),
             new_raw_cell(hostile_content.RAW_CELL)]
    cells = fresh_ids(cells)
    nb = sanitized(step(), new_notebook(cells=copy.deepcopy(cells)), resources)
    assert nb.cells[:2] == cells[:2]
    for cell, original in zip(nb.cells[2:], cells[2:]):
        assert cell.cell_type == "markdown" and cell.source.startswith("~~~\n") and original.source in cell.source
        assert cell.metadata == {k: v for k, v in original.metadata.items() if k == "nbgrader"}


def test_a_written_answer_keeps_its_score(gradebook):
    """An answer left as released scores 0 (its checksum); an edited one waits for a human."""
    resources, _, answer = gradebook
    edited = copy.deepcopy(answer)
    edited.source = f"{hostile_content.IMG} my answer"
    nb = new_notebook(cells=fresh_ids([answer, edited]))
    before = [determine_grade(c) for c in nb.cells]
    after = [determine_grade(c) for c in sanitized(SanitizeAutograded(), nb, resources).cells]
    assert before == after == [(0, 1.0), (None, 1.0)]


def test_the_raw_notebook_of_the_tests_is_valid():
    nb = notebook_with(hostile_content.raw_outputs())
    nbformat.validate(nb)
