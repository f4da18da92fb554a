"""The class report: one self-contained HTML page and a CSV, read from the gradebook and the
submissions' records (``labgrader.record``): the ones the grading steps keep in each autograded
notebook (both grading paths), and the batch's grading report for submissions it could not grade.
Nothing is parsed back out of prose.

    python -m labgrader report embeddings      -> reports/embeddings.html, reports/embeddings.csv
"""
import base64
import collections
import html
import io
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from labgrader.lab import notebook_names
from labgrader.record import Flag, SubmissionRecord, read_notebook_record, report_path
from labgrader.reports.csv_safe import Writer
from labgrader.exchange.report import refusals
from labgrader.reports.gradebook import cell_scores, flagged_students, late_penalties, max_points


@dataclass
class ClassData:
    assignment: str
    checks: list                                     # grade ids, in notebook order
    points: dict                                     # grade id -> max points
    scores: dict                                     # student -> {grade id: score}
    errors: dict = field(default_factory=dict)       # student -> why it was not graded
    notes: dict = field(default_factory=dict)        # student -> [notes]
    failures: dict = field(default_factory=dict)     # student -> {grade id: message}
    faults: dict = field(default_factory=dict)       # student -> what went wrong while running
    flags: dict = field(default_factory=dict)        # student -> [Flag]: graded, to be reviewed
    dropped_flags: dict = field(default_factory=dict)  # student -> flags counted, not kept
    notebooks: dict = field(default_factory=dict)    # notebook -> its grade ids, in order (the gradebook's notebooks)
    refused: list = field(default_factory=list)      # what the collectors refused: [{"who", "entry", "reasons"...}]
    penalties: dict = field(default_factory=dict)    # student -> points taken for lateness

    def notebook_total(self, student, notebook):
        return sum(self.scores[student].get(c, 0) for c in self.notebooks.get(notebook, []))

    @property
    def max_score(self):
        return sum(self.points.values())

    def total(self, student):
        return max(0.0, sum(self.scores[student].values()) - self.penalties.get(student, 0.0))

    def pass_rate(self, check):
        graded = [s for s in self.scores if s not in self.errors]
        passed = [s for s in graded if self.scores[s].get(check, 0) >= self.points[check]]
        return len(passed) / len(graded) if graded else 0.0

    def common_failures(self, top=10):
        counts = collections.Counter((check, message) for per in self.failures.values()
                                     for check, message in per.items())
        return counts.most_common(top)


def collect(root, assignment, db_url=None):
    root = Path(root)
    db_url = db_url or f"sqlite:///{root / 'gradebook.db'}"
    points = max_points(db_url, assignment)
    scores = cell_scores(db_url, assignment)
    notebooks = {}
    for name in notebook_names(db_url, assignment):  # the gradebook's notebooks, never a guessed name
        release = nbformat.read(root / "release" / assignment / f"{name}.ipynb", as_version=4)
        notebooks[name] = [c.metadata.nbgrader["grade_id"] for c in release.cells
                           if c.metadata.get("nbgrader", {}).get("grade_id") in points]
    order = [grade_id for ids in notebooks.values() for grade_id in ids]
    data = ClassData(assignment, order, points, scores, notebooks=notebooks,
                     refused=refusals(root, assignment), penalties=late_penalties(db_url, assignment))
    path = report_path(root, assignment)
    batch = [SubmissionRecord.from_dict(r) for r in json.loads(path.read_text())["results"]] if path.exists() else []
    for record in batch:  # what the batch could not grade has no autograded notebook
        if not record.ok and record.student in scores:
            data.errors[record.student] = record.error
        if record.notes:
            data.notes[record.student] = list(record.notes)
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


def submission_record(root, assignment, student, notebooks):
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

