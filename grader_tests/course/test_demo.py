"""The README's first command, `./course demo`, run as written in a fresh copy of the repository (what
a clone holds: tracked files and new ones not ignored, none of the generated ones), with the
environment already made: the demo class graded end to end, every output where it says."""
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow  # the demo grades 4 submissions

# The demo's claim is its wiring (generate, grade, feedback, export, report, every output where it
# says): a few submissions of each kind make it, among them those whose kernels write to stderr;
# the corpus's scores are test_corpus.py's.
DEMO = ["correct/list_and_flatten.py", "wrong/copied_weights.py", "hostile/tamper_stdlib_encoder_hook.py",
        "hostile/not_json"]


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


def test_the_demo_job_writes_everything_it_announces(tmp_path):
    clone = demo_clone(tmp_path, DEMO)
    result = run_demo(clone, tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    assert f"Graded {len(DEMO) - 1} of {len(DEMO)} submissions" in out  # not_json is not a notebook
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
