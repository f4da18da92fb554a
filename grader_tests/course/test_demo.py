"""The README's first command, `./course demo`, run as written in a fresh copy of the repository (what
a clone holds: tracked files and new ones not ignored, none of the generated ones), with the
environment already made: the demo class graded end to end, every output where it says, and not a
line printed that the user did not cause (no kernel's stderr, no warning of nbgrader's, one line per
student in each block of the summary, counts that agree)."""
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow  # the demo grades a few submissions

# The demo's claim is its wiring (generate, grade, feedback, export, report, every output where it
# says): a few submissions of each kind make it, among them those that write to their kernel's
# stderr, fill their working copy, or raise many findings; the corpus's scores are test_corpus.py's.
DEMO = ["correct/list_and_flatten.py", "wrong/copied_weights.py", "hostile/tamper_stdlib_encoder_hook.py",
        "hostile/not_json", "hostile/stderr_escape_sequences.py", "hostile/fills_working_copy.py",
        "hostile/flood_of_findings.py", "hostile/redteam_package_attribute_swap.py"]
# Every line the demo prints has one of these shapes (stdout and stderr together).
ALLOWED = [
    r"", r"Autograding (\d+) demo submissions \(sandboxed, in parallel\) \.\.\.",
    r"Graded (\d+) of (\d+) submissions in [\d.]+ s with \d+ worker\(s\)\.",
    r"(Not graded|Graded, with repairs \(notes\)|Graded, with a fault .*|Flagged for manual review) \(\d+\)[:;] .*",
    r"  \S+: .*",  # one student's line in a block
    r"Mean score [\d.]+ / \d+ over the \d+ submission\(s\) graded by this run",
    r"student +q1_param_count .* total", r"[- ]+", r"\S+( +\d+(\.\d+)?){6}",  # the grade table
    r"(Gradebook|Grades CSV|Canvas CSV|Feedback|Grading report|Class report): +/.*", r" +\(and /.*\.csv\)",
]


def fresh_copy(dest: Path) -> Path:
    """The repository as a clone of it would be once committed (git's own list of files)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file() or source.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name, follow_symlinks=False)
    (dest / ".venv").symlink_to(REPO / ".venv")  # made already: ./course finds it up to date
    return dest


def demo_clone(tmp_path: Path, keep: list[str]) -> Path:
    clone = fresh_copy(tmp_path / "clone")
    corpus = clone / "grader_tests" / "submissions"
    for kind in corpus.iterdir():
        for path in kind.iterdir():
            if f"{kind.name}/{path.name}" not in keep:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    return clone


def run_demo(clone: Path, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", "./course demo"], cwd=clone, capture_output=True, text=True, timeout=1800,
                          env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"})


def unexpected(lines: list[str]) -> list[str]:
    return [line for line in lines if not any(re.fullmatch(shape, line) for shape in ALLOWED)]


def blocks(lines: list[str]) -> dict[str, list[str]]:
    """The summary's blocks: {title: the students named in it, in order}."""
    found, title = {}, None
    for line in lines:
        if re.match(r"^(Not graded|Graded, with|Flagged for manual review) ", line):
            title = line.split(" (")[0]
            found[title] = []
        elif title and line.startswith("  "):
            found[title].append(line.split(":")[0].strip())
        elif not line:
            title = None
    return found


def test_the_demo_job_writes_everything_it_announces_and_prints_nothing_else(tmp_path):
    stamp = (REPO / ".venv" / ".requirements.sha256").read_text().strip()
    wanted = hashlib.sha256((REPO / "requirements.txt").read_bytes() + (REPO / "pyproject.toml").read_bytes()).hexdigest()
    assert stamp == wanted, "the environment is not up to date with requirements.txt: run ./course first"
    clone = demo_clone(tmp_path, DEMO)
    result = run_demo(clone, tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    lines = (result.stdout + result.stderr).splitlines()
    assert unexpected(lines) == []
    assert "\r" not in result.stderr and "\x1b" not in out + result.stderr  # no progress bar or colour off a terminal
    assert f"Autograding {len(DEMO)} demo submissions" in out
    assert f"Graded {len(DEMO) - 1} of {len(DEMO)} submissions" in out  # not_json is not a notebook
    for title, students in blocks(out.splitlines()).items():
        assert len(students) == len(set(students)), (title, students)  # one line per student
    assert blocks(out.splitlines())["Flagged for manual review"] == ["flood_of_findings", "redteam_package_attribute_swap",
                                                                   "tamper_stdlib_encoder_hook"]
    for path in ("gradebook.db", "grades.csv", "grades_canvas.csv", "grading_report_embeddings.json",
                 "reports/embeddings.html", "reports/embeddings.csv",
                 "feedback/list_and_flatten/embeddings/embeddings.html"):
        assert (clone / path).exists(), path
        assert str(clone / path.split("/")[0]) in out
    assert "list_and_flatten" in out and "total" in out  # the grade table
    # what the demo made is ignored by git: the clone's status stays clean
    subprocess.run(["git", "init", "-q"], cwd=clone, check=True)
    subprocess.run(["git", "add", "-A"], cwd=clone, check=True)
    tracked = subprocess.run(["git", "ls-files"], cwd=clone, capture_output=True, text=True, check=True).stdout.split()
    again = fresh_copy(tmp_path / "again")
    copied = {str(p.relative_to(again)) for p in again.rglob("*") if p.is_file() and ".venv" not in p.parts}
    assert sorted(set(tracked) - copied - {".venv"}) == []  # .venv: this test's link to the environment
