"""A kernel's stderr reaches the grader's terminal and logs only as printable text.

A kernel inherits the grader's stderr (C libraries, TensorFlow and subprocesses write to fd 2
directly, beside the kernel protocol), so student code could write escape sequences there: retitle
or clear the instructor's terminal, rewrite lines of the log, or flood it. ``pipe()`` gives a file
descriptor to hand to the kernel instead; a thread copies what arrives to the real stderr without
control characters or escape sequences, and at most ``limit`` bytes per kernel (the rest is read
and dropped, so the kernel never blocks on a full pipe).
"""
from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from typing import BinaryIO, TextIO

from labgrader.student_ids import printable

LIMIT = 64 * 1024


def pipe(prefix: str = "[kernel stderr] ", limit: int = LIMIT, dest: TextIO | None = None) -> int:
    """A write end for a kernel's stderr (the caller closes its copy once the kernel has started)."""
    read_fd, write_fd = os.pipe()
    threading.Thread(target=_copy, args=(read_fd, prefix, limit, dest), daemon=True,
                     name="labgrader-kernel-stderr").start()
    return write_fd


def _copy(read_fd: int, prefix: str, limit: int, dest: TextIO | None) -> None:
    written = 0
    with os.fdopen(read_fd, "rb", buffering=0) as source:
        reader = _lines(source)
        for line in reader:
            if written >= limit:
                continue  # keep draining
            text = printable(line.decode("utf-8", "replace")).rstrip("\n")
            if written + len(text) >= limit:
                text = text[:max(0, limit - written)] + " [more kernel stderr dropped]"
            written += len(text) + 1
            out = dest or sys.stderr
            try:
                out.write(prefix + text + "\n")
                out.flush()
            except (OSError, ValueError):
                pass


def _lines(source: BinaryIO, chunk: int = 65536) -> Iterator[bytes]:
    """Lines of at most ``chunk`` bytes (a kernel writing no newline cannot fill our memory)."""
    pending = b""
    while True:
        data = source.read(chunk)
        if not data:
            break
        pending += data
        *complete, pending = pending.split(b"\n")
        yield from (line + b"\n" for line in complete)
        while len(pending) >= chunk:
            yield pending[:chunk]
            pending = pending[chunk:]
    if pending:
        yield pending
