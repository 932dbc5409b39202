"""What the loop wants: the source's units as compiled and as admitted, and the units
whose last pass found nothing to do. Threads only; no I/O."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from reconciler.core.compile import Compiled
from reconciler.core.observed import Eviction, Observation, ObservedContainer
from reconciler.core.spec import Desired, DesiredUnit, UnitKey

Footprint = tuple[tuple[ObservedContainer, ...], object, bool, Eviction | None]


def footprint(
    key: UnitKey, observed: Observation, containers: Iterable[ObservedContainer]
) -> Footprint:
    """What the engine reports of one unit (``containers``, those with its labels): the
    containers as listed, its owner, whether a volume of it is left, its eviction."""
    mine = tuple(sorted(containers, key=lambda c: c.id))
    return mine, observed.owner(key, mine), key in observed.volume_units, observed.eviction(key)


class DesiredState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.compiled: tuple[Compiled, ...] = ()  # the source's units, not yet admitted
        self.desired = Desired()
        # Units whose last pass found nothing to do, with what it saw: a resync
        # that sees the same passes them by (an idle loop's cost grew with N).
        self._quiet: dict[UnitKey, tuple[DesiredUnit | None, Footprint]] = {}
        self._said: set[str] = set()  # problems already logged

    def now(self) -> tuple[Desired, tuple[Compiled, ...]]:
        with self._lock:
            return self.desired, self.compiled

    def keys(self) -> set[UnitKey]:
        with self._lock:
            return set(self.desired.keys)

    def desires(self, key: UnitKey) -> bool:
        with self._lock:
            return key in self.desired.keys

    def update(self, compiled: tuple[Compiled, ...], desired: Desired) -> None:
        with self._lock:
            self.compiled, self.desired = compiled, desired

    def admitted_again(self, compiled: tuple[Compiled, ...], desired: Desired) -> None:
        """The engine offered other runtimes than the units were admitted against."""
        with self._lock:
            if self.compiled is compiled:  # else a newer read of the source is admitted
                self.desired = desired

    def unquiet(self, key: UnitKey) -> None:
        """A pass over the unit begins: it is not quiet until that pass ends so."""
        with self._lock:
            self._quiet.pop(key, None)

    def quiet(self, key: UnitKey, unit: DesiredUnit | None, observed: Observation) -> None:
        """The unit's pass found nothing to do in ``observed``."""
        mine = [c for c in observed.containers if c.unit_key == key]
        with self._lock:
            self._quiet[key] = (unit, footprint(key, observed, mine))

    def quiet_keys(self) -> set[UnitKey]:
        with self._lock:
            return set(self._quiet)

    def unchanged(self, parts: Mapping[UnitKey, Observation]) -> set[UnitKey]:
        """Units desired as at their last quiet pass, whose containers, claims and
        volumes the engine reports exactly as that pass saw them (``parts``: a resync's
        observation cut per unit, ``by_unit``: one walk, not one per unit)."""
        with self._lock:
            desired, quiet = self.desired, dict(self._quiet)
        units = {u.key: u for u in desired.units}
        empty = Observation()
        return {
            key
            for key, (unit, seen) in quiet.items()
            if ((now := units.get(key)) is unit or now == unit)
            and footprint(key, part := parts.get(key, empty), part.containers) == seen
        }

    def news(self, said: set[str]) -> set[str]:
        """Of the problems that hold now, those not logged yet: each is said once, while
        it lasts (a resync re-reads, it does not re-report)."""
        with self._lock:
            new, self._said = said - self._said, said
        return new
