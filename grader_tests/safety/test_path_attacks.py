"""Student-controlled paths, attacked on both grading paths with honest victims graded beside.

From inside the kernel (the hostile snippets): the notebook replaced by a link to the gradebook
or by a FIFO, links beside it (to the solutions, another student's hand-in, a root-only file
outside the course), a sparse file. In the hand-in (built here: the snippet format cannot hold
them): the notebook a link to another student's hand-in, an extra file linked to the solutions,
a FIFO notebook, a folder named like the notebook, a sparse extra file.
"""
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ASSIGNMENT, CORPUS, class_course, nbgrader
import snippets as submissions
from labgrader.reports.gradebook import cell_scores

pytestmark = pytest.mark.slow  # two gradings

NB = submissions.NOTEBOOK
KERNEL_ATTACKS = ["symlinks_notebook_to_gradebook", "symlinks_beside_notebook", "makes_fifo_notebook",
                  "writes_sparse_file"]
HANDIN_ATTACKS = ["handin_links_victim", "handin_links_solutions", "handin_fifo", "handin_folder", "handin_sparse"]
FULL = {"q1_param_count": 2, "q2_structure": 1, "q2_shares_layer": 2, "q2_same_predictions": 1,
        "q2_follows_shared_weights": 2}


def snapshot(top):
    """Every entry below ``top`` as it is (links not followed): kind, content or target, mode."""
    found = {}
    for dirpath, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, top)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    found[rel] = ("file", f.read(1 << 20), st.st_size, stat.S_IMODE(st.st_mode))
            else:
                found[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode))
    return found


def hostile_handins(course):
    submitted = course / "submitted"
    victim_nb = submitted / "victim" / ASSIGNMENT / NB
    folders = {name: submitted / name / ASSIGNMENT for name in HANDIN_ATTACKS}
    for folder in folders.values():
        folder.mkdir(parents=True)
    (folders["handin_links_victim"] / NB).symlink_to(f"../../victim/{ASSIGNMENT}/{NB}")
    (folders["handin_links_solutions"] / NB).write_bytes(victim_nb.read_bytes())
    (folders["handin_links_solutions"] / "notes.ipynb.txt").symlink_to(course / "source" / ASSIGNMENT / NB)
    os.mkfifo(folders["handin_fifo"] / NB)
    (folders["handin_folder"] / NB).mkdir()
    (folders["handin_sparse"] / NB).write_bytes(victim_nb.read_bytes())
    with open(folders["handin_sparse"] / "data.bin", "wb") as f:
        f.truncate(2 * 1024 ** 3)


def outside_secret_snippet(tmp_path, secret):
    """A kernel attack on a root-only file outside the course (its path is known only here)."""
    path = tmp_path / "links_outside_secret.py"
    path.write_text("\n".join([
        "# expect: q1_param_count=2 q2_structure=0 q2_shares_layer=0 q2_same_predictions=0 q2_follows_shared_weights=0",
        "# %% q1_answer", "trainable_params_model2 = 40", "# %% q2_answer", "import os",
        f"os.symlink({str(secret)!r}, 'key.pem')", f"os.symlink({str(secret)!r}, 'key.ipynb')", ""]))
    return submissions.load(path)


def run(args, course, timeout):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(args, cwd=course, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("path", ["plain", "batch"])
def test_student_controlled_paths_never_steer_the_grader(tmp_path, path):
    secret = tmp_path / "outside" / "private.key"
    secret.parent.mkdir()
    secret.write_text("-----BEGIN PRIVATE KEY-----\n")
    secret.chmod(0o600)
    victim = submissions.load(CORPUS / "correct" / "list_and_flatten.py")
    victim.path = victim.path.with_name("victim.py")
    kernel = [submissions.load(CORPUS / "hostile" / f"{name}.py") for name in KERNEL_ATTACKS]
    kernel.append(outside_secret_snippet(tmp_path, secret))
    # The same answers without the attack: what the attackers would score honestly.
    (tmp_path / "twin.py").write_text("# %% q1_answer\ntrainable_params_model2 = 40\n# %% q2_answer\nimport os\n")
    course = class_course(tmp_path / "course", [victim, submissions.load(tmp_path / "twin.py")] + kernel)
    hostile_handins(course)
    before = {name: snapshot(course / name) for name in ("source", "release", "submitted")}

    if path == "plain":
        result = nbgrader(course, "autograde", ASSIGNMENT, check=False, timeout=900)
    else:
        result = run([sys.executable, "-m", "labgrader", "autograde", ASSIGNMENT], course, timeout=900)
    log = result.stdout + result.stderr
    feedback = nbgrader(course, "generate_feedback", ASSIGNMENT, check=False, timeout=600)

    # Nothing outside the students' own grades changed; the hand-ins are as they were handed in
    # (the batch adds nothing here: no notebook was renamed).
    assert {name: snapshot(course / name) for name in ("source", "release", "submitted")} == before
    assert secret.read_text() == "-----BEGIN PRIVATE KEY-----\n" and stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert (course / "gradebook.db").read_bytes()[:16] == b"SQLite format 3\x00"

    scores = cell_scores(f"sqlite:///{course}/gradebook.db", ASSIGNMENT)
    assert scores["victim"] == FULL and scores["instructor_solution"] == FULL, scores
    for snippet in kernel:  # the cells that ran keep their points; the attack earns nothing
        assert scores[snippet.name]["q1_param_count"] == 2, (snippet.name, scores.get(snippet.name), log[-3000:])
        assert all(scores[snippet.name][g] <= scores["twin"][g] for g in FULL), (snippet.name, scores)
    for name in HANDIN_ATTACKS:  # refused, with the reason
        assert sum(scores.get(name, {}).values()) == 0, (name, scores.get(name))
        assert f"{name}: not graded: " in log or path == "batch", (name, log[-3000:])
    if path == "batch":
        report = {r["student"]: r for r in __import__("json").loads((course / f"grading_report_{ASSIGNMENT}.json").read_text())["results"]}
        reasons = {name: report[name]["error"] for name in HANDIN_ATTACKS}
        assert "is a symbolic link" in reasons["handin_links_victim"]
        assert "notes.ipynb.txt is a symbolic link" in reasons["handin_links_solutions"]
        assert "is a named pipe (FIFO)" in reasons["handin_fifo"]
        assert "is a directory, not a notebook file" in reasons["handin_folder"]
        assert "data.bin is a sparse file" in reasons["handin_sparse"]
    else:
        assert f"{NB} is a named pipe (FIFO)" in log and "data.bin is a sparse file" in log

    # What the grader wrote is regular files only, small, the autograded notebooks real notebooks.
    for top in ("autograded", "feedback"):
        for rel, entry in snapshot(course / top).items():
            assert entry[0] in ("file", stat.S_IFDIR), (top, rel, entry)
            assert entry[0] != "file" or entry[2] < 64 * 1024 ** 2, (top, rel, entry[2])
    for snippet in kernel:
        notebook = course / "autograded" / snippet.name / ASSIGNMENT / NB
        assert notebook.read_bytes().lstrip().startswith(b"{"), snippet.name
        assert (course / "feedback" / snippet.name / ASSIGNMENT / "embeddings.html").is_file(), feedback.stderr[-2000:]
    assert not list((course / "feedback").rglob("data.bin")) or all(
        p.stat().st_blocks * 512 >= p.stat().st_size // 2 for p in (course / "feedback").rglob("data.bin"))
