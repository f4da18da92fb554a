"""Rebuild the Keras objects of an export in the grader, from built-in classes only.

The kernel describes each layer or model it reached (class, config, weights, how a functional
model calls its layers) and gives each object one reference, so two models that share a layer
refer to the same ref. Here each ref becomes exactly one new Keras object, made by calling the
constructor of an allow-listed built-in class with config values checked one by one (never
Keras's generic deserializer, which could be pointed at other classes or code): a Lambda layer,
a custom class, a subclassed model or anything else unknown is not gradable. Shared refs become
shared objects, so writing weights through one rebuilt model reaches every model that shares the
layer, exactly as in the student's kernel if the export is honest; if it is not, it is just
another answer, judged like any other.

Also the helpers judges use on rebuilt models: ``layers_deep``, ``trainable_parameters``, ``call``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from labgrader.errors import LabgraderError
from labgrader.quiet import quiet_tensorflow_import

from .protocol import Malformed
from .values import decode_array

MAX_PARAMETERS = 2_000_000   # weights the grader will hold for one hand-over (rebuilt layers)
MAX_CALLS = 2000             # layer calls in the functional models of one hand-over
MAX_DEPTH = 16               # models nested in models
MAX_INPUT_SIZE = 100_000     # values per example an input may hold
ACTIVATIONS = {"linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign", "gelu",
               "silu", "swish", "exponential", "relu6", "leaky_relu", "hard_sigmoid", "log_softmax", "mish"}
DTYPES = {"float16", "float32", "float64", "bfloat16", "mixed_float16", "mixed_bfloat16"}
INPUT_DTYPES = {"float16", "float32", "float64", "int32", "int64", "uint8", "int8", "int16", "bool"}


class NotGradable(LabgraderError):
    """An answer the grader cannot rebuild; the message is one sentence for the student."""


class TooLarge(NotGradable):
    """An answer larger than the grader rebuilds or runs (weights, calls, inputs)."""


def keras():
    """Keras, imported on first use, quietly (TensorFlow logs to stderr at import)."""
    quiet_tensorflow_import()
    import keras as module
    return module


# --- config checks: one function per kind of value --------------------------------------------

def _int(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if type(value) is not int or not low <= value <= high:
            raise NotGradable(f"a layer setting is {str(value)[:40]}, outside {low}..{high}")
        return value
    return check


def _float(low: float, high: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if type(value) not in (int, float) or type(value) is bool or not low <= value <= high:
            raise NotGradable(f"a layer setting is {str(value)[:40]}, outside {low}..{high}")
        return float(value)
    return check


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise NotGradable("a layer setting that must be True or False is not")
    return value


def _choice(options: set) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value not in options:
            raise NotGradable(f"a layer setting {str(value)[:40]!r} is not one the grader can rebuild")
        return value
    return check


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def _target_shape(value: Any) -> tuple[int, ...]:
    if type(value) is not list or not 1 <= len(value) <= 8 or \
            not all(type(n) is int and (n == -1 or 1 <= n <= 10 ** 6) for n in value) or value.count(-1) > 1:
        raise NotGradable("a Reshape layer's target shape is not one the grader can rebuild")
    return tuple(value)


def _name(value: Any) -> str:
    if type(value) is not str or not 0 < len(value) <= 200 or not value.isprintable():
        raise NotGradable("a layer has a name the grader cannot use")
    return value


def _dtype(value: Any) -> str:
    """A layer's dtype policy: a name, or Keras's serialized DTypePolicy holding one."""
    if type(value) is dict and value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") \
            and type(value.get("config")) is dict:
        value = value["config"].get("name")
    if value not in DTYPES:
        raise NotGradable(f"a layer's dtype {str(value)[:40]!r} is not one the grader can rebuild")
    return value


@dataclass(frozen=True)
class Rebuildable:
    """An allow-listed Keras layer class and the config values it is rebuilt from."""
    public_name: str                       # e.g. "Embedding", looked up in keras.layers
    settings: dict[str, Callable[[Any], Any]]

    def kwargs(self, config: dict) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"name": _name(config.get("name", self.public_name.lower()))}
        if "trainable" in config:
            kwargs["trainable"] = _bool(config["trainable"])
        if "dtype" in config and config["dtype"] is not None:
            kwargs["dtype"] = _dtype(config["dtype"])
        for key, check in self.settings.items():
            if key in config:
                kwargs[key] = check(config[key])
        return kwargs


LAYERS = [
    Rebuildable("Embedding", {"input_dim": _int(1, 10 ** 6), "output_dim": _int(1, 4096), "mask_zero": _bool}),
    Rebuildable("Flatten", {"data_format": _optional(_choice({"channels_last", "channels_first"}))}),
    Rebuildable("Reshape", {"target_shape": _target_shape}),
    Rebuildable("Dense", {"units": _int(1, 4096), "activation": _optional(_choice(ACTIVATIONS)), "use_bias": _bool}),
    Rebuildable("Dropout", {"rate": _float(0.0, 1.0), "seed": _optional(_int(0, 2 ** 31))}),
    Rebuildable("Activation", {"activation": _choice(ACTIVATIONS)}),
    Rebuildable("Identity", {}),
]


def qualified(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def class_names() -> dict[str, Any]:
    """The exported class name of every class the grader rebuilds -> a Rebuildable or a model kind."""
    k = keras()
    from keras.src.models.functional import Functional
    names: dict[str, Any] = {qualified(getattr(k.layers, r.public_name)): r for r in LAYERS
                             if hasattr(k.layers, r.public_name)}
    names[qualified(k.layers.InputLayer)] = "input"
    names[qualified(k.Sequential)] = "sequential"
    names[qualified(Functional)] = "functional"
    return names


# --- rebuilding -------------------------------------------------------------------------------

def described(node: dict) -> str:
    """A class, in words for a message: "a Lambda layer", "a MyModel object"."""
    name = node.get("class", "?").rpartition(".")[2]
    return f"a {name} layer" if node.get("layer") else f"a {name} object"


class Rebuilder:
    """Rebuilds the objects of one export on demand; each ref at most once."""

    def __init__(self, objects: dict[str, dict], allowed: set[str] | None = None):
        self.objects = objects
        self.allowed = allowed          # public layer names a lab accepts (None: all of LAYERS)
        self.built: dict[str, Any] = {}
        self._inputs: dict[str, Any] = {}
        self._building: set[str] = set()
        self._weighted: set[str] = set()
        self._owners: dict[str, str] = {}   # variable ref -> the layer ref that holds it
        self._total = 0
        self._calls = 0
        self._classes = class_names()

    def get(self, ref: str) -> Any:
        """The object ``ref`` rebuilt, with its weights; NotGradable (or Malformed) and nothing else
        when it cannot be: whatever a hand-over holds, rebuilding it never raises anything else."""
        try:
            obj = self._object(ref)
            self._set_new_weights()
        except (NotGradable, Malformed):
            raise
        except RecursionError:
            raise NotGradable("the model is nested too deeply") from None
        except Exception as exc:
            raise NotGradable(f"the model could not be rebuilt ({type(exc).__name__})") from None
        return obj

    def _object(self, ref: str) -> Any:
        if ref in self.built:
            return self.built[ref]
        if ref not in self.objects:
            raise Malformed(f"reference {ref} names no object")
        if ref in self._building:
            raise NotGradable("a model contains itself")
        if len(self._building) >= MAX_DEPTH:
            raise NotGradable("the model is nested too deeply")
        node = self.objects[ref]
        if "error" in node:
            raise NotGradable(f"{described(node)} could not be read in the kernel ({node['error'][:80]})")
        kind = self._classes.get(node["class"])
        if kind is None:
            if node["class"].rpartition(".")[2] == "Lambda":
                raise NotGradable("a Lambda layer runs code of its own, which the grader does not run: use built-in layers only")
            raise NotGradable(f"{described(node)} is not a built-in Keras class the grader can rebuild: "
                              "use built-in Keras layers and models only")
        self._building.add(ref)
        try:
            if kind == "sequential":
                obj = self._sequential(node)
            elif kind == "functional":
                obj = self._functional(node)
            elif kind == "input":
                raise NotGradable("an input layer is used on its own")
            else:
                obj = self._layer(node, kind)
        finally:
            self._building.discard(ref)
        self.built[ref] = obj
        return obj

    def _layer(self, node: dict, kind: Rebuildable) -> Any:
        if node.get("model"):
            raise Malformed("a layer class described as a model")
        if self.allowed is not None and kind.public_name not in self.allowed:
            raise NotGradable(f"a {kind.public_name} layer is not one this question uses")
        try:
            return getattr(keras().layers, kind.public_name)(**kind.kwargs(node["config"]))
        except NotGradable:
            raise
        except Exception as exc:  # the checked values may still not fit together (Keras says why)
            raise NotGradable(f"a {kind.public_name} layer could not be rebuilt ({type(exc).__name__})") from None

    def _input_tensor(self, ref: str, spec: dict, name: str | None) -> Any:
        if ref not in self._inputs:
            shape, dtype = _input(spec)
            try:
                self._inputs[ref] = keras().Input(batch_shape=shape, dtype=dtype, name=_name(name) if name else None)
            except NotGradable:
                raise
            except Exception as exc:
                raise NotGradable(f"an input could not be rebuilt ({type(exc).__name__})") from None
        return self._inputs[ref]

    def _sequential(self, node: dict) -> Any:
        if node.get("model") != "sequential":
            raise Malformed("a Sequential model described as something else")
        layers = [self._object(ref) for ref in node["layers"]]
        if node["input"] is not None:
            shape, dtype = _input(node["input"])
            self._budget(layers, shape)  # built as soon as it is made, with an input: count first
            layers = [keras().Input(batch_shape=shape, dtype=dtype)] + layers
        try:
            return keras().Sequential(layers, name=_name(node["name"]))
        except NotGradable:
            raise
        except Exception as exc:
            raise NotGradable(f"a Sequential model could not be rebuilt from its layers ({type(exc).__name__})") from None

    def _functional(self, node: dict) -> Any:
        if node.get("model") != "functional":
            raise Malformed("a functional model described as something else")
        graph = node["graph"]
        if type(graph) is not dict or type(graph.get("layers")) is not list:
            raise Malformed("a functional model without a graph")
        tensors: dict[tuple, Any] = {}
        pending = []
        for entry in graph["layers"]:
            if type(entry) is not dict or type(entry.get("ref")) is not str or type(entry.get("name")) is not str \
                    or type(entry.get("nodes")) is not list:
                raise Malformed("a functional model's layer entry is not one the kernel writes")
            target = self.objects.get(entry["ref"])
            if target is None:
                raise Malformed(f"reference {entry['ref']} names no object")
            if "input" in target:
                tensors[(entry["name"], 0, 0)] = self._input_tensor(entry["ref"], target["input"], entry["name"])
            else:
                pending += [(entry, index, call) for index, call in enumerate(entry["nodes"])]
        self._calls += len(pending)
        if self._calls > MAX_CALLS:
            raise TooLarge(f"the models call their layers more than {MAX_CALLS} times, too many to grade")
        # each call once its inputs exist: the calls waiting on a tensor are woken when it appears
        waiting: dict[tuple, list] = {}
        ready: list = []
        for item in pending:
            missing = self._missing(item[2], tensors)
            (waiting.setdefault(missing, []) if missing else ready).append(item)
        while ready:
            entry, index, call = ready.pop()
            args, kwargs = self._arguments(call, tensors)
            layer = self._object(entry["ref"])
            self._budget([layer], _shape_of(args[0]) if args else None)
            outputs = self._call(layer, args, kwargs)
            for position, tensor in enumerate(outputs):
                key = (entry["name"], index, position)
                tensors[key] = tensor
                for item in waiting.pop(key, []):
                    missing = self._missing(item[2], tensors)
                    (waiting.setdefault(missing, []) if missing else ready).append(item)
        if waiting:
            raise NotGradable("a functional model's layers are not connected the way Keras connects them")
        try:
            inputs = [tensors[key] for key in _history_list(graph.get("inputs"))]
            outputs = [tensors[key] for key in _history_list(graph.get("outputs"))]
            return keras().Model(inputs=inputs if len(inputs) > 1 else inputs[0],
                                 outputs=outputs if len(outputs) > 1 else outputs[0], name=_name(node["name"]))
        except (KeyError, IndexError):
            raise NotGradable("a functional model's inputs or outputs are not among its layers") from None
        except NotGradable:
            raise
        except Exception as exc:
            raise NotGradable(f"a functional model could not be rebuilt ({type(exc).__name__})") from None

    def _missing(self, call: Any, tensors: dict) -> tuple | None:
        """The first tensor a call needs that does not exist yet (None: it can be made now)."""
        try:
            self._arguments(call, tensors)
        except KeyError as exc:
            return exc.args[0]
        return None

    def _budget(self, layers: list, shape: tuple | None) -> None:
        """Count the weights ``layers`` will make when built on inputs of ``shape`` (walking the
        shapes without building anything), and refuse before any of it is allocated."""
        for layer in layers:
            if layer.built:
                continue
            self._total += _parameters(layer, shape)
            if self._total > MAX_PARAMETERS:
                raise TooLarge(f"the model has more than {MAX_PARAMETERS} weights, too many to grade")
            if shape is not None:
                try:
                    shape = tuple(layer.compute_output_shape(shape))
                except Exception:
                    shape = None

    def _arguments(self, call: Any, tensors: dict) -> tuple[list, dict]:
        if type(call) is not dict or type(call.get("args", [])) is not list or type(call.get("kwargs", {})) is not dict:
            raise Malformed("a layer call that is not one the kernel writes")
        args = [_resolve(arg, tensors, 0) for arg in call.get("args", [])]
        kwargs = {key: _resolve(value, tensors, 0) for key, value in call.get("kwargs", {}).items()}
        if not set(kwargs) <= {"training", "mask"}:
            raise NotGradable("a layer is called with arguments the grader does not rebuild")
        return args, kwargs

    def _call(self, layer: Any, args: list, kwargs: dict) -> list:
        try:
            result = layer(*args, **kwargs)
        except Exception as exc:
            raise NotGradable(f"a layer of a functional model does not accept its inputs ({type(exc).__name__})") from None
        return list(result) if isinstance(result, (list, tuple)) else [result]

    def _set_new_weights(self) -> None:
        """The exported weights into every layer rebuilt since the last call (once the models
        that use it have built it)."""
        for ref, obj in list(self.built.items()):
            node = self.objects[ref]
            if ref in self._weighted or not node.get("layer") or "input" in node:
                continue
            self._weighted.add(ref)
            values = []
            for weight in node["weights"]:
                if self._owners.setdefault(weight["var"], ref) != ref:
                    raise NotGradable("two different layers share weight variables: reuse the layer itself instead")
                values.append(decode_array(weight, max_size=MAX_PARAMETERS))
            if values and not obj.built and type(obj).__name__ == "Embedding":
                self._budget([obj], None)  # built here from its settings alone: count it first
            _set_weights(obj, values, node)


def _set_weights(layer: Any, values: list, node: dict) -> None:
    if not values:
        return
    if not layer.built:
        try:
            layer.build(None)  # layers whose weights do not depend on their input (Embedding)
        except Exception:
            raise NotGradable(f"a {described(node)[2:]} was never called, so the grader cannot rebuild its weights") from None
    wanted = [tuple(w.shape) for w in layer.weights]
    if wanted != [v.shape for v in values]:
        raise NotGradable(f"the weights of {described(node)} do not have the shapes of its settings")
    layer.set_weights([v.astype(np.dtype(w.dtype), copy=False) for v, w in zip(values, layer.weights)])
    for variable, weight in zip(layer.weights, node["weights"]):
        if bool(variable.trainable) != weight["trainable"]:
            variable.trainable = weight["trainable"]


def _input(spec: dict) -> tuple[tuple, str]:
    """An exported input's batch shape (batch dimension left free) and dtype, checked."""
    shape, dtype = list(spec["batch_shape"][1:]), spec["dtype"]
    if dtype not in INPUT_DTYPES:
        raise NotGradable(f"an input of dtype {str(dtype)[:20]!r} is not one the grader can rebuild")
    size = 1
    for n in shape:
        size *= n or 1
    if size > MAX_INPUT_SIZE:
        raise NotGradable("an input is larger than the grader rebuilds")
    return tuple([None] + shape), dtype


