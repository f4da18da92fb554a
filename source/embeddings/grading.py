"""How the embeddings lab is graded, on the grader's side (see labgrader/judging/lab.py).

The hidden test cells only observe (``observers.py``, in the student's kernel); this module,
which runs only in the grader's process, chooses the probes and judges the observations.
Expectations come from the reference run of the instructor's notebook (``reference``) and from
the probes chosen here, never from the student's kernel.
"""
import numpy as np

from labgrader.judging.values import array, failed, field, passed, whole_number

# What the hidden tests run in the kernel: loaded afresh, from the grader's copy, for every test cell.
observer_modules = ("observers",)
# Put back before every test cell if student code changed them (see labgrader.kernels.observe).
protected_modules = ("numpy", "keras", "keras.ops", "keras.layers", "keras.models")
protected_classes = ("keras.Model", "keras.Sequential", "keras.layers.Layer", "keras.layers.Embedding",
                     "keras.layers.Flatten", "keras.layers.Reshape", "keras.layers.InputLayer")
# Names the lab's own cells define: a cell added before the first answer must not rebind them (flagged).
protected_names = ("model", "model2", "embedding_layer", "embedding_matrix", "vocab_size", "embedding_size")
# Imported once by the batch command's fork server, so each submission's kernel starts with them.
warm_imports = ("tensorflow", "keras", "keras.layers", "keras.models")
# What an answer to this lab may import; anything else is flagged for manual review (labgrader.judging.scan).
allowed_imports = ("numpy", "tensorflow", "keras", "math", "numbers")
# Run silently before the first cell a student could have written (see observers.capture).
before_student_code = "import observers as _lab_observers; _lab_observers.capture(globals()); del _lab_observers"

MODEL3_CELLS = ("q2_structure", "q2_shares_layer", "q2_same_predictions", "q2_follows_shared_weights")
BUILD = "build it with Sequential([...]) in the answer cell and run that cell."


def reference_probes():
    """For the instructor's notebook: every id in order, no weights written."""
    return {"q1_param_count": {"reference": True}, **{cell: {"ids": None, "weights": None} for cell in MODEL3_CELLS}}


def probes(rng, reference):
    """Per submission: every id once plus a few repeats, in random order; random weights to
    write through ``model`` (so neither replayed observations nor a model that returns fixed
    values can pass)."""
    facts = reference["q2_structure"]
    vocab_size, embedding_size = facts["vocab_size"], facts["embedding_size"]
    ids = rng.permutation(np.concatenate([np.arange(vocab_size), rng.integers(0, vocab_size, 3)]))
    weights = np.round(rng.uniform(-100, 100, size=(vocab_size, embedding_size)), 3)
    probe = {"ids": ids.tolist(), "weights": weights.tolist()}
    return {"q1_param_count": {}, **{cell: dict(probe) for cell in MODEL3_CELLS}}


def judge(grade_id, observations, probe, reference):
    if grade_id == "q1_param_count":
        return _parameter_count(observations, reference[grade_id])
    return _MODEL3_JUDGES[grade_id](observations, probe, reference)


def _parameter_count(observations, reference):
    answer = field(observations, "answer", dict)
    kind = field(answer, "kind", str)
    if kind == "undefined":
        return failed("trainable_params_model2 is not defined: assign the number of trainable parameters of model2 to it.")
    if kind == "none":
        return failed("trainable_params_model2 is still None: assign the number of trainable parameters of model2 to it.")
    count = whole_number(answer)
    if count is None:
        return failed("trainable_params_model2 must be a whole number such as 12.")
    if count != field(reference, "model2_trainable_parameters", int):
        return failed("trainable_params_model2 is not the number of trainable parameters of model2: "
                      "add up the parameters of each layer listed by model2.summary().")
    return passed()


def _model3(observations, probe):
    """The facts about model3, or the verdict when there is no model of its own to judge."""
    if [int(i) for i in field(observations, "ids", list)] != probe["ids"]:
        return None, failed("The observations of model3 are not for the ids the grader chose: run the notebook unchanged.")
    facts = field(observations, "model3", dict)
    state = field(facts, "state", str)
    if state == "undefined":
        return None, failed("model3 is not defined: " + BUILD)
    if state == "none":
        return None, failed("model3 is still None: " + BUILD)
    for existing in ("model", "model2"):
        if field(facts, f"is_{existing}", bool):
            return None, failed(f"model3 is {existing} itself: build a new model with Sequential([...]) that reuses embedding_layer.")
    return facts, None


