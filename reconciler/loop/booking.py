"""What a pass did, booked: logged once, restarts counted, probes told, the unit's
status recorded, and a failed unit retried with backoff. Threads only; the one
engine call (observing the unit again after it changed) is the loop's, passed in."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from logging import INFO, WARNING
from typing import Any

from reconciler.converge.executor import Result
from reconciler.core.actions import RecordEviction, Recreate, Restart, Start, Stop, describe
from reconciler.core.errors import DriverError
from reconciler.core.observed import ContainerId, Observation
from reconciler.core.planner import Plan, PlanWarning, Unhealthy, WarningKind
from reconciler.core.spec import Desired, DesiredUnit, UnitKey
from reconciler.loop.desiredstate import DesiredState
from reconciler.loop.metrics import LoopMetrics
from reconciler.loop.prober import Prober
from reconciler.loop.restarts import RestartBook
from reconciler.loop.status import phase
from reconciler.loop.statusrecord import ContainerRecord, StatusBook
from reconciler.loop.statuswriter import StatusWriter
from reconciler.loop.triggers import Retries

log = logging.getLogger("reconciler")

Held = Mapping[ContainerId, str]


class Booking:
    def __init__(
        self,
        *,
        state: DesiredState,
        retries: Retries,
        restarts: RestartBook,
        prober: Prober,
        status: StatusBook,
        writer: StatusWriter,
        queue: Callable[[UnitKey, float], None],
        observe: Callable[[UnitKey], Observation],
        forget: Callable[[UnitKey], None],
        address: Callable[[ContainerId], str | None],
        metrics: LoopMetrics | None = None,
    ) -> None:
        """``queue(key, delay)`` queues a unit's next pass; ``observe(key)`` observes it as
        a pass does; ``forget(key)`` drops what the loop saw of a unit that is gone;
        ``address(id)`` is a container's address, for its probes."""
        self._state, self._retries, self._restarts = state, retries, restarts
        self._prober, self._status, self._writer = prober, status, writer
        self._queue, self._observe, self._forget = queue, observe, forget
        self._address, self._metrics = address, metrics
        self._warned_empty = False

    def held(self, key: UnitKey, observed: Observation) -> dict[ContainerId, str]:
        """Exited members in crash-loop backoff, and a timer for when the first may start;
        none of a unit evicted (its containers were stopped, and are not restarted)."""
        if observed.eviction(key) is not None:
            return {}
        held = self._restarts.hold(key, observed.containers)
        if self._metrics is not None:
            for name in held.backed_off:
                self._metrics.backed_off(key, name)
        if held.retry_in is not None:
            self._queue(key, held.retry_in)
        return held.reasons

    def book(
        self,
        key: UnitKey,
        unit: DesiredUnit | None,
        planned: Plan,
        outcome: Result,
        observed: Observation,
        elapsed: float,
        held: Held,
        unhealthy: Mapping[ContainerId, Unhealthy],
    ) -> None:
        """Log and record what the pass did, and how it ended."""
        # A refusal (another source owns the unit, a name clash, ...) stays until
        # something changes: files, events and resyncs bring the unit back here.
        refusal = next((u.error for u in planned.units if u.error and not u.actions), None)
        if self._metrics is not None:
            self._metrics.pass_done(elapsed, outcome)
        error = next((u.error for u in outcome.units if u.error), None)
        for unit_result in outcome.units:
            for done in unit_result.outcomes:
                if done.ok:
                    level = WARNING if isinstance(done.action, RecordEviction) else INFO
                    log.log(level, "%s: %s: %s", key, _what(done.action), done.action.reason)
                elif done.error == error:  # said once, with the retry, by failed()
                    error = f"{_what(done.action)} failed: {done.error}"
        self._after(key, unit, outcome, held, unhealthy, observed)
        quiet = not planned.actions and not held and not unhealthy and not planned.warnings
        if quiet and refusal is None and error is None:
            self._state.quiet(key, unit, observed)
        if refusal is not None:
            self.refused(key, unit, refusal)
        elif error is not None:
            self.failed(key, error, unit)
        else:
            self._retries.clear([key])
            self._record(key, unit, error=None)
            if self._metrics is not None and not held:
                self._metrics.health.settled(key)

    def _after(
        self,
        key: UnitKey,
        unit: DesiredUnit | None,
        outcome: Result,
        held: Held,
        unhealthy: Mapping[ContainerId, Unhealthy],
        observed: Observation,
    ) -> None:
        """Book restarts, forget probes of restarted containers, and note the unit's status.

        ``observed`` is the state the pass began with; it is read again only
        when the pass changed something.
        """
        for done in (o for u in outcome.units for o in u.outcomes if o.ok):
            action = done.action
            if isinstance(action, RecordEviction) and self._metrics is not None:
                self._metrics.evicted(key)
            if not isinstance(action, Start | Restart | Stop | Recreate):
                continue
            ref = action.old if isinstance(action, Recreate) else action.ref
            restarted = action.restart if isinstance(action, Start | Recreate) else False
            if not restarted and ref.id not in unhealthy:
                continue
            self._restarts.restarted(key, ref.container)
            if self._metrics is not None:
                self._metrics.restarted(key, ref.container)
            self._prober.restarted(ref.id)
        if any(u.outcomes for u in outcome.units):
            try:
                observed = self._observe(key)
            except DriverError:
                return
        if unit is None and not observed.containers:
            self._forget(key)  # neither desired nor there
        members = list(observed.containers)
        self._restarts.prune(key, members, [m.name for m in unit.members] if unit else ())
        self._prober.watch(key, unit.running if unit else (), members, self._address)
        eviction = observed.eviction(key)
        self._status.observed(
            key,
            "Evicted"
            if eviction is not None
            else "CrashLoopBackOff"
            if held
            else (phase(members) if members else "Absent"),
            {
                (c.container or "infra"): ContainerRecord(
                    id=c.id[:12],
                    state=c.state.value,
                    exit_code=c.exit_code,
                    restarts=self._restarts.restarts(key, c.container),
                    ready=self._prober.ready(c.id),
                    waiting=held.get(c.id),
                    started=self._prober.started(c.id),
                    spec_hash=c.spec_hash,
                )
                for c in members
            },
            eviction.message if eviction is not None else None,
        )

    def refused(self, key: UnitKey, unit: DesiredUnit | None, reason: str) -> None:
        """Record why the unit is left as it is; say it once, not at every pass."""
        self._retries.clear([key])
        # Refused while nothing of it runs, and nothing will until it changes.
        if self._status.refused(key, reason):
            log.error("%s: %s", key, reason)
        if self._metrics is not None:
            self._metrics.health.settled(key)  # refused: a settled answer, reported
        self._record(key, unit, reason)

    def failed(self, key: UnitKey, error: str, unit: DesiredUnit | None) -> None:
        """Record the error, show the unit Failed, and try again later: 1 s, doubling up to
        the crash-loop cap (--backoff-max) while it lasts; one log line per attempt."""
        delay = self._retries.failed(key)
        self._status.failed(key, error)
        log.error("%s: %s (retrying in %.0f s)", key, error, delay)
        if self._metrics is not None:
            self._metrics.health.attempted(key)
        self._record(key, unit, error)
        self._queue(key, delay)

    def _record(self, key: UnitKey, unit: DesiredUnit | None, error: str | None) -> None:
        desired = self._state.desires(key)
        self._status.record(key, error, unit.source if unit is not None else None, desired)
        self._writer.soon()

    def warn(self, warnings: tuple[PlanWarning, ...], desired: Desired) -> None:
        """Log a plan's warnings; that the source defines nothing, once while it lasts."""
        for warning in warnings:
            if warning.kind is WarningKind.EMPTY:
                if not self._warned_empty:
                    log.warning(
                        "%s; the directory defines nothing, so no container is removed "
                        "(run with --allow-empty to mean it)",
                        warning,
                    )
                self._warned_empty = True
                continue
            log.warning("%s", warning)
        if desired.units:
            self._warned_empty = False


def _what(action: Any) -> str:
    return describe(action)[1]
