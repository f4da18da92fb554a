"""The main job on the embedded default: demo class, SQLite gradebook, grade table, grades CSV."""
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

from labgrader.batch import grade_class
from labgrader.record import report_path
from labgrader.reports.class_report import write_report
from labgrader.reports.gradebook import cell_scores, max_points
from labgrader.reports.lms import write_canvas_csv
from labgrader.reports.summary import print_summary

ASSIGNMENT = "embeddings"
DEMO_KINDS = ("correct", "wrong", "hostile")


def nbgrader(root, *args):
    """Plain nbgrader, as an instructor would type it (the venv's bin/ is on PATH)."""
    level = [] if any(a.startswith("--log-level") for a in args) else ["--log-level=WARN"]
    subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *args, *level], cwd=root, check=True)


def snippet_loader(root):
    """The demo class is the test corpus: its builder ships beside it (grader_tests/snippets.py),
    not in the installed package."""
    spec = importlib.util.spec_from_file_location("labgrader_demo_snippets", root / "grader_tests" / "snippets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stage_demo_class(root):
    """Hand in the demo submissions shipped in grader_tests/submissions as `submitted/<name>/`."""
    submissions = snippet_loader(root)
    release = root / "release" / ASSIGNMENT / submissions.NOTEBOOK
    names = []
    for kind in DEMO_KINDS:
        for path in sorted((root / "grader_tests" / "submissions" / kind).glob("*")):
            snippet = submissions.load(path)
            dest = root / "submitted" / snippet.name / ASSIGNMENT
            shutil.rmtree(dest, ignore_errors=True)
            submissions.write_submission(snippet, release, dest)
            names.append(snippet.name)
    return names


def grade_table(scores, cells):
    header = ["student"] + cells + ["total"]
    rows = [[s] + [f"{per.get(c, 0):g}" for c in cells] + [f"{sum(per.values()):g}"] for s, per in sorted(scores.items())]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def run(root):
    root = Path(root)
    # --force replaces the release, which nbgrader announces as a warning: expected here, not news
    nbgrader(root, "generate_assignment", ASSIGNMENT, "--force", "--log-level=ERROR")
    names = stage_demo_class(root)
    print(f"\nAutograding {len(names)} demo submissions (sandboxed, in parallel) ...", flush=True)
    report = grade_class(root, ASSIGNMENT)
    print_summary(report)
    nbgrader(root, "generate_feedback", ASSIGNMENT, "--force")
    nbgrader(root, "export", "--to", str(root / "grades.csv"))
    db_url = report["db_url"]
    canvas = write_canvas_csv(db_url, ASSIGNMENT, root / "grades_canvas.csv")
    page, table = write_report(root, ASSIGNMENT, db_url=db_url)
    print()
    print(grade_table(cell_scores(db_url, ASSIGNMENT), list(max_points(db_url, ASSIGNMENT))))
    print(f"""
Gradebook:        {root / 'gradebook.db'}
Grades CSV:       {root / 'grades.csv'}   (nbgrader export)
Canvas CSV:       {canvas}
Feedback:         {root / 'feedback'}/<student>/{ASSIGNMENT}/{ASSIGNMENT}.html
Grading report:   {report_path(root, ASSIGNMENT)}
Class report:     {page}
                  (and {table})""")
