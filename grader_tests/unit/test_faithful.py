"""The export is faithful to what the kernel runs, without a kernel: Keras classes and activation
functions named by identity, a built Sequential described by the graph Keras runs, the
cross-check's inputs, results and comparison, one object per name across test cells, and the
hidden test regions cut out of what the kernel gets."""
import json
import os

import numpy as np
import pytest

from conftest import REPO
from labgrader.cells import hidden_tests, without_hidden_tests
from labgrader.judging import faithful
from labgrader.judging.answers import Answers
from labgrader.judging.protocol import Malformed, validate
from labgrader.kernels.export import NOT_BUILT_IN, Encoder
from labgrader.lab import Inputs

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")
from keras.layers import Activation, Dense, Embedding, Flatten, Input  # noqa: E402
from keras.models import Model, Sequential  # noqa: E402

IDS = np.arange(10).reshape(-1, 1)


def export(answers, lab=None, grade_id="q"):
    """One hand-over as the grader receives it, and what the encoding saw."""
    encoder = Encoder()
    record = {"grade_id": grade_id, "answers": {k: encoder.encode(v) for k, v in answers.items()},
              "lab": {k: encoder.encode(v) for k, v in (lab or {}).items()}, "objects": encoder.objects,
              "ids": encoder.ids, "evidence": [], "watched": True}
    return validate(json.loads(json.dumps(record))), encoder


def kernel_results(model, arrays):
    """What export.outputs sends back for ``model`` on ``arrays`` (the kernel's side, in-process)."""
    returned = model(arrays[0] if len(arrays) == 1 else arrays, training=False)
    encoder = Encoder()
    return {"id": id(model), "values": [encoder._array(np, np.asarray(returned))]}


def cross_check(model, rng=None):
    """The cross-check of a model answer as the grader runs it: None when faithful."""
    record, _ = export({"model3": model})
    inputs = faithful.plan(record, rng or np.random.default_rng(0))
    ref = record["answers"]["model3"]["ref"]
    outputs = [{"grade_id": "q", "outputs": {ref: kernel_results(model, inputs[ref])}}] if ref in inputs else []
    return faithful.cross_check(record, inputs, outputs, Answers(record).rebuilt)


def node(record, name):
    return record["objects"][record["answers"][name]["ref"]]


def test_a_subclass_named_like_a_builtin_is_not_one():
    class Zeroes(Flatten):
        def call(self, inputs):
            return super().call(inputs) * 0.0
    Zeroes.__module__, Zeroes.__qualname__, Zeroes.__name__ = Flatten.__module__, Flatten.__qualname__, "Flatten"
    record, encoder = export({"layer": Zeroes(), "real": Flatten()})
    assert node(record, "layer")["class"].startswith(NOT_BUILT_IN)
    assert node(record, "real")["class"] == f"{Flatten.__module__}.{Flatten.__qualname__}"
    assert any("posing as keras.src.layers.reshaping.flatten.Flatten" in seen for seen in encoder.seen)


def test_an_activation_is_named_by_identity():
    def linear(x):
        return 2 * x
    record, encoder = export({"fake": Activation(linear), "real": Activation("linear"), "relu": Dense(3, activation="relu")})
    assert "error" in node(record, "fake") and "not Keras's own" in " ".join(encoder.seen)
    assert node(record, "real")["config"]["activation"] == "linear"
    assert node(record, "relu")["config"]["activation"] == "relu"


def test_a_built_sequential_is_described_by_the_graph_keras_runs():
    shared, fresh = Embedding(10, 4), Embedding(10, 4)
    model3 = Sequential([fresh, Flatten()])
    model3(IDS)
    model3._layers = [model3._layers[0], shared, Flatten()]
    record, encoder = export({"model3": model3, "shared": shared})
    layers = [record["objects"][ref] for ref in node(record, "model3")["layers"]]
    assert [layer["class"].rpartition(".")[2] for layer in layers] == ["Embedding", "Flatten"]
    assert node(record, "model3")["layers"][0] != record["answers"]["shared"]["ref"]  # the fresh one: what runs
    assert any("was changed after it was built" in seen for seen in encoder.seen)
    assert node(record, "model3")["input"]["batch_shape"] == [10, 1]


def test_a_sequential_running_something_else_is_not_described():
    model3 = Sequential([Embedding(10, 4), Flatten()])
    model3(IDS)
    object.__setattr__(model3, "_functional", Flatten())
    record, encoder = export({"model3": model3})
    assert "error" in node(record, "model3") and any("not a Keras graph" in seen for seen in encoder.seen)


