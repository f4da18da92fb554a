"""The boundary, without a kernel: answers encoded as the kernel encodes them, validated and rebuilt
as the grader does, judged by the labs' own judges. What a forger can send gains only what the
answer it describes is worth."""
import json
import os

import numpy as np
import pytest

from conftest import REPO
from labgrader.judging.answers import Answers
from labgrader.judging.evidence import hint, structure
from labgrader.judging.keras_models import NotGradable, layers_deep
from labgrader.judging.protocol import Malformed, validate
from labgrader.kernels.export import UNDEFINED, Encoder
from labgrader.lab import Check, Lab, LabError, _import

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")
from keras.layers import (Activation, AveragePooling1D, Dense, Dropout, Embedding, Flatten, GaussianNoise,  # noqa: E402
                          GlobalAveragePooling1D, GlobalMaxPooling1D, Identity, Input, Lambda, MaxPooling1D, Permute,
                          Reshape, SpatialDropout1D)
from keras.models import Model, Sequential  # noqa: E402

EMBEDDINGS = _import(str(REPO / "source" / "embeddings" / "grading.py"), "embeddings", "test")
NUMPY = _import(str(REPO / "source" / "numpy_basics" / "grading.py"), "numpy_basics", "test")
QUESTIONS = EMBEDDINGS.judge.__globals__ and NUMPY.judge.__globals__["QUESTIONS"]
CELLS = ["q1_param_count", "q2_structure", "q2_shares_layer", "q2_same_predictions", "q2_follows_shared_weights"]


def lab_objects():
    """What the lab's own cells build, weights as the lab leaves them (all ones)."""
    matrix = np.arange(40, dtype="float32").reshape(10, 4)
    layer = Embedding(output_dim=4, input_dim=10, weights=[matrix], name="my_embedding")
    x = Input(shape=[1], name="input")
    model = Model(inputs=x, outputs=layer(x))
    x = Input(shape=[1], name="input")
    model2 = Model(inputs=x, outputs=Flatten()(layer(x)))
    model2.set_weights([np.ones((10, 4))])
    return layer, model, model2


def export(grade_id, answers, lab, calls=None):
    """One hand-over, through JSON, as the grader receives it."""
    encoder = Encoder(calls)
    record = {"grade_id": grade_id, "answers": {k: encoder.encode(v) for k, v in answers.items()},
              "lab": {k: encoder.encode(v) for k, v in lab.items()}, "objects": encoder.objects, "ids": encoder.ids,
              "evidence": [], "watched": True}
    return validate(json.loads(json.dumps(record)))


@pytest.fixture(scope="module")
def reference():
    layer, model, model2 = lab_objects()
    model3 = Sequential([layer, Flatten()])
    lab = {"model": model, "model2": model2}
    return {cell: export(cell, {"trainable_params_model2": 40} if cell == CELLS[0] else {"model3": model3}, lab)
            for cell in CELLS}


def scores(reference, build, count=40, seed=0):
    """{grade id: passed} for the model3 that ``build(layer, model, model2)`` makes."""
    layer, model, model2 = lab_objects()
    model3 = build(layer, model, model2)
    lab = {"model": model, "model2": model2}
    rng = np.random.default_rng(seed)
    verdicts = {}
    for cell in CELLS:
        answers = {"trainable_params_model2": count} if cell == CELLS[0] else {"model3": model3}
        check = Check(cell, Answers(export(cell, answers, lab)), Answers(reference[cell]), rng)
        verdicts[cell] = EMBEDDINGS.judge(check)
    return verdicts


def passed(verdicts):
    return {cell for cell, verdict in verdicts.items() if verdict.passed}


CORRECT = {
    "list_and_flatten": lambda layer, model, model2: Sequential([layer, Flatten()]),
    "add_method": lambda layer, model, model2: _added(layer),
    "explicit_input": lambda layer, model, model2: Sequential([keras.Input(shape=(1,)), layer, Flatten()]),
    "reshape": lambda layer, model, model2: Sequential([layer, Reshape((-1,))]),
    "layer_taken_from_model2": lambda layer, model, model2: Sequential([model2.layers[1], model2.layers[2]]),
    # every built-in layer that computes an accepted answer is rebuilt (keras_models.LAYERS)
    "global_average_pooling": lambda layer, model, model2: Sequential([layer, GlobalAveragePooling1D()]),
    "global_max_pooling": lambda layer, model, model2: Sequential([layer, GlobalMaxPooling1D()]),
    "pooling_kept_dims": lambda layer, model, model2: Sequential([layer, GlobalAveragePooling1D(keepdims=True),
                                                                  Reshape((4,))]),
    "average_pooling_then_flatten": lambda layer, model, model2: Sequential([layer, AveragePooling1D(1), Flatten()]),
    "max_pooling_then_flatten": lambda layer, model, model2: Sequential([layer, MaxPooling1D(1, padding="same"),
                                                                         Flatten()]),
    "permute_then_flatten": lambda layer, model, model2: Sequential([layer, Permute((2, 1)), Flatten()]),
    "no_ops_around": lambda layer, model, model2: Sequential([layer, Dropout(0.5), Identity(), SpatialDropout1D(0.2),
                                                             GaussianNoise(1.0), Activation("linear"), Flatten()]),
}


