"""Is a hand-over faithful to what the kernel runs? The grader's checks, over plain data.

An export describes the student's objects; the grader rebuilds what it describes. Two checks
make sure that description is the object the student's code built and ran:

- the behavioural cross-check: for every Keras model a hand-over names, the grader draws inputs
  shaped by the model's input spec (``plan``), sends them to the kernel as plain data, the kernel
  calls the very object it handed over on them and returns what it computed
  (``labgrader.kernels.export.outputs``, checked by ``validate_outputs``), and the grader compares
  that with its own rebuild's outputs on the same inputs (``cross_check``). Only inputs enter the
  kernel; the comparison happens here.
- one object per question: every hand-over of one name in one notebook must describe the same
  object, with the same kernel identities and structure (``fingerprint``).

Inputs are uniform in [-1, 1) unless the lab declares a range for the name (``Lab.cross_check_inputs``);
a model whose input feeds an Embedding gets ids below its ``input_dim``, an integer input whole numbers.
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from .protocol import Malformed, array_fields
from .values import decode_array

EXAMPLES = (5, 12)            # examples per cross-check call: drawn in this range, per model
MAX_INPUT_NUMBERS = 200_000   # values sent to the kernel for one hand-over, all its models together
MAX_OUTPUT_NUMBERS = 2_000_000  # values a rebuilt model may return on them (else it is not cross-checked)
FREE_LENGTH = 2               # size given to a dimension the input spec leaves free (besides the batch)
EMBEDDING = "keras.src.layers.core.embedding.Embedding"


def model_refs(export: dict) -> dict[str, list[str]]:
    """{ref: the names (answers, then the lab's) whose value is that Keras model}."""
    found: dict[str, list[str]] = {}
    for section in ("answers", "lab"):
        for name, value in export[section].items():
            node = export["objects"].get(value.get("ref", "")) if value.get("kind") == "object" else None
            if isinstance(node, dict) and node.get("model") in ("sequential", "functional"):
                found.setdefault(value["ref"], []).append(name)
    return found


def input_specs(objects: dict, ref: str) -> list[tuple[dict, list]] | None:
    """[(input spec, the nodes that consume it)] of the model ``ref``, in the order the model takes
    its inputs; None when its inputs are not known (a Sequential never built)."""
    node = objects.get(ref, {})
    if node.get("model") == "sequential":
        layers = [objects.get(r, {}) for r in node.get("layers", [])]
        if node.get("input") is None or not layers:
            return None
        return [(node["input"], [_first_layer(objects, layers[0])])]
    if node.get("model") != "functional":
        return None
    graph = node.get("graph", {})
    entries = {entry.get("name"): entry for entry in graph.get("layers", []) if isinstance(entry, dict)}
    specs = []
    for history in _histories(graph.get("inputs")):
        entry = entries.get(history[0], {})
        spec = objects.get(entry.get("ref", ""), {}).get("input")
        if spec is None:
            return None
        consumers = [_first_layer(objects, objects.get(other.get("ref", ""), {})) for other in entries.values()
                     if _called_on(other.get("nodes"), history[0])]
        specs.append((spec, consumers))
    return specs or None


def plan(export: dict, rng: np.random.Generator, declared: Mapping[str, Any] | None = None) -> dict[str, list[np.ndarray]]:
    """{ref: the input arrays} the grader draws for the cross-check of each Keras model of
    ``export`` whose inputs are known and small enough; ``declared``: the lab's ranges by name."""
    chosen, budget = {}, MAX_INPUT_NUMBERS
    for ref, names in model_refs(export).items():
        specs = input_specs(export["objects"], ref)
        if specs is None:
            continue
        ranges = next((declared[name] for name in names if declared and name in declared), None)
        arrays = _draw(specs, ranges, rng, budget)
        if arrays is not None:
            chosen[ref] = arrays
            budget -= sum(a.size for a in arrays)
    return chosen


def _draw(specs: list[tuple[dict, list]], ranges: Any, rng: np.random.Generator, budget: int) -> list[np.ndarray] | None:
    """Inputs for one model: a random number of examples (which the kernel's model cannot expect),
    within ``budget`` values; None when even one example does not fit."""
    shapes = []
    for spec, _ in specs:
        shapes.append([n if type(n) is int and n > 0 else FREE_LENGTH for n in spec["batch_shape"][1:]])
    per_example = sum(int(np.prod(shape)) if shape else 1 for shape in shapes)
    examples = min(int(rng.integers(*EXAMPLES, endpoint=True)), budget // max(1, per_example))
    if examples < 1:
        return None
    arrays = []
    for (spec, consumers), shape in zip(specs, shapes):
        try:
            dtype = np.dtype(spec["dtype"])
        except TypeError:
            return None
        low, high, integers = _range(ranges, consumers, dtype)
        full = (examples, *shape)
        values = rng.integers(int(low), int(high), size=full) if integers else rng.uniform(low, high, size=full)
        arrays.append(values.astype(dtype))
    return arrays


def _range(ranges: Any, consumers: list, dtype: np.dtype) -> tuple[float, float, bool]:
    """[low, high) and whether whole numbers: the lab's, else ids for an Embedding, else by dtype."""
    if ranges is not None:
        return float(ranges.low), float(ranges.high), bool(ranges.integers) or dtype.kind in "biu"
    sizes = [c.get("config", {}).get("input_dim") for c in consumers if c.get("class") == EMBEDDING]
    sizes = [n for n in sizes if type(n) is int and n > 0]
    if sizes:
        return 0, min(sizes), True
    if dtype.kind == "b":
        return 0, 2, True
    if dtype.kind in "iu":
        return 0, 10, True
    return -1.0, 1.0, False


def _first_layer(objects: dict, node: dict) -> dict:
    """The first layer a model (or layer) applies to its input: through nested Sequential models."""
    for _ in range(16):
        if node.get("model") != "sequential" or not node.get("layers"):
            return node
        node = objects.get(node["layers"][0], {})
    return node


def _called_on(nodes: Any, name: str) -> bool:
    """Whether a functional model calls a layer (its serialized ``nodes``) on the output of ``name``."""
    if isinstance(nodes, dict):
        history = (nodes.get("config") or {}).get("keras_history") if nodes.get("class_name") == "__keras_tensor__" else None
        if isinstance(history, list) and history and history[0] == name:
            return True
        return any(_called_on(value, name) for value in nodes.values())
    if isinstance(nodes, list):
        return any(_called_on(value, name) for value in nodes)
    return False


def _histories(value: Any) -> list:
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [value]
    return [item for item in value if isinstance(item, list) and len(item) == 3] if isinstance(value, list) else []


# --- the wire: inputs out, outputs in -----------------------------------------------------------

def wire(inputs: dict[str, list[np.ndarray]]) -> dict[str, list[dict]]:
    """The inputs as the kernel reads them (``export.outputs``): dtype, shape and base64 data."""
    return {ref: [{"dtype": a.dtype.str, "shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}
                  for a in arrays] for ref, arrays in inputs.items()}


def validate_outputs(record: Any, grade_id: str) -> dict[str, dict]:
    """What the kernel says its models returned: {ref: {"id": int, "values": [array]} or
    {"id": int, "raised": str}}, checked field by field (Malformed otherwise)."""
    try:
        record = json.loads(json.dumps(record, allow_nan=False))
    except (TypeError, ValueError):
        raise Malformed("cross-check results that are not plain JSON") from None
    if not isinstance(record, dict) or set(record) != {"grade_id", "outputs"} or record["grade_id"] != grade_id:
        raise Malformed("cross-check results for another cell or with unexpected fields")
    outputs = record["outputs"]
    if not isinstance(outputs, dict) or len(outputs) > 500:
        raise Malformed("cross-check results must be a short object")
    for ref, result in outputs.items():
        if not isinstance(result, dict) or type(result.get("id")) is not int or \
                set(result) not in ({"id", "values"}, {"id", "raised"}):
            raise Malformed("a cross-check result must carry the model's identity and its values or error")
        if "raised" in result and (type(result["raised"]) is not str or len(result["raised"]) > 200):
            raise Malformed("a cross-check error must be a short string")
        if "values" in result:
            if type(result["values"]) is not list or len(result["values"]) > 16:
                raise Malformed("a cross-check result must be a short list of values")
            for value in result["values"]:
                if not isinstance(value, dict) or value.get("kind") not in ("array", "other"):
                    raise Malformed("a cross-check value must be an array")
                if value["kind"] == "array":
                    if set(value) != {"kind", "dtype", "shape", "data"}:
                        raise Malformed("a cross-check array has unexpected fields")
                    array_fields(value)
    return outputs


@dataclass(frozen=True)
class Finding:
    """Why one Keras model of a hand-over cannot be trusted to be what the kernel runs."""
    name: str           # the answer (or pinned) name whose value it is
    problem: str        # in words, for a human
    evidence: bool      # something only tampering explains (to flag), not just a model never run


def cross_check(export: dict, inputs: dict, outputs: list, rebuild: Callable[[str], Any]) -> Finding | None:
    """The behavioural cross-check of one hand-over: ``inputs`` are what the grader sent (ref ->
    arrays), ``outputs`` the kernel's result records (one expected), ``rebuild(ref)`` the grader's
    rebuild of a ref (raising when it cannot be rebuilt: then the judge says why, not this check)."""
    refs = model_refs(export)
    results: dict | None = None
    if refs and len(outputs) == 1:
        try:
            results = validate_outputs(outputs[0], export["grade_id"])
        except Malformed as exc:
            return Finding(next(iter(refs.values()))[0], f"its cross-check results are malformed ({exc})", True)
    for ref, names in refs.items():
        name = names[0]
        if ref not in inputs:  # no input spec (never built) or too large: nothing to run it on
            if name in export["answers"]:
                return Finding(name, "it was never run on data, or its inputs are too large: call it once, for "
                               "example with predict on a batch, in its answer cell", False)
            continue
        if results is None or ref not in results:
            return Finding(name, "the kernel did not return what it computes on the grader's inputs "
                           "(the cross-check was stopped)", True)
        try:
            rebuilt = rebuild(ref)
        except Exception:  # NotGradable or Malformed: not gradable at all, the judge says so
            continue
        if results[ref].get("id") != export["ids"].get(ref):
            return Finding(name, "the model the kernel ran on the grader's inputs is not the one it handed over", True)
        unchecked = _unrunnable(rebuilt, inputs[ref], results[ref])
        if unchecked:
            return Finding(name, unchecked, False)
        outputs, raised = _run(rebuilt, inputs[ref])
        if raised:  # the model it describes does not run on inputs of its own shape: nothing checks it
            return Finding(name, f"the model it describes raises {raised} on inputs of the shape it was built for", False)
        problem = compare(outputs, results[ref])
        if problem:
            return Finding(name, problem, True)
    return None


def _unrunnable(rebuilt: Any, inputs: list[np.ndarray], result: dict) -> str:
    """Why the grader cannot compare this model's outputs ("" when it can): outputs too large to
    compute here or to hand over, or a model it describes that Keras says does not take them."""
    if result.get("raised") == "OverflowError":
        return "its outputs are too large to hand over"
    try:
        shape = rebuilt.compute_output_shape(tuple(inputs[0].shape) if len(inputs) == 1 else [a.shape for a in inputs])
        shapes = shape if isinstance(shape, list) else [shape]
        numbers = sum(int(np.prod([n or 1 for n in s])) for s in shapes)
    except Exception as exc:  # what Keras says about the model it describes
        return f"the model it describes raises {type(exc).__name__} on inputs of the shape it was built for"
    if numbers > MAX_OUTPUT_NUMBERS:
        return "its outputs are too large to check"
    return ""


def compare(outputs: list[np.ndarray], result: dict) -> str | None:
    """How what the kernel's real model returned (``result``) differs from the rebuilt model's
    ``outputs``, in words; None when they agree."""
    if "raised" in result:
        return f"it raised {result['raised'][:80]} in the kernel, where the model it describes does not"
    theirs = []
    for value in result["values"]:
        if value.get("kind") != "array":
            return "it returned something other than numbers in the kernel"
        try:
            theirs.append(decode_array(value).astype(np.float64))
        except Malformed:
            return "its results in the kernel could not be read"
    if [a.shape for a in theirs] != [a.shape for a in outputs]:
        return (f"it returns shape {', '.join(str(a.shape) for a in theirs)} in the kernel and "
                f"{', '.join(str(a.shape) for a in outputs)} as described")
    for a, b in zip(theirs, outputs):
        if not np.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True):
            worst = float(np.nanmax(np.abs(a - b))) if a.size else 0.0
            return f"its outputs in the kernel differ from what its layers compute (by up to {worst:.3g})"
    return None


def _run(model: Any, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], str]:
    """The rebuilt model's outputs on ``inputs`` as float64 arrays, or the name of what it raised."""
    from .keras_models import keras
    try:
        returned = model(inputs[0] if len(inputs) == 1 else list(inputs), training=False)
        values = list(returned) if isinstance(returned, (list, tuple)) else [returned]
        return [np.asarray(keras().ops.convert_to_numpy(v)).astype(np.float64) for v in values], ""
    except Exception as exc:  # what the described model does with these inputs, compared with the kernel's
        return [], type(exc).__name__


# --- one object per question --------------------------------------------------------------------

def fingerprint(export: dict, name: str) -> str:
    """What one hand-over says about the answer ``name``: for a Keras object, the kernel identity,
    class, settings and weight shapes of everything it reaches (in the order the export meets them;
    not the weight values, which training may change); for a value, the value (a function: only
    that it is one, its results depend on the arguments)."""
    value = export["answers"][name]
    if value.get("kind") == "function":
        return "function"
    if value.get("kind") != "object":
        return json.dumps(value, sort_keys=True)
    objects, ids = export["objects"], export["ids"]
    digest = hashlib.sha256()
    stack, seen = [value.get("ref")], set()
    while stack:
        ref = stack.pop()
        if ref in seen:
            continue
        seen.add(ref)
        node = objects.get(ref) if str(ref).startswith("o") else None
        digest.update(json.dumps([ids.get(ref), _by_identity(node, ids)], sort_keys=True).encode())
        if isinstance(node, dict):
            stack += list(reversed(node.get("layers") or []))
            stack += [entry.get("ref") for entry in reversed((node.get("graph") or {}).get("layers", []))
                      if isinstance(entry, dict)]
            stack += [weight.get("var") for weight in node.get("weights") or [] if isinstance(weight, dict)]
    return digest.hexdigest()


def _by_identity(node: Any, ids: dict) -> Any:
    """A node with the refs it holds (an export's own numbering) replaced by kernel identities."""
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if isinstance(node.get("layers"), list):
        node["layers"] = [ids.get(ref) for ref in node["layers"]]
    graph = node.get("graph")
    if isinstance(graph, dict) and isinstance(graph.get("layers"), list):
        node["graph"] = {**graph, "layers": [{**entry, "ref": ids.get(entry.get("ref"))} if isinstance(entry, dict)
                                             else entry for entry in graph["layers"]]}
    if isinstance(node.get("weights"), list):
        node["weights"] = [{**{k: v for k, v in weight.items() if k != "data"}, "var": ids.get(weight.get("var"))}
                           if isinstance(weight, dict) else weight for weight in node["weights"]]
    return node
