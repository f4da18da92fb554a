"""How the embeddings lab is graded, on the grader's side (the contract: labgrader/lab.py).

After each graded test cell's visible code, the grader hands the answer ``handovers`` names
over as data (``labgrader.kernels.export``), with the lab's own ``model`` and ``model2`` pinned
right after the lab cells that built them; the hidden test regions of the notebook never run in
the grader (they fail, for any other runner). This module runs only in the grader: every check
runs here, on the answers rebuilt from built-in Keras classes (and cross-checked against what the
student's real model3 computes), with ids and weights this grader draws, against expectations
from the instructor's run. Nothing expected ever enters the student's kernel.
"""
import numpy as np

from labgrader.judging.keras_models import TooLarge, call, is_model, keras, layers_deep, qualified, trainable_parameters
from labgrader.lab import Check, Lab, NotGradable, Verdict, failed, passed

MODEL3_CELLS = ("q2_structure", "q2_shares_layer", "q2_same_predictions", "q2_follows_shared_weights")
BUILD = "build it with Sequential([...]) in the answer cell and run that cell."
SHARE = ("model3 does not contain the embedding layer of model and model2: pass that same embedding_layer "
         "object to Sequential instead of creating a new Embedding.")


def judge(check: Check) -> Verdict:
    if check.grade_id == "q1_param_count":
        return _parameter_count(check)
    try:
        model3 = _model3(check)
    except _Verdict as verdict:
        return verdict.verdict
    return _MODEL3_JUDGES[check.grade_id](check, model3)


class _Verdict(Exception):
    """A check decided before it could look at model3 (it is missing, or model or model2 itself)."""

    def __init__(self, verdict: Verdict):
        self.verdict = verdict


def _parameter_count(check: Check) -> Verdict:
    answer = check.answers.value("trainable_params_model2")
    if answer.kind == "undefined":
        return failed("trainable_params_model2 is not defined: assign the number of trainable parameters of model2 to it.")
    if answer.kind == "none":
        return failed("trainable_params_model2 is still None: assign the number of trainable parameters of model2 to it.")
    count = answer.whole_number()
    if count is None:
        return failed("trainable_params_model2 must be a whole number such as 12.")
    if count != trainable_parameters(check.reference.lab("model2")):
        return failed("trainable_params_model2 is not the number of trainable parameters of model2: "
                      "add up the parameters of each layer listed by model2.summary().")
    return passed()


def _model3(check: Check):
    value = check.answers.value("model3")
    if value.kind == "undefined":
        raise _Verdict(failed("model3 is not defined: " + BUILD))
    if value.kind == "none":
        raise _Verdict(failed("model3 is still None: " + BUILD))
    if value.kind == "error":
        raise _Verdict(failed(f"model3 could not be handed over to the grader ({value.error[:80]}): " + BUILD))
    if value.kind != "object":
        raise _Verdict(failed(f"model3 is a {value.type.rpartition('.')[2] or value.kind}, not a Keras model: " + BUILD))
    for existing in ("model", "model2"):
        try:
            if check.answers.same_object(value, check.answers.lab_value(existing)):
                raise _Verdict(failed(f"model3 is {existing} itself: build a new model with Sequential([...]) "
                                      "that reuses embedding_layer."))
        except NotGradable:  # the lab's object was changed: the checks that need it say so
            pass
    described = check.answers.describe("model3")
    if described["model"] == "sequential" and described["class"] != qualified(keras().Sequential):
        raise _Verdict(failed("model3 is an instance of a class derived from Sequential: build it with "
                              "Sequential([...]) itself."))
    try:
        return check.answers.keras("model3")
    except NotGradable as exc:
        raise _Verdict(failed(f"model3 cannot be graded: {exc}.")) from None


def _sizes(check: Check) -> tuple[int, int]:
    """vocab_size and embedding_size, from the instructor's own embedding layer."""
    embedding = _shared_embedding(check.reference.lab("model"), check.reference.lab("model2"))
    return embedding.input_dim, embedding.output_dim


def _ids(check: Check) -> np.ndarray:
    """Every id once plus a few repeats, in an order this grader draws: a column, as model2 takes."""
    vocab_size, _ = _sizes(check)
    ids = check.rng.permutation(np.concatenate([np.arange(vocab_size), check.rng.integers(0, vocab_size, 3)]))
    return ids.reshape(-1, 1)


def _shared_embedding(model, model2):
    """The embedding layer object that model and model2 both use (None if none)."""
    embedding = keras().layers.Embedding
    theirs = [layer for layer in layers_deep(model) if isinstance(layer, embedding)]
    shared = [layer for layer in layers_deep(model2) if isinstance(layer, embedding) and any(layer is t for t in theirs)]
    return shared[0] if shared else None


def _outputs(model3, ids: np.ndarray) -> np.ndarray:
    try:
        return call(model3, ids)
    except TooLarge as exc:
        raise _Verdict(failed(f"model3 cannot be graded: {exc}.")) from None
    except NotGradable as exc:
        raise _Verdict(failed(f"model3 raised {str(exc)[:80]} on a batch of ids shaped {ids.shape}: it must accept "
                              "the same input as model2, a column of integer ids.")) from None


