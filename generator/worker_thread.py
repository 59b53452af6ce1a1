"""The model's worker: one daemon thread that runs submitted calls in order.

`ThreadPoolExecutor` joins its threads when the interpreter exits, so a model call that never returns
(a stuck driver, a hung kernel) would keep a stopped bot alive however it was asked to stop. The engine
runs the pipeline here instead: on a bounded shutdown a hung call is abandoned with the daemon thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

T = TypeVar("T")

_Item = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]

_abandoned: set[threading.Thread] = set()


def abandoned_threads() -> list[threading.Thread]:
    """Workers given up at shutdown that are still inside a call. While one is, the process must
    leave with `os._exit`: finalizing the interpreter under a thread that is inside torch aborts it."""
    return [t for t in _abandoned if t.is_alive()]


class DaemonWorker(Executor):
    """A one-thread executor whose thread never blocks interpreter exit."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._shutdown = False
        self._busy = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """True while a submitted call is running."""
        return self._busy.is_set()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future: Future[T] = Future()
            self._queue.put((future, fn, args, kwargs))
            return future

    def _serve(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args, kwargs = item
            if not future.set_running_or_notify_cancel():
                continue
            self._busy.set()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
            finally:
                self._busy.clear()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if not self._shutdown:
                self._shutdown = True
                if cancel_futures:
                    self._cancel_queued()
                self._queue.put(None)
        if wait:
            self._thread.join()

    def join(self, timeout_s: float | None = None) -> bool:
        """After `shutdown`: wait up to `timeout_s` for the thread to end; False (and the thread
        counted in `abandoned_threads`) when it is still inside a call."""
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            _abandoned.add(self._thread)
            return False
        return True

    def _cancel_queued(self) -> None:
        kept: list[_Item | None] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
            kept.append(item)
        for item in kept:
            if item is None:
                self._queue.put(None)