def _shape_of(value: Any) -> tuple | None:
    shape = getattr(value, "shape", None)
    try:
        return tuple(shape) if shape is not None else None
    except TypeError:
        return None


def _parameters(layer: Any, shape: tuple | None) -> int:
    """Weights an allow-listed layer makes when built on ``shape`` (the last dimension for Dense)."""
    kind = type(layer).__name__
    if kind == "Embedding":
        return int(layer.input_dim) * int(layer.output_dim)
    if kind == "Dense":
        if not shape or shape[-1] is None:
            raise NotGradable("a Dense layer's input size is unknown, so the grader cannot rebuild it safely")
        return int(shape[-1]) * int(layer.units) + int(layer.units)
    return 0


def _history_list(value: Any) -> list[tuple]:
    """Keras's ``input_layers``/``output_layers``: one [name, node, tensor] or a list of them."""
    if type(value) is list and len(value) == 3 and type(value[0]) is str:
        value = [value]
    if type(value) is not list or not value:
        raise Malformed("a functional model without inputs or outputs")
    keys = []
    for item in value:
        if type(item) is not list or len(item) != 3 or type(item[0]) is not str or \
                type(item[1]) is not int or type(item[2]) is not int:
            raise Malformed("a functional model's inputs or outputs are not Keras tensor references")
        keys.append(tuple(item))
    return keys


