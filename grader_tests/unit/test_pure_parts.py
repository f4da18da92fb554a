"""Fast tests of the pure parts (no kernel, no nbgrader command): the labs' judges on hand-made
observation records, the observation protocol, RestoreTestCells and the pre-flight on small
notebooks, the batch record and the worker's refusal to grade without the sandboxed config."""
import copy
import importlib.util
import json

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

from conftest import REPO
from labgrader.batch import task
from labgrader.batch.preflight import check_submission
from labgrader.batch.record import SubmissionRecord
from labgrader.judging.protocol import Malformed, validate
from labgrader.judging.values import array
from labgrader.preprocessors.restore_test_cells import RestoreTestCells


def lab(assignment):
    spec = importlib.util.spec_from_file_location(f"lab_{assignment}", REPO / "source" / assignment / "grading.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NUMPY = lab("numpy_basics")
EMBEDDINGS = lab("embeddings")


def encoded(values):
    values = np.asarray(values, dtype=float)
    return {"shape": list(values.shape), "values": values.ravel().tolist()}


def numpy_observations(grade_id, probe, function):
    name = NUMPY.QUESTIONS[grade_id][0]
    results = []
    for args in probe["calls"]:
        try:
            results.append(encoded(function(*[np.array(a, dtype=float) for a in args])))
        except Exception as exc:
            results.append({"error": type(exc).__name__})
    return {"name": name, "function": {"kind": "callable", "type": "function", "module": "__main__"}, "results": results}


# ------------------------------------------------------------------ numpy_basics judges

@pytest.mark.parametrize("grade_id", list(NUMPY.QUESTIONS))
def test_numpy_judge_passes_the_instructors_formula_on_fresh_probes(grade_id):
    probe = NUMPY.probes(np.random.default_rng(1), {})[grade_id]
    solution = NUMPY.QUESTIONS[grade_id][1]
    assert NUMPY.judge(grade_id, numpy_observations(grade_id, probe, solution), probe, {}).passed


def test_numpy_judge_fails_wrong_axis_hard_coded_values_and_errors_with_a_hint():
    probe = NUMPY.probes(np.random.default_rng(2), {})["q1_column_means"]
    for wrong in (lambda a: a.mean(axis=1), lambda a: np.array([67.5, 80.0, 85.0]), lambda a: a.mean(axis=0, keepdims=True)):
        verdict = NUMPY.judge("q1_column_means", numpy_observations("q1_column_means", probe, wrong), probe, {})
        assert not verdict.passed and "a.mean(axis=0)" in verdict.message
    verdict = NUMPY.judge("q1_column_means", numpy_observations("q1_column_means", probe, lambda a: 1 / 0), probe, {})
    assert not verdict.passed and "ZeroDivisionError" in verdict.message


def test_numpy_judge_sample_std_fails_and_undefined_function_says_so():
    probe = NUMPY.probes(np.random.default_rng(3), {})["q2_standardize"]
    ddof1 = lambda a: (a - a.mean(axis=0)) / a.std(axis=0, ddof=1)  # noqa: E731
    assert not NUMPY.judge("q2_standardize", numpy_observations("q2_standardize", probe, ddof1), probe, {}).passed
    undefined = {"name": "standardize", "function": {"kind": "undefined", "type": "", "module": ""}}
    assert "not defined" in NUMPY.judge("q2_standardize", undefined, probe, {}).message


def test_numpy_judge_refuses_observations_for_other_inputs_or_malformed_ones():
    probe = NUMPY.probes(np.random.default_rng(4), {})["q3_outer_sum"]
    observed = numpy_observations("q3_outer_sum", probe, NUMPY.QUESTIONS["q3_outer_sum"][1])
    replay = dict(observed, results=observed["results"][:1])
    assert not NUMPY.judge("q3_outer_sum", replay, probe, {}).passed
    with pytest.raises(Malformed):
        NUMPY.judge("q3_outer_sum", dict(observed, results=[{"shape": [2], "values": [1.0]}] * 3), probe, {})


def test_numpy_probes_are_fresh_per_submission():
    first, second = NUMPY.probes(np.random.default_rng(5), {}), NUMPY.probes(np.random.default_rng(6), {})
    assert first != second


# ------------------------------------------------------------------ embeddings judges

def described(value):
    return {"kind": "integer", "type": "int", "module": "builtins", "value": value}


def test_embeddings_parameter_count_judge():
    reference = {"q1_param_count": {"model2_trainable_parameters": 40}}
    judge = lambda answer: EMBEDDINGS.judge("q1_param_count", {"answer": answer}, {}, reference)  # noqa: E731
    assert judge(described(40)).passed
    assert not judge(described(41)).passed
    assert "whole number" in judge({"kind": "real", "type": "float", "module": "builtins", "value": 40.5}).message
    assert "not defined" in judge({"kind": "undefined", "type": "", "module": ""}).message
    assert not judge({"kind": "bool", "type": "bool", "module": "builtins"}).passed


def test_embeddings_follows_shared_weights_judge():
    vocab, size = 4, 2
    reference = {"q2_structure": {"vocab_size": vocab, "embedding_size": size}}
    probe = EMBEDDINGS.probes(np.random.default_rng(7), reference)["q2_follows_shared_weights"]
    weights = np.asarray(probe["weights"], dtype=np.float32)[np.asarray(probe["ids"])]
    facts = {"state": "value", "is_model": False, "is_model2": False, "contains_lab_embedding": True}
    observed = {"ids": probe["ids"], "model3": facts, "outputs_with_probe_weights": encoded(weights),
                "model2_outputs_with_probe_weights": encoded(weights)}
    assert EMBEDDINGS.judge("q2_follows_shared_weights", observed, probe, reference).passed
    copied = dict(observed, model3=dict(facts, contains_lab_embedding=False),
                  outputs_with_probe_weights=encoded(np.zeros_like(weights)))
    assert "own copy" in EMBEDDINGS.judge("q2_follows_shared_weights", copied, probe, reference).message
    itself = dict(observed, model3=dict(facts, is_model2=True))
    assert "model2 itself" in EMBEDDINGS.judge("q2_follows_shared_weights", itself, probe, reference).message


# ------------------------------------------------------------------ protocol

def test_protocol_accepts_plain_records_and_refuses_the_rest():
    good = {"grade_id": "q", "nonce": "n", "observations": {"a": [1, 2.5, None, "x"]}}
    assert validate(good) == good
    for bad in (
        {"grade_id": "q", "nonce": "n"},                                         # missing observations
        dict(good, extra=1),                                                      # unexpected key
        dict(good, observations={"a": float("nan")}),                            # non-finite
        dict(good, observations={"a": "x" * 70_000}),                            # too large
        dict(good, observations=[1]),                                             # not an object
        dict(good, observations={"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}),  # too deep
    ):
        with pytest.raises(Malformed):
            validate(bad)
    with pytest.raises(Malformed):
        array({"shape": [3], "values": [1.0, 2.0]})


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
def restore(tmp_path):
    release = new_notebook(cells=[answer("a1", "x = None"), graded("t1", "assert x"), answer("a2", "y = None"),
                                  graded("t2", "assert y", points=2)])
    (tmp_path / "release" / "lab").mkdir(parents=True)
    nbformat.write(release, tmp_path / "release" / "lab" / "nb.ipynb")
    config = Config()
    config.CourseDirectory.root = str(tmp_path)
    step = RestoreTestCells(config=config)
    resources = {"nbgrader": {"assignment": "lab", "notebook": "nb", "student": "s"}}
    return release, step, resources


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
    notes = resources["labgrader"]["notes"]
    assert any("'t1' was missing" in n for n in notes) and any("'t2' was edited" in n for n in notes)


def test_restore_leaves_an_untouched_notebook_alone(restore):
    release, step, resources = restore
    nb, resources = step.preprocess(copy.deepcopy(release), resources)
    assert nb == release and resources["labgrader"]["notes"] == []


def test_restore_drops_unknown_grade_ids(restore):
    release, step, resources = restore
    submitted = copy.deepcopy(release)
    submitted.cells.append(graded("invented", "pass", points=50))
    nb, resources = step.preprocess(submitted, resources)
    assert "nbgrader" not in nb.cells[-1].metadata
    assert any("unknown grade id 'invented'" in n for n in resources["labgrader"]["notes"])


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


def test_record_round_trips_through_the_grading_report():
    record = SubmissionRecord("s", "lab", True, 1.5, notes=["n"], flags=[{"cell": "c"}], scores={"nb": {"q": 1.0}})
    assert SubmissionRecord.from_dict(json.loads(json.dumps(record.as_dict()))) == record
    assert record.needs_review and not SubmissionRecord("t", ok=True).needs_review


def test_a_worker_not_started_through_init_worker_refuses_to_grade(monkeypatch):
    monkeypatch.setattr(task, "_config", None)
    with pytest.raises(task.NotInitialized, match="init_worker"):
        task.grade_submission("embeddings", "anyone")


def test_a_course_config_without_the_sandboxed_step_is_refused(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.db_url = 'sqlite:///x.db'\n")
    with pytest.raises(task.NotInitialized, match="GuardedExecute"):
        task.init_worker(tmp_path, None)
    task.require_sandboxed(task.load_config(REPO))  # the course's own config passes
