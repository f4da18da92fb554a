"""The instructor's reference exports, kept on disk between the processes that grade a class.

The reference run (``labgrader.reference_run``) executes the instructor's notebook as any
submission is executed; what each graded test cell handed over is validated and stored under
``<course>/.labgrader/`` (no kernel can see the course root), keyed by the lab folder's content
and the engine's export format, so a class is graded against one reference run and a changed lab
or engine never reads a stale one.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .protocol import Malformed, validate

CACHE_DIR = ".labgrader"
_ENGINE_FILES = ("kernels/export.py", "judging/protocol.py")


@functools.cache
def engine_version() -> str:
    """The export format's version: the code that writes and reads it (read once per process)."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for name in _ENGINE_FILES:
        digest.update((package / name).read_bytes())
    return digest.hexdigest()[:12]


def path(coursedir: Any, lab: Any, notebook: str) -> str:
    return os.path.join(coursedir.root, CACHE_DIR,
                        f"reference-{lab.name}-{notebook}-{lab.digest}-{engine_version()}.json")


_loaded: dict[tuple[str, int, int, int], dict[str, dict] | None] = {}


def load(coursedir: Any, lab: Any, notebook: str) -> dict[str, dict] | None:
    """{grade id: validated export} of the instructor's notebook, or None when not run yet. Read
    and validated once per process and file version; each caller gets its own copy (one
    submission's judging can never change what the next one is compared with)."""
    cache = path(coursedir, lab, notebook)
    try:
        info = os.lstat(cache)
    except FileNotFoundError:
        return None
    if not os.path.isfile(cache) or os.path.islink(cache):
        return None
    key = (cache, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    if key not in _loaded:
        _loaded[key] = _read(cache)
    return copy.deepcopy(_loaded[key])


def _read(cache: str) -> dict[str, dict] | None:
    with open(cache) as f:
        stored = json.load(f)
    try:
        return {grade_id: validate(export) for grade_id, export in stored.items()}
    except Malformed:
        return None


def store(coursedir: Any, lab: Any, notebook: str, exports: dict[str, dict]) -> None:
    cache = path(coursedir, lab, notebook)
    os.makedirs(os.path.dirname(cache), mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(cache), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(exports, f)
    os.replace(tmp, cache)  # atomic: concurrent graders read a whole file or none
