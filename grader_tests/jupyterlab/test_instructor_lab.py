"""The instructor's way: `jupyter lab` from the course root, nbgrader's formgrader (Nbgrader ->
Formgrader): Generate, Autograde of each submission, Generate feedback, with real clicks in
Chromium. Grading goes through the course's nbgrader_config.py (the sandbox) and gives the
scores the command line gives.

Then the instructor opens a hostile submission (hostile/formgrader_xss, plus a markdown cell, a raw
cell and widget state of the student's own) the way they would: its formgrader page, "Open live
notebook" (JupyterLab), its feedback page, a file handed in beside it, a student id that breaks out
of nbgrader's page script. Every payload tries, as the instructor, to mark ``window.top.__pwned``,
read the solutions through ``/api/contents`` and ask JupyterLab (through nbgrader's lab extension)
to open a terminal: none may, and the student's text must be there, as text. One server, one
browser for the module; the checks can fail (the last test removes the defences and sees each
payload run)."""
import json
import re
import shutil
from types import SimpleNamespace
from urllib.parse import quote

import nbformat
import pytest
from nbgrader.api import Gradebook

import hostile_content
import snippets
from conftest import ASSIGNMENT, CORPUS, class_course
from labgrader.reports.gradebook import cell_scores
from lab import browser_page, keep, lab_server, open_lab

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# a right and a wrong answer, one the sandbox alone stops (it reads the instructor's solutions),
# and one whose outputs attack whoever opens it
STUDENTS = ["correct/add_method", "wrong/model3_is_model2", "hostile/reads_source_solutions", "hostile/formgrader_xss"]
HOSTILE = "formgrader_xss"
# a student id (a folder name) that leaves its string in nbgrader's page script: var student_id = "...";
BREAKOUT_ID = 'x";window.top.__pwned = 1;"'
HANDED_IN_FILE = "notes.html"  # handed in beside the notebook; the formgrader serves it at submissions/<id>/
SPY = """if (window === window.top) {
    window.__messages = [];
    window.addEventListener('message', e => window.__messages.push(String(e.data)));
}"""


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    handed_in = [snippets.load(CORPUS / f"{name}.py") for name in STUDENTS]
    course = class_course(tmp_path_factory.mktemp("lab") / "course", handed_in)
    folder = course / "submitted" / HOSTILE / ASSIGNMENT
    hostile_content.add_text_cells_and_widgets(folder / snippets.NOTEBOOK)
    (folder / HANDED_IN_FILE).write_text(f"<html><body>{hostile_content.SCRIPT}{hostile_content.IMG}"
                                         "FG-HANDED-IN-FILE</body></html>")
    release = course / "release" / ASSIGNMENT / "embeddings.ipynb"
    snippets.write_submission(snippets.load(CORPUS / "wrong" / "untouched.py"), release,
                              course / "submitted" / BREAKOUT_ID / ASSIGNMENT)
    release.unlink()  # so that Generate has to make it again
    return course, handed_in


@pytest.fixture(scope="module")
def lab(course, tmp_path_factory):
    """One `jupyter lab` from the course root and one Chromium page, watched: every request (by
    frame), every message posted to JupyterLab's window, every dialog."""
    course, _ = course
    logs = tmp_path_factory.mktemp("server")
    with lab_server(course, logs / "server.log") as (url, token), browser_page() as page:
        seen = SimpleNamespace(requests=[], dialogs=[])
        page.on("request", lambda r: seen.requests.append((r.method, r.url)))
        page.on("dialog", lambda d: (seen.dialogs.append(d.message), d.dismiss()))
        page.add_init_script(SPY)
        open_lab(page, url, token)
        yield SimpleNamespace(url=url, token=token, page=page, log=logs / "server.log", seen=seen)


def formgrader_frame(page):
    """The formgrader's frame in JupyterLab: opened from the menu, unless JupyterLab restored it."""
    if not page.query_selector("#formgrader-iframe iframe"):
        page.click(".lm-MenuBar-itemLabel:text-is('Nbgrader')")
        page.click(".lm-Menu-content >> text=Formgrader")
    return page.wait_for_selector("#formgrader-iframe iframe", state="attached").content_frame()


