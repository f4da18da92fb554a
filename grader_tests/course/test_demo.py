"""The README's main command: the demo class graded end to end, every output where it says."""
import shutil
import subprocess
import sys

from conftest import CORPUS, REPO, copy_course

# The demo's claim is its wiring (generate, grade, feedback, export, report, every output where it
# says): a few submissions of each kind make it; the corpus's scores are test_corpus.py's.
DEMO = ["correct/list_and_flatten.py", "wrong/copied_weights.py", "hostile/tamper_stdlib_encoder_hook.py",
        "hostile/not_json"]


def test_the_demo_job_writes_everything_it_announces(tmp_path):
    course = copy_course(tmp_path / "course")
    for name in DEMO:
        dest = course / "grader_tests" / "submissions" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (CORPUS / name).is_dir() else shutil.copy)(CORPUS / name, dest)
    shutil.copy(REPO / "grader_tests" / "snippets.py", course / "grader_tests")
    env_path = f"{sys.prefix}/bin"
    result = subprocess.run([sys.executable, "-m", "labgrader", "demo", "--course", str(course)],
                            capture_output=True, text=True, timeout=1800,
                            env={"PATH": f"{env_path}:/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    assert f"Graded {len(DEMO) - 1} of {len(DEMO)} submissions" in out  # not_json is not a notebook
    for path in ("gradebook.db", "grades.csv", "grades_canvas.csv", "grading_report_embeddings.json",
                 "reports/embeddings.html", "reports/embeddings.csv",
                 "feedback/list_and_flatten/embeddings/embeddings.html"):
        assert (course / path).exists(), path
        assert str(course / path.split("/")[0]) in out
    assert "list_and_flatten" in out and "total" in out  # the grade table
