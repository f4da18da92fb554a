"""Feedback shows every check's verdict and message and no hidden test code, names each check in its
table of contents, renders its math with the network off (Chromium), and says which part of a stock
nbgrader cell failed; grades export."""
import csv
import re
import shutil

import nbformat
import pytest

import stock_lab
from conftest import ASSIGNMENT, REPO, copy_course, nbgrader
from labgrader.reports.lms import write_canvas_csv

pytestmark = pytest.mark.slow  # nbgrader generate_feedback and export
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def feedback(graded_corpus, tmp_path_factory):
    course = tmp_path_factory.mktemp("feedback") / "course"
    shutil.copytree(graded_corpus["course"], course)
    nbgrader(course, "generate_feedback", ASSIGNMENT)
    pages = {p.parts[-3]: p.read_text() for p in course.glob(f"feedback/*/{ASSIGNMENT}/*.html")}
    return course, pages


def hidden_test_lines():
    source = nbformat.read(REPO / "source" / ASSIGNMENT / "embeddings.ipynb", as_version=4)
    lines, inside = [], False
    for cell in source.cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and line.strip():
                lines.append(line.strip())
    return lines


def test_feedback_is_written_for_every_graded_submission(feedback, graded_corpus):
    _, pages = feedback
    graded = {s for s in graded_corpus["scores"] if s not in ("empty_folder", "not_json")}
    assert graded <= set(pages)


def test_no_feedback_page_contains_a_hidden_test_line(feedback):
    import html
    course, pages = feedback
    secret = hidden_test_lines()
    assert len(secret) >= 10
    for student, page in pages.items():
        # a line the student wrote themselves (import observers...) is theirs to see
        submitted = "".join(course.glob(f"submitted/{student}/{ASSIGNMENT}/*.ipynb").__next__().read_text().split())
        text = html.unescape(re.sub(r"<[^>]+>", "", page))
        leaks = [line for line in secret if line in text and "".join(line.split()) not in submitted]
        assert leaks == [], (student, leaks[:3])


def test_feedback_shows_each_check_with_points_and_message(feedback):
    _, pages = feedback
    page = pages["copied_weights"]
    assert page.count('class="labgrader-verdict"') == 5
    assert "model3 has its own copy of the embedding weights" in page
    assert "(0 / 2 points)" in page and "(1 / 1 points)" in page


def test_nbgrader_export_and_the_canvas_csv(graded_corpus, tmp_path):
    course = graded_corpus["course"]
    nbgrader(course, "export", "--to", str(tmp_path / "grades.csv"))
    rows = list(csv.DictReader(open(tmp_path / "grades.csv")))
    assert {r["student_id"] for r in rows} == set(graded_corpus["scores"])
    canvas = write_canvas_csv(f"sqlite:///{course}/gradebook.db", ASSIGNMENT, tmp_path / "canvas.csv")
    lines = list(csv.reader(open(canvas)))
    assert lines[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ASSIGNMENT]
    assert lines[1][0] == "Points Possible" and lines[1][-1] == "8"
    assert ["list_and_flatten", "", "", "list_and_flatten", "", "8"] in lines


def test_the_table_of_contents_names_each_check(feedback):
    _, pages = feedback
    toc = re.search(r'<div id="toc">(.*?)</div>', pages["copied_weights"], re.S).group(1)
    assert "Test cell" not in toc
    for check in ("q1_param_count", "q2_structure", "q2_shares_layer", "q2_same_predictions",
                  "q2_follows_shared_weights"):
        assert f'<a href="#{check}">Check <code>{check}</code></a>' in toc


@pytest.mark.browser
def test_feedback_math_renders_in_chromium_with_the_network_off(feedback, tmp_path):
    """The lab's $\\mathbf{v}$ is MathML in the page (no MathJax, no CDN): Chromium lays it out as
    math, offline, with scripts disabled as JupyterLab's HTML viewer does."""
    course, pages = feedback
    page_html = pages["copied_weights"]
    assert "<script" not in page_html and "cdnjs" not in page_html and "$\\mathbf" not in page_html  # no MathJax
    assert CHROMIUM, "Debian's chromium is needed (./course test installs it)"
    from playwright.sync_api import sync_playwright
    requests = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(offline=True, java_script_enabled=False, viewport={"width": 1280, "height": 900})
        context.on("request", lambda r: requests.append(r.url))
        page = context.new_page()
        page.goto((course / "feedback" / "copied_weights" / ASSIGNMENT / f"{ASSIGNMENT}.html").as_uri())
        bold_v = page.locator("math", has_text="\U0001d42f").first  # MATHEMATICAL BOLD SMALL V
        box = bold_v.bounding_box()
        shown = page.inner_text("body")
        page.screenshot(path=str(tmp_path / "feedback.png"), full_page=True)
        browser.close()
    assert box is not None and box["width"] > 3 and box["height"] > 5  # laid out, not hidden
    assert "\\mathbf" not in shown and "$i$" not in shown
    assert [url for url in requests if not url.startswith("file:") and not url.startswith("data:")] == []


@pytest.fixture(scope="module")
def stock_feedback(tmp_path_factory):
    """A lab without grading.py (stock hidden asserts, no message) graded by plain nbgrader."""
    course = copy_course(tmp_path_factory.mktemp("stock") / "course")
    stock_lab.add_stock_lab(course)
    # visible tests pass (the notebook's own arrays), the hidden assert fails; standardize is left undone
    stock_lab.hand_in(course, "hard_coded", {"q1_answer": "def column_means(a):\n    return np.array([67.5, 80.0, 85.0])"})
    nbgrader(course, "autograde", stock_lab.ASSIGNMENT)
    nbgrader(course, "generate_feedback", stock_lab.ASSIGNMENT)
    return (course / "feedback" / "hard_coded" / stock_lab.ASSIGNMENT / stock_lab.NOTEBOOK.replace(".ipynb", ".html")).read_text()


def verdicts(page):
    return [re.sub(r"<[^>]+>", "", v) for v in re.findall(r'<div class="labgrader-verdict".*?</div>', page, re.S)]


def test_a_failing_stock_hidden_test_says_so_without_its_code(stock_feedback):
    first, second = verdicts(stock_feedback)
    assert first.endswith("(0 / 2 points): a hidden test of this cell failed (AssertionError).")
    assert second.endswith("(0 / 2 points): this cell's code raised NotImplementedError: run the notebook to see where.")
    for hidden in stock_lab.HIDDEN.values():
        assert hidden not in stock_feedback and "np.ones((2, 3))" not in stock_feedback
