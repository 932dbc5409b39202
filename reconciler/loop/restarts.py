"""The restart book: crash-loop backoff per container and restart counts per member.

No I/O; the clock is passed in (``time.monotonic`` by default). Restarts are
the loop's (DESIGN.md, rule 5): each pass asks the book which exited members
must wait (``hold``: the planner gets them as ``held`` containers), tells it
which it restarted (``restarted``), and hands it the unit's containers after
the pass (``prune``), so the book keeps only what can still matter:

- the backoff of a container that is gone (removed, or replaced by a new spec)
  or stable (``backoff.prune``: its next exit starts a new crash loop anyway);
- the restart count of a member the unit no longer has nor runs: a unit that
  left desired state and whose containers are gone leaves nothing behind.

Thread-safe: passes over different units run at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from reconciler.core import labels as L
from reconciler.core.observed import ContainerId, ObservedContainer, State
from reconciler.core.spec import UnitKey
from reconciler.loop import backoff
from reconciler.loop.backoff import BackoffPolicy, RestartState

BackoffKey = tuple[UnitKey, str, str]  # unit, container name, spec hash


@dataclass(frozen=True, slots=True)
class Held:
    """Exited members whose restart waits out a crash-loop backoff."""

    reasons: dict[ContainerId, str]  # why each may not start yet (the planner's ``held``)
    retry_in: float | None = None  # seconds until the first of them may start
    backed_off: tuple[str, ...] = ()  # members that entered a new backoff in this call


class RestartBook:
    def __init__(self, policy: BackoffPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[BackoffKey, RestartState] = {}
        self._counts: dict[tuple[UnitKey, str], int] = {}

    def hold(self, key: UnitKey, containers: Iterable[ObservedContainer]) -> Held:
        """Book the unit's exits and starts seen now; the exited members that must wait."""
        now = self._clock()
        reasons: dict[ContainerId, str] = {}
        backed_off: list[str] = []
        retry_in: float | None = None
        with self._lock:
            for c in containers:
                if c.role == L.ROLE_INFRA:
                    continue
                bkey = (key, c.container, c.spec_hash or "")
                if c.state is State.EXITED:
                    before = self._states.get(bkey)
                    state = backoff.on_exit(before, now, self.policy)
                    self._states[bkey] = state
                    if backoff.may_start(state, now):
                        continue
                    if state is not before:
                        backed_off.append(c.container)
                    left = backoff.seconds_left(state, now)
                    reasons[c.id] = (
                        f"CrashLoopBackOff: back-off {state.delay:.0f}s restarting "
                        f"{c.container} (next try in {left:.0f}s)"
                    )
                    retry_in = left if retry_in is None else min(retry_in, left)
                elif c.state.alive and bkey not in self._states:
                    self._states[bkey] = backoff.on_start(None, now)
        return Held(reasons, retry_in, tuple(backed_off))

    def restarted(self, key: UnitKey, name: str) -> None:
        """The loop (re)started member ``name`` of ``key``: count it, and note its start."""
        now = self._clock()
        with self._lock:
            self._counts[(key, name)] = self._counts.get((key, name), 0) + 1
            for bkey, state in list(self._states.items()):
                if bkey[:2] == (key, name):
                    self._states[bkey] = backoff.on_start(state, now)

    def restarts(self, key: UnitKey, name: str) -> int:
        """How often the loop restarted member ``name`` of ``key``."""
        with self._lock:
            return self._counts.get((key, name), 0)

    def prune(
        self, key: UnitKey, containers: Iterable[ObservedContainer], wanted: Collection[str]
    ) -> None:
        """Forget what no longer matters for ``key``, given its containers now and the
        member names it wants (none once it left desired state); see the module."""
        present = {(c.container, c.spec_hash or "") for c in containers if c.unit_key == key}
        names = {name for name, _ in present} | set(wanted)
        with self._lock:
            kept = backoff.prune(self._states, self._clock(), self.policy)
            self._states = {
                bkey: state
                for bkey, state in kept.items()
                if bkey[0] != key or (bkey[1], bkey[2]) in present
            }
            for counted in [k for k in self._counts if k[0] == key and k[1] not in names]:
                del self._counts[counted]

    def __len__(self) -> int:
        """How many containers' backoff the book holds (what pruning keeps small)."""
        with self._lock:
            return len(self._states)


__all__ = ["BackoffKey", "Held", "RestartBook"]