def _added(layer):
    model3 = Sequential()
    model3.add(layer)
    model3.add(Flatten())
    return model3


@pytest.mark.parametrize("name", list(CORRECT))
def test_every_correct_model3_passes_every_check(reference, name):
    verdicts = scores(reference, CORRECT[name])
    assert passed(verdicts) == set(CELLS), {c: v.message for c, v in verdicts.items()}


@pytest.mark.parametrize("build, expected", [
    (lambda layer, model, model2: Sequential([Embedding(10, 4), Flatten()]), {"q2_structure"}),
    (lambda layer, model, model2: Sequential([Embedding(10, 4, weights=model2.get_weights()), Flatten()]),
     {"q2_structure", "q2_same_predictions"}),
    (lambda layer, model, model2: model2, set()),
    (lambda layer, model, model2: Sequential([model2]), {"q2_shares_layer", "q2_same_predictions", "q2_follows_shared_weights"}),
    (lambda layer, model, model2: Sequential([Reshape((1,)), Sequential([Reshape((1,)), model2])]),
     {"q2_shares_layer", "q2_same_predictions", "q2_follows_shared_weights"}),  # padding hides nothing
    (lambda layer, model, model2: Sequential([layer]), {"q2_shares_layer", "q2_follows_shared_weights"}),  # shape
    (lambda layer, model, model2: Sequential([layer, Flatten(), Dense(4)]), {"q2_structure", "q2_shares_layer"}),
], ids=["fresh", "copied", "is_model2", "wraps_model2", "padded_wrap", "no_flatten", "extra_dense"])
def test_wrong_answers_earn_what_they_are_worth(reference, build, expected):
    verdicts = scores(reference, build, count=80)
    assert passed(verdicts) == expected, {c: v.message for c, v in verdicts.items()}
    for cell, verdict in verdicts.items():
        assert verdict.passed or (": " in verdict.message and verdict.message.count(". ") == 0), verdict.message


def test_code_the_grader_would_have_to_run_is_not_gradable(reference):
    lambda_model = lambda layer, model, model2: Sequential([layer, Flatten(), Lambda(lambda t: t)])  # noqa: E731
    assert "Lambda" in scores(reference, lambda_model)["q2_structure"].message

    class Liar(Sequential):
        @property
        def layers(self):
            return [self]
    derived = scores(reference, lambda layer, model, model2: Liar([layer, Flatten()]))
    assert not passed(derived) - {"q1_param_count"}
    assert "derived from Sequential" in derived["q2_structure"].message


def test_the_count_is_judged_against_the_instructors_model2(reference):
    for count, ok in ((40, True), (np.int64(40), True), (40.0, True), (np.longdouble(40), True), (np.float16(40), True),
                      (np.longdouble(40) + np.longdouble(2) ** -55, False), (80, False), (40.5, False), (True, False),
                      ("40", False), (UNDEFINED, False), (None, False)):
        verdict = scores(reference, CORRECT["list_and_flatten"], count=count)["q1_param_count"]
        assert verdict.passed is ok, (count, verdict.message)


def test_forging_fields_without_knowing_the_answer_gains_nothing(reference):
    """Copying the lab's model2 into model3's place, or any other field into another."""
    layer, model, model2 = lab_objects()
    forged = export("q2_follows_shared_weights", {"model3": model2}, {"model": model, "model2": model2})
    verdict = EMBEDDINGS.judge(Check("q2_follows_shared_weights", Answers(forged),
                                     Answers(reference["q2_follows_shared_weights"]), np.random.default_rng(1)))
    assert not verdict.passed and "model2 itself" in verdict.message
    forged["answers"]["model3"] = forged["lab"]["model"]
    verdict = EMBEDDINGS.judge(Check("q2_structure", Answers(forged), Answers(reference["q2_structure"]),
                                     np.random.default_rng(1)))
    assert not verdict.passed


