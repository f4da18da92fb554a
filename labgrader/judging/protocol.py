"""What a kernel may report, and how the grader checks it before anyone reads it.

A hidden test cell reports its observations as one display message of type ``MIME`` holding
``{"grade_id": str, "nonce": str, "observations": {...}}``. Everything in it is plain JSON of
bounded size and depth: the kernel is the student's, so this is input to validate, never a verdict.
"""
import json
import math

MIME = "application/vnd.labgrader.observation+json"
MAX_BYTES = 64 * 1024
MAX_DEPTH = 8
MAX_ITEMS = 10_000
MAX_STRING = 10_000


class Malformed(ValueError):
    """An observation record that is not what the protocol allows; the message says why."""


def validate(record, max_bytes=MAX_BYTES):
    """``record`` as a clean dict of plain JSON types, or Malformed."""
    try:  # nbformat hands over NotebookNodes (dict subclasses): back to plain JSON first
        text = json.dumps(record, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise Malformed(f"not plain JSON ({exc})") from None
    if len(text) > max_bytes:
        raise Malformed(f"observation of {len(text)} bytes is over the limit of {max_bytes}")
    record = json.loads(text)
    if type(record) is not dict or set(record) != {"grade_id", "nonce", "observations"}:
        raise Malformed("an observation must be an object with exactly grade_id, nonce and observations")
    for key in ("grade_id", "nonce"):
        if type(record[key]) is not str or not 0 < len(record[key]) <= 200:
            raise Malformed(f"{key} must be a short string")
    if type(record["observations"]) is not dict:
        raise Malformed("observations must be an object")
    _check(record["observations"], 0)
    return record


def _check(value, depth):
    if depth > MAX_DEPTH:
        raise Malformed("observation nested too deeply")
    kind = type(value)
    if value is None or kind is bool or kind is str and len(value) <= MAX_STRING:
        return
    if kind is int:
        if abs(value) >= 2 ** 63:
            raise Malformed("integer out of range")
        return
    if kind is float:
        if not math.isfinite(value):
            raise Malformed("non-finite number")
        return
    if kind is list and len(value) <= MAX_ITEMS:
        for item in value:
            _check(item, depth + 1)
        return
    if kind is dict and len(value) <= MAX_ITEMS:
        for key, item in value.items():
            if type(key) is not str or len(key) > 200:
                raise Malformed("keys must be short strings")
            _check(item, depth + 1)
        return
    raise Malformed(f"value of type {kind.__name__} (or too long) is not allowed")


def records_in(cell):
    """(index, record) for every output of ``cell`` that claims to be an observation."""
    for index, output in enumerate(cell.get("outputs", [])):
        data = output.get("data") or {}
        if MIME in data:
            yield index, data[MIME]