def write_csv(data, path):
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


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def charts(data):
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


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#1f2328;padding:0 1rem}
h1{margin-bottom:.2rem} .sub{color:#57606a;margin-top:0}
.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.card{border:1px solid #d0d7de;border-radius:8px;padding:.7rem 1rem;min-width:9rem}
.card .v{font-size:1.6rem;font-weight:600} .card .k{color:#57606a;font-size:.85rem}
.charts{display:flex;gap:1rem;flex-wrap:wrap} .charts img{max-width:100%;border:1px solid #d0d7de;border-radius:8px}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem;font-size:.92rem}
th,td{border-bottom:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa} td.n{text-align:right;font-variant-numeric:tabular-nums}
td.full{color:#1b7f3b} td.zero{color:#b3261e} tr.error td{background:#fff4f2}
"""


def write_html(data, path):
    histogram, pass_rates = charts(data)
    totals = [data.total(s) for s in data.scores] or [0]
    esc = html.escape
    rows = []
    split = list(data.notebooks) if len(data.notebooks) > 1 else []  # one column per notebook when several
    notebook_of = {c: nb for nb, ids in data.notebooks.items() for c in ids}
    for student in sorted(data.scores):
        cells = "".join(
            f'<td class="n {"full" if data.scores[student].get(c, 0) >= data.points[c] else "zero"}" '
            f'data-check="{esc(c)}">{data.scores[student].get(c, 0):g}</td>' for c in data.checks)
        status = esc(data.errors.get(student, "; ".join(data.notes.get(student, []))))
        per_notebook = "".join(f'<td class="n" data-notebook="{esc(nb)}">{data.notebook_total(student, nb):g}</td>'
                               for nb in split)
        rows.append(f'<tr class="{"error" if student in data.errors else ""}" data-student="{esc(student)}">'
                    f'<td>{esc(student)}</td><td class="n total">{data.total(student):g}</td>{per_notebook}{cells}<td>{status}</td></tr>')
    failures = "".join(f"<tr><td>{esc(check)}</td><td>{esc(message)}</td><td class='n'>{count}</td></tr>"
                       for (check, message), count in data.common_failures())
    errored = "".join(f"<tr data-student='{esc(s)}'><td>{esc(s)}</td><td>not graded</td><td>{esc(reason)}</td></tr>"
                      for s, reason in sorted(data.errors.items()))
    errored += "".join(f"<tr data-student='{esc(s)}'><td>{esc(s)}</td><td>graded, with a fault</td><td>{esc(reason)}</td></tr>"
                       for s, reason in sorted(data.faults.items()))
    flagged = "".join(f"<tr data-student='{esc(s)}'><td>{esc(s)}</td>{cells}</tr>"
                      for s, found in sorted(data.flags.items())
                      for cells in _flag_cells(found, data.dropped_flags.get(s, 0)))
    refused = "".join(f"<tr data-student='{esc(str(r.get('who', '')))}'><td>{esc(str(r.get('who', '')))}</td>"
                      f"<td>{esc(str(r.get('entry', '')))}</td><td>{esc('; '.join(map(str, r.get('reasons', []))))}</td></tr>"
                      for r in data.refused)
    checks = "".join(f"<tr data-check='{esc(c)}'><td>{esc(notebook_of.get(c, ''))}</td><td>{esc(c)}</td><td class='n'>{data.points[c]:g}</td>"
                     f"<td class='n rate'>{100 * data.pass_rate(c):.0f}%</td></tr>" for c in data.checks)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Class report: {esc(data.assignment)}</title>
<style>{STYLE}</style></head><body>
<h1>Class report: {esc(data.assignment)}</h1>
<p class="sub">{len(data.scores)} submissions, maximum score {data.max_score:g}</p>
<div class="cards">
 <div class="card"><div class="v" id="submissions">{len(data.scores)}</div><div class="k">submissions</div></div>
 <div class="card"><div class="v" id="mean">{statistics.mean(totals):.2f}</div><div class="k">mean score</div></div>
 <div class="card"><div class="v" id="median">{statistics.median(totals):g}</div><div class="k">median score</div></div>
 <div class="card"><div class="v" id="full-marks">{sum(t >= data.max_score for t in totals)}</div><div class="k">full marks</div></div>
 <div class="card"><div class="v" id="errored">{len(data.errors)}</div><div class="k">not graded (errors)</div></div>
</div>
<div class="charts"><img alt="Score distribution" src="{histogram}"><img alt="Pass rate per check" src="{pass_rates}"></div>
<h2>Checks</h2>
<table id="checks"><tr><th>notebook</th><th>check</th><th>points</th><th>pass rate</th></tr>{checks}</table>
<h2>Most common failures</h2>
<table id="failures"><tr><th>check</th><th>message shown to the student</th><th>students</th></tr>{failures or "<tr><td colspan=3>none</td></tr>"}</table>
<h2>Submissions that errored or timed out</h2>
<table id="errors"><tr><th>student</th><th>outcome</th><th>reason</th></tr>{errored or "<tr><td colspan=3>none</td></tr>"}</table>
<h2>Flagged for manual review</h2>
<p class="sub">Graded as usual (the scores stand), but the grader saw evidence of tampering with what it is
handed: every grade is marked needs-manual-grade in the gradebook. The line is a hint: a line of the
student's that may have done it.</p>
<table id="flags"><tr><th>student</th><th>where</th><th>what the grader saw</th><th>line</th></tr>{flagged or "<tr><td colspan=4>none</td></tr>"}</table>
<h2>Refused when collected</h2>
<p class="sub">Hand-ins the collectors did not take (another student's id, links, forged entries...): never
graded; kept where they were, with the reasons (collect_report_{esc(data.assignment)}.json).</p>
<table id="refused"><tr><th>student</th><th>entry or file</th><th>reasons</th></tr>{refused or "<tr><td colspan=3>none</td></tr>"}</table>
<h2>Students</h2>
<table id="students"><tr><th>student</th><th>total</th>{"".join(f"<th>{esc(nb)}.ipynb</th>" for nb in split)}{"".join(f"<th>{esc(c)}</th>" for c in data.checks)}<th>notes</th></tr>{"".join(rows)}</table>
</body></html>"""
    Path(path).write_text(page, encoding="utf-8")


def _flag_cells(flags, dropped=0):
    """Table cells for a student's flags: the first MAX_LISTED, then how many more (as everywhere)."""
    from labgrader.record import MAX_LISTED
    esc = html.escape
    rows = [f"<td>{esc(f.where)}</td><td>{esc(f.seen)}</td><td><code>{esc(f.line)}</code></td>" for f in flags[:MAX_LISTED]]
    more = max(0, len(flags) - MAX_LISTED) + dropped
    if more:
        rows.append(f"<td></td><td>... and {more} more</td><td></td>")
    return rows


def write_report(root, assignment, out_dir=None, db_url=None):
    out_dir = Path(out_dir or Path(root) / "reports")
    out_dir.mkdir(parents=True, exist_ok=True)
    data = collect(root, assignment, db_url)
    write_html(data, out_dir / f"{assignment}.html")
    write_csv(data, out_dir / f"{assignment}.csv")
    return out_dir / f"{assignment}.html", out_dir / f"{assignment}.csv"