def test_weight_sharing_is_the_structure_of_the_export(reference):
    layer, model, model2 = lab_objects()
    model3 = Sequential([layer, Flatten()])
    answers = Answers(export("q", {"model3": model3}, {"model": model, "model2": model2}))
    rebuilt, rebuilt_model = answers.keras("model3"), answers.lab("model")
    assert any(a is b for a in layers_deep(rebuilt) for b in layers_deep(rebuilt_model))
    rebuilt_model.set_weights([np.full((10, 4), 7.0)])  # written through model: model3 follows, in the grader
    assert np.allclose(rebuilt(np.array([[3]])), 7.0)
    assert np.allclose(model3(np.array([[3]])), 1.0)  # the kernel's objects are untouched


def test_an_unreadable_or_malformed_export_is_refused():
    layer, model, model2 = lab_objects()
    good = export("q", {"model3": Sequential([layer, Flatten()])}, {"model2": model2})
    for damage in (lambda r: r.pop("evidence"), lambda r: r["answers"].update(model3={"kind": "object", "ref": "x1"}),
                   lambda r: r["objects"].update(o1={"class": 3}), lambda r: r.update(grade_id=["q"]),
                   lambda r: r["answers"].update(model3={"kind": "int", "value": float("nan")})):
        record = json.loads(json.dumps(good))
        damage(record)
        with pytest.raises(Malformed):
            validate(record)
    record = json.loads(json.dumps(good))
    record["objects"]["o2"]["weights"][0]["data"] = "!!!"
    with pytest.raises(Malformed):
        Answers(validate(record)).keras("model3")
    weights = json.loads(json.dumps(good))
    weights["objects"]["o2"]["config"]["input_dim"] = 10 ** 9
    with pytest.raises(NotGradable):
        Answers(validate(weights)).keras("model3")


def test_two_runs_of_the_lab_cells_have_one_structure_and_a_swap_does_not():
    first, second = lab_objects(), lab_objects()
    one = export("q", {}, {"model": first[1], "model2": first[2]})
    two = export("q", {}, {"model": second[1], "model2": second[2]})
    assert structure(one) == structure(two)
    own = Embedding(10, 4)
    x = Input(shape=[1])
    swapped = export("q", {}, {"model": Model(x, Flatten()(own(x))), "model2": first[2]})
    assert structure(swapped) != structure(one)


def test_numpy_functions_are_called_on_the_graders_inputs_only():
    rng = np.random.default_rng(3)
    for grade_id, (name, solution, _) in QUESTIONS.items():
        calls = NUMPY.arguments(grade_id, rng)
        good = export(grade_id, {name: solution}, {}, calls=calls)
        assert NUMPY.judge(Check(grade_id, Answers(good), Answers(good), rng, calls)).passed
        wrong = export(grade_id, {name: lambda *a: np.zeros(3)}, {}, calls=calls)
        assert not NUMPY.judge(Check(grade_id, Answers(wrong), Answers(good), rng, calls)).passed
    calls = NUMPY.arguments("q1_column_means", rng)
    raising = export("q1_column_means", {"column_means": lambda a: 1 / 0}, {}, calls=calls)
    verdict = NUMPY.judge(Check("q1_column_means", Answers(raising), Answers(raising), rng, calls))
    assert "ZeroDivisionError" in verdict.message
    listed = export("q1_column_means", {"column_means": lambda a: a.mean(axis=0).tolist()}, {}, calls=calls)
    assert NUMPY.judge(Check("q1_column_means", Answers(listed), Answers(listed), rng, calls)).passed


def test_a_quoted_line_is_the_line_python_numbers():
    source = "x = 1  # \u2028 a line break Python does not count\ny = 2\x0c\njson.dumps = forged\n"
    assert hint([("q1_answer", source)], ["dumps"]) == "q1_answer, line 3: json.dumps = forged"
    assert "\x1b" not in hint([("c", "\x1b[2Jjson.dumps = f")], ["dumps"])


def test_a_misspelt_lab_attribute_names_the_file_and_the_attribute(tmp_path):
    path = tmp_path / "grading.py"
    path.write_text("from labgrader.lab import Lab\nlab = Lab(judge=print, pinned_name=('model',))\n")
    with pytest.raises(LabError, match=r"grading.py.*pinned_name"):
        _import(str(path), "broken", "x")
    path.write_text("from labgrader.lab import Lab\nlab = Lab(judge=print, warm_imports='tensorflow')\n")
    with pytest.raises(LabError, match="warm_imports must be a tuple"):
        _import(str(path), "broken", "x")
    path.write_text("judge = print\n")
    with pytest.raises(LabError, match="must define `lab = Lab"):
        _import(str(path), "broken", "x")
    assert isinstance(EMBEDDINGS, Lab) and EMBEDDINGS.pinned_names == ("model", "model2")
