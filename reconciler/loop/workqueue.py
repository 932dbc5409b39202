"""A coalescing per-key work queue served by a bounded pool of threads.

I/O: threads and a clock only. The control loop adds a unit's key whenever
something may have changed it (a file, a Docker event, a resync, a backoff
timer); the queue calls ``handler(key)`` so that:

- one key is handled by at most one worker at a time; different keys run in
  parallel, up to ``workers`` at once;
- adds of a key that is waiting coalesce into one run, due at the earliest
  time any of them asked for;
- an add of a key that is being handled runs it once more after the current
  run ends (a change seen during a run is never lost, never run concurrently);
- a handler that raises is logged and the worker goes on.

Work still waiting when ``stop`` is called is dropped: the loop is
level-triggered, so the next run observes everything again.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

log = logging.getLogger(__name__)


class WorkQueue(Generic[K]):
    """Calls ``handler(key)`` for added keys on ``workers`` threads (see the module).

    ``clock`` gives due times; workers sleep in real seconds until the next one,
    and re-read the clock whenever woken (by an add or a finished run).
    """

    def __init__(
        self,
        handler: Callable[[K], None],
        workers: int,
        clock: Callable[[], float] = time.monotonic,
        name: str = "workqueue",
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self._handler = handler
        self._workers = workers
        self._clock = clock
        self._name = name
        self._cond = threading.Condition()
        self._due: dict[K, float] = {}  # waiting keys (running or not) and when they are due
        # Keys that are waiting and not running, by due time; an entry whose time
        # is no longer the key's in _due is stale and skipped.
        self._heap: list[tuple[float, int, K]] = []
        self._seq = itertools.count()  # orders equal times without comparing keys
        self._running: set[K] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = False

    def add(self, key: K, delay: float = 0.0) -> None:
        """Have ``key`` handled after ``delay`` seconds (or sooner, if already due sooner)."""
        with self._cond:
            if self._stopping:
                return
            due = self._clock() + max(0.0, delay)
            if key in self._due and self._due[key] <= due:
                return
            self._due[key] = due
            if key not in self._running:  # a running key is queued again when its run ends
                heapq.heappush(self._heap, (due, next(self._seq), key))
            self._cond.notify_all()

    def start(self) -> None:
        """Start the worker threads."""
        with self._cond:
            if self._threads or self._stopping:
                raise RuntimeError(f"{self._name} was already started")
            for index in range(self._workers):
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{index}", daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def stop(self, timeout: float) -> None:
        """Take no more work; wait up to ``timeout`` seconds for running handlers."""
        with self._cond:
            self._stopping = True
            self._due.clear()
            self._heap.clear()
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            if self._running:
                log.warning(
                    "%s: %d handler(s) still running after %.1f s: %s",
                    self._name,
                    len(self._running),
                    timeout,
                    sorted(map(repr, self._running)),
                )

    def drain(self, timeout: float) -> bool:
        """Wait until no key is waiting or running; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._due and not self._running, timeout)

    def _work(self) -> None:
        while True:
            with self._cond:
                key = self._take()
                if key is None:
                    return
                self._running.add(key)
            try:
                self._handler(key)
            except Exception:
                log.exception("%s: handling %r failed", self._name, key)
            finally:
                with self._cond:
                    self._running.discard(key)
                    if key in self._due:  # added while it ran: run it again
                        heapq.heappush(self._heap, (self._due[key], next(self._seq), key))
                    self._cond.notify_all()

    def _take(self) -> K | None:
        """The next due key (waiting for one), or None when stopping. Holds the lock."""
        while not self._stopping:
            now = self._clock()
            while self._heap:
                due, _, key = self._heap[0]
                if self._due.get(key) != due or key in self._running:
                    heapq.heappop(self._heap)  # stale
                    continue
                if due > now:
                    break
                heapq.heappop(self._heap)
                del self._due[key]
                return key
            self._cond.wait(self._heap[0][0] - now if self._heap else None)
        return None


__all__ = ["WorkQueue"]
