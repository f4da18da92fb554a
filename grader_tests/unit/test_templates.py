"""The pages the grader writes escape whatever a student chose: the class report and the verdict
lines are rendered from autoescaped templates (labgrader/templates/), and a verdict's HTML in
feedback keeps only the allow-list (nh3)."""
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from labgrader.preprocessors.sanitize_outputs import _verdict_html
from labgrader.record import MAX_LISTED, Flag
from labgrader.reports.class_report import ClassData, html_page
from labgrader.templates import environment, render

HOSTILE = '<img src=x onerror="alert(1)"></td><script>alert(2)</script>&amp;'
TEMPLATES = Path(__file__).resolve().parents[2] / "labgrader" / "templates"


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attributes = set(), set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes |= {name for name, _ in attrs}


def parsed(page):
    tags = Tags()
    tags.feed(page)
    return tags


def hostile_class():
    return ClassData(
        "embeddings", checks=[HOSTILE], points={HOSTILE: 2.0}, scores={HOSTILE: {HOSTILE: 0.0}, "bob": {HOSTILE: 2.0}},
        errors={HOSTILE: HOSTILE}, notes={"bob": [HOSTILE]}, failures={HOSTILE: {HOSTILE: HOSTILE}},
        faults={"bob": HOSTILE}, flags={HOSTILE: [Flag(HOSTILE, HOSTILE, HOSTILE)] * (MAX_LISTED + 2)},
        dropped_flags={HOSTILE: 3}, notebooks={HOSTILE: [HOSTILE], "second": []},
        refused=[{"who": HOSTILE, "entry": HOSTILE, "reasons": [HOSTILE, HOSTILE]}])


def report_page(data):
    return html_page(data, "data:image/png;base64,AAAA", "data:image/png;base64,BBBB")


def test_the_class_report_shows_every_student_text_as_text():
    page = report_page(hostile_class())
    found = parsed(page)
    template_tags = set(re.findall(r"<([a-z][a-z0-9]*)", (TEMPLATES / "class_report.html.j2").read_text()))
    assert found.tags <= template_tags and "onerror" not in found.attributes  # no tag but the template's
    assert "<script" not in page and "<img src=x" not in page
    assert page.count("&lt;img src=x onerror=") >= 15  # ids, checks, notebooks, errors, faults, notes, flags, refusals
    assert f"... and {2 + 3} more" in page  # the flags beyond MAX_LISTED and those dropped, counted


def test_the_verdict_line_escapes_the_message():
    line = render("verdict.html.j2", passed=False, colour="#b3261e", label="Failed", score=0.0, points=2.0,
                  message=HOSTILE)
    assert parsed(line).tags == {"div", "b"} and "<img" not in line and "&lt;script&gt;" in line
    assert "(0 / 2 points)" in line


def test_a_value_a_template_does_not_get_is_an_error():
    import jinja2
    with pytest.raises(jinja2.UndefinedError):
        environment().from_string("{{ missing }}").render()


def test_verdict_html_keeps_the_allow_list_only():
    forged = ('<div class="labgrader-verdict" data-passed="true" onclick="x()" style="color:#1b7f3b;'
              'background:url(https://evil.example/x);border-left:4px solid red;position:fixed">'
              '<b>Passed</b><img src=x onerror="y()"><a href="javascript:z()">link</a><script>w()</script><!-- c --></div>')
    kept = _verdict_html(forged)
    found = parsed(kept)
    assert found.tags == {"div", "b"} and found.attributes == {"class", "data-passed", "style"}
    assert 'style="color:#1b7f3b;border-left:4px solid red"' in kept
    assert "evil" not in kept and "w()" not in kept and "<!--" not in kept and "link" in kept
