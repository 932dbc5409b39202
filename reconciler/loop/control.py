"""The control loop behind `reconciler run DIR` and `reconciler sync`. Does I/O: Docker, threads.

Level-triggered: every trigger only says *which unit to look at*; the work
queue coalesces triggers per unit, and a pass observes that unit, plans it
(the planner decides everything) and executes the plan. Triggers:

- the source's changes (``sources.Source``: a watched directory's files, a git
  branch's new commit) → the units they define or defined;
- Docker events of this instance's containers (a member's death, any stop or
  removal, an infra's start or restart) → that unit, at once;
- a periodic resync → every unit, desired or observed;
- timers: a crash-loop backoff ending, a settling file, a retry after an error.

``Loop`` composes the parts, each with its own lock and its own tests:
triggers.py (events, resync, timers, retries after errors → keys),
workqueue.py (one pass per key at a time), restarts.py (the restart book:
kubelet's crash-loop backoff, handed to the planner as ``held`` containers),
prober.py (which containers are probed when; liveness failures reach the
planner as ``unhealthy``) and statusrecord.py (what `get` reads). What is
left here is the pass itself (observe → plan → execute) and the desired state.

Nothing is lost: a file that fails to load keeps its last
known good units; a unit whose source file is broken is never pruned, nor
is anything while the source has read nothing good yet; an
empty desired set prunes nothing without ``allow_empty``. On SIGTERM the loop
stops within seconds and leaves every container running, as kubelet does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.converge.executor import Result
from reconciler.converge.reconcile import reconcile
from reconciler.core import labels as L
from reconciler.core.actions import Recreate, Restart, Start, Stop, describe, waiting_text
from reconciler.core.admission import admit
from reconciler.core.compile import BuildConfig, Compiled
from reconciler.core.errors import DriverError, Problem
from reconciler.core.manifests import DEFAULT_LIMITS, InputLimits
from reconciler.core.models import Probe
from reconciler.core.observed import ContainerId, Observation, ObservedContainer
from reconciler.core.planner import Plan, PlanConfig, PlanWarning, WarningKind
from reconciler.core.spec import Desired, DesiredUnit, UnitKey
from reconciler.drivers.base import Driver
from reconciler.loop import probes
from reconciler.loop.backoff import BackoffPolicy
from reconciler.loop.metrics import Health, LoopMetrics, stale_after
from reconciler.loop.prober import Probed, Prober
from reconciler.loop.restarts import RestartBook
from reconciler.loop.sdnotify import Notifier
from reconciler.loop.statefile import write_record
from reconciler.loop.status import phase
from reconciler.loop.statusrecord import (
    CONVERGED,
    FAILING,
    ContainerRecord,
    LoopStatus,
    StatusBook,
)
from reconciler.loop.triggers import KnownUnits, Retries, Triggers
from reconciler.loop.views import View, Views, by_unit
from reconciler.loop.workqueue import WorkQueue
from reconciler.sources.directory import Change, DirectorySource, Source

log = logging.getLogger("reconciler")

# How long a pass's status may wait to be written: `get` reads it, people wait
# for it, and a resync over hundreds of units should write it once, not per unit.
STATUS_EVERY = 0.2
# Seconds the first observation waits for the engine's events to be followed.
EVENTS_FIRST = 5.0


@dataclass(frozen=True, slots=True)
class LoopSettings:
    directory: Path  # what `run` watches; unused when the Loop is given another source
    build: BuildConfig
    state_dir: Path
    state_name: str  # the instance's files in state_dir (see statefile.state_name)
    daemon: str
    recursive: bool = False
    resync: float = 30.0
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    parallel: int = 4
    allow_empty: bool = False
    adopt: bool = False  # take over units another source owns
    settle: float = 2.0  # how long a unit vanishing from a file still there is kept
    limits: InputLimits = DEFAULT_LIMITS  # what reading one manifest file may cost
    # The watcher yields once the directory has been quiet this long (watchfiles'
    # step): a file written now reaches the loop in one to two of these. Shorter
    # is safe: a file read half-written keeps its last good manifests if broken,
    # and a unit vanishing from a file waits ``settle`` to be read the same twice.
    debounce_ms: int = 50
    probe_tick: float = 0.5


class Loop:
    def __init__(
        self,
        settings: LoopSettings,
        driver: Driver,
        source: Source | None = None,
        metrics: LoopMetrics | None = None,
    ) -> None:
        """``source`` is where desired state comes from; by default ``settings.directory``.
        ``metrics``: Prometheus metrics and health (metrics.py), when served."""
        self.settings = settings
        self.driver = driver
        self.metrics = metrics
        self.source: Source = source or DirectorySource(
            settings.directory,
            settings.recursive,
            settings.settle,
            settings.debounce_ms,
            settings.limits,
        )
        self.compiled: tuple[Compiled, ...] = ()  # the source's units, not yet admitted
        self.desired = Desired()
        self.queue: WorkQueue[UnitKey] = WorkQueue(self._pass, settings.parallel, name="reconcile")
        self.stop = threading.Event()
        # The parts (each with its own lock): what queues a unit, when a failed one is
        # retried, what the daemon holds, crash loops, probes, and what is reported;
        # and which observation a pass may plan from (views.py). Triggers queue through
        # ``asks``: a unit asked for must next be seen as it is from then on.
        self.views = Views()
        self.asks = _Asks(self)
        self.triggers = Triggers(self.asks, self.stop)
        self.retries = Retries(settings.backoff.maximum)
        self.known = KnownUnits()
        self.restarts = RestartBook(settings.backoff)
        self.prober = Prober(self._run_probe, self.asks.add, on_result=self._probed)
        self.status = StatusBook(str(settings.build.owner))
        self._lock = threading.Lock()  # guards desired and the three below
        self._said: set[str] = set()  # file errors and refusals already logged
        self._warned_empty = False
        self._status_due = False  # a status write is scheduled
        # One status write at a time, from its snapshot to its rename: two at once (a
        # timer's and a sync poll's) could land the older snapshot last, and the file
        # would go back in time until the next write, which an idle loop may not make.
        self._writing = threading.Lock()
        # Units whose last pass found nothing to do, with what it saw: a resync
        # that sees the same passes them by (an idle loop's cost grew with N).
        self._quiet: dict[UnitKey, tuple[DesiredUnit | None, _Footprint]] = {}

    # -- running -------------------------------------------------------------

    def run(self) -> None:
        """Run until ``stop`` is set; containers are left as they are."""
        log.info(
            "watching %s for instance %r on %s",
            self.source.describe(),
            self.settings.build.instance,
            self.settings.daemon,
        )
        notifier = self._notifier()
        self._rescan()
        # The events first: a container that dies after the first observation is then
        # heard of, and its unit's pass looks again instead of planning from that view.
        opened = threading.Event()
        threading.Thread(
            target=self._follow_events, args=(opened,), name="events", daemon=True
        ).start()
        opened.wait(EVENTS_FIRST)
        self._prime()
        if self.metrics is not None:
            self.metrics.health.beat()
        self.queue.start()
        threads = [
            threading.Thread(target=self._watch, name="watch", daemon=True),
            threading.Thread(
                target=self.triggers.every,
                args=(self.settings.resync, self._resync),
                name="resync",
                daemon=True,
            ),
            threading.Thread(
                target=self.triggers.every,
                args=(self.settings.probe_tick, self.prober.tick),
                name="probes",
                daemon=True,
            ),
        ]
        for thread in threads:
            thread.start()
        # Wake now and then: Python runs signal handlers only in this thread, and a
        # SIGTERM the kernel hands to another thread would otherwise wait until an
        # untimed wait ended, which is never (seen: a loop that ignored SIGTERM).
        while not self.stop.wait(1.0):
            pass
        log.info("stopping; containers are left running")
        self.triggers.close()
        self.queue.stop(timeout=5.0)
        self._write_status()
        if notifier is not None:
            notifier.close()

    def _notifier(self) -> Notifier | None:
        """Under systemd (Type=notify): READY=1, WATCHDOG=1 and STOPPING=1 (sdnotify.py),
        for every command built on this loop."""
        if not Notifier.wanted():
            return None
        if self.metrics is None:
            self.metrics = LoopMetrics(Health(stale_after(self.settings.resync)))
        return Notifier(self.metrics.health, self.stop).start()

    def _prime(self) -> None:
        """Observe everything once before the first passes, who else holds the desired
        names included: each unit's first pass plans from its part (views.py), not from
        a list call of its own. Units the engine holds that are no longer desired are
        queued now too. When this fails, the passes observe for themselves."""
        with self._lock:
            compiled = self.compiled
        # Who else holds their names costs the Docker driver one list of every container.
        started = self.views.now()
        try:
            observed = self.driver.observe([c.unit for c in compiled])
        except DriverError as exc:
            log.debug("first observation: %s", exc)
            return
        self.known.resync(observed)
        keys = self._all_keys()
        for key, part in by_unit(observed, keys).items():
            self.views.offer(key, View(started, part))
        for key in keys:
            self.queue.add(key)

    def _rescan(self, observed: Observation | None = None, started: float = 0.0) -> None:
        """Read the source again and queue every unit; with a resync's ``observed``
        (begun at ``started``), not those that look exactly as their last quiet pass
        left them, and the others plan from it."""
        change = self.source.scan(time.monotonic())
        _say(change.warnings)
        self._refresh_desired()
        keys = self._all_keys() | change.units
        if observed is None:  # a look at every unit; what the files changed, now
            for key in keys:
                (self.asks if key in change.units else self.queue).add(key)
        else:
            with self._lock:
                quiet = set(self._quiet)
            parts = by_unit(observed, keys | quiet)
            unchanged = self._unchanged(parts) - change.units
            self.status.seen(unchanged)  # looked at, as a pass would have: `get` says when
            self._write_status_soon()
            keys -= unchanged
            for key in keys:
                self.views.offer(key, View(started, parts[key]))
            for key in keys:
                self.queue.add(key)
        if change.recheck_in is not None:
            self.triggers.later(change.recheck_in, self._rescan)

    def _refresh_desired(self) -> None:
        compiled = self.source.compiled(self.settings.build)
        with self._lock:
            offered = self.desired.offered  # the engine's runtimes, as last observed
            # The source hands back the same tuple while its files are unchanged.
            admitted = self.desired if compiled is self.compiled else None
        desired = admitted or admit(compiled, self.settings.build, offered)
        with self._lock:
            self.compiled, self.desired = compiled, desired
        if self.metrics is not None and self.source.complete():
            # The first pass: the units of the first good read (sync: its first commit),
            # queued right after this. Later calls change nothing.
            self.metrics.health.first_pass(self._all_keys())
        # Say each problem once, while it lasts: a resync re-reads, it does not re-report.
        said = {
            f"{problem} (keeping what {path} defined before)"
            for path, problems in self.source.errors().items()
            for problem in problems
        } | {f"{key}: refused: {reason}" for key, reason in desired.refused}
        with self._lock:
            new, self._said = said - self._said, said
        for line in sorted(new):
            log.error("%s", line)

    def _all_keys(self) -> set[UnitKey]:
        with self._lock:
            desired = set(self.desired.keys)
        return desired | self.known.keys()

    # -- triggers ------------------------------------------------------------

    def _watch(self) -> None:
        self.source.watch(self.stop, self._changed)

    def _changed(self, change: Change | None) -> None:
        """The source read something new: take it, and look at the units it names."""
        if change is None:  # only the source's own status is new (a fetch, a failed commit)
            self._write_status()
            return
        _say(change.warnings)
        self._refresh_desired()
        self.retries.clear(change.units)  # an edit or a new commit deserves a try now
        for key in change.units:
            self.asks.add(key)

    def _follow_events(self, opened: threading.Event) -> None:
        self.triggers.follow(self.driver.events, self._queue_all, opened)

    def _queue_all(self) -> None:
        for key in self._all_keys():
            self.asks.add(key)

    def _resync(self) -> None:
        if self.metrics is not None:
            self.metrics.health.beat()
        started = self.views.now()
        try:
            # With start times: an infra restarted behind our back (same id, running
            # again) leaves its members unproven, which changes their footprint.
            observed = self.driver.observe()
        except DriverError as exc:
            log.warning("resync: %s", exc)
            return
        self.known.resync(observed)
        self._rescan(observed, started)

    def _unchanged(self, parts: Mapping[UnitKey, Observation]) -> set[UnitKey]:
        """Units desired as at their last quiet pass, whose containers, claims and
        volumes the engine reports exactly as that pass saw them (``parts``: a resync's
        observation cut per unit, ``by_unit``: one walk, not one per unit)."""
        with self._lock:
            desired, quiet = self.desired, dict(self._quiet)
        units = {u.key: u for u in desired.units}
        empty = Observation()
        return {
            key
            for key, (unit, footprint) in quiet.items()
            if ((now := units.get(key)) is unit or now == unit)
            and _footprint(key, part := parts.get(key, empty), part.containers) == footprint
        }

    # -- one pass over one unit ------------------------------------------------

    def _pass(self, key: UnitKey) -> None:
        """Reconcile one unit (converge/reconcile.py) and book what it did."""
        if self.stop.is_set():
            return
        began = time.monotonic()
        wait = self.retries.wait(key)
        if wait > 0:  # backing off after a failure: events (its own, too) wait for the timer
            self.queue.add(key, delay=wait)
            return
        with self._lock:
            desired, compiled = self.desired, self.compiled
            self._quiet.pop(key, None)  # until this pass ends quiet
        held: dict[ContainerId, str] = {}
        unhealthy: dict[ContainerId, str] = {}

        def configure(observed: Observation, admitted: Desired) -> PlanConfig | None:
            """Plan the unit, unless it is another source's; its restarts held, its
            containers that failed liveness."""
            mine = observed.owner(key, observed.containers) == self.settings.build.owner
            if key not in admitted.keys and not mine:
                return None
            held.update(self._held(key, observed))
            unhealthy.update(self.prober.unhealthy(observed.containers))
            self.known.seen(key, bool(observed.containers))
            return replace(
                PlanConfig.of(self.settings.build),
                owner=self.settings.build.owner,
                adopt=self.settings.adopt,
                prune=True,
                allow_empty=self.settings.allow_empty,
                incomplete=self._source_broken(observed),
                only=frozenset({key}),
                held=held,
                unhealthy=unhealthy,
            )

        # Observe what the unit asks for even when refused: the runtimes it needs may come.
        # An observation taken since the unit was last asked for serves (views.py).
        done = reconcile(
            self.driver,
            compiled,
            self.settings.build,
            configure,
            parallel=1,
            unit=key,
            admitted=desired,
            rounds=0,  # a unit changed meanwhile is retried (_failed), like any failure
            observed=self.views.take(key, _wanted(compiled, key)),
            on_plan=lambda admitted, planned: self._warn(planned.warnings, admitted),
            on_begin=_begin,
        )
        self.views.ask(key)  # the next pass must see what this one did
        if done.admitted is not None and done.admitted is not desired:
            self._admitted_again(compiled, done.admitted)
        unit = (done.desired or desired).unit(key)
        if done.error is not None or done.observed is None:
            self._failed(key, f"observing: {done.error}", unit)
            return
        if done.result is None:  # nothing planned
            self.status.drop(key)  # another source's unit: not ours to plan, nor to report
            return
        self._book(key, unit, done.plan, done.result, done.observed, began, held, unhealthy)

    def _book(
        self,
        key: UnitKey,
        unit: DesiredUnit | None,
        planned: Plan,
        outcome: Result,
        observed: Observation,
        began: float,
        held: dict[ContainerId, str],
        unhealthy: dict[ContainerId, str],
    ) -> None:
        """Log and record what the pass did, and how it ended."""
        # A refusal (another source owns the unit, a name clash, ...) stays until
        # something changes: files, events and resyncs bring the unit back here.
        refusal = next((u.error for u in planned.units if u.error and not u.actions), None)
        if self.metrics is not None:
            self.metrics.pass_done(time.monotonic() - began, outcome)
        error = next((u.error for u in outcome.units if u.error), None)
        for unit_result in outcome.units:
            for action_done in unit_result.outcomes:
                if action_done.ok:
                    log.info(
                        "%s: %s: %s", key, _what(action_done.action), action_done.action.reason
                    )
                elif action_done.error == error:  # said once, with the retry, by _failed
                    error = f"{_what(action_done.action)} failed: {action_done.error}"
        self._after(key, unit, outcome, held, unhealthy, observed)
        quiet = not planned.actions and not held and not unhealthy and not planned.warnings
        with self._lock:
            if quiet and refusal is None and error is None:
                mine = [c for c in observed.containers if c.unit_key == key]
                self._quiet[key] = (unit, _footprint(key, observed, mine))
        self._conclude(key, unit, refusal, error, held)

    def _conclude(
        self,
        key: UnitKey,
        unit: DesiredUnit | None,
        refusal: str | None,
        error: str | None,
        held: dict[ContainerId, str],
    ) -> None:
        """How the pass ended: refused, failed (retried later) or done."""
        if refusal is not None:
            self._refused(key, unit, refusal)
        elif error is not None:
            self._failed(key, error, unit)
        else:
            self.retries.clear([key])
            self._record(key, unit, error=None)
            if self.metrics is not None and not held:
                self.metrics.health.settled(key)

    def _admitted_again(self, compiled: tuple[Compiled, ...], desired: Desired) -> None:
        """The engine offered other runtimes than the units were admitted against."""
        with self._lock:
            if self.compiled is compiled:  # else a newer read of the source is admitted
                self.desired = desired

    def _held(self, key: UnitKey, observed: Observation) -> dict[ContainerId, str]:
        """Exited members in crash-loop backoff, and a timer for when the first may start."""
        held = self.restarts.hold(key, observed.containers)
        if self.metrics is not None:
            for name in held.backed_off:
                self.metrics.backed_off(key, name)
        if held.retry_in is not None:
            self.queue.add(key, delay=held.retry_in)
        return held.reasons

    def _after(
        self,
        key: UnitKey,
        unit: DesiredUnit | None,
        outcome: Result,
        held: dict[ContainerId, str],
        unhealthy: dict[ContainerId, str],
        observed: Observation,
    ) -> None:
        """Book restarts, forget probes of restarted containers, and note the unit's status.

        ``observed`` is the state the pass began with; it is read again only
        when the pass changed something.
        """
        for done in (o for u in outcome.units for o in u.outcomes if o.ok):
            action = done.action
            if not isinstance(action, Start | Restart | Stop | Recreate):
                continue
            ref = action.old if isinstance(action, Recreate) else action.ref
            restarted = action.restart if isinstance(action, Start | Recreate) else False
            if not restarted and ref.id not in unhealthy:
                continue
            name = ref.container
            self.restarts.restarted(key, name)
            if self.metrics is not None:
                self.metrics.restarted(key, name)
            self.prober.restarted(ref.id)
        if any(u.outcomes for u in outcome.units):
            try:
                observed = self._observe(key)
            except DriverError:
                return
        if unit is None and not observed.containers:
            self.views.forget([key])  # neither desired nor there
        self.restarts.prune(
            key, observed.containers, [m.name for m in unit.members] if unit else ()
        )
        self.prober.watch(
            key, unit.running if unit is not None else (), observed.containers, self.driver.address
        )
        members = list(observed.containers)
        self.status.observed(
            key,
            "CrashLoopBackOff" if held else (phase(members) if members else "Absent"),
            {
                (c.container or "infra"): ContainerRecord(
                    id=c.id[:12],
                    state=c.state.value,
                    exit_code=c.exit_code,
                    restarts=self.restarts.restarts(key, c.container),
                    ready=self.prober.ready(c.id),
                    waiting=held.get(c.id),
                )
                for c in members
            },
        )

    def _observe(self, key: UnitKey) -> Observation:
        """Observe the unit as a pass does, and offer that to its next pass: the one
        its infra's start event queued while this pass ran needs no list call."""
        with self._lock:
            compiled = self.compiled
        wanted = _wanted(compiled, key)
        started = self.views.now()
        observed = self.driver.observe([wanted] if wanted is not None else [], unit=key)
        self.views.offer(key, View(started, observed))
        return observed

    def _refused(self, key: UnitKey, unit: DesiredUnit | None, reason: str) -> None:
        """Record why the unit is left as it is; say it once, not at every pass."""
        self.retries.clear([key])
        # Refused while nothing of it runs, and nothing will until it changes.
        if self.status.refused(key, reason):
            log.error("%s: %s", key, reason)
        if self.metrics is not None:
            self.metrics.health.settled(key)  # refused: a settled answer, reported
        self._record(key, unit, reason)

    def _failed(self, key: UnitKey, error: str, unit: DesiredUnit | None) -> None:
        """Record the error, show the unit Failed, and try again later: 1 s, doubling up to
        the crash-loop cap (--backoff-max) while it lasts; one log line per attempt."""
        delay = self.retries.failed(key)
        self.status.failed(key, error)
        log.error("%s: %s (retrying in %.0f s)", key, error, delay)
        if self.metrics is not None:
            self.metrics.health.attempted(key)
        self._record(key, unit, error)
        self.queue.add(key, delay=delay)

    def _record(self, key: UnitKey, unit: DesiredUnit | None, error: str | None) -> None:
        with self._lock:
            desired = key in self.desired.keys
        self.status.record(key, error, unit.source if unit is not None else None, desired)
        self._write_status_soon()

    def _source_broken(self, observed: Observation) -> bool:
        """A unit whose manifest file is broken now is never pruned (it is unknown, not gone).

        Nor is anything while the source has read nothing good yet (a sync
        whose first fetch failed): what it wants is unknown, not empty.
        """
        if not self.source.complete():
            return True
        broken = set(self.source.errors())
        return any(c.labels.get(L.SOURCE) in broken for c in observed.containers)

    def _warn(self, warnings: tuple[PlanWarning, ...], desired: Desired) -> None:
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

    # -- probes ----------------------------------------------------------------

    def _probed(self, kind: str, ok: bool) -> None:
        if self.metrics is not None:  # may come later: _notifier makes some under systemd
            self.metrics.probed(kind, ok)

    def _run_probe(self, target: Probed, probe: Probe) -> bool:
        return probes.run_probe(
            probe,
            target.host,
            lambda cmd, timeout: self.driver.exec(target.container_id, cmd, timeout),
        )

    # -- status ----------------------------------------------------------------

    def _write_status_soon(self) -> None:
        """Write the status file within STATUS_EVERY seconds: the passes of one resync
        share a write (one per pass was an idle loop's largest cost at 200 units)."""
        with self._lock:
            if self._status_due:
                return
            self._status_due = True
        self.triggers.later(STATUS_EVERY, self._flush_status)

    def _flush_status(self) -> None:
        with self._lock:
            self._status_due = False
        self._write_status()

    def _write_status(self) -> None:
        with self._writing:
            self._write_status_now()

    def _write_status_now(self) -> None:
        units = self.status.units()
        if self.metrics is not None:
            with self._lock:
                desired_keys = set(self.desired.keys)
            phases = self.status.phases()
            self.metrics.unit_states(
                desired=len(desired_keys),
                converged=sum(1 for k in desired_keys if phases.get(k) in CONVERGED),
                failed=sum(1 for p in phases.values() if p in FAILING),
            )
        source_status = self.source.status()
        if self.metrics is not None:
            self.metrics.source_status(source_status)
        record = LoopStatus(
            instance=self.settings.build.instance,
            daemon=self.settings.daemon,
            updated=datetime.now(UTC).isoformat(timespec="seconds"),
            units=units,
            file_errors={
                path: tuple(str(p) for p in problems)
                for path, problems in self.source.errors().items()
            },
            source=source_status,
        )
        try:
            write_record(self.settings.state_dir, self.settings.state_name, record)
        except OSError as exc:
            log.warning("writing status: %s", exc)


