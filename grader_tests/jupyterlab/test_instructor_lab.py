"""The instructor's way: `jupyter lab` from the course root, nbgrader's formgrader (Nbgrader ->
Formgrader): Generate, Autograde of each submission, Generate feedback, with real clicks in
Chromium. Grading goes through the course's nbgrader_config.py (the sandbox) and gives the
scores the command line gives."""
import pytest

from conftest import ASSIGNMENT, CORPUS, class_course
from labgrader.reports.gradebook import cell_scores
from lab import browser_page, keep, lab_server, open_lab
import snippets

pytestmark = pytest.mark.slow

# a right and a wrong answer, and one the sandbox alone stops (it reads the instructor's solutions)
STUDENTS = ["correct/add_method", "wrong/model3_is_model2", "hostile/reads_source_solutions"]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    handed_in = [snippets.load(CORPUS / f"{name}.py") for name in STUDENTS]
    course = class_course(tmp_path_factory.mktemp("lab") / "course", handed_in)
    release = course / "release" / ASSIGNMENT / "embeddings.ipynb"
    release.unlink()  # so that Generate has to make it again
    return course, handed_in


def formgrader(page):
    page.click(".lm-MenuBar-itemLabel:text-is('Nbgrader')")
    page.click(".lm-Menu-content >> text=Formgrader")
    for _ in range(240):
        frame = next((f for f in page.frames if "/formgrader" in f.url), None)
        if frame:
            break
        page.wait_for_timeout(250)
    frame.wait_for_selector("tr:has-text('embeddings') td.assign a")
    return frame


def wait_modal_closed(frame):
    """nbgrader shows a modal with the command's result (title Success or Error) and an OK button."""
    frame.wait_for_selector(".modal-dialog .modal-footer button:has-text('OK')", timeout=300_000)
    title = frame.inner_text(".modal-dialog .modal-title")
    frame.click(".modal-dialog .modal-footer button:has-text('OK')")
    frame.wait_for_selector(".modal-dialog", state="detached")
    return title


def test_generate_autograde_and_feedback_from_the_formgrader(course, tmp_path):
    course, handed_in = course
    shot = tmp_path / "formgrader.png"
    with lab_server(course, tmp_path / "server.log") as (url, token), browser_page() as page:
        open_lab(page, url, token)
        frame = formgrader(page)
        frame.click("tr:has-text('embeddings') td.assign a")  # Generate
        assert wait_modal_closed(frame).strip() == "Success"
        assert (course / "release" / ASSIGNMENT / "embeddings.ipynb").exists()

        frame.click("tr:has-text('embeddings') td.num-submissions a")
        frame.wait_for_selector("#main-table tr:has-text('needs autograding')")
        for snippet in handed_in:
            row = f"#main-table tr:has(td:text-is('{snippet.name}'))"
            frame.click(f"{row} td:nth-child(6) a")  # Autograde
            assert wait_modal_closed(frame).strip() == "Success", snippet.name
            frame.wait_for_selector(f"{row} td:nth-child(5):has-text('/')", timeout=300_000)
        scores_shown = {s.name: frame.inner_text(f"#main-table tr:has(td:text-is('{s.name}')) td:nth-child(5)")
                        for s in handed_in}
        for snippet in handed_in:
            row = f"#main-table tr:has(td:text-is('{snippet.name}'))"
            frame.click(f"{row} td:nth-child(7) a")  # Generate Feedback
            assert wait_modal_closed(frame).strip() == "Success", snippet.name
        page.screenshot(path=str(shot))
        keep(shot, "formgrader.png")

    scores = cell_scores(f"sqlite:///{course}/gradebook.db", ASSIGNMENT)
    for snippet in handed_in:  # the scores the command line gives these (grading/test_corpus.py)
        assert scores[snippet.name] == snippet.expected, snippet.name
        assert scores_shown[snippet.name].split("/")[0].strip() == f"{sum(snippet.expected.values()):g}"
        feedback = course / "feedback" / snippet.name / ASSIGNMENT / "embeddings.html"
        assert feedback.exists(), f"no feedback for {snippet.name}"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
