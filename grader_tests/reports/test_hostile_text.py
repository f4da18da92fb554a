"""Fast tests of the pure parts: CSV cells, terminal text, Markdown made inert."""
import pytest

from labgrader.preprocessors.sanitize_outputs import fenced, inert_markdown
from labgrader.reports.csv_safe import neutral
from labgrader.student_ids import printable, refusal


@pytest.mark.parametrize("cell", ['=HYPERLINK("x","y")', "+1", "-2", "@SUM(1)", "\t=1", "\r=1"])
def test_formula_like_cells_become_text(cell):
    assert neutral(cell) == "'" + cell


def test_other_cells_and_our_numbers_are_unchanged():
    assert [neutral(v) for v in ["abc", "a=1", "", None, 8.0, -1]] == ["abc", "a=1", "", "", 8.0, -1]


def test_printable_strips_every_control_sequence():
    text = printable("a\x1b]0;owned\x07b\x1b[2J\x1b[31mc\x9b2J\r\u202ed\n")
    assert text == "ab" + "c2Jd\n" and not any(ord(ch) < 32 and ch != "\n" for ch in text)


@pytest.mark.parametrize("student", ["a*", "[ab]x", "x?", "a\x1b[2J", "a\nb"])
def test_unsafe_ids_are_refused_with_a_reason(student):
    assert "rename the folder" in refusal(student)


@pytest.mark.parametrize("student", ["abc", "jane.doe", "=1", "<img>", "o'brien"])
def test_ordinary_ids_are_graded(student):
    assert refusal(student) == ""


def test_inert_markdown_has_no_html_or_link_syntax_left():
    from nbconvert.filters.markdown import markdown2html
    rendered = markdown2html(inert_markdown('<img src=x onerror=alert(1)> [x](javascript:alert(1)) **kept**'))
    assert "<img" not in rendered and "href" not in rendered and "<strong>kept</strong>" in rendered


def test_fenced_text_cannot_close_its_fence():
    from nbconvert.filters.markdown import markdown2html
    rendered = markdown2html(fenced("~~~~\n<script>x</script>\n```"))
    assert "<script>" not in rendered and "&lt;script&gt;" in rendered