def _outputs(observations, key, ids_count):
    """model3's outputs, or the verdict when it could not produce a batch of vectors."""
    encoded = field(observations, key, dict)
    if "error" in encoded:
        return None, failed(f"model3 raised {field(encoded, 'error', str)[:80]} on a batch of ids shaped ({ids_count}, 1): "
                            "it must accept the same input as model2, a column of integer ids.")
    return array(encoded), None


def _structure(observations, probe, reference):
    facts, verdict = _model3(observations, probe)
    if verdict:
        return verdict
    if not field(facts, "is_sequential", bool):
        return failed("model3 is not a Sequential model: build it with Sequential([...]).")
    if field(facts, "is_derived_class", bool):
        return failed("model3 is an instance of a class derived from Sequential: build it with Sequential([...]) itself.")
    if any(field(layer, "is_model", bool) for layer in field(facts, "layers", list)):
        return failed("model3 wraps a whole model instead of stacking layers: build it from embedding_layer "
                      "and a Flatten() layer, not from model or model2.")
    outputs, verdict = _outputs(observations, "outputs", len(probe["ids"]))
    if verdict:
        return verdict
    if outputs.shape != (len(probe["ids"]), reference["q2_structure"]["embedding_size"]):
        return failed("model3 does not return one embedding vector per id: add a Flatten() layer after the embedding layer.")
    return passed()


def _shares_layer(observations, probe, reference):
    facts, verdict = _model3(observations, probe)
    if verdict:
        return verdict
    message = ("model3 does not contain the embedding layer of model and model2: pass that same "
               "embedding_layer object to Sequential instead of creating a new Embedding.")
    if not field(facts, "contains_lab_embedding", bool):
        return failed(message)
    # ...and uses it: writing the shared weights through model changes what model3 returns
    now, verdict = _outputs(observations, "outputs", len(probe["ids"]))
    after, verdict_after = _outputs(observations, "outputs_with_probe_weights", len(probe["ids"]))
    if not (verdict or verdict_after) and now.shape == after.shape and np.allclose(now, after):
        return failed(message)
    return passed()


def _same_predictions(observations, probe, reference):
    facts, verdict = _model3(observations, probe)
    if verdict:
        return verdict
    outputs, verdict = _outputs(observations, "outputs", len(probe["ids"]))
    if verdict:
        return verdict
    # what model2 gives for every id, in the instructor's run...
    table = array(field(reference["q2_same_predictions"], "outputs", dict))
    expected = table[np.asarray(probe["ids"])]
    # ...and what the lab's own model2 gives in this kernel (an extra condition: it can only take points away)
    model2_now = field(observations, "model2_outputs", dict)
    same_as_model2 = "error" not in model2_now and np.allclose(array(model2_now), outputs) if outputs.shape == expected.shape else False
    if outputs.shape != expected.shape or not np.allclose(outputs, expected) or not same_as_model2:
        return failed("model3 does not give the same embedding vectors as model2 for every id: stack only "
                      "embedding_layer and Flatten(), with no other layers.")
    return passed()


def _follows_shared_weights(observations, probe, reference):
    facts, verdict = _model3(observations, probe)
    if verdict:
        return verdict
    outputs, verdict = _outputs(observations, "outputs_with_probe_weights", len(probe["ids"]))
    if verdict:
        return verdict
    expected = np.asarray(probe["weights"], dtype=np.float32)[np.asarray(probe["ids"])]
    # the lab's own model2 must follow the weights written through model: else the write went elsewhere
    model2_after = field(observations, "model2_outputs_with_probe_weights", dict)
    if "error" in model2_after or not np.allclose(array(model2_after).reshape(expected.shape), expected, atol=1e-3):
        return failed("The weights written through model did not reach model2: run the lab's cells unchanged "
                      "and do not change model, model2 or embedding_layer.")
    follows = outputs.size == expected.size and np.allclose(outputs.reshape(expected.shape), expected, atol=1e-3)
    if not follows and field(facts, "contains_lab_embedding", bool):
        return failed("model3 uses the shared embedding layer, but its output does not follow the shared weights: "
                      "stack only embedding_layer and Flatten(), with no other layers.")
    if not follows:
        return failed("model3 has its own copy of the embedding weights: pass the existing embedding_layer "
                      "object to Sequential instead of creating a new Embedding or copying its weights.")
    return passed()


_MODEL3_JUDGES = {"q2_structure": _structure, "q2_shares_layer": _shares_layer,
                  "q2_same_predictions": _same_predictions, "q2_follows_shared_weights": _follows_shared_weights}