def formgrader(page):
    frame = formgrader_frame(page)
    frame.wait_for_selector("tr:has-text('embeddings') td.assign a")
    return frame


def wait_modal_closed(frame):
    """nbgrader shows a modal with the command's result (title Success or Error) and an OK button."""
    frame.wait_for_selector(".modal-dialog .modal-footer button:has-text('OK')", timeout=300_000)
    title = frame.inner_text(".modal-dialog .modal-title")
    frame.click(".modal-dialog .modal-footer button:has-text('OK')")
    frame.wait_for_selector(".modal-dialog", state="detached")
    return title


@pytest.fixture(scope="module")
def graded(lab, course, tmp_path_factory):
    """Generate, Autograde each submission, Generate Feedback: clicked in the formgrader."""
    course, handed_in = course
    page, shot = lab.page, tmp_path_factory.mktemp("shots") / "formgrader.png"
    frame = formgrader(page)
    frame.click("tr:has-text('embeddings') td.assign a")  # Generate
    generated = wait_modal_closed(frame).strip()
    frame.click("tr:has-text('embeddings') td.num-submissions a")
    frame.wait_for_selector("#main-table tr:has-text('needs autograding')")
    results = {}
    for snippet in handed_in:
        row = f"#main-table tr:has(td:text-is('{snippet.name}'))"
        frame.click(f"{row} td:nth-child(6) a")  # Autograde
        results[snippet.name] = [wait_modal_closed(frame).strip()]
        frame.wait_for_selector(f"{row} td:nth-child(5):has-text('/')", timeout=300_000)
    shown = {s.name: frame.inner_text(f"#main-table tr:has(td:text-is('{s.name}')) td:nth-child(5)") for s in handed_in}
    for snippet in handed_in:
        row = f"#main-table tr:has(td:text-is('{snippet.name}'))"
        frame.click(f"{row} td:nth-child(7) a")  # Generate Feedback
        results[snippet.name].append(wait_modal_closed(frame).strip())
    page.screenshot(path=str(shot))
    keep(shot, "formgrader.png")
    return SimpleNamespace(frame=frame, generated=generated, results=results, shown=shown, shot=shot,
                           scores=cell_scores(f"sqlite:///{course}/gradebook.db", ASSIGNMENT))


def test_generate_autograde_and_feedback_from_the_formgrader(course, graded):
    course, handed_in = course
    assert graded.generated == "Success"
    assert (course / "release" / ASSIGNMENT / "embeddings.ipynb").exists()
    for snippet in handed_in:  # the scores the command line gives these (grading/test_corpus.py)
        assert graded.results[snippet.name] == ["Success", "Success"], snippet.name
        assert graded.scores[snippet.name] == snippet.expected, snippet.name
        assert graded.shown[snippet.name].split("/")[0].strip() == f"{sum(snippet.expected.values()):g}"
        assert (course / "feedback" / snippet.name / ASSIGNMENT / "embeddings.html").exists(), snippet.name
    assert graded.shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ the hostile submission, opened


def submission_id(course, student):
    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        return gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student).id


def show(lab, frame, path):
    """Load ``path`` in the formgrader's frame (where the instructor sees it), let handlers fire.
    JupyterLab's page sets the frame's address, as a click there would (a navigation started from
    a sandboxed page has no origin, which jupyter_server refuses)."""
    target = f"{lab.url}/{path}"
    with frame.expect_navigation(url=lambda url: url.startswith(target), wait_until="load") as navigation:
        frame.frame_element().evaluate("(element, url) => { element.src = url; }", target)
    lab.page.wait_for_timeout(1000)  # onerror/onload handlers of failed images, fetches
    return navigation.value