def _structure(check: Check, model3) -> Verdict:
    if type(model3) is not keras().Sequential:
        return failed("model3 is not a Sequential model: build it with Sequential([...]).")
    if any(is_model(layer) for layer in layers_deep(model3)):  # at any depth: padding cannot hide one
        return failed("model3 wraps a whole model instead of stacking layers: build it from embedding_layer "
                      "and a Flatten() layer, not from model or model2.")
    ids = _ids(check)
    outputs = _outputs(model3, ids)
    if outputs.shape != (len(ids), _sizes(check)[1]):
        return failed("model3 does not return one embedding vector per id: add a Flatten() layer after the embedding layer.")
    return passed()


def _lab_models(check: Check):
    """The student's model and model2 as the lab's cells built them, and the layer they share."""
    model, model2 = check.answers.lab("model"), check.answers.lab("model2")
    shared = _shared_embedding(model, model2)
    if shared is None:
        raise NotGradable("model and model2 no longer share an embedding layer: run the lab's cells unchanged")
    return model, model2, shared


def _write(model, shared, weights: np.ndarray) -> None:
    """New weights for the shared layer, written through ``model`` (as the lab's demo does)."""
    model.set_weights([weights if w is shared.embeddings else w.numpy() for w in model.weights])


def _shares_layer(check: Check, model3) -> Verdict:
    model, _, shared = _lab_models(check)
    if not any(layer is shared for layer in layers_deep(model3)):
        return failed(SHARE)
    # ...and uses it: new weights written through model change what model3 returns
    ids = _ids(check)
    before = _outputs(model3, ids)
    _write(model, shared, check.rng.uniform(-100, 100, size=tuple(shared.embeddings.shape)).astype("float32"))
    after = _outputs(model3, ids)
    if before.shape == after.shape and np.allclose(before, after):
        return failed(SHARE)
    return passed()


def _same_predictions(check: Check, model3) -> Verdict:
    _, model2, _ = _lab_models(check)  # the lab's own model2 (the very object its cells built)
    ids = _ids(check)
    outputs = _outputs(model3, ids)
    expected = call(model2, ids)       # with whatever weights it has now: training the shared layer is fine
    if outputs.shape != expected.shape or not np.allclose(outputs, expected):
        return failed("model3 does not give the same embedding vectors as model2 for every id: stack only "
                      "embedding_layer and Flatten(), with no other layers.")
    return passed()


def _follows_shared_weights(check: Check, model3) -> Verdict:
    model, model2, shared = _lab_models(check)
    ids = _ids(check)
    weights = np.round(check.rng.uniform(-100, 100, size=tuple(shared.embeddings.shape)), 3).astype("float32")
    _write(model, shared, weights)
    expected = weights[ids.ravel()]
    through_model2 = call(model2, ids)
    if through_model2.size != expected.size or not np.allclose(through_model2.reshape(expected.shape), expected, atol=1e-3):
        return failed("The weights written through model did not reach model2: run the lab's cells unchanged "
                      "and do not change model, model2 or embedding_layer.")
    outputs = _outputs(model3, ids)
    follows = outputs.size == expected.size and np.allclose(outputs.reshape(expected.shape), expected, atol=1e-3)
    if not follows and any(layer is shared for layer in layers_deep(model3)):
        return failed("model3 uses the shared embedding layer, but its output does not follow the shared weights: "
                      "stack only embedding_layer and Flatten(), with no other layers.")
    if not follows:
        return failed("model3 has its own copy of the embedding weights: pass the existing embedding_layer "
                      "object to Sequential instead of creating a new Embedding or copying its weights.")
    return passed()


def _judged(function):
    """A model3 judge whose early verdicts (raised as _Verdict) and unrebuildable lab objects
    (NotGradable) become its verdict."""
    def judge_model3(check: Check, model3) -> Verdict:
        try:
            return function(check, model3)
        except _Verdict as verdict:
            return verdict.verdict
        except NotGradable as exc:
            return failed(f"{exc}.")
    return judge_model3


_MODEL3_JUDGES = {"q2_structure": _judged(_structure), "q2_shares_layer": _judged(_shares_layer),
                  "q2_same_predictions": _judged(_same_predictions),
                  "q2_follows_shared_weights": _judged(_follows_shared_weights)}

lab = Lab(
    judge=judge,
    handovers={"q1_param_count": ("trainable_params_model2",), **{cell: ("model3",) for cell in MODEL3_CELLS}},
    pinned_names=("model", "model2"),
    watched_modules=("numpy", "keras", "keras.layers", "keras.models", "keras.src.models.functional",
                     "keras.src.models.sequential", "tensorflow"),
    allowed_layers=("Embedding", "Flatten", "Reshape", "Dense", "Dropout", "Activation", "Identity"),
    warm_imports=("tensorflow", "keras", "keras.layers", "keras.models"),
)
