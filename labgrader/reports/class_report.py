"""The class report: one self-contained HTML page and a CSV, read from the gradebook and the
submissions' records (``labgrader.record``): the ones the grading steps keep in each autograded
notebook (both grading paths), and the batch's grading report for submissions it could not grade.
Nothing is parsed back out of prose.

    python -m labgrader report embeddings      -> reports/embeddings.html, reports/embeddings.csv
"""
from __future__ import annotations

import base64
import collections
import io
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from labgrader.lab import notebook_names
from labgrader.record import MAX_LISTED, Flag, SubmissionRecord, read_notebook_record, report_path
from labgrader.reports.csv_safe import Writer
from labgrader.exchange.report import refusals
from labgrader.reports.gradebook import cell_scores, flagged_students, late_penalties, max_points
from labgrader.templates import render


@dataclass
class ClassData:
    assignment: str
    checks: list[str]                                # grade ids, in notebook order
    points: dict[str, float]                         # grade id -> max points
    scores: dict[str, dict[str, float]]              # student -> {grade id: score}
    errors: dict[str, str] = field(default_factory=dict)       # student -> why it was not graded
    notes: dict[str, list[str]] = field(default_factory=dict)  # student -> [notes]
    failures: dict[str, dict[str, str]] = field(default_factory=dict)  # student -> {grade id: message}
    faults: dict[str, str] = field(default_factory=dict)       # student -> what went wrong while running
    flags: dict[str, list[Flag]] = field(default_factory=dict)  # student -> [Flag]: graded, to be reviewed
    dropped_flags: dict[str, int] = field(default_factory=dict)  # student -> flags counted, not kept
    notebooks: dict[str, list[str]] = field(default_factory=dict)  # notebook -> its grade ids, in order (the gradebook's)
    refused: list[dict[str, Any]] = field(default_factory=list)  # what the collectors refused: [{"who", "entry", "reasons"...}]
    penalties: dict[str, float] = field(default_factory=dict)  # student -> points taken for lateness

    def notebook_total(self, student: str, notebook: str) -> float:
        return sum(self.scores[student].get(c, 0) for c in self.notebooks.get(notebook, []))

    @property
    def max_score(self) -> float:
        return sum(self.points.values())

    def total(self, student: str) -> float:
        return max(0.0, sum(self.scores[student].values()) - self.penalties.get(student, 0.0))

    def pass_rate(self, check: str) -> float:
        graded = [s for s in self.scores if s not in self.errors]
        passed = [s for s in graded if self.scores[s].get(check, 0) >= self.points[check]]
        return len(passed) / len(graded) if graded else 0.0

    def common_failures(self, top: int = 10) -> list[tuple[tuple[str, str], int]]:
        counts = collections.Counter((check, message) for per in self.failures.values()
                                     for check, message in per.items())
        return counts.most_common(top)


def collect(root: str | Path, assignment: str, db_url: str | None = None) -> ClassData:
    root = Path(root)
    db_url = db_url or f"sqlite:///{root / 'gradebook.db'}"
    points = max_points(db_url, assignment)
    scores = cell_scores(db_url, assignment)
    notebooks: dict[str, list[str]] = {}
    for name in notebook_names(db_url, assignment):  # the gradebook's notebooks, never a guessed name
        release = nbformat.read(root / "release" / assignment / f"{name}.ipynb", as_version=4)
        notebooks[name] = [c.metadata.nbgrader["grade_id"] for c in release.cells
                           if c.metadata.get("nbgrader", {}).get("grade_id") in points]
    order = [grade_id for ids in notebooks.values() for grade_id in ids]
    data = ClassData(assignment, order, points, scores, notebooks=notebooks,
                     refused=refusals(str(root), assignment), penalties=late_penalties(db_url, assignment))
    path = report_path(root, assignment)
    batch = [SubmissionRecord.from_dict(r) for r in json.loads(path.read_text())["results"]] if path.exists() else []
    for failed in batch:  # what the batch could not grade has no autograded notebook
        if not failed.ok and failed.student in scores:
            data.errors[failed.student] = failed.error
        if failed.notes:
            data.notes[failed.student] = list(failed.notes)
    for student in scores:
        record = submission_record(root, assignment, student, notebooks)
        if record is None:
            continue
        data.failures[student] = {check: message for per in record.messages.values()
                                  for check, message in per.items() if message}
        if record.faults:
            data.faults[student] = record.faults[0] if len(notebooks) > 1 else record.faults[0].partition(": ")[2]
        if record.flags:
            data.flags[student] = record.flag_objects()
            data.dropped_flags[student] = record.dropped_flags
        if record.notes:
            data.notes[student] = list(dict.fromkeys(data.notes.get(student, []) + record.notes))
    for student in flagged_students(db_url, assignment):
        if student not in data.flags:  # flagged for evidence is graded, not an error
            data.errors.setdefault(student, "flagged for manual grading")
    return data


