"""Fast tests of the pure parts (no kernel, no nbgrader command): RestoreTestCells and the
pre-flight on small notebooks, the records, the course config and the worker's refusal to grade
without the sandboxed config. (Answers, rebuilding and the labs' judges: test_answers.py.)"""
import copy
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from conftest import REPO
from labgrader.batch import task
from labgrader.batch.preflight import check_submission
from labgrader.config import load_course_config
from labgrader.context import GradingContext
from labgrader.preprocessors.restore_test_cells import RestoreTestCells
from labgrader.record import Flag, NotebookRecord, SubmissionRecord, flag_lines


# ------------------------------------------------------------------ RestoreTestCells

def graded(grade_id, source, points=1):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "locked": True, "points": points,
                                 "schema_version": 3, "solution": False}
    return cell


def answer(grade_id, source):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3, "solution": True}
    return cell


@pytest.fixture
def restore():
    release = new_notebook(cells=[answer("a1", "x = None"), graded("t1", "assert x"), answer("a2", "y = None"),
                                  graded("t2", "assert y", points=2)])
    context = GradingContext("lab", "nb", "s", lab=None, record=NotebookRecord("nb"), release=release)
    return release, RestoreTestCells(), {"labgrader": context}


def test_restore_puts_back_deleted_tests_and_resets_edited_points(restore):
    release, step, resources = restore
    submitted = copy.deepcopy(release)
    submitted.cells[0].source = "x = 1"
    submitted.cells[3].metadata.nbgrader["points"] = 100
    del submitted.cells[1]  # t1 deleted
    nb, resources = step.preprocess(submitted, resources)
    ids = [c.metadata.nbgrader["grade_id"] for c in nb.cells]
    assert ids == ["a1", "t1", "a2", "t2"]
    assert nb.cells[0].source == "x = 1" and nb.cells[3].metadata.nbgrader["points"] == 2
    notes = resources["labgrader"].record.notes
    assert any("'t1' was missing" in n for n in notes) and any("'t2' was edited" in n for n in notes)


def test_restore_leaves_an_untouched_notebook_alone(restore):
    release, step, resources = restore
    nb, resources = step.preprocess(copy.deepcopy(release), resources)
    assert nb == release and resources["labgrader"].record.notes == []


def test_restore_drops_unknown_grade_ids(restore):
    release, step, resources = restore
    submitted = copy.deepcopy(release)
    submitted.cells.append(graded("invented", "pass", points=50))
    nb, resources = step.preprocess(submitted, resources)
    assert "nbgrader" not in nb.cells[-1].metadata
    assert any("unknown grade id 'invented'" in n for n in resources["labgrader"].record.notes)


# ------------------------------------------------------------------ pre-flight, records, workers

def test_preflight_takes_the_notebook_names_it_is_given(tmp_path):
    handin = tmp_path / "alice" / "lab"
    handin.mkdir(parents=True)
    nbformat.write(new_notebook(), handin / "one.ipynb")
    result = check_submission(handin, ["one.ipynb", "two.ipynb"])
    assert result.error == "" and result.notes == ["'two.ipynb' was not handed in: its cells score 0"]
    assert not (handin / "two.ipynb").exists()  # no false repair for a multi-notebook assignment
    renamed = check_submission(handin, ["lab.ipynb"])  # one notebook expected, another handed in
    assert renamed.error == "" and "graded as 'lab.ipynb'" in renamed.notes[0]
    (handin / "one.ipynb").unlink(), (handin / "lab.ipynb").unlink()
    assert "no notebook handed in" in check_submission(handin, ["one.ipynb", "two.ipynb"]).error


def test_records_round_trip_through_the_notebook_and_the_grading_report():
    kept = NotebookRecord("nb", notes=["n"], faults=["f"], flags=[Flag("q1", "json.dumps was rebound", "q1_answer, line 4: x")],
                          messages={"q1": "", "q2": "wrong"}, timings={"execute": 1.25})
    assert NotebookRecord.from_metadata(json.loads(json.dumps(kept.to_metadata()))) == kept
    record = SubmissionRecord("s", "lab", True, 1.5, scores={"nb": {"q": 1.0}})
    record.add_notebook(kept)
    assert record.flags == [{"where": "q1", "seen": "json.dumps was rebound", "line": "q1_answer, line 4: x"}]
    assert record.faults == ["nb: f"] and record.messages == {"nb": {"q1": "", "q2": "wrong"}}
    assert SubmissionRecord.from_dict(json.loads(json.dumps(record.as_dict()))) == record
    assert record.needs_review and not SubmissionRecord("t", ok=True).needs_review


def test_a_kept_record_is_read_defensively():
    assert NotebookRecord.from_metadata("not a dict") == NotebookRecord()
    odd = NotebookRecord.from_metadata({"notes": ["\x1b[31mred", 3], "flags": [{"where": "q", "seen": "\x1b]0;x\x07s"}, "x"],
                                        "timings": {"a": "slow"}})
    assert odd.notes == ["red"] and [str(f) for f in odd.flags] == ["q: s", "?: x"] and odd.timings == {}


def test_flag_listings_are_capped_the_same_way_everywhere():
    flags = [Flag("q", f"seen {i}") for i in range(25)]
    lines = flag_lines(flags)
    assert len(lines) == 21 and lines[-1] == "... and 5 more" and lines[0] == "q: seen 0"


def test_a_worker_not_started_through_init_worker_refuses_to_grade(monkeypatch):
    monkeypatch.setattr(task, "_config", None)
    with pytest.raises(task.NotInitialized, match="init_worker"):
        task.grade_submission("embeddings", "anyone")


def test_a_course_config_without_the_sandboxed_step_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nbgrader (and so the batch) also reads the current folder's config
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "no-user-config"))
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.db_url = 'sqlite:///x.db'\n")
    with pytest.raises(task.NotInitialized, match="GuardedExecute"):
        task.init_worker(tmp_path, None)
    task.require_sandboxed(load_course_config(REPO))  # the course's own config passes


def test_the_course_config_is_read_where_nbgrader_reads_it(tmp_path, monkeypatch):
    """The Jupyter config path first, then the current folder, then the course root (highest)."""
    user, cwd, root = tmp_path / "user", tmp_path / "cwd", tmp_path / "root"
    for folder, timeout in ((user, 11), (cwd, 22), (root, None)):
        folder.mkdir()
        lines = ["c = get_config()", "c.Execute.iopub_timeout = 3"] + \
            ([f"c.Execute.timeout = {timeout}"] if timeout else ["c.CourseDirectory.db_url = 'sqlite:///r.db'"])
        (folder / "nbgrader_config.py").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(user))
    monkeypatch.chdir(cwd)
    config = load_course_config(root, settings={"GradingKernelManager": {"fork_server": "/s"}})
    assert config.Execute.timeout == 22 and config.CourseDirectory.db_url == "sqlite:///r.db"
    assert config.GradingKernelManager.fork_server == "/s"
