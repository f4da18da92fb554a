"""JSON a student shaped, measured before anyone parses it: how many values, how deep.

Parsing costs memory per value, not per byte: thirty megabytes of ``[[],[],...]`` become ten
million Python lists (over a gigabyte), and every step that copies the result (nbclient, nbformat's
``from_dict``) pays again. So a kernel's message (labgrader/kernels/session.py) and a handed-in
notebook (labgrader/batch/preflight.py, labgrader/safety/hooks.py) are measured first, in linear
passes over the raw bytes at C speed (``bytes.replace``, ``bytes.count``, one regular expression
that cannot backtrack), and refused past their limits without being parsed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_STRING = re.compile(rb'"[^"]*"')        # once escapes are gone, a quote only opens or closes a string
_NOT_BRACKET = re.compile(rb"[^\[\]{}]")
_DEPTH = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


@dataclass(frozen=True)
class Shape:
    values: int   # at least the number of values and object keys in the text (an upper bound)
    depth: int    # how deeply arrays and objects nest


def shape(raw: bytes, max_values: int) -> Shape:
    """The Shape of the JSON text ``raw``; past ``max_values`` values the depth is not measured (0).
    For text that is not JSON the figures mean nothing, but stay linear to compute (a parser then
    stops at the first error anyway)."""
    plain = raw.replace(b"\\\\", b"").replace(b'\\"', b"")  # escaped backslashes, then escaped quotes
    structure = _STRING.sub(b'""', plain)
    # every value or key but the first follows its own ',', ':', '[' or '{'
    values = 1 + sum(structure.count(c) for c in (b",", b":", b"[", b"{"))
    if values > max_values:
        return Shape(values, 0)
    brackets = _NOT_BRACKET.sub(b"", structure).translate(_DEPTH)
    if not brackets:
        return Shape(values, 0)
    depth = int(np.frombuffer(brackets, dtype=np.int8).cumsum(dtype=np.int64).max())
    return Shape(values, max(depth, 0))


def too_large(raw: bytes, max_bytes: int, max_values: int, max_depth: int) -> str:
    """Why the JSON text ``raw`` is more than the grader parses ("" when it is not)."""
    if len(raw) > max_bytes:
        return f"{len(raw)} bytes, over the limit of {max_bytes}"
    found = shape(raw, max_values)
    if found.values > max_values:
        return f"about {found.values} JSON values, over the limit of {max_values}"
    if found.depth > max_depth:
        return f"JSON nested {found.depth} deep, over the limit of {max_depth}"
    return ""
