"""Which inbound entries appeared: inotify (through ``watchfiles``) on inbound itself, and a scan
every ``rescan_seconds`` for what inotify cannot promise (events dropped on overflow, a watcher
restarted, entries made while the service was down). Both only name entries; the service then
looks at each one itself (labgrader/service/inbound.py), so nothing here is trusted.

One watch, on inbound only, never on the students' folders inside it: a watch per folder would let
one student's entry of 200,000 folders take every inotify watch of the instructor's uid
(``fs.inotify.max_user_watches``). Nothing is lost by it: an entry is taken once, when it is whole
(its own creation is the event; the service then looks at it until it settles), and what changes
in it afterwards is ignored by design.
"""
from __future__ import annotations

import logging
import os
import queue
import threading

from labgrader.exchange import entries

log = logging.getLogger("labgrader.service")


def entry_of(inbound: str, path: str) -> str | None:
    """The entry (first folder under inbound) a changed path belongs to."""
    rel = os.path.relpath(path, inbound)
    if rel == "." or rel.startswith(".." + os.sep) or rel == "..":
        return None
    return rel.split(os.sep, 1)[0]


def everything_filter(change: object, path: str) -> bool:
    return True  # watchfiles' default drops names such as *.pyc or .git: a student chooses names


class InboundWatcher(threading.Thread):
    """Puts the names of changed entries on ``names``; restarts itself after an error (the rescan
    covers the gap)."""

    def __init__(self, inbound: str, names: queue.Queue, stop: threading.Event, retry_seconds: float = 5.0):
        super().__init__(name="inbound-watcher", daemon=True)
        self.inbound, self.names, self.stop, self.retry_seconds = inbound, names, stop, retry_seconds

    def run(self) -> None:
        import watchfiles
        while not self.stop.is_set():
            try:
                for changes in watchfiles.watch(self.inbound, watch_filter=everything_filter, debounce=50, step=20,
                                                stop_event=self.stop, rust_timeout=1000, raise_interrupt=False,
                                                ignore_permission_denied=True, recursive=False):
                    for name in {entry_of(self.inbound, path) for _, path in changes} - {None}:
                        self.names.put(name)
            except Exception as exc:  # the watch is an optimisation: never the service's end
                log.warning("watching %s failed (%s: %s): rescanning meanwhile, retrying in %g s", self.inbound,
                            type(exc).__name__, exc, self.retry_seconds)
                self.stop.wait(self.retry_seconds)


def scan(inbound: str) -> list[str]:
    """Every entry name in inbound now (the instructor owns it: listing is allowed)."""
    fd = entries.open_inbound(inbound)
    try:
        return entries.entry_names(fd)
    finally:
        os.close(fd)
