"""The class report, rendered in headless Chromium at 1,280 and 420 px, shows what the gradebook holds:
each student's state (graded, flagged with the findings, timed out, kernel died, not gradable) in the
page and the CSV, one row per flagged student, no horizontal overflow, whole students on the
histogram. Screenshots are kept in grader_tests/artifacts/ (class-report-1280.png, -420.png)."""
import csv
import json
import shutil
import statistics
import sys

import pytest

from conftest import ASSIGNMENT, REPO
from labgrader.reports.class_report import write_report
from labgrader.reports.gradebook import cell_scores, max_points

sys.path.insert(0, str(REPO / "grader_tests" / "jupyterlab"))
from lab import keep  # noqa: E402  (screenshots outlive pytest's tmp)

pytestmark = [pytest.mark.slow, pytest.mark.browser]  # the shared graded class, Chromium

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(graded_corpus, tmp_path_factory):
    # written beside, not into, the shared class (other workers read it)
    page, table = write_report(graded_corpus["course"], ASSIGNMENT, out_dir=tmp_path_factory.mktemp("report"))
    return page, table


@pytest.fixture(scope="module")
def rendered(report, tmp_path_factory):
    assert CHROMIUM, "Debian's chromium is needed (./course installs it)"
    from playwright.sync_api import sync_playwright
    shots = tmp_path_factory.mktemp("shots")
    problems, widths = [], {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        for width in (1280, 420):
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(report[0].as_uri())
            shot = shots / f"class-report-{width}.png"
            page.screenshot(path=str(shot), full_page=True)
            keep(shot, shot.name)
            widths[width] = page.evaluate("""() => ({page: document.documentElement.scrollWidth,
                students: [document.querySelector('#students').parentElement.scrollWidth,
                           document.querySelector('#students').parentElement.clientWidth]})""")
            if width == 1280:
                facts = {
                    "submissions": int(page.inner_text("#submissions")),
                    "mean": float(page.inner_text("#mean")),
                    "full_marks": int(page.inner_text("#full-marks")),
                    "totals": {row.get_attribute("data-student"): float(row.query_selector(".total").inner_text())
                               for row in page.query_selector_all("#students tr[data-student]")},
                    "states": {row.get_attribute("data-student"): row.get_attribute("data-state")
                               for row in page.query_selector_all("#students tr[data-student]")},
                    "rates": {row.get_attribute("data-check"): row.query_selector(".rate").inner_text()
                              for row in page.query_selector_all("#checks tr[data-check]")},
                    "errors": [row.get_attribute("data-student") for row in page.query_selector_all("#errors tr[data-student]")],
                    "flag_rows": [row.get_attribute("data-student") for row in page.query_selector_all("#flags tr[data-student]")],
                    "images": page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)"),
                }
        browser.close()
    facts["widths"] = widths
    return facts, problems, shots / "class-report-1280.png"


def flagged_by_the_grader(graded_corpus):
    """The submissions the grading flagged (their records in the grading report): every one, and no
    other, must be marked flagged in the page and the CSV (test_flags.py checks the flags themselves)."""
    report = json.loads((graded_corpus["course"] / f"grading_report_{ASSIGNMENT}.json").read_text())
    return sorted(r["student"] for r in report["results"] if r["flags"])


# States the corpus's submissions are known to end in (besides flagged: the grading report's flags)
KNOWN_STATES = {"list_and_flatten": "graded", "empty_folder": "not gradable", "not_json": "not gradable",
                "infinite_loop": "timed out", "kernel_os_exit": "kernel died"}


def test_the_page_renders_without_console_errors(rendered):
    facts, problems, shot = rendered
    assert problems == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    assert facts["images"] == [True, True]  # histogram and pass rates, embedded


def test_the_figures_match_the_gradebook(rendered, graded_corpus):
    facts, _, _ = rendered
    db_url = f"sqlite:///{graded_corpus['course']}/gradebook.db"
    scores, points = cell_scores(db_url, ASSIGNMENT), max_points(db_url, ASSIGNMENT)
    totals = {s: sum(per.values()) for s, per in scores.items()}
    assert facts["submissions"] == len(totals)
    assert facts["totals"] == totals
    assert facts["mean"] == pytest.approx(statistics.mean(totals.values()), abs=0.005)
    assert facts["full_marks"] == sum(t == sum(points.values()) for t in totals.values())
    errored = {s for s in scores if s in ("empty_folder", "not_json")}
    for check, shown in facts["rates"].items():
        graded = [s for s in scores if s not in errored]
        rate = 100 * sum(scores[s][check] >= points[check] for s in graded) / len(graded)
        assert shown == f"{rate:.0f}%"


def test_errors_and_timeouts_are_listed_with_their_reason(rendered):
    facts, _, _ = rendered
    assert {"empty_folder", "not_json", "infinite_loop", "ignores_interrupt", "kernel_os_exit"} <= set(facts["errors"])


def test_the_csv_has_one_row_per_student_with_its_state(report, graded_corpus):
    rows = list(csv.DictReader(open(report[1])))
    assert len(rows) == len(graded_corpus["scores"])
    by_student = {r["student"]: r for r in rows}
    assert by_student["list_and_flatten"]["total"] == "8"
    assert by_student["list_and_flatten"]["state"] == "graded" and by_student["list_and_flatten"]["findings"] == ""
    assert by_student["not_json"]["state"] == "not gradable" and "not a valid notebook" in by_student["not_json"]["reason"]
    assert by_student["infinite_loop"]["state"] == "timed out" and "timed out" in by_student["infinite_loop"]["reason"]
    assert by_student["kernel_os_exit"]["state"] == "kernel died"
    cheat = by_student["tamper_stdlib_encoder_hook"]
    assert cheat["state"].startswith("flagged") and "json.dumps was rebound" in cheat["findings"]
    flagged = sorted(s for s, row in by_student.items() if "flagged" in row["state"].split(", "))
    assert flagged == flagged_by_the_grader(graded_corpus)  # every flagged submission, and no other, marked in the CSV
    assert len(flagged) >= 20


def test_each_students_state_is_in_the_page(rendered, graded_corpus):
    facts, _, _ = rendered
    for student, state in KNOWN_STATES.items():
        assert state in facts["states"][student].split(", "), (student, facts["states"][student])
    flagged = flagged_by_the_grader(graded_corpus)
    assert sorted(s for s, shown in facts["states"].items() if "flagged" in shown.split(", ")) == flagged


def test_the_flagged_table_has_one_row_per_student(rendered, graded_corpus):
    assert rendered[0]["flag_rows"] == flagged_by_the_grader(graded_corpus)


def test_no_horizontal_overflow_at_1280_px_nor_at_420(rendered):
    widths = rendered[0]["widths"]
    assert widths[1280]["page"] <= 1280 and widths[420]["page"] <= 420
    scrolled, shown = widths[1280]["students"]
    assert scrolled <= shown  # the whole Students table, its state and details, fits at 1,280 px
