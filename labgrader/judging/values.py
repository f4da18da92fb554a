"""Verdicts, and the values of an export turned back into Python values in the grader.

A ``Value`` is what the kernel said about one name: its kind, its exact type (as a dotted name),
and the data (a number, a string, an array, the items of a list, the results of a function
called on the grader's arguments, or a reference to a Keras object rebuilt elsewhere). Nothing
here runs anything of the student's.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .protocol import Malformed

# Numeric types a whole-number answer may have: Python's own and numpy's scalar types.
NUMPY_INTEGERS = {f"numpy.{p}int{b}" for p in ("", "u") for b in (8, 16, 32, 64)} | \
    {"numpy.intc", "numpy.uintc", "numpy.longlong", "numpy.ulonglong", "numpy.int_", "numpy.uint"}
NUMPY_FLOATS = {"numpy.float16", "numpy.float32", "numpy.float64", "numpy.longdouble", "numpy.double", "numpy.half",
                "numpy.single"}
GENUINE_NUMBERS = {"builtins.int", "builtins.float"} | NUMPY_INTEGERS | NUMPY_FLOATS


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str = ""


def passed() -> Verdict:
    return Verdict(True, "")


def failed(message: str) -> Verdict:
    return Verdict(False, message)


@dataclass(frozen=True)
class Value:
    kind: str                    # undefined, none, bool, int, float, str, list, tuple, array, object,
                                 # function, other, error, raised
    type: str = ""               # the exact type, e.g. "builtins.int", "numpy.int64"
    value: Any = None            # bool, int, float or str
    array: np.ndarray | None = None
    items: tuple[Value, ...] = ()
    results: tuple[Value, ...] | None = None  # a function called on the grader's arguments
    ref: str = ""                # a Keras object in the export
    error: str = ""

    def whole_number(self) -> int | None:
        """The int this stands for, if it is an integer-valued number of a genuine numeric type
        (int, float, numpy integer or floating scalar; never bool), else None."""
        if self.kind not in ("int", "float") or self.type not in GENUINE_NUMBERS or self.value is None:
            return None
        return int(self.value) if float(self.value).is_integer() else None

    def as_array(self) -> np.ndarray | None:
        """The numbers this stands for as a float64 array (an array, a number, or a list of
        numbers, nested), or None when it is anything else."""
        if self.kind == "array" and self.array is not None:
            return self.array.astype(np.float64)
        if self.kind in ("int", "float") and self.value is not None and self.type in GENUINE_NUMBERS:
            return np.asarray(float(self.value))
        if self.kind in ("list", "tuple"):
            parts = [item.as_array() for item in self.items]
            if any(p is None for p in parts):
                return None
            try:
                return np.asarray(parts, dtype=np.float64)
            except ValueError:  # ragged
                return None
        return None


def decode(encoded: dict) -> Value:
    """A validated encoded value (``labgrader.judging.protocol``) as a Value."""
    kind = encoded["kind"]
    if kind == "array":
        return Value("array", "numpy.ndarray", array=decode_array(encoded))
    if kind in ("list", "tuple"):
        return Value(kind, f"builtins.{kind}", items=tuple(decode(item) for item in encoded["items"]))
    if kind == "function":
        results = encoded.get("results")
        return Value("function", results=None if results is None else tuple(decode(r) for r in results))
    if kind == "object":
        return Value("object", ref=encoded["ref"])
    return Value(kind, encoded.get("type", ""), encoded.get("value"), error=encoded.get("error", ""))


def decode_array(encoded: dict, max_size: int = 10 ** 8) -> np.ndarray:
    """A base64 array of the export as a read-only ndarray of its own dtype and shape."""
    shape = tuple(encoded["shape"])
    size = 1
    for n in shape:  # Python ints: no overflow whatever the shape claims
        size *= n
    if size > max_size:
        raise Malformed("an array is too large")
    try:
        raw = base64.b64decode(encoded["data"], validate=True)
    except (binascii.Error, ValueError):
        raise Malformed("an array's data is not base64") from None
    dtype = np.dtype(encoded["dtype"]).newbyteorder("<")
    if len(raw) != size * dtype.itemsize:
        raise Malformed("an array's data does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


@dataclass
class Decoded:
    """All values of one export: the answers and the lab's pinned objects."""
    answers: dict[str, Value] = field(default_factory=dict)
    lab: dict[str, Value] = field(default_factory=dict)
