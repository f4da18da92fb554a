"""The class report, rendered in headless Chromium, shows what the gradebook holds."""
import csv
import shutil
import statistics

import pytest

from conftest import ASSIGNMENT
from labgrader.reports.class_report import write_report
from labgrader.reports.gradebook import cell_scores, max_points

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
    shot = tmp_path_factory.mktemp("shots") / "report.png"
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(report[0].as_uri())
        page.screenshot(path=str(shot), full_page=True)
        facts = {
            "submissions": int(page.inner_text("#submissions")),
            "mean": float(page.inner_text("#mean")),
            "full_marks": int(page.inner_text("#full-marks")),
            "totals": {row.get_attribute("data-student"): float(row.query_selector(".total").inner_text())
                       for row in page.query_selector_all("#students tr[data-student]")},
            "rates": {row.get_attribute("data-check"): row.query_selector(".rate").inner_text()
                      for row in page.query_selector_all("#checks tr[data-check]")},
            "errors": [row.get_attribute("data-student") for row in page.query_selector_all("#errors tr[data-student]")],
            "images": page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)"),
        }
        browser.close()
    return facts, problems, shot


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


def test_the_csv_has_one_row_per_student(report, graded_corpus):
    rows = list(csv.DictReader(open(report[1])))
    assert len(rows) == len(graded_corpus["scores"])
    by_student = {r["student"]: r for r in rows}
    assert by_student["list_and_flatten"]["total"] == "8"
    assert by_student["not_json"]["status"] == "error"
    assert by_student["infinite_loop"]["status"] == "fault"


def test_most_common_failures_are_counted(graded_corpus):
    from labgrader.reports.class_report import collect
    data = collect(graded_corpus["course"], ASSIGNMENT)
    (check, message), count = data.common_failures(1)[0]
    assert count == sum(1 for per in data.failures.values() if per.get(check) == message) and count > 5