def _resolve(value: Any, tensors: dict, depth: int) -> Any:
    """A serialized call argument: a Keras tensor reference (KeyError until it exists), a list, a scalar."""
    if depth > 4:
        raise NotGradable("a layer call is nested too deeply")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is list:
        return [_resolve(item, tensors, depth + 1) for item in value]
    if type(value) is dict and value.get("class_name") == "__keras_tensor__" and type(value.get("config")) is dict:
        history = value["config"].get("keras_history")
        key = _history_list([history])[0] if type(history) is list else None
        if key is None:
            raise Malformed("a Keras tensor without its history")
        return tensors[key]
    raise NotGradable("a layer is called with an argument the grader does not rebuild")


# --- helpers for judges -------------------------------------------------------------------------

def is_model(obj: Any) -> bool:
    return isinstance(obj, keras().Model)


def layers_of(obj: Any) -> list:
    """A rebuilt model's own layers (not its input layers); [] for a layer."""
    return list(obj.layers) if is_model(obj) else []


def layers_deep(obj: Any) -> list:
    """Every layer of a rebuilt model, nested models' layers included, in order."""
    found = []
    for layer in layers_of(obj):
        found.append(layer)
        found += layers_deep(layer)
    return found


def trainable_parameters(model: Any) -> int:
    """The number of trainable parameters, as model.summary() counts them (shared weights once)."""
    seen, total = set(), 0
    for variable in model.trainable_weights:
        if id(variable) not in seen:
            seen.add(id(variable))
            total += int(np.prod(variable.shape))
    return total


def call(model: Any, batch: np.ndarray) -> np.ndarray:
    """model(batch) as one numpy array of floats, evaluated eagerly in inference mode; raises
    NotGradable with the error's name when the model does not accept the batch or does not return
    one array of numbers. A model that was never built is counted before it is (MAX_PARAMETERS)."""
    if not model.built:
        Rebuilder({})._budget(layers_deep(model), tuple(batch.shape))
    try:
        result = model(batch, training=False)
    except Exception as exc:
        raise NotGradable(type(exc).__name__) from None
    if isinstance(result, (list, tuple, dict)):
        raise NotGradable("more than one output")
    try:
        array = np.asarray(keras().ops.convert_to_numpy(result))
    except Exception as exc:
        raise NotGradable(type(exc).__name__) from None
    if array.dtype.kind not in "biuf":
        raise NotGradable("not an array of numbers")
    return array.astype(np.float64)
