"""reconciler.io/image-update: registry — which of a unit's containers run an older image
than their tag names now. Threads only; the pulls are the driver's, passed in.

Every ``--image-check`` seconds the loop pulls each followed image (with the
unit's pull credentials) and notes the image id its tag names; a unit with a
container on another id is queued, and its pass hands the planner that
container as ``outdated``: it is made again, from the new image, as a changed
spec would be. A pull that fails is logged once per image while it fails and
changes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from reconciler.core.errors import DriverError
from reconciler.core.observed import ContainerId, Observation, ObservedContainer
from reconciler.core.spec import DesiredUnit, PullAuth, UnitKey

log = logging.getLogger("reconciler")

Latest = Callable[[str, tuple[PullAuth, ...]], str]  # the driver's latest_image


class ImageWatch:
    def __init__(
        self,
        units: Callable[[], Iterable[DesiredUnit]],
        latest: Latest,
        observe: Callable[[], Observation],
        ask: Callable[[UnitKey], None],
    ) -> None:
        """``units``: the desired ones; ``latest``: the driver's pull-and-name;
        ``observe``: what the engine holds now; ``ask`` queues a unit."""
        self._units, self._latest, self._observe, self._ask = units, latest, observe, ask
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}  # image reference → the id its tag names
        self._failing: set[str] = set()
        # Told when a followed tag names another image: (image, its id, the units).
        self.on_moved: Callable[[str, str, tuple[str, ...]], None] | None = None

    def tick(self) -> None:
        """Pull every followed image once; queue the units with a container on another."""
        followed = [u for u in self._units() if any(m.follow_image for m in u.members)]
        if not followed:
            return
        for image, auth in {
            m.spec.image: m.pull_auth for u in followed for m in u.members if m.follow_image
        }.items():
            try:
                found = self._latest(image, auth)
            except DriverError as exc:
                if image not in self._failing:
                    log.warning("image update: cannot check %s: %s", image, exc)
                self._failing.add(image)
                continue
            self._failing.discard(image)
            with self._lock:
                before, self._names[image] = self._names.get(image), found
            if before is not None and before != found:
                log.info("image update: %s now names %s", image, found[:19])
                if self.on_moved is not None:
                    units = tuple(
                        str(u.key)
                        for u in followed
                        if any(m.spec.image == image for m in u.members)
                    )
                    self.on_moved(image, found, units)
        try:
            observed = self._observe()
        except DriverError as exc:
            log.warning("image update: observing: %s", exc)
            return
        by_unit: dict[UnitKey, list[ObservedContainer]] = {}
        for c in observed.containers:
            if c.unit_key is not None:
                by_unit.setdefault(c.unit_key, []).append(c)
        for unit in followed:
            if self.outdated(unit, by_unit.get(unit.key, ())):
                self._ask(unit.key)

    def outdated(
        self, unit: DesiredUnit | None, containers: Iterable[ObservedContainer]
    ) -> dict[ContainerId, str]:
        """The unit's containers on another image than their tag names now, with why."""
        if unit is None:
            return {}
        images = {m.name: m.spec.image for m in unit.members if m.follow_image}
        with self._lock:
            names = dict(self._names)
        found: dict[ContainerId, str] = {}
        for c in containers:
            image = images.get(c.container or "")
            now = names.get(image or "")
            if image and now and c.image_id and c.image_id != now:
                found[c.id] = f"{image} now names {now[:19]} (was {c.image_id[:19]})"
        return found
