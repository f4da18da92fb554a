"""A kernel's stderr, kept as printable text with its student, never printed as it comes.

C libraries, TensorFlow, ipykernel (``IOStream.flush timed out``) and subprocesses write to a
kernel's fd 2 directly, beside the kernel protocol, and student code can write escape sequences
there: retitle or clear the instructor's terminal, rewrite lines of the log, or flood it.
``capture()`` gives a file descriptor to hand to one kernel as its stderr; a thread keeps what
arrives without control characters or escape sequences, at most ``limit`` bytes (the rest is read
and dropped, so the kernel never blocks on a full pipe), for the grader to put in that student's
record. ``pipe()`` copies to a stream instead (the fork server's own messages).
"""
from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from typing import BinaryIO, TextIO

from labgrader.student_ids import printable

LIMIT = 64 * 1024


class Captured:
    """What one kernel wrote to its stderr, as printable text (``text()`` once the kernel has ended)."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.thread: threading.Thread | None = None

    def write(self, text: str) -> None:
        self._parts.append(text)

    def flush(self) -> None:
        pass

    def text(self, wait: float = 2.0) -> str:
        """Everything kept; waits up to ``wait`` s for the pipe to close (the kernel and its processes gone)."""
        if self.thread is not None:
            self.thread.join(wait)
        return "".join(self._parts)


def capture(limit: int = LIMIT) -> tuple[int, Captured]:
    """A write end for one kernel's stderr, and where its printable text is kept (the caller closes
    its copy of the write end once the kernel has started)."""
    captured = Captured()
    write_fd, captured.thread = _pipe("", limit, captured)
    return write_fd, captured


def pipe(prefix: str = "[kernel stderr] ", limit: int = LIMIT, dest: TextIO | None = None) -> int:
    """A write end whose printable text is copied to ``dest`` (default: the grader's stderr)."""
    return _pipe(prefix, limit, dest)[0]


def _pipe(prefix: str, limit: int, dest: TextIO | Captured | None) -> tuple[int, threading.Thread]:
    read_fd, write_fd = os.pipe()
    thread = threading.Thread(target=_copy, args=(read_fd, prefix, limit, dest), daemon=True,
                              name="labgrader-kernel-stderr")
    thread.start()
    return write_fd, thread


def _copy(read_fd: int, prefix: str, limit: int, dest: TextIO | Captured | None) -> None:
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
