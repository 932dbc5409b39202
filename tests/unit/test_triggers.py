"""Triggers (reconciler/loop/triggers.py): events, resyncs, timers and retries → queued keys.

A fake clock, fake timers and fake waits: nothing sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from reconciler.core import labels as L
from reconciler.core.errors import DaemonUnavailable
from reconciler.core.models import Kind
from reconciler.core.observed import EventKind
from reconciler.core.spec import UnitKey
from reconciler.loop.triggers import (
    EVENT_RECHECK,
    EVENT_RECHECK_SOON,
    KnownUnits,
    Retries,
    Triggers,
    wants,
)
from reconciler.loop.workqueue import WorkQueue

from .planning import converge, desired, sandbox
from .simulator import Engine

WEB = UnitKey(Kind.SANDBOX, "default", "web")
API = UnitKey(Kind.CONTAINER, "default", "api")


@dataclass(frozen=True)
class Event:
    unit: UnitKey | None
    kind: EventKind
    role: str = L.ROLE_WORKLOAD


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class Timers:
    """``later`` on the fake clock: ``advance`` runs what came due."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.pending: list[tuple[float, Callable[[], None]]] = []

    def later(self, delay: float, action: Callable[[], None]) -> None:
        self.pending.append((self.clock.now + delay, action))

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        due = [a for t, a in self.pending if t <= self.clock.now]
        self.pending = [(t, a) for t, a in self.pending if t > self.clock.now]
        for action in due:
            action()


class Recorder:
    def __init__(self) -> None:
        self.added: list[tuple[UnitKey, float]] = []

    def add(self, key: UnitKey, delay: float = 0.0) -> None:
        self.added.append((key, delay))


class Stream:
    def __init__(self, events: list[Event], then: Exception | None = None) -> None:
        self.events, self.then, self.closed = events, then, False

    def __iter__(self) -> Iterator[Event]:
        yield from self.events
        if self.then is not None:
            raise self.then

    def close(self) -> None:
        self.closed = True


def test_which_events_queue_their_unit() -> None:
    assert wants(Event(WEB, EventKind.EXITED)) and wants(Event(WEB, EventKind.REMOVED))
    assert wants(Event(WEB, EventKind.STARTED, L.ROLE_INFRA)) and wants(
        Event(WEB, EventKind.STARTED, L.ROLE_INFRA)
    )
    assert not wants(Event(WEB, EventKind.STARTED)), "a member's start is usually ours"
    assert not wants(Event(WEB, EventKind.CREATED, L.ROLE_INFRA))
    assert not wants(Event(None, EventKind.EXITED)), "not a unit's container"


def test_an_event_queues_its_unit_now_then_soon_then_once_more() -> None:
    clock = Clock()
    timers, queue = Timers(clock), Recorder()
    triggers = Triggers(queue, threading.Event(), timers.later)
    triggers.event(Event(WEB, EventKind.EXITED))
    triggers.event(Event(API, EventKind.STARTED))
    assert queue.added == [(WEB, 0.0)]
    timers.advance(EVENT_RECHECK_SOON)  # dockerd's list shows the death by then, usually
    assert queue.added == [(WEB, 0.0), (WEB, 0.0)]
    timers.advance(EVENT_RECHECK - EVENT_RECHECK_SOON)  # and surely by then
    assert queue.added == [(WEB, 0.0), (WEB, 0.0), (WEB, 0.0)]
    timers.advance(60.0)
    assert len(queue.added) == 3


def test_an_infra_start_queues_its_unit_once() -> None:
    """dockerd records a start before it announces it: nothing to look at again."""
    clock = Clock()
    timers, queue = Timers(clock), Recorder()
    triggers = Triggers(queue, threading.Event(), timers.later)
    triggers.event(Event(WEB, EventKind.STARTED, L.ROLE_INFRA))
    triggers.event(Event(API, EventKind.STARTED, L.ROLE_INFRA))
    timers.advance(60.0)
    assert queue.added == [(WEB, 0.0), (API, 0.0)]