def attacks(lab, since=0):
    """What a payload did, as the instructor: the marker, requests for the solutions or a terminal,
    commands posted to JupyterLab, dialogs."""
    done = []
    if lab.page.evaluate("() => window.__pwned") is not None:
        done.append("window.top.__pwned set")
    done += [f"posted {m}" for m in lab.page.evaluate("() => window.__messages") if "terminal:create-new" in m]
    done += [f"{method} {url}" for method, url in lab.seen.requests[since:]
             if "/api/contents/source" in url or (method == "POST" and "/api/terminals" in url)]
    done += [f"dialog {d}" for d in lab.seen.dialogs]
    for frame in lab.page.frames:
        try:
            if "PWNED" in frame.title() or "LEAKED" in frame.inner_text("body"):
                done.append(f"wrote into {frame.url}")
        except Exception:  # a frame that went away meanwhile
            pass
    return done


def violations(lab):
    return [line for line in lab.log.read_text().splitlines() if "Content security violation" in line]


def test_the_formgrader_shows_a_hostile_submission_as_text(lab, course, graded):
    course, _ = course
    since = len(lab.seen.requests)
    response = show(lab, graded.frame, f"formgrader/submissions/{submission_id(course, HOSTILE)}/")
    assert attacks(lab, since) == []
    text = graded.frame.inner_text("#notebook-container")
    for marker in hostile_content.MARKERS:
        assert marker in text, marker
    assert "window.top.__pwned = 1" in text  # the payloads themselves, as text
    policy = response.headers["content-security-policy"]
    assert "script-src" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    # nbgrader's page still works under the policy: its scripts filled in the autograded scores
    assert graded.frame.get_attribute("input#q1_param_count", "placeholder") == "2"
    assert graded.frame.evaluate("() => typeof toggle_name") == "function"
    assert violations(lab) == []  # nothing of nbgrader's was refused, here or in the whole flow above


def test_the_live_notebook_opened_from_the_formgrader_runs_nothing(lab, course, graded):
    course, _ = course
    show(lab, graded.frame, f"formgrader/submissions/{submission_id(course, HOSTILE)}/")
    since = len(lab.seen.requests)
    graded.frame.click(".live-notebook a.name-hidden")  # "Open live notebook": JupyterLab opens it
    panel = lab.page.wait_for_selector(f".jp-NotebookPanel:has-text('FG-REPR-HTML')")
    lab.page.wait_for_timeout(1000)
    assert attacks(lab, since) == []
    text = panel.text_content()  # JupyterLab lays out only the cells in view
    for marker in hostile_content.MARKERS:
        assert marker in text, marker


def test_the_feedback_page_runs_nothing_in_jupyterlab(lab):
    since = len(lab.seen.requests)
    open_lab(lab.page, lab.url, lab.token, f"feedback/{HOSTILE}/{ASSIGNMENT}/{ASSIGNMENT}.html")
    viewer = lab.page.wait_for_selector(".jp-HTMLViewer iframe")
    frame = viewer.content_frame()
    frame.wait_for_selector("text=FG-REPR-HTML")
    lab.page.wait_for_timeout(1000)
    assert attacks(lab, since) == []
    for marker in hostile_content.MARKERS:
        assert marker in frame.inner_text("body"), marker


def test_files_and_ids_a_student_chose_run_nothing(lab, course, graded):
    course, _ = course
    assert (course / "autograded" / HOSTILE / ASSIGNMENT / HANDED_IN_FILE).exists()
    frame, since = formgrader_frame(lab.page), len(lab.seen.requests)
    show(lab, frame, f"formgrader/submissions/{submission_id(course, HOSTILE)}/{HANDED_IN_FILE}")
    assert "FG-HANDED-IN-FILE" in frame.inner_text("body")
    show(lab, frame, f"files/autograded/{HOSTILE}/{ASSIGNMENT}/{HANDED_IN_FILE}")
    assert "FG-HANDED-IN-FILE" in frame.inner_text("body")
    show(lab, frame, f"formgrader/manage_students/{quote(BREAKOUT_ID)}")
    assert BREAKOUT_ID in frame.inner_text(".breadcrumb")
    assert attacks(lab, since) == []


