"""What the embeddings lab's hidden tests observe in the student's kernel.

Nothing here decides a grade: it reports facts about the student's answers as plain JSON, and
the grader judges them (``grading.py``, which students never get). Its probes (which ids to try,
which weights to write through ``model``, a nonce) come from the grader, per submission.
"""
import numpy as np

from labgrader.kernels import observe

# Taken when the grader loads this module, just before the test cell: code that runs later in the
# cell (a layer of model3 called by the observer) may rebind observe.report, not this.
_report = observe.report



def capture(namespace):
    """Run by the grader just before the first cell a student could have written: the objects
    the lab's own cells built, so that rebinding their names later changes nothing (kept by the
    engine: this module is loaded afresh for every test cell)."""
    observe.keep("lab", _lab_objects(namespace))


def _lab_objects(namespace):
    lab = {name: namespace.get(name) for name in ("model", "model2", "vocab_size", "embedding_size")}
    lab["embedding_layer"] = _shared_embedding(lab["model"], lab["model2"])
    return lab


def _shared_embedding(model, model2):
    """The embedding layer *object* that model and model2 both use (not the global name)."""
    from keras.layers import Embedding

    def embeddings(m):
        return [layer for layer in getattr(m, "layers", []) if isinstance(layer, Embedding)]
    shared = [layer for layer in embeddings(model2) if any(layer is other for other in embeddings(model))]
    return shared[0] if shared else None


def _lab_now(namespace):
    return observe.kept("lab") or _lab_objects(namespace)  # no capture: the instructor running the notebook


def report_parameter_count(grade_id, namespace):
    lab = _lab_now(namespace)
    answer = namespace.get("trainable_params_model2", observe.UNDEFINED)
    facts = {"answer": observe.describe(answer)}
    if (observe.probe(grade_id) or {}).get("reference"):
        # only in the instructor's run: the expectation must not travel with a student's record
        facts["model2_trainable_parameters"] = sum(int(np.prod(w.shape)) for w in lab["model2"].trainable_weights)
    _report(grade_id, facts)


def report_model3(grade_id, namespace):
    """Facts about ``model3``: what it is, what it contains, what it returns for the probe's ids,
    and what it returns after the probe's weights were written through ``model``."""
    lab = _lab_now(namespace)
    vocab_size, embedding_size = int(lab["vocab_size"]), int(lab["embedding_size"])
    probe = observe.probe(grade_id) or {}
    ids = probe.get("ids")
    ids = np.arange(vocab_size) if ids is None else np.asarray(ids, dtype="int64")
    facts = {"vocab_size": vocab_size, "embedding_size": embedding_size, "ids": ids.tolist(),
             "model3": _describe_model(namespace.get("model3", observe.UNDEFINED), lab)}
    if facts["model3"]["state"] == "value":
        model3, column = namespace["model3"], ids.reshape(-1, 1)
        facts["outputs"] = _outputs(model3, column)
        facts["model2_outputs"] = _outputs(lab["model2"], column)
        if probe.get("weights") is not None:
            facts.update(_outputs_with_weights(model3, lab["model"], lab["model2"], probe["weights"], column))
    _report(grade_id, facts)


def _describe_model(candidate, lab):
    if candidate is observe.UNDEFINED:
        return {"state": "undefined"}
    if candidate is None:
        return {"state": "none"}
    from keras import Model, Sequential
    from keras.src.models.functional import Functional
    kind = type(candidate)  # type(), not isinstance(): __class__ can be faked
    layers = _layers_of(candidate)
    return {"state": "value", "class": kind.__name__, "module": kind.__module__,
            "is_keras_model": issubclass(kind, Model), "is_sequential": issubclass(kind, Sequential),
            "is_derived_class": issubclass(kind, Model) and kind not in (Sequential, Functional, Model),
            "is_model": candidate is lab["model"], "is_model2": candidate is lab["model2"],
            "layers": [{"class": type(layer).__name__, "is_model": issubclass(type(layer), Model)} for layer in layers[:50]],
            "contains_lab_embedding": _contains(candidate, lab["embedding_layer"])}


def _layers_of(obj):
    """A Keras model's layers, read through Keras's own property (a subclass may override it)."""
    from keras import Model, Sequential
    kind = type(obj)
    if issubclass(kind, Sequential):
        return list(Sequential.layers.fget(obj))
    if issubclass(kind, Model):
        return list(Model.layers.fget(obj))
    return []


def _contains(model, layer):
    """Whether ``layer`` (by identity) is one of model's layers, at any depth."""
    stack, seen = _layers_of(model), 0
    while stack and seen < 10_000:
        current, seen = stack.pop(), seen + 1
        if current is layer:
            return True
        stack.extend(_layers_of(current))
    return False


def _outputs(model, column):
    """model(ids) called eagerly (Keras 3's cached predict can fail across input ranks), through
    Keras's own Layer.__call__ (a subclass may override __call__)."""
    from keras import Model, ops
    from keras.layers import Layer
    if not issubclass(type(model), Model):
        return {"error": "not a Keras model"}
    try:
        result = ops.convert_to_numpy(Layer.__call__(model, column, training=False))
    except Exception as exc:  # the student's model may raise anything
        return {"error": type(exc).__name__}
    if getattr(result, "dtype", None) is None or result.dtype.kind != "f":
        return {"error": "not an array of floats"}
    return observe.array(result)


def _outputs_with_weights(model3, owner, model2, weights, column):
    """Write the probe's weights through ``owner`` (another model using the shared layer), see
    what model3 and model2 return, then restore the weights. Through Keras's own Layer methods:
    the instance's may have been replaced."""
    from keras.layers import Layer
    saved = Layer.get_weights(owner)
    try:
        Layer.set_weights(owner, [np.asarray(weights, dtype=saved[0].dtype)] + saved[1:])
        return {"outputs_with_probe_weights": _outputs(model3, column),
                "model2_outputs_with_probe_weights": _outputs(model2, column)}
    finally:
        Layer.set_weights(owner, saved)
