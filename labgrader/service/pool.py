"""Where the service's gradings run: the batch's warm local pool, or a Dask cluster, kept open for
as long as the service runs. Both are built from the batch's own pieces (labgrader/batch/): the
fork server that imported the labs' ``warm_imports`` once, workers started by ``task.init_worker``
with its socket, the readiness check run in a worker, Dask's worker plugin and executor.
"""
from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, Callable

from labgrader.batch import task
from labgrader.kernels import forkserver
from labgrader.quiet import quiet_tensorflow_import

from .worker import init_pool_worker

log = logging.getLogger("labgrader.service")


class LocalPool:
    """A fork server for the kernels and ``workers`` worker processes, forked with the labs' modules
    imported (as the batch's are). A worker that dies breaks a ProcessPoolExecutor: ``rebuild``
    starts both again (the new fork server ends the kernels the dead worker left running).

    The workers are forked by multiprocessing's own fork server, a process of one thread that
    imported the labs' modules once, never by the service: the service has threads (the loop on
    the journal, the watcher, the pool's) and a fork copies whatever lock another thread holds at
    that instant. A worker forked while the loop was inside SQLite hung at its first gradebook
    connection, and its submission stayed "grading" for ever (its student's share full)."""

    def __init__(self, root: str, db_url: str, imports: tuple[str, ...], workers: int):
        self.root, self.db_url, self.imports, self.workers = root, db_url, imports, workers
        self._stack = contextlib.ExitStack()
        self.executor: ProcessPoolExecutor | None = None

    @property
    def capacity(self) -> int:
        return self.workers

    ends_workers = True  # rebuild() kills them: a grading stuck in one ends with it

    def __enter__(self) -> LocalPool:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        self.server = self._stack.enter_context(forkserver.Running(wait=False, imports=self.imports))
        self.settings = {"GradingKernelManager": {"fork_server": self.server.socket}}
        self.executor = self._new()
        self.server.ready()

    def _new(self) -> ProcessPoolExecutor:
        quiet_tensorflow_import()  # the environment multiprocessing's fork server starts with
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["labgrader.service.worker", *self.imports])
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=context, initializer=init_pool_worker,
                                   initargs=(self.root, self.db_url, self.settings))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        assert self.executor is not None
        return self.executor.submit(fn, *args)

    def rebuild(self, why: str = "a grading worker died") -> None:
        log.warning("%s: starting the fork server and a pool of %d again", why, self.workers)
        self._shutdown()
        self._stack.close()  # the fork server ends its kernels (the dead worker's among them)
        self._stack = contextlib.ExitStack()
        self._start()

    def _shutdown(self) -> None:
        if self.executor is not None:
            processes = list((getattr(self.executor, "_processes", None) or {}).values())
            self.executor.shutdown(wait=False, cancel_futures=True)
            for process in processes:  # idle workers end at once; one still grading is ended
                process.join(2)
                if process.is_alive():
                    with contextlib.suppress(Exception):
                        process.kill()
                    process.join(5)
            self.executor = None

    def __exit__(self, *exc: Any) -> None:
        self._shutdown()
        self._stack.close()


class DaskPool:
    """The same gradings on a Dask cluster (``--scheduler``): each worker runs the batch's plugin
    (its own fork server, the course checked) for the one assignment served."""

    def __init__(self, root: str, assignment: str, scheduler: str):
        self.root, self.assignment, self.scheduler = root, assignment, scheduler
        self._stack = contextlib.ExitStack()
        self.executor: Executor | None = None
        self.workers = 1

    @property
    def capacity(self) -> int:
        return self.workers

    ends_workers = False  # Dask cannot end a running task: a hung one's future is cancelled, its thread stays

    def __enter__(self) -> DaskPool:
        from labgrader.batch import distributed
        distributed.refuse_sqlite_for_remote(task.load_course_config(self.root).CourseDirectory.db_url)
        client = self._stack.enter_context(distributed.connect(self.scheduler))
        client.wait_for_workers(1, timeout=distributed.WORKERS_TIMEOUT)
        client.register_plugin(distributed.GradingWorker(self.root, self.assignment,
                                                         distributed.course_fingerprint(self.root, self.assignment)))
        self.workers = len(client.scheduler_info(n_workers=-1)["workers"])
        self.executor = distributed.OnWorkers(client)
        self._stack.callback(self.executor.shutdown, wait=False)
        return self

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        assert self.executor is not None
        return self.executor.submit(fn, *args)

    def rebuild(self, why: str = "") -> None:
        pass  # the scheduler replaces lost workers' tasks itself (a hung task's future is cancelled)

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()


def default_workers(configured: int) -> int:
    """A small pool: the configured number, else one per core plus one, as the batch (each worker
    also waits on its kernel: starting it, messages)."""
    return configured if configured > 0 else (os.cpu_count() or 1) + 1
