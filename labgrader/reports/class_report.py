"""The class report: one self-contained HTML page and a CSV, read from the gradebook and the
submissions' records (``labgrader.record``): the ones the grading steps keep in each autograded
notebook (both grading paths), and the batch's grading report for submissions it could not grade.
Nothing is parsed back out of prose. Each student's state is said in the page and the CSV alike:
graded, flagged (with the findings), timed out, kernel died, not gradable.

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
from labgrader.record import KERNEL_DIED, MAX_LISTED, TIMED_OUT, Flag, SubmissionRecord, read_notebook_record, report_path
from labgrader.reports.csv_safe import Writer
from labgrader.exchange.report import refusals
from labgrader.reports.gradebook import cell_scores, flagged_students, late_penalties, max_points
from labgrader.templates import render


GRADED, FLAGGED, NOT_GRADABLE = "graded", "flagged", "not gradable"


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
    fault_kinds: dict[str, list[str]] = field(default_factory=dict)  # student -> [TIMED_OUT, KERNEL_DIED]
    stderr: dict[str, str] = field(default_factory=dict)       # student -> what their kernel wrote to stderr

    def states(self, student: str) -> list[str]:
        """What became of a submission: "not gradable"; else "flagged", "timed out", "kernel died"
        (as many as apply); else "graded"."""
        if student in self.errors:
            return [NOT_GRADABLE]
        found = ([FLAGGED] if student in self.flags else []) + \
            [kind for kind in (TIMED_OUT, KERNEL_DIED) if kind in self.fault_kinds.get(student, [])]
        return found or [GRADED]

    def findings(self, student: str) -> list[str]:
        """A flagged student's findings, as everywhere: the first MAX_LISTED, then how many more."""
        found = [str(flag) for flag in self.flags.get(student, [])]
        more = max(0, len(found) - MAX_LISTED) + self.dropped_flags.get(student, 0)
        return found[:MAX_LISTED] + ([f"... and {more} more"] if more else [])

    def reason(self, student: str) -> str:
        """Why a submission was not graded, or what went wrong while it ran, or its repairs."""
        return self.errors.get(student) or self.faults.get(student) or "; ".join(self.notes.get(student, []))

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
            data.fault_kinds[student] = list(record.fault_kinds)
        if record.stderr:
            data.stderr[student] = "\n".join(text.rstrip("\n") for text in record.stderr.values())
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
        out.writerow(["student", "total", "max"] + [f"{nb}.ipynb" for nb in split] + data.checks
                     + ["state", "findings", "reason"])
        for student in sorted(data.scores):
            out.writerow([student, f"{data.total(student):g}", f"{data.max_score:g}"]
                         + [f"{data.notebook_total(student, nb):g}" for nb in split]
                         + [f"{data.scores[student].get(c, 0):g}" for c in data.checks]
                         + [", ".join(data.states(student)), "; ".join(data.findings(student)), data.reason(student)])


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def histogram(data: ClassData) -> Any:
    """The score distribution: a bar per whole score, whole students on the y axis."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist([data.total(s) for s in data.scores], bins=[x - 0.5 for x in range(int(data.max_score) + 2)],
            color="#3b6ea8", edgecolor="white")
    ax.set_xlabel("score")
    ax.set_ylabel("students")
    ax.set_title("Score distribution")
    ax.set_xticks(range(int(data.max_score) + 1))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # students come whole (no 0.5 in a small class)
    return fig


def pass_rate_chart(data: ClassData) -> Any:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * len(data.checks)))
    rates = [100 * data.pass_rate(c) for c in data.checks]
    ax.barh(data.checks[::-1], rates[::-1], color="#2e8b57")
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of graded submissions passing")
    ax.set_title("Pass rate per check")
    return fig


def charts(data: ClassData) -> tuple[str, str]:
    import matplotlib.pyplot as plt
    images = []
    for make in (histogram, pass_rate_chart):
        fig = make(data)
        images.append(_png(fig))
        plt.close(fig)
    return images[0], images[1]


def write_html(data: ClassData, path: str | Path) -> None:
    Path(path).write_text(html_page(data, *charts(data)), encoding="utf-8")


def html_page(data: ClassData, histogram: str, pass_rates: str) -> str:
    """The report's page, with the two charts given as data: URLs."""
    totals = [data.total(s) for s in data.scores] or [0]
    return render("class_report.html.j2", data=data, histogram=histogram, pass_rates=pass_rates,
                  mean=statistics.mean(totals), median=statistics.median(totals),
                  full_marks=sum(t >= data.max_score for t in totals),
                  counts=collections.Counter(state for student in data.scores for state in data.states(student)),
                  split=list(data.notebooks) if len(data.notebooks) > 1 else [],  # a column per notebook when several
                  notebook_of={c: nb for nb, ids in data.notebooks.items() for c in ids},
                  flag_rows=flag_rows(data), refused=refused_rows(data))


def flag_rows(data: ClassData) -> list[dict[str, Any]]:
    """The flags table: one row per flagged student, the findings grouped by what was seen (with
    every cell it was seen in, and the line that may have done it); the first MAX_LISTED flags, then
    how many more, as everywhere."""
    rows = []
    for student, found in sorted(data.flags.items()):
        groups: dict[tuple[str, str], list[str]] = {}
        for flag in found[:MAX_LISTED]:
            groups.setdefault((flag.seen, flag.line), []).append(flag.where)
        rows.append({"student": student, "count": len(found) + data.dropped_flags.get(student, 0),
                     "groups": [{"seen": seen, "line": line, "where": where} for (seen, line), where in groups.items()],
                     "more": max(0, len(found) - MAX_LISTED) + data.dropped_flags.get(student, 0)})
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
