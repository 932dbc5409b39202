"""Crash-loop backoff arithmetic for restarting exited containers. No I/O, no clock.

Kubelet semantics (DESIGN.md, rule 5), one ``RestartState`` per container:

- The first restart of a container that has been stable is immediate: a
  ``docker kill``ed workload runs again at once.
- Each further exit within the crash loop delays the next start: ``initial``
  (10 s), then doubling (20 s, 40 s, ...) up to ``maximum`` (5 min). So the
  delays of one crash loop are 0, 10, 20, 40, 80, 160, 300, 300, ...
- A container that ran ``reset_after`` seconds (10 min) without exiting has
  left its crash loop: its next exit is again restarted at once.

The caller keeps a ``dict`` of states by any hashable key (the loop uses
``(unit key, container name)``) and passes ``now`` (``time.monotonic()``):

    state = on_exit(states.get(key), now, policy)    # seen exited
    if may_start(state, now):
        start(...); state = on_start(state, now)     # started
    states[key] = state

``on_exit`` counts an exit only once: seeing the same exited container again
before it was started changes nothing, so a resync during backoff does not
double the delay.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    initial: float = 10.0  # the wait before the second restart of a crash loop
    maximum: float = 300.0  # the cap of the doubling
    reset_after: float = 600.0  # running this long without exiting ends the crash loop

    def __post_init__(self) -> None:
        if not 0 <= self.initial <= self.maximum or self.reset_after <= 0:
            raise ValueError(f"invalid backoff policy: {self}")


@dataclass(frozen=True, slots=True)
class RestartState:
    """Where one container stands in its crash loop."""

    restarts: int = 0  # exits counted in the current crash loop
    delay: float = 0.0  # the wait imposed before the restart after the last exit
    not_before: float = 0.0  # the earliest time it may start again
    started_at: float | None = None  # when last started; None: exited, not yet started again


def on_exit(state: RestartState | None, now: float, policy: BackoffPolicy) -> RestartState:
    """The container was seen exited at ``now``: when may it start again?"""
    if state is not None and state.started_at is None and state.restarts:
        return state  # the same exit, seen again
    if state is None or state.restarts == 0 or stable(state, now, policy):
        return RestartState(restarts=1, not_before=now)  # out of a crash loop: at once
    delay = policy.initial if state.restarts == 1 else min(state.delay * 2, policy.maximum)
    return RestartState(state.restarts + 1, delay, now + delay)


def on_start(state: RestartState | None, now: float) -> RestartState:
    """The container was started at ``now``."""
    if state is None:
        return RestartState(not_before=now, started_at=now)
    return replace(state, started_at=now)


def may_start(state: RestartState | None, now: float) -> bool:
    """Whether starting the container at ``now`` respects its backoff."""
    return state is None or now >= state.not_before


def in_backoff(state: RestartState | None, now: float) -> bool:
    """Exited and waiting out a delay: what status shows as ``CrashLoopBackOff``."""
    return state is not None and state.started_at is None and now < state.not_before


def seconds_left(state: RestartState | None, now: float) -> float:
    """How long until the container may start again (0 when it may start now)."""
    return 0.0 if state is None else max(0.0, state.not_before - now)


def stable(state: RestartState, now: float, policy: BackoffPolicy) -> bool:
    """Whether the container has run long enough to have left its crash loop."""
    return state.started_at is not None and now - state.started_at >= policy.reset_after


def prune(
    states: Mapping[K, RestartState], now: float, policy: BackoffPolicy
) -> dict[K, RestartState]:
    """The states still worth keeping: a stable container's next exit is treated
    as a first exit anyway, so its record can go (keeps the loop's dict small)."""
    return {k: s for k, s in states.items() if not stable(s, now, policy)}


__all__ = [
    "BackoffPolicy",
    "RestartState",
    "in_backoff",
    "may_start",
    "on_exit",
    "on_start",
    "prune",
    "seconds_left",
    "stable",
]
