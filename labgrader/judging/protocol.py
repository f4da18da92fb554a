"""What a kernel may hand over, and how the grader checks it before anyone reads it.

A hidden test cell publishes one display message of type ``MIME`` (``labgrader.kernels.export``)::

    {"grade_id": str,
     "answers": {name: value}, "lab": {name: value},    # values: see below
     "objects": {ref: node},                             # Keras objects, by ref
     "evidence": [str, ...]}                             # what the kernel's snapshot saw changed

Everything in it is plain JSON of bounded size and depth, checked here field by field: the kernel
is the student's, so this is input to validate, never a verdict.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from labgrader.errors import LabgraderError
from labgrader.kernels.export import EVIDENCE_MIME, MAX_CALLS, MAX_ITEMS, MAX_OBJECTS, MIME, PIN_MIME

MAX_EXPORT_BYTES = 24 * 1024 ** 2  # the exporter's 16 MiB of arrays, in base64, and the rest
MAX_DEPTH = 12
MAX_STRING = 2000
VALUE_KINDS = {"undefined", "none", "bool", "int", "float", "str", "list", "tuple", "array", "object",
               "function", "other", "error", "raised"}
DTYPES = {f"{k}{b}" for k in ("int", "uint") for b in (8, 16, 32, 64)} | {"float16", "float32", "float64", "bool"}
REF = re.compile(r"^o\d{1,6}$")
VAR = re.compile(r"^v\d{1,6}$")

__all__ = ["EVIDENCE_MIME", "MIME", "PIN_MIME", "Malformed", "records_in", "validate", "validate_evidence", "validate_pin"]


class Malformed(LabgraderError, ValueError):
    """An export that is not what the protocol allows; the message says why."""


def records_in(cell: dict, mime: str = MIME) -> list[tuple[int, Any]]:
    """(index, record) for every output of ``cell`` that claims to be an export (or ``mime``)."""
    found = []
    for index, output in enumerate(cell.get("outputs", [])):
        data = output.get("data") or {}
        if mime in data:
            found.append((index, data[mime]))
    return found


def validate_evidence(record: Any) -> dict:
    """What the grader's silent check after a test cell reported: {"grade_id", "seen": [str]}."""
    try:
        record = json.loads(json.dumps(record, allow_nan=False))
    except (TypeError, ValueError):
        raise Malformed("evidence that is not plain JSON") from None
    _keys(record, {"grade_id", "seen", "watched"}, "evidence")
    _string(record["grade_id"], "grade_id", 200)
    if type(record["watched"]) is not bool:
        raise Malformed("watched must be true or false")
    if type(record["seen"]) is not list or len(record["seen"]) > 50:
        raise Malformed("evidence must be a short list")
    for line in record["seen"]:
        _string(line, "evidence", 500)
    return record


