"""The health gate of `sync --wait`: when a revision handed to the loop is healthy. No I/O.

The loop arms the gate with each revision the source hands it (``arm``), and
asks it on a timer (``check``) with its status records; the decision per unit
is health.py's. A revision is judged once:

- **healthy** when every unit it changed has been Ready for ``min_ready``
  seconds on end, the same run (no restart in between): a container that
  exits right after it starts is seen running by the pass that started it, and
  must not pass for healthy on that (Kubernetes' ``minReadySeconds``);
- **unhealthy** at once when a unit is broken (a crash loop, an init container
  failing, a refusal), or when ``wait`` seconds passed with a unit not Ready:
  each named with why, and for how long that has been so.

The units a revision changed are those whose compiled unit differs from the
last healthy revision's or from the revision offered before it (health.py,
``changed``): a revision superseding one still progressing keeps gating what
that one changed, and a rollback gates the units it changes back.

The verdict goes to ``on_verdict`` (under the gate's lock, so a revision armed
meanwhile never gets an older one's verdict); what it waits for, while that
changes, to ``on_progress``. Thread-safe; the clock is injected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from reconciler.core.compile import Compiled
from reconciler.core.spec import DesiredUnit, UnitKey
from reconciler.loop.health import UnitHealth, changed, unit_health, units_of
from reconciler.loop.statusrecord import UnitRecord

DEFAULT_MIN_READY = 2.0  # seconds a changed unit must stay Ready


@dataclass(frozen=True, slots=True)
class Verdict:
    revision: str
    healthy: bool
    units: tuple[str, ...]  # healthy: the units it gated; unhealthy: those failing
    reasons: tuple[str, ...] = ()  # unhealthy: "sandbox/web: app: CrashLoopBackOff (exited 1)"
    timed_out: bool = False  # unhealthy because ``wait`` ran out


@dataclass(slots=True)
class _Armed:
    revision: str
    units: dict[UnitKey, DesiredUnit]
    changed: frozenset[UnitKey]
    deadline: float
    ready_since: dict[UnitKey, tuple[tuple[tuple[str, str, int], ...], float]] = field(
        default_factory=dict
    )
    first_seen: dict[tuple[UnitKey, str], float] = field(default_factory=dict)
    waiting: tuple[str, ...] | None = None  # what on_progress was last told


class RevisionGate:
    def __init__(
        self,
        wait: float,
        on_verdict: Callable[[Verdict], None],
        on_progress: Callable[[str, tuple[str, ...]], None] | None = None,
        min_ready: float = DEFAULT_MIN_READY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.wait, self.min_ready = wait, min_ready
        self._on_verdict, self._on_progress = on_verdict, on_progress
        self._clock = clock
        self._lock = threading.Lock()
        self._armed: _Armed | None = None
        self._offered: dict[UnitKey, DesiredUnit] | None = None  # the revision armed last
        self._healthy: dict[UnitKey, DesiredUnit] | None = None  # the last one judged healthy

    def arm(
        self, revision: str, compiled: tuple[Compiled, ...], judged: bool = False
    ) -> frozenset[UnitKey]:
        """The source handed the loop ``revision``, compiled as ``compiled``: gate the units
        it changes (returned) from now on, instead of any revision armed before. A revision
        ``judged`` healthy before (resumed after a restart) is only what the next is
        compared with."""
        units = units_of(compiled)
        with self._lock:
            if judged:
                self._offered = self._healthy = units
                self._armed = None
                return frozenset()
            keys = changed(units, self._healthy, self._offered)
            self._offered = units
            self._armed = _Armed(revision, units, keys, self._clock() + self.wait)
        return keys

    def armed(self) -> str | None:
        """The revision being gated, if any."""
        with self._lock:
            return self._armed.revision if self._armed is not None else None

    def tick(
        self, records: Callable[[], Mapping[str, UnitRecord]], reported: Callable[[], None]
    ) -> None:
        """The gate thread's round: ``check`` the status book's ``records()`` while a
        revision is gated (an idle loop copies none), and ``reported()`` when it said
        something (the status is then written)."""
        if self.armed() is not None and self.check(records()):
            reported()

    def check(self, records: Mapping[str, UnitRecord]) -> bool:
        """Judge the armed revision by ``records`` (the status book's, by ``str(key)``), if it
        can be judged now; whether anything was reported (a verdict, or progress)."""
        with self._lock:
            armed = self._armed
            if armed is None:
                return False
            now = self._clock()
            health = {
                key: unit_health(armed.units[key], records.get(str(key)))
                for key in sorted(armed.changed)
            }
            verdict = self._verdict(armed, health, now)
            if verdict is not None:
                self._armed = None
                if verdict.healthy:
                    self._healthy = armed.units
                self._on_verdict(verdict)
                return True
            waiting = tuple(f"{key}: {h.reason}" for key, h in health.items() if not h.ready)
            if waiting == armed.waiting:
                return False
            armed.waiting = waiting
            if self._on_progress is not None:
                self._on_progress(armed.revision, waiting)
            return True

    def _verdict(
        self, armed: _Armed, health: Mapping[UnitKey, UnitHealth], now: float
    ) -> Verdict | None:
        broken = {key: h for key, h in health.items() if h.state == "broken"}
        if broken:
            return _unhealthy(armed.revision, {k: h.reason for k, h in broken.items()})
        for key, h in health.items():
            since = armed.ready_since.get(key)
            if not h.ready:
                armed.ready_since.pop(key, None)
                armed.first_seen.setdefault((key, h.reason), now)
            elif since is None or since[0] != h.run:
                armed.ready_since[key] = (h.run, now)
        ready = all(
            h.ready and now - armed.ready_since[key][1] >= self.min_ready
            for key, h in health.items()
        )
        if ready:
            return Verdict(armed.revision, True, tuple(str(k) for k in health))
        if now < armed.deadline:
            return None
        late = {
            key: f"{h.reason} for {now - armed.first_seen.get((key, h.reason), now):.0f} s"
            if not h.ready
            else f"ready for less than {self.min_ready:g} s"
            for key, h in health.items()
            if not (h.ready and now - armed.ready_since[key][1] >= self.min_ready)
        }
        return _unhealthy(armed.revision, late, timed_out=True)


def _unhealthy(revision: str, why: Mapping[UnitKey, str], timed_out: bool = False) -> Verdict:
    keys = sorted(why)
    return Verdict(
        revision,
        False,
        tuple(str(k) for k in keys),
        tuple(f"{k}: {why[k]}" for k in keys),
        timed_out,
    )


__all__ = ["DEFAULT_MIN_READY", "RevisionGate", "Verdict"]
