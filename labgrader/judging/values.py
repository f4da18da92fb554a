"""Helpers for a lab's judges: turn observations back into values, or refuse them.

Each helper raises ``Malformed`` on anything a genuine observer would not have sent, so a judge
can be written for the honest case only: the engine scores a malformed observation 0 and flags it.
"""
from dataclasses import dataclass

import numpy as np

from .protocol import Malformed

# Numeric types a whole-number answer may have: Python's own and numpy's scalar types.
NUMPY_INTEGERS = {f"{p}int{b}" for p in ("", "u") for b in (8, 16, 32, 64)} | {"intc", "uintc", "longlong", "ulonglong"}
NUMPY_FLOATS = {"float16", "float32", "float64", "longdouble"}


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str = ""


def passed():
    return Verdict(True, "")


def failed(message):
    return Verdict(False, message)


def field(mapping, name, kind=None):
    """``mapping[name]``, which must exist (and be of ``kind``)."""
    if type(mapping) is not dict or name not in mapping:
        raise Malformed(f"missing {name!r}")
    value = mapping[name]
    if kind is not None and type(value) is not kind:
        raise Malformed(f"{name!r} is not a {kind.__name__}")
    return value


def whole_number(described):
    """The int a described value stands for, if it is an integer-valued number of a genuine
    numeric type (int, float, numpy integer or floating scalar; never bool), else None."""
    kind, module, type_name = field(described, "kind", str), field(described, "module", str), field(described, "type", str)
    genuine = (module == "builtins" and type_name in ("int", "float")
               or module == "numpy" and type_name in NUMPY_INTEGERS | NUMPY_FLOATS)
    if not genuine or kind not in ("integer", "real"):
        return None
    value = field(described, "value")
    if type(value) not in (int, float):
        raise Malformed("a number's value must be a number")
    return int(value) if float(value).is_integer() else None


def array(encoded, max_size=100_000):
    """An observed array ({"shape": [...], "values": [flat numbers]}) as a float64 ndarray."""
    shape, values = field(encoded, "shape", list), field(encoded, "values", list)
    if not all(type(n) is int and 0 <= n for n in shape) or int(np.prod(shape)) != len(values) or len(values) > max_size:
        raise Malformed("array shape and values do not match")
    if not all(type(v) in (int, float) for v in values):
        raise Malformed("array values must be numbers")
    return np.asarray(values, dtype=np.float64).reshape(shape)