def validate(record: Any, max_bytes: int = MAX_EXPORT_BYTES) -> dict:
    """``record`` as a clean dict of plain JSON types, or Malformed."""
    try:  # nbformat hands over NotebookNodes (dict subclasses): back to plain JSON first
        text = json.dumps(record, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise Malformed(f"not plain JSON ({exc})") from None
    if len(text) > max_bytes:
        raise Malformed(f"an export of {len(text)} bytes is over the limit of {max_bytes}")
    record = json.loads(text)
    _keys(record, {"grade_id", "answers", "lab", "objects", "ids", "evidence", "watched"}, "the export")
    _string(record["grade_id"], "grade_id", 200)
    for section in ("answers", "lab"):
        _names(record[section], section)
    _objects(record)
    return record


def validate_pin(record: Any, max_bytes: int = MAX_EXPORT_BYTES) -> dict:
    """What the grader's silent cell right after a lab cell handed over: the lab's objects it just
    pinned, with the identity of everything they reach."""
    try:
        text = json.dumps(record, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise Malformed(f"not plain JSON ({exc})") from None
    if len(text) > max_bytes:
        raise Malformed(f"a pin of {len(text)} bytes is over the limit of {max_bytes}")
    record = json.loads(text)
    _keys(record, {"names", "objects", "ids", "evidence", "watched"}, "the pin")
    _names(record["names"], "names")
    _objects(record)
    return record


def _names(section: Any, what: str) -> None:
    _mapping(section, what, 100)
    for name, value in section.items():
        _string(name, f"a name in {what}", 200)
        _value(value, 0)


def _objects(record: dict) -> None:
    """The objects, their identities in the kernel, the evidence and the watch flag of a record."""
    _mapping(record["objects"], "objects", MAX_OBJECTS)
    for ref, node in record["objects"].items():
        if not REF.match(ref):
            raise Malformed(f"bad object reference {ref[:20]!r}")
        _node(node)
    _mapping(record["ids"], "ids", 4 * MAX_OBJECTS)
    for ref, identity in record["ids"].items():
        if not (REF.match(ref) or VAR.match(ref)) or type(identity) is not int or not 0 <= identity < 2 ** 64:
            raise Malformed("object identities must be numbers keyed by reference")
    if type(record["evidence"]) is not list or len(record["evidence"]) > 50:
        raise Malformed("evidence must be a short list")
    for line in record["evidence"]:
        _string(line, "evidence", 500)
    if type(record["watched"]) is not bool:
        raise Malformed("watched must be true or false")


def _keys(value: Any, allowed: set[str], what: str, required: set[str] | None = None) -> None:
    if type(value) is not dict:
        raise Malformed(f"{what} must be an object")
    extra, missing = set(value) - allowed, (allowed if required is None else required) - set(value)
    if extra or missing:
        raise Malformed(f"{what} has unexpected or missing fields ({', '.join(sorted(extra | missing))[:100]})")


def _mapping(value: Any, what: str, limit: int) -> None:
    if type(value) is not dict or len(value) > limit:
        raise Malformed(f"{what} must be an object of at most {limit} entries")


def _string(value: Any, what: str, limit: int = MAX_STRING) -> None:
    if type(value) is not str or len(value) > limit:
        raise Malformed(f"{what} must be a string of at most {limit} characters")


def _number(value: Any, what: str) -> None:
    if type(value) is int and abs(value) < 2 ** 63:
        return
    if type(value) is float and math.isfinite(value):
        return
    raise Malformed(f"{what} must be a finite number")


def _value(value: Any, depth: int) -> None:
    if depth > 4 or type(value) is not dict or value.get("kind") not in VALUE_KINDS:
        raise Malformed("a value must be an object with a known kind")
    kind = value["kind"]
    fields = {"kind"} | {
        "bool": {"value", "type"}, "int": {"value", "type"}, "float": {"value", "type", "special"},
        "str": {"value", "length"}, "list": {"items", "length"}, "tuple": {"items", "length"},
        "array": {"dtype", "shape", "data"}, "object": {"ref"}, "function": {"results"},
        "other": {"type"}, "error": {"error"}, "raised": {"error"}}.get(kind, set())
    if not set(value) <= fields:
        raise Malformed(f"a {kind} value has unexpected fields")
    if kind in ("int", "float", "bool") and "value" in value:
        if kind == "bool" and type(value["value"]) is not bool or kind != "bool" and type(value["value"]) is bool:
            raise Malformed(f"a {kind} value holds the wrong type")
        if kind != "bool":
            _number(value["value"], "a number")
    for key in ("type", "special", "error"):
        if key in value:
            _string(value[key], key, 200)
    if kind == "str":
        _string(value.get("value"), "a string value")
    if kind in ("list", "tuple"):
        items = value.get("items")
        if type(items) is not list or len(items) > MAX_ITEMS:
            raise Malformed("a list value must hold a short list of items")
        for item in items:
            _value(item, depth + 1)
    if kind == "array":
        array_fields(value)
    if kind == "object" and (type(value.get("ref")) is not str or not REF.match(value["ref"])):
        raise Malformed("an object value must carry a reference")
    if kind == "function" and "results" in value:
        if type(value["results"]) is not list or len(value["results"]) > MAX_CALLS:
            raise Malformed("a function's results must be a short list")
        for item in value["results"]:
            _value(item, depth + 1)


def array_fields(value: Any) -> None:
    """dtype, shape and base64 data of an array (checked again when decoded)."""
    if value.get("dtype") not in DTYPES:
        raise Malformed("an array has an unknown dtype")
    shape = value.get("shape")
    if type(shape) is not list or len(shape) > 8 or not all(type(n) is int and 0 <= n <= 10 ** 8 for n in shape):
        raise Malformed("an array's shape must be a short list of sizes")
    if type(value.get("data")) is not str:
        raise Malformed("an array's data must be a base64 string")


def _node(node: Any) -> None:
    if type(node) is not dict or type(node.get("class")) is not str or len(node["class"]) > 300:
        raise Malformed("an object must name its class")
    if "error" in node:
        _keys(node, {"class", "error"}, "an object that could not be read")
        _string(node["error"], "error", 200)
        return
    if "model" in node:
        _model(node)
    elif node.get("layer") is True:
        _layer(node)
    else:
        raise Malformed("an object must be a model or a layer")


def _model(node: dict) -> None:
    kind = node["model"]
    _string(node.get("name"), "a model's name", 200)
    if kind == "sequential":
        _keys(node, {"class", "model", "name", "input", "layers"}, "a Sequential model")
        if node["input"] is not None:
            _input(node["input"])
        if type(node["layers"]) is not list or len(node["layers"]) > MAX_OBJECTS:
            raise Malformed("a Sequential model's layers must be a list")
        for ref in node["layers"]:
            if type(ref) is not str or not REF.match(ref):
                raise Malformed("a Sequential model's layers must be references")
    elif kind == "functional":
        _keys(node, {"class", "model", "name", "graph"}, "a functional model")
        _plain(node["graph"], 0)
    elif kind == "subclassed":
        _keys(node, {"class", "model", "name"}, "a subclassed model")
    else:
        raise Malformed("unknown kind of model")


def _layer(node: dict) -> None:
    _string(node.get("name"), "a layer's name", 200)
    if "input" in node:
        _keys(node, {"class", "layer", "name", "input"}, "an input layer")
        _input(node["input"])
        return
    _keys(node, {"class", "layer", "name", "config", "trainable", "built", "weights"}, "a layer")
    _plain(node["config"], 0)
    if type(node["trainable"]) is not bool or type(node["built"]) is not bool:
        raise Malformed("a layer's trainable and built flags must be booleans")
    if type(node["weights"]) is not list or len(node["weights"]) > 100:
        raise Malformed("a layer's weights must be a short list")
    for weight in node["weights"]:
        _keys(weight, {"var", "trainable", "shape", "dtype", "data"}, "a weight")
        if type(weight["var"]) is not str or not VAR.match(weight["var"]) or type(weight["trainable"]) is not bool:
            raise Malformed("a weight must carry a variable reference and a trainable flag")
        array_fields(weight)


def _input(spec: Any) -> None:
    _keys(spec, {"batch_shape", "dtype"}, "an input")
    shape = spec["batch_shape"]
    if type(shape) is not list or not 1 <= len(shape) <= 8 or \
            not all(n is None or type(n) is int and 0 < n <= 10 ** 6 for n in shape):
        raise Malformed("an input's shape must be a short list of sizes")
    _string(spec["dtype"], "an input's dtype", 20)


def _plain(value: Any, depth: int) -> None:
    """Plain JSON of bounded depth, size and string length (configs, graphs)."""
    if depth > MAX_DEPTH:
        raise Malformed("nested too deeply")
    kind = type(value)
    if value is None or kind in (bool, str) and (kind is bool or len(value) <= MAX_STRING):
        return
    if kind in (int, float):
        _number(value, "a number")
        return
    if kind is list and len(value) <= MAX_ITEMS:
        for item in value:
            _plain(item, depth + 1)
        return
    if kind is dict and len(value) <= MAX_ITEMS:
        for key, item in value.items():
            _string(key, "a key", 200)
            _plain(item, depth + 1)
        return
    raise Malformed(f"a value of type {kind.__name__} (or too long) is not allowed")