def test_a_broken_event_stream_is_reopened_with_doubling_delays() -> None:
    stop = threading.Event()
    waits: list[float] = []
    queue, resumed = Recorder(), []
    broken = DaemonUnavailable("the daemon does not answer")
    opened = iter(
        [
            Stream([Event(WEB, EventKind.EXITED)], then=broken),
            broken,
            broken,
            Stream([Event(API, EventKind.CHANGED)], then=broken),
        ]
    )

    def open_events() -> Stream:
        step = next(opened, None)
        if step is None:
            stop.set()
            raise broken
        if isinstance(step, Exception):
            raise step
        return step

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return stop.is_set()

    triggers = Triggers(queue, stop, lambda delay, action: None, wait)
    triggers.follow(open_events, lambda: resumed.append(True))
    assert [k for k, _ in queue.added] == [WEB, API]
    assert waits == [0.5, 1.0, 2.0, 0.5], "connected again: the delay starts over"
    assert resumed == [True], "back after a break: everything is looked at again"


def test_opened_is_set_once_the_stream_is_open() -> None:
    """The loop's first observation waits for it: a death after that observation is heard."""
    stop, opened, queue = threading.Event(), threading.Event(), Recorder()
    attempts: list[bool] = []

    def open_events() -> Stream:
        attempts.append(opened.is_set())
        if len(attempts) == 1:
            raise DaemonUnavailable("not yet")
        stop.set()
        return Stream([Event(WEB, EventKind.EXITED)])

    triggers = Triggers(queue, stop, lambda delay, action: None, lambda _s: stop.is_set())
    triggers.follow(open_events, lambda: None, opened)
    assert attempts == [False, False] and opened.is_set()


def test_a_resync_ticks_every_period_until_stopped() -> None:
    stop = threading.Event()
    ticks: list[int] = []

    def wait(seconds: float) -> bool:
        assert seconds == 30.0
        if len(ticks) == 3:
            stop.set()
        return stop.is_set()

    Triggers(Recorder(), stop, wait=wait).every(30.0, lambda: ticks.append(1))
    assert len(ticks) == 3


def test_a_failed_unit_is_retried_after_doubling_delays_up_to_the_cap() -> None:
    clock = Clock()
    retries = Retries(maximum=8.0, clock=clock)
    assert retries.wait(WEB) <= 0, "never failed: no wait"
    delays = [retries.failed(WEB) for _ in range(6)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert retries.wait(WEB) == 8.0 and retries.wait(API) <= 0
    clock.now += 8.0
    assert retries.wait(WEB) <= 0
    retries.clear([WEB])
    assert len(retries) == 0 and retries.failed(WEB) == 1.0, "cleared: it starts over"


def test_the_retry_cap_is_at_least_a_second() -> None:
    assert Retries(maximum=0.0).failed(WEB) == 1.0


def test_known_units_follow_resyncs_and_passes() -> None:
    engine: Engine = converge(desired(sandbox()))
    known = KnownUnits()
    known.resync(engine.observe())
    assert known.keys() == {WEB}
    known.seen(API, True)
    known.seen(WEB, False)
    assert known.keys() == {API}


def test_timers_and_events_coalesce_on_the_real_queue() -> None:
    clock = Clock()
    timers, handled = Timers(clock), []
    queue: WorkQueue[UnitKey] = WorkQueue(handled.append, 1, clock=clock)
    triggers = Triggers(queue, threading.Event(), timers.later)
    for _ in range(3):
        triggers.event(Event(WEB, EventKind.EXITED))
    queue.start()
    try:
        assert queue.drain(timeout=10.0)
        assert handled == [WEB], "three events before a pass: one pass"
        timers.advance(EVENT_RECHECK)
        assert queue.drain(timeout=10.0)
        assert handled == [WEB, WEB], "the rechecks coalesce too"
    finally:
        queue.stop(timeout=5.0)