class _Asks:
    """The work queue as the triggers see it: a unit they queue must next be seen as
    the engine is from then on (views.py); a resync queues through ``Loop.queue``."""

    def __init__(self, loop: Loop) -> None:
        self._loop = loop

    def add(self, key: UnitKey, delay: float = 0.0) -> None:
        self._loop.views.ask(key)
        self._loop.queue.add(key, delay)


def _wanted(compiled: Iterable[Compiled], key: UnitKey) -> DesiredUnit | None:
    """The unit as compiled (what its observation asks about), if the source defines it."""
    return next((c.unit for c in compiled if c.unit.key == key), None)


_Footprint = tuple[tuple[ObservedContainer, ...], object, bool]


def _footprint(
    key: UnitKey, observed: Observation, containers: Iterable[ObservedContainer]
) -> _Footprint:
    """What the engine reports of one unit (``containers``, those with its labels): the
    containers as listed, its owner, whether a volume of it is left."""
    mine = tuple(sorted(containers, key=lambda c: c.id))
    return mine, observed.owner(key, mine), key in observed.volume_units


def _begin(key: UnitKey, action: Any) -> None:
    text = waiting_text(action)
    if text is not None:
        log.info("%s: %s", key, text)


def _say(warnings: tuple[Problem, ...]) -> None:
    for problem in warnings:
        log.warning("%s", problem)


def _what(action: Any) -> str:
    return describe(action)[1]


__all__ = ["Loop", "LoopSettings"]
