"""The loop's part in enforcing a disk emptyDir's sizeLimit: measuring it. Threads and
file reads (diskusage.py); the engine only says where a volume's data is.

Every ``--eviction-interval`` seconds (default 10, kubelet's housekeeping
period) ``tick`` measures each disk emptyDir with a sizeLimit of the desired
units that are active (as their last pass left them: an evicted, failed or
finished unit is not measured), and asks for a pass over each unit with one over its
limit. That pass takes the message (``take``) to the planner, which evicts
the unit (core/eviction.py). A memory emptyDir is a tmpfs of its sizeLimit and
needs no measuring. One-shot commands (`apply`, `diff`) measure nothing.

The driver says where a volume's data is on this host (``Watching.volume_path``;
Docker: under its data root, so the loop must run on the daemon's host, as
root); a volume that cannot be read there is said once and not enforced.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterable

from reconciler.core.errors import DriverError
from reconciler.core.eviction import message
from reconciler.core.spec import DesiredUnit, DesiredVolume, UnitKey
from reconciler.loop.diskusage import Usage, usage

log = logging.getLogger("reconciler")

INTERVAL = 10.0  # seconds: kubelet's housekeeping period, at which it measures emptyDirs

Measure = Callable[[str, int], Usage]  # (path, limit) -> what it uses, or more than the limit


class Evictions:
    """Measures the units' limited emptyDirs and remembers which unit must be evicted."""

    def __init__(
        self,
        *,
        units: Callable[[], Iterable[DesiredUnit]],
        active: Callable[[], Collection[UnitKey]],
        where: Callable[[str], str | None],
        ask: Callable[[UnitKey], None],
        measure: Measure = usage,
    ) -> None:
        """``units``: the desired units; ``active``: those started and not finished (nor
        evicted); ``where``: a volume's path on this host (the driver's ``volume_path``);
        ``ask``: queue a pass over a unit."""
        self._units, self._active, self._where = units, active, where
        self._ask, self._measure = ask, measure
        self._lock = threading.Lock()
        self._asked: dict[UnitKey, str] = {}  # unit -> the eviction's message
        self._paths: dict[str, str] = {}  # volume name -> where its data is
        self._unreadable: set[str] = set()  # volumes said to be unmeasurable
        self._partial: set[str] = set()  # volumes said to be measured in part

    def tick(self) -> None:
        """Measure every limited disk emptyDir of the active units; ask for a pass over
        those with one over its limit."""
        active = set(self._active())
        limited = [
            (unit.key, volume)
            for unit in self._units()
            for volume in unit.volumes
            if volume.size_limit is not None
        ]
        wanted = {volume.name for _, volume in limited}
        self._paths = {name: path for name, path in self._paths.items() if name in wanted}
        over: dict[UnitKey, str] = {}
        for key, volume in limited:
            if key in active and key not in over and self._over(key, volume):
                over[key] = message(volume)
        with self._lock:
            self._asked.update(over)
        for key, why in over.items():
            log.debug("%s: %s: asking for a pass", key, why)  # the pass says the eviction
            self._ask(key)

    def take(self, key: UnitKey) -> str | None:
        """The eviction asked for the unit, if any; its pass uses it up."""
        with self._lock:
            return self._asked.pop(key, None)

    def _over(self, key: UnitKey, volume: DesiredVolume) -> bool:
        """Whether the volume uses more than its limit; False when it cannot be measured
        (not made yet, the engine unreachable, its data not readable here)."""
        limit = volume.size_limit or 0
        used = self._usage(key, volume, limit)
        if used is None:
            return False
        if used.unreadable and volume.name not in self._partial:
            self._partial.add(volume.name)
            log.warning(
                "%s: emptyDir %r: %d director(ies) in it could not be read and count "
                "without their contents (a container made them private; reading them "
                "needs CAP_DAC_READ_SEARCH)",
                key,
                volume.volume,
                used.unreadable,
            )
        return used.bytes > limit

    def _usage(self, key: UnitKey, volume: DesiredVolume, limit: int) -> Usage | None:
        """The volume measured (up to a little over ``limit``); None when it cannot be."""
        cached = self._paths.get(volume.name)
        if cached is not None:
            try:
                return self._measure(cached, limit)
            except OSError:
                del self._paths[volume.name]  # removed and made again, perhaps: ask again
        try:
            path = self._where(volume.name)
        except DriverError as exc:
            log.debug("%s: where volume %s is: %s", key, volume.name, exc)
            return None
        if path is None:
            return None  # not made yet
        try:
            used = self._measure(path, limit)
        except OSError as exc:
            if volume.name not in self._unreadable:
                self._unreadable.add(volume.name)
                log.warning(
                    "%s: cannot measure emptyDir %r (%s); its sizeLimit is not enforced "
                    "(the loop must run as root on the engine's host)",
                    key,
                    volume.volume,
                    exc,
                )
            return None
        self._paths[volume.name] = path
        self._unreadable.discard(volume.name)
        return used


__all__ = ["INTERVAL", "Evictions", "Measure"]