# ------------------------------------------------------------------ defence in depth, and the checks can fail


def raw_autograded(course):
    """The hostile autograded notebook with its outputs as the kernel sent them (graded without
    SanitizeAutograded): the original is kept aside and put back by the caller."""
    path = course / "autograded" / HOSTILE / ASSIGNMENT / snippets.NOTEBOOK
    shutil.copy(path, path.with_suffix(".sanitized"))
    nb = nbformat.read(path, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "class Report" in c.source)
    hostile_content.with_raw_outputs(path, index)
    return path


def without_policy(lab, pattern, replacement=None):
    """Serve responses matching ``pattern`` without labgrader's policy (jupyter_server's own, or none)."""
    def handle(route):
        response = route.fetch()
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-security-policy"}
        if replacement:
            headers["content-security-policy"] = replacement
        route.fulfill(response=response, headers=headers)
    lab.page.route(pattern, handle)


def reset(lab):
    lab.page.evaluate("() => { delete window.__pwned; window.__messages = []; }")
    lab.seen.dialogs.clear()


def test_the_policy_stops_what_the_sanitizer_would_miss_and_the_checks_can_fail(lab, course, graded):
    course, _ = course
    page, sid = lab.page, submission_id(course, HOSTILE)
    open_lab(page, lab.url, lab.token)
    frame = formgrader_frame(page)
    path = raw_autograded(course)
    try:
        # the formgrader on an autograded notebook that kept the student's HTML: the policy refuses it
        before, since = len(violations(lab)), len(lab.seen.requests)
        show(lab, frame, f"formgrader/submissions/{sid}/")
        assert attacks(lab, since) == [] and "FG-HTML" in frame.inner_text("#notebook-container")
        reported = " ".join(violations(lab)[before:])  # refused, and reported to the server's log
        assert "script-src-elem" in reported and "script-src-attr" in reported

        # without the policy, the same page runs the payloads as the instructor
        without_policy(lab, f"**/formgrader/submissions/{sid}/")
        since = len(lab.seen.requests)
        show(lab, frame, f"formgrader/submissions/{sid}/")
        done = attacks(lab, since)
        assert "window.top.__pwned set" in done and any(a.startswith("posted") for a in done), done
        assert any("/api/contents/source" in a for a in done), done
        page.unroute(f"**/formgrader/submissions/{sid}/")
        reset(lab)

        # a student id that leaves its string: refused by the policy, run without it
        since = len(lab.seen.requests)
        show(lab, frame, f"formgrader/manage_students/{quote(BREAKOUT_ID)}")
        assert attacks(lab, since) == []
        without_policy(lab, "**/formgrader/manage_students/**")
        show(lab, frame, f"formgrader/manage_students/{quote(BREAKOUT_ID)}")
        assert attacks(lab, since) == ["window.top.__pwned set"]
        reset(lab)

        # a file handed in, under jupyter_server's own policy for /files/ (sandbox allow-scripts):
        # it cannot touch the page, but it can post a command to nbgrader's lab extension
        since = len(lab.seen.requests)
        without_policy(lab, f"**/files/autograded/{HOSTILE}/**", "frame-ancestors 'self'; sandbox allow-scripts")
        show(lab, frame, f"files/autograded/{HOSTILE}/{ASSIGNMENT}/{HANDED_IN_FILE}")
        assert any(a.startswith("posted") for a in attacks(lab, since))

        # JupyterLab on the raw notebook: not trusted (unsigned), so its HTML is sanitized and no script runs
        page.unroute_all()
        open_lab(page, lab.url, lab.token, f"autograded/{HOSTILE}/{ASSIGNMENT}/{snippets.NOTEBOOK}")
        reset(lab)
        since = len(lab.seen.requests)
        page.wait_for_selector(".jp-NotebookPanel:has-text('FG-REPR-HTML')")
        page.wait_for_timeout(1000)
        assert attacks(lab, since) == []
    finally:
        shutil.move(path.with_suffix(".sanitized"), path)