def test_inputs_are_ids_for_an_embedding_floats_otherwise_or_what_the_lab_declares():
    dense = Sequential([Input(shape=(3,)), Dense(2)])
    embedding = Sequential([Embedding(7, 4), Flatten()])
    embedding(IDS[:7])
    x = Input(shape=(1,))
    functional = Model(x, Flatten()(Embedding(5, 2)(x)))
    record, _ = export({"dense": dense, "embedding": embedding, "functional": functional, "unbuilt": Sequential([Dense(2)])})
    drawn = faithful.plan(record, np.random.default_rng(0))
    ref = {name: record["answers"][name]["ref"] for name in record["answers"]}
    assert ref["unbuilt"] not in drawn  # a model never built has no input to draw
    [ids] = drawn[ref["embedding"]]
    assert 5 <= len(ids) <= 12 and ids.shape[1:] == (1,)  # a number of examples the kernel cannot expect
    assert set(np.unique(ids)) <= set(range(7)) and len(np.unique(ids)) > 1
    [ids] = drawn[ref["functional"]]
    assert set(np.unique(ids)) <= set(range(5))
    [values] = drawn[ref["dense"]]
    assert values.shape[1:] == (3,) and values.dtype == np.float32 and np.all(np.abs(values) <= 1) and values.std() > 0
    declared = faithful.plan(record, np.random.default_rng(0), {"dense": Inputs(low=100, high=103, integers=True)})
    assert set(np.unique(declared[ref["dense"]][0])) <= {100, 101, 102}


def test_an_honest_model_passes_the_cross_check():
    assert cross_check(Sequential([Input(shape=(1,)), Embedding(10, 4), Flatten()])) is None
    model = Sequential([Input(shape=(3,)), Dense(4, activation="relu"), Dense(2)])
    assert cross_check(model) is None


def test_a_swapped_kernel_fails_the_cross_check():
    """Its tracked weights say identity (what the export reads); the kernel runs zeros."""
    dense = Dense(4, use_bias=False, kernel_initializer="identity")
    model3 = Sequential([Input(shape=(1,)), Embedding(10, 4), Flatten(), dense])
    object.__setattr__(dense, "_kernel", keras.Variable(np.zeros((4, 4), dtype="float32")))
    finding = cross_check(model3)
    assert finding is not None and finding.evidence and "differ from what its layers compute" in finding.problem


def test_behaviour_no_description_shows_fails_the_cross_check():
    """Described before its call was replaced (what a description cannot see): the kernel's real
    model computes something else on the grader's inputs."""
    model3 = Sequential([Input(shape=(1,)), Embedding(10, 4), Flatten()])
    record, _ = export({"model3": model3})
    model3.call = lambda inputs, *args, **kwargs: keras.ops.zeros((keras.ops.shape(inputs)[0], 4))
    inputs = faithful.plan(record, np.random.default_rng(0))
    ref = record["answers"]["model3"]["ref"]
    outputs = [{"grade_id": "q", "outputs": {ref: kernel_results(model3, inputs[ref])}}]
    finding = faithful.cross_check(record, inputs, outputs, Answers(record).rebuilt)
    assert finding is not None and finding.evidence


def test_a_model_never_run_cannot_be_cross_checked():
    finding = cross_check(Sequential([Embedding(10, 4), Flatten()]))
    assert finding is not None and not finding.evidence and "never run on data" in finding.problem


def test_missing_or_foreign_results_are_evidence():
    model = Sequential([Input(shape=(3,)), Dense(2)])
    record, _ = export({"model3": model})
    inputs = faithful.plan(record, np.random.default_rng(0))
    ref = record["answers"]["model3"]["ref"]
    rebuild = Answers(record).rebuilt
    assert faithful.cross_check(record, inputs, [], rebuild).evidence  # the cross-check was stopped
    other = Sequential([Input(shape=(3,)), Dense(2)])
    other.set_weights(model.get_weights())
    foreign = [{"grade_id": "q", "outputs": {ref: kernel_results(other, inputs[ref])}}]  # right values, other object
    assert "not the one it handed over" in faithful.cross_check(record, inputs, foreign, rebuild).problem
    huge = [{"grade_id": "q", "outputs": {ref: {"id": id(model), "raised": "OverflowError"}}}]
    assert not faithful.cross_check(record, inputs, huge, rebuild).evidence  # too large to hand over: not evidence
    raised = [{"grade_id": "q", "outputs": {ref: {"id": id(model), "raised": "ValueError"}}}]
    assert faithful.cross_check(record, inputs, raised, rebuild).evidence  # raises in the kernel only
    with pytest.raises(Malformed):
        faithful.validate_outputs({"grade_id": "q", "outputs": {ref: {"id": 1, "values": [{"kind": "array"}]}}}, "q")
    with pytest.raises(Malformed):
        faithful.validate_outputs({"grade_id": "other", "outputs": {}}, "q")