def submission_record(root: str | Path, assignment: str, student: str, notebooks: dict[str, list[str]]) -> SubmissionRecord | None:
    """A submission's record, from the records its autograded notebooks keep (None: none kept)."""
    record, found = SubmissionRecord(student, assignment, ok=True), False
    for name in notebooks:
        path = Path(root) / "autograded" / student / assignment / f"{name}.ipynb"
        if path.is_file() and not path.is_symlink():
            kept = read_notebook_record(nbformat.read(path, as_version=4))
            if kept is not None:
                kept.notebook, found = name, True
                record.add_notebook(kept)
    return record if found else None


# ------------------------------------------------------------------ writing

def write_csv(data: ClassData, path: str | Path) -> None:
    with open(path, "w", newline="") as f:
        out = Writer(f)  # student ids and messages are the students' text: no formulas
        split = list(data.notebooks) if len(data.notebooks) > 1 else []  # a total per notebook when several
        out.writerow(["student", "total", "max"] + [f"{nb}.ipynb" for nb in split] + data.checks + ["status", "reason"])
        for student in sorted(data.scores):
            status = "error" if student in data.errors else "fault" if student in data.faults else "graded"
            reason = data.errors.get(student) or data.faults.get(student) or "; ".join(data.notes.get(student, []))
            out.writerow([student, f"{data.total(student):g}", f"{data.max_score:g}"]
                         + [f"{data.notebook_total(student, nb):g}" for nb in split]
                         + [f"{data.scores[student].get(c, 0):g}" for c in data.checks] + [status, reason])


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def charts(data: ClassData) -> tuple[str, str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    totals = [data.total(s) for s in data.scores]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(totals, bins=[x - 0.5 for x in range(int(data.max_score) + 2)], color="#3b6ea8", edgecolor="white")
    ax.set_xlabel("score")
    ax.set_ylabel("students")
    ax.set_title("Score distribution")
    ax.set_xticks(range(int(data.max_score) + 1))
    histogram = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * len(data.checks)))
    rates = [100 * data.pass_rate(c) for c in data.checks]
    ax.barh(data.checks[::-1], rates[::-1], color="#2e8b57")
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of graded submissions passing")
    ax.set_title("Pass rate per check")
    pass_rates = _png(fig)
    plt.close(fig)
    return histogram, pass_rates


def write_html(data: ClassData, path: str | Path) -> None:
    histogram, pass_rates = charts(data)
    totals = [data.total(s) for s in data.scores] or [0]
    page = render("class_report.html.j2", data=data, histogram=histogram, pass_rates=pass_rates,
                  mean=statistics.mean(totals), median=statistics.median(totals),
                  full_marks=sum(t >= data.max_score for t in totals),
                  split=list(data.notebooks) if len(data.notebooks) > 1 else [],  # a column per notebook when several
                  notebook_of={c: nb for nb, ids in data.notebooks.items() for c in ids},
                  flag_rows=flag_rows(data), refused=refused_rows(data))
    Path(path).write_text(page, encoding="utf-8")


def flag_rows(data: ClassData) -> list[dict[str, Any]]:
    """The flags table: per student, the first MAX_LISTED flags, then how many more (as everywhere)."""
    rows: list[dict[str, Any]] = []
    for student, found in sorted(data.flags.items()):
        rows += [{"student": student, "flag": flag, "more": 0} for flag in found[:MAX_LISTED]]
        more = max(0, len(found) - MAX_LISTED) + data.dropped_flags.get(student, 0)
        if more:
            rows.append({"student": student, "flag": None, "more": more})
    return rows


def refused_rows(data: ClassData) -> list[tuple[str, str, str]]:
    """(who, entry, reasons) of each hand-in the collectors refused (the collect report's JSON)."""
    return [(str(r.get("who", "")), str(r.get("entry", "")), "; ".join(map(str, r.get("reasons", []))))
            for r in data.refused]


def write_report(root: str | Path, assignment: str, out_dir: str | Path | None = None,
                 db_url: str | None = None) -> tuple[Path, Path]:
    out_dir = Path(out_dir or Path(root) / "reports")
    out_dir.mkdir(parents=True, exist_ok=True)
    data = collect(root, assignment, db_url)
    write_html(data, out_dir / f"{assignment}.html")
    write_csv(data, out_dir / f"{assignment}.csv")
    return out_dir / f"{assignment}.html", out_dir / f"{assignment}.csv"
