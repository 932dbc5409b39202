"""The work queue's guarantees, made deterministic with events and barriers.

Waits are bounded by generous timeouts (WAIT) that a passing run never reaches;
time-based asserts are lower bounds only, which a loaded machine cannot break.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from reconciler.loop.workqueue import WorkQueue

WAIT = 10.0  # an upper bound for anything that should happen "soon"


class Recorder:
    """A handler that records its calls; ``gate`` (when given) holds each call open."""

    def __init__(self, gate: Callable[[str], None] | None = None) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.gate = gate

    def __call__(self, key: str) -> None:
        with self.lock:
            self.calls.append(key)
        if self.gate is not None:
            self.gate(key)


@pytest.fixture
def queues() -> Iterator[list[WorkQueue[str]]]:
    """Stops every queue a test made, so no worker outlives it."""
    made: list[WorkQueue[str]] = []
    yield made
    for queue in made:
        queue.stop(WAIT)


def make(
    queues: list[WorkQueue[str]], handler: Callable[[str], None], workers: int = 1
) -> WorkQueue[str]:
    queue = WorkQueue(handler, workers)
    queues.append(queue)
    return queue


def test_many_adds_of_a_waiting_key_coalesce_into_one_run(queues: list[WorkQueue[str]]) -> None:
    record = Recorder()
    queue = make(queues, record)
    for _ in range(100):
        queue.add("a")
    queue.add("b")
    queue.start()
    assert queue.drain(WAIT)
    assert sorted(record.calls) == ["a", "b"]


def test_a_key_never_runs_concurrently(queues: list[WorkQueue[str]]) -> None:
    active: Counter[str] = Counter()
    overlaps: list[str] = []
    lock = threading.Lock()
    runs = 0

    def handler(key: str) -> None:
        nonlocal runs
        with lock:
            active[key] += 1
            runs += 1
            if active[key] > 1:
                overlaps.append(key)
        time.sleep(0.002)  # widen the window a second run would need
        with lock:
            active[key] -= 1

    queue = make(queues, handler, workers=4)
    queue.start()
    for _ in range(200):
        queue.add("a")
        time.sleep(0.0005)
    assert queue.drain(WAIT)
    assert overlaps == []
    assert runs >= 1


def test_different_keys_run_in_parallel_up_to_workers(queues: list[WorkQueue[str]]) -> None:
    # Three handlers meet at a barrier: it only opens if three run at once.
    barrier = threading.Barrier(3, timeout=WAIT)

    def meet(key: str) -> None:
        barrier.wait()

    queue = make(queues, Recorder(meet), workers=3)
    queue.start()
    for key in "abc":
        queue.add(key)
    assert queue.drain(WAIT)
    assert not barrier.broken


def test_no_more_than_workers_run_at_once(queues: list[WorkQueue[str]]) -> None:
    release = threading.Event()
    entered = threading.Semaphore(0)

    def gate(key: str) -> None:
        entered.release()
        release.wait(WAIT)

    record = Recorder(gate)
    queue = make(queues, record, workers=2)
    queue.start()
    for key in "abcd":
        queue.add(key)
    assert entered.acquire(timeout=WAIT)
    assert entered.acquire(timeout=WAIT)
    assert not entered.acquire(timeout=0.2)  # two workers, both busy
    assert len(record.calls) == 2
    release.set()
    assert queue.drain(WAIT)
    assert sorted(record.calls) == ["a", "b", "c", "d"]


def test_an_add_during_a_run_runs_the_key_once_more_afterwards(
    queues: list[WorkQueue[str]],
) -> None:
    started, release = threading.Event(), threading.Event()

    def gate(key: str) -> None:
        if not started.is_set():
            started.set()
            release.wait(WAIT)

    record = Recorder(gate)
    queue = make(queues, record, workers=4)
    queue.start()
    queue.add("a")
    assert started.wait(WAIT)
    for _ in range(10):  # coalesce into one more run, on no other worker meanwhile
        queue.add("a")
    assert not queue.drain(0.2)
    assert record.calls == ["a"]
    release.set()
    assert queue.drain(WAIT)
    assert record.calls == ["a", "a"]


def test_delayed_adds_fire_in_due_order(queues: list[WorkQueue[str]]) -> None:
    # An injected clock, frozen while adding: the due times are exact.
    now = [100.0]
    record = Recorder()
    queue = WorkQueue(record, workers=1, clock=lambda: now[0])
    queues.append(queue)
    queue.add("late", delay=30)
    queue.add("soon", delay=20)
    queue.add("now")
    queue.add("never", delay=3600)
    now[0] += 60
    queue.start()
    assert not queue.drain(0.2)  # "never" is still waiting
    assert record.calls == ["now", "soon", "late"]


def test_a_delayed_add_does_not_fire_early(queues: list[WorkQueue[str]]) -> None:
    fired: list[float] = []
    queue = make(queues, lambda key: fired.append(time.monotonic()))
    queue.start()
    began = time.monotonic()
    queue.add("a", delay=0.25)
    assert queue.drain(WAIT)
    assert fired[0] - began >= 0.25


def test_the_earliest_pending_time_of_a_key_wins(queues: list[WorkQueue[str]]) -> None:
    record = Recorder()
    queue = make(queues, record)
    queue.add("a", delay=3600)
    queue.add("a", delay=0.05)  # brings it forward
    queue.add("a", delay=3600)  # does not push it back
    queue.start()
    assert queue.drain(WAIT)
    assert record.calls == ["a"]  # one run: the adds coalesced into it


def test_a_handler_that_raises_is_logged_and_the_worker_goes_on(
    queues: list[WorkQueue[str]], caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def handler(key: str) -> None:
        calls.append(key)
        if key == "bad":
            raise RuntimeError("boom")

    queue = make(queues, handler)  # one worker: it must survive to run "good"
    queue.start()
    with caplog.at_level(logging.ERROR, logger="reconciler.loop.workqueue"):
        queue.add("bad")
        assert queue.drain(WAIT)
        queue.add("good")
        assert queue.drain(WAIT)
    assert calls == ["bad", "good"]
    [failure] = caplog.records
    assert "'bad'" in failure.getMessage()
    assert failure.exc_info is not None


def test_stop_drops_waiting_work_and_waits_for_running_handlers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def gate(key: str) -> None:
        started.set()
        release.wait(WAIT)
        finished.set()

    record = Recorder(gate)
    queue: WorkQueue[str] = WorkQueue(record, workers=1, name="stopping")
    queue.start()
    queue.add("a")
    assert started.wait(WAIT)
    queue.add("b")  # waiting behind "a": dropped by stop
    queue.add("c", delay=0.05)
    with caplog.at_level(logging.WARNING, logger="reconciler.loop.workqueue"):
        queue.stop(0)  # gives up on "a" at once, and says so
    assert "1 handler(s) still running" in caplog.text
    assert not finished.is_set()
    release.set()
    queue.stop(WAIT)  # waits for "a"
    assert finished.is_set()
    assert not any(t.name.startswith("stopping-") for t in threading.enumerate())
    queue.add("d")  # ignored after stop
    assert queue.drain(0)
    assert record.calls == ["a"]


def test_start_twice_and_zero_workers_are_refused(queues: list[WorkQueue[str]]) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WorkQueue(Recorder(), workers=0)
    queue = make(queues, Recorder())
    queue.start()
    with pytest.raises(RuntimeError, match="already started"):
        queue.start()
