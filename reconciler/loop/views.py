"""Which observation a unit's next pass may plan from, so that one list call serves many.

Threads and a clock only; no I/O. A pass used to observe its unit itself:
a container list filtered by the unit's labels, a volume list and, while a
container is missing, a list by name. dockerd answers each by walking all of
its containers (measured on Docker 20.10 with ~470 containers: 8.7 ms of
dockerd's CPU for a label filter, 44 ms for three names, whose regexps it
compiles per container), so converging N units from empty cost it ~N²
(at 250 sandboxes, 52 s of dockerd CPU against the SDK floor's 14.5 s).
kubelet and client-go list once and hand each worker its part; this module
does that without ever letting a pass act on a view older than what woke it:

- ``ask(key)``: every trigger but the resync (an event, a file, a timer, a
  probe) and the end of each pass mark the time after which the unit's next
  pass must see the engine (its ``since``);
- ``offer(key, view)``: an observation that began at ``view.started`` shows
  the unit as it was then. The loop offers its first observation of
  everything (cut per unit, ``by_unit``), a resync's for the units it queues,
  and a pass's own observation after it acted (the follow-up pass a unit's
  infra start queues then needs no list call);
- ``take(key, unit)``: the view the next pass plans from, if it began at or
  after ``since`` and either shows every container of the desired ``unit``
  or was asked about the unit (``Observation.looked_up``: a container whose
  name someone else holds refuses the unit, so the engine must have been
  asked); else None, and the pass observes the unit itself. A view serves
  one pass.

A resync does not raise ``since``: it queues units for a look, and what it
saw is the view it offers; a unit still waiting from before keeps its view.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from reconciler.core import labels as L
from reconciler.core.observed import Eviction, Observation, ObservedContainer
from reconciler.core.ownership import Claim
from reconciler.core.spec import DesiredUnit, UnitKey


@dataclass(frozen=True, slots=True)
class View:
    """One unit's part of an observation that began at ``started`` (the loop's clock)."""

    started: float
    observation: Observation


class Views:
    """Per unit: the time its next pass must see the engine from, and a view offered."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._since: dict[UnitKey, float] = {}
        self._views: dict[UnitKey, View] = {}

    def now(self) -> float:
        return self._clock()

    def ask(self, key: UnitKey) -> None:
        """The unit's next pass must see the engine as it is from now on."""
        now = self._clock()
        with self._lock:
            self._since[key] = now

    def offer(self, key: UnitKey, view: View) -> None:
        """Keep ``view`` for the unit's next pass, unless the one kept is still fresh and
        ``view`` is older or was not asked about the unit when it was (a resync's,
        against the first one)."""
        with self._lock:
            kept = self._views.get(key)
            if (
                kept is None
                or kept.started <= self._since.get(key, 0.0)
                or (
                    view.started > kept.started
                    and (key in view.observation.looked_up or key not in kept.observation.looked_up)
                )
            ):
                self._views[key] = view

    def take(self, key: UnitKey, unit: DesiredUnit | None) -> Observation | None:
        """The unit's view, if fresh enough and complete for ``unit``; it is used up."""
        with self._lock:
            view = self._views.pop(key, None)
            since = self._since.get(key, 0.0)
        if view is None or view.started <= since:
            return None
        observation = view.observation
        if unit is None or key in observation.looked_up:
            return observation
        shown = {
            "" if c.role == L.ROLE_INFRA else c.container
            for c in observation.containers
            if c.unit_key == key
        }
        wanted = {m.name for m in unit.members} | ({""} if unit.infra is not None else set())
        return observation if wanted <= shown else None

    def forget(self, keys: Iterable[UnitKey]) -> None:
        """Units neither desired nor on the engine any more."""
        with self._lock:
            for key in keys:
                self._since.pop(key, None)
                self._views.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._views)


def by_unit(observation: Observation, keys: Iterable[UnitKey]) -> Mapping[UnitKey, Observation]:
    """``observation`` cut per unit as observing with ``unit=key`` shows it: each unit's
    containers, claims, volumes and eviction, with the names and runtimes looked up for all."""
    wanted = set(keys)
    containers: dict[UnitKey, list[ObservedContainer]] = {key: [] for key in wanted}
    for c in observation.containers:
        if (owner := c.unit_key) in containers:
            containers[owner].append(c)
    claims: dict[UnitKey, list[tuple[UnitKey, Claim]]] = {}
    for key, claim in observation.claims:
        if key in wanted:
            claims.setdefault(key, []).append((key, claim))
    volumes: dict[UnitKey, list[tuple[UnitKey, Mapping[str, str]]]] = {}
    for key, labels in observation.volumes:
        if key in wanted:
            volumes.setdefault(key, []).append((key, labels))
    evictions: dict[UnitKey, list[tuple[UnitKey, Eviction]]] = {}
    for key, eviction in observation.evictions:
        if key in wanted:
            evictions.setdefault(key, []).append((key, eviction))
    return {
        key: Observation(
            containers=tuple(containers[key]),
            taken=frozenset(t for t in observation.taken if t.unit == key),
            looked_up=observation.looked_up & {key},
            runtimes=observation.runtimes,
            claims=tuple(claims.get(key, ())),
            volumes=tuple(volumes.get(key, ())),
            evictions=tuple(evictions.get(key, ())),
        )
        for key in wanted
    }


__all__ = ["View", "Views", "by_unit"]
