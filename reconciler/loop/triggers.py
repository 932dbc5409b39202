"""Triggers: what makes the loop look at a unit again, turned into keys on the work queue.

Threads and timers; the clock, the timer and the waits are injected, so the
rules are unit-tested without sleeping. The loop is level-triggered: a
trigger only says *which unit to look at* (workqueue.py coalesces them):

- engine events of this instance's containers (``wants``): a member's death,
  any stop or removal, an infra's start or restart queue that unit at once;
  all but a start or restart again ``EVENT_RECHECK_SOON`` and
  ``EVENT_RECHECK`` later (Docker announces a death before the list, which
  observation reads, shows it: the first pass usually sees the container
  still running; a start it records before announcing it); a stream that
  breaks is reopened with a doubling delay, and everything is looked at
  again once it is back (``Triggers.follow``);
- a periodic resync (``Triggers.every``);
- timers (``Triggers.later``): a settling file, a crash-loop backoff ending;
- a unit whose pass failed is retried after a doubling delay (``Retries``):
  1 s, 2 s, ... up to a cap, until a pass succeeds or its source changes.

``KnownUnits`` is what the daemon holds of this instance (a resync's view,
kept current by the passes): with the desired units, what a resync queues.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from reconciler.core import labels as L
from reconciler.core.errors import DriverError
from reconciler.core.observed import EventKind, Observation
from reconciler.core.spec import UnitKey

log = logging.getLogger("reconciler")

# Events that may mean a unit needs work. A member's own start is usually ours;
# an infra's start or restart means its members' namespaces may be stale.
ANY_ROLE = frozenset({EventKind.EXITED, EventKind.REMOVED, EventKind.CHANGED})
INFRA_ONLY = frozenset({EventKind.STARTED})
# Seconds. dockerd writes the "die" event before it updates the view its list
# reads; a few ms later the list shows it. The soon one heals a killed
# workload in ~100 ms, the later one is the safety net on a busy daemon.
EVENT_RECHECK_SOON = 0.05
EVENT_RECHECK = 0.5
FIRST_RECONNECT, LAST_RECONNECT = 0.5, 30.0  # seconds between tries to reopen the events


class Event(Protocol):
    """A container event, as the driver reports it."""

    @property
    def unit(self) -> UnitKey | None: ...
    @property
    def kind(self) -> EventKind: ...
    @property
    def role(self) -> L.Role | None: ...


class EventStream(Protocol):
    def __iter__(self) -> Iterator[Event]: ...
    def close(self) -> None: ...


class Queue(Protocol):
    def add(self, key: UnitKey, delay: float = 0.0) -> None: ...


Later = Callable[[float, Callable[[], None]], None]  # run the action after a delay


def wants(event: Event) -> bool:
    """Whether the event may mean its unit needs work."""
    return event.unit is not None and (
        event.kind in ANY_ROLE or (event.kind in INFRA_ONLY and event.role == L.ROLE_INFRA)
    )


class Triggers:
    def __init__(
        self,
        queue: Queue,
        stop: threading.Event,
        later: Later | None = None,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        """``later(delay, action)`` runs timers (threading.Timer by default);
        ``wait(seconds)`` sleeps and says whether to stop (``stop.wait`` by default)."""
        self.queue = queue
        self.stop = stop
        self.later: Later = later or self._timer
        self._wait = wait or stop.wait
        self._events: EventStream | None = None

    def _timer(self, delay: float, action: Callable[[], None]) -> None:
        timer = threading.Timer(delay, lambda: None if self.stop.is_set() else action())
        timer.daemon = True
        timer.start()

    def event(self, event: Event) -> None:
        """One engine event: queue its unit now, and again shortly (see the module)."""
        if not wants(event) or event.unit is None:
            return
        self.queue.add(event.unit)
        if event.kind in INFRA_ONLY:
            # dockerd lists a started container as running before it emits "start"
            # (Docker 20.10: 128 of 128 start events listed running at once); the
            # re-checks cost a pass each, the infra start of every sandbox created.
            return
        for delay in (EVENT_RECHECK_SOON, EVENT_RECHECK):
            self.later(delay, functools.partial(self.queue.add, event.unit))

    def follow(
        self,
        open_events: Callable[[], EventStream],
        resumed: Callable[[], None],
        opened: threading.Event | None = None,
    ) -> None:
        """Follow the engine's events until ``stop``; ``resumed()`` after a reconnect;
        ``opened`` is set once the stream is first open."""
        delay, connected_before = FIRST_RECONNECT, False
        while not self.stop.is_set():
            try:
                self._events = open_events()
                if opened is not None:
                    opened.set()
                if connected_before:  # the daemon came back: look at everything again
                    log.info("Docker events resumed; reconciling every unit")
                    resumed()
                connected_before, delay = True, FIRST_RECONNECT
                for event in self._events:
                    self.event(event)
            except DriverError as exc:
                if self.stop.is_set():
                    return
                log.warning("Docker events: %s; retrying in %.1f s", exc, delay)
            self._wait(delay)
            delay = min(delay * 2, LAST_RECONNECT)

    def close(self) -> None:
        """Unblock ``follow`` (call after setting ``stop``)."""
        events = self._events
        if events is not None:
            events.close()

    def every(self, period: float, tick: Callable[[], None]) -> None:
        """Call ``tick`` every ``period`` seconds until ``stop``."""
        while not self._wait(period):
            tick()


class Retries:
    """When units whose pass failed may be tried again; thread-safe."""

    def __init__(self, maximum: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.maximum = max(maximum, 1.0)
        self._clock = clock
        self._lock = threading.Lock()
        self._delay: dict[UnitKey, float] = {}  # the delay of the last retry
        self._not_before: dict[UnitKey, float] = {}

    def failed(self, key: UnitKey) -> float:
        """A pass over ``key`` failed: the delay until the next try (1 s, doubling, capped)."""
        with self._lock:
            delay = min(self._delay.get(key, 0.5) * 2, self.maximum)
            self._delay[key] = delay
            self._not_before[key] = self._clock() + delay
            return delay

    def wait(self, key: UnitKey) -> float:
        """Seconds until ``key`` may be tried again (0 or less: now)."""
        with self._lock:
            return self._not_before.get(key, 0.0) - self._clock()

    def clear(self, keys: Iterable[UnitKey]) -> None:
        """A pass succeeded or was refused, or the source changed: no waiting any more."""
        with self._lock:
            for key in keys:
                self._delay.pop(key, None)
                self._not_before.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._delay)


class KnownUnits:
    """The units this instance has on the daemon, as last seen; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: set[UnitKey] = set()

    def resync(self, observed: Observation) -> None:
        """A resync's whole view: every unit with a container or a volume left."""
        keys = {k for c in observed.containers if (k := c.unit_key) is not None}
        keys |= observed.volume_units  # a crash can leave only a volume
        with self._lock:
            self._keys = keys

    def seen(self, key: UnitKey, present: bool) -> None:
        """A pass saw the unit with containers (``present``) or without."""
        with self._lock:
            if present:
                self._keys.add(key)
            else:
                self._keys.discard(key)

    def keys(self) -> set[UnitKey]:
        with self._lock:
            return set(self._keys)


__all__ = [
    "ANY_ROLE",
    "EVENT_RECHECK",
    "EVENT_RECHECK_SOON",
    "INFRA_ONLY",
    "Event",
    "EventStream",
    "KnownUnits",
    "Later",
    "Queue",
    "Retries",
    "Triggers",
    "wants",
]
