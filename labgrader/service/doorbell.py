"""A wake-up call from an intake in another process (the hub's exchange service) to the running
grading service: an empty datagram on a Unix socket beside the journal.

The journal is the queue: a service that hears nothing still sees another process's submission at
its next look at the journal (at most half a second when idle). The doorbell only makes that look
happen at once, so that a student's page is not half a second later for nothing. It carries no
data: whatever arrives on it, the service only looks at the journal again. The socket is made by
the service in its own folder (0700, the course owner's) with mode 0600: no student can ring it,
and a ring that finds no listener (no service, or a path too long for a Unix socket) is dropped.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable

from . import journal as J

log = logging.getLogger("labgrader.service")
NAME = "doorbell"


def doorbell_path(course_root: str | os.PathLike[str]) -> str:
    return os.path.join(os.path.dirname(J.journal_path(course_root)), NAME)


def ring(course_root: str | os.PathLike[str]) -> None:
    """Tell the course's running service to look at the journal now (never waits, never fails)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.sendto(b"", doorbell_path(course_root))


def listen(course_root: str | os.PathLike[str], wake: Callable[[], None], stop: threading.Event) -> bool:
    """Call ``wake`` (in a thread of its own) each time the doorbell rings, until ``stop``; False
    when the socket cannot be made (the service then finds submissions by looking, as before)."""
    path = doorbell_path(course_root)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a stopped service's (the caller holds the course's single-instance lock)
        sock.bind(path)
        os.chmod(path, 0o600)
    except OSError as exc:
        sock.close()
        log.info("no doorbell (%s): uploads are seen at the next look at the journal", exc)
        return False
    sock.settimeout(1.0)

    def serve() -> None:
        try:
            while not stop.is_set():
                try:
                    sock.recv(64)
                except TimeoutError:
                    continue
                except OSError:
                    return
                wake()
        finally:
            sock.close()
            with contextlib.suppress(OSError):
                os.unlink(path)

    threading.Thread(target=serve, name="doorbell", daemon=True).start()
    return True


__all__ = ["doorbell_path", "listen", "ring"]