def test_one_object_per_name_across_hand_overs():
    shared = Embedding(10, 4)
    model3 = Sequential([shared, Flatten()])
    model3(IDS)
    first, again = export({"model3": model3})[0], export({"model3": model3})[0]
    assert faithful.fingerprint(first, "model3") == faithful.fingerprint(again, "model3")
    twin = Sequential([shared, Flatten()])
    twin(IDS)
    assert faithful.fingerprint(export({"model3": twin})[0], "model3") != faithful.fingerprint(first, "model3")
    shared.set_weights([np.ones((10, 4))])  # the same objects, trained: still the same
    assert faithful.fingerprint(export({"model3": model3})[0], "model3") == faithful.fingerprint(first, "model3")
    model3.add(Flatten())  # the same object, another structure
    assert faithful.fingerprint(export({"model3": model3})[0], "model3") != faithful.fingerprint(first, "model3")
    assert faithful.fingerprint(export({"n": 40})[0], "n") != faithful.fingerprint(export({"n": 41})[0], "n")


def test_the_kernel_gets_a_test_cell_without_its_hidden_region():
    source = "visible = 1\n### BEGIN HIDDEN TESTS\nsecret = 2\n### END HIDDEN TESTS\nafter = 3"
    assert without_hidden_tests(source) == "visible = 1\nafter = 3"
    assert hidden_tests(source) == ["secret = 2"]
    assert "secret" not in without_hidden_tests("a\n### BEGIN HIDDEN TESTS\nsecret")  # unterminated: all cut


def test_every_graded_cell_of_the_labs_fails_closed_and_is_handed_over():
    import nbformat

    from labgrader.lab import _import
    from labgrader.reference_run import check_test_cells
    for lab_name in ("embeddings", "numpy_basics"):
        lab = _import(str(REPO / "source" / lab_name / "grading.py"), lab_name, "test")
        for path in sorted((REPO / "source" / lab_name).glob("*.ipynb")):
            check_test_cells(lab, path.stem, nbformat.read(path, as_version=4))  # raises NotReady otherwise


def test_a_graded_cell_whose_hidden_region_would_pass_is_refused():
    import nbformat

    from labgrader.lab import Lab, passed
    from labgrader.reference_run import NotReady, check_test_cells
    lab = Lab(judge=lambda check: passed(), handovers={"q": ("answer",)})
    cell = nbformat.v4.new_code_cell("assert answer\n### BEGIN HIDDEN TESTS\nassert answer == 2\n### END HIDDEN TESTS")
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "q", "locked": True, "points": 1, "solution": False}
    nb = nbformat.v4.new_notebook(cells=[cell])
    with pytest.raises(NotReady, match="no hidden test region that fails"):
        check_test_cells(lab, "lab", nb)
    cell.source = "assert answer\n### BEGIN HIDDEN TESTS\nraise AssertionError('not graded')\n### END HIDDEN TESTS"
    check_test_cells(lab, "lab", nb)
    with pytest.raises(NotReady, match="Lab.handovers has no entry for the graded cell 'q'"):
        check_test_cells(Lab(judge=lambda check: passed()), "lab", nb)


def test_an_object_carrying_its_own_methods_is_not_described():
    model3 = Sequential([Input(shape=(1,)), Embedding(10, 4), Flatten()])
    model3.call = lambda inputs, *args, **kwargs: inputs
    record, encoder = export({"model3": model3, "honest": Sequential([Input(shape=(1,)), Dense(2)])})
    assert "error" in node(record, "model3") and "error" not in node(record, "honest")
    assert any("carries its own call in place of its class's" in seen for seen in encoder.seen)


def test_a_flag_for_what_the_export_saw_quotes_the_line_that_did_it():
    from labgrader.judging.evidence import hint, needles
    cells = [("q2_answer", "class Zeroes(Flatten):\n    pass\nZeroes.__qualname__ = Flatten.__qualname__\n"
                           "model3._layers = [model3._layers[0], embedding_layer]\nmodel.get_layer = lambda *a: own")]
    seen = {"a class posing as keras.src.layers.reshaping.flatten.Flatten (a class of the notebook's own)": "line 3",
            "the layer list of the Sequential model 'sequential' was changed after it was built": "line 4",
            "the Keras object 'functional' carries its own get_layer in place of its class's": "line 5"}
    for text, line in seen.items():
        assert hint(cells, needles(text)).startswith(f"q2_answer, {line}:"), text
