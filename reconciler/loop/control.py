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

Restarts are ours, with kubelet's crash-loop backoff (backoff.py), handed to
the planner as ``held`` containers; liveness failures reach it as
``unhealthy``. Nothing is lost: a file that fails to load keeps its last
known good units; a unit whose source file is broken is never pruned, nor
is anything while the source has read nothing good yet; an
empty desired set prunes nothing without ``allow_empty``. On SIGTERM the loop
stops within seconds and leaves every container running, as kubelet does.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.converge.executor import Result, execute
from reconciler.core import labels as L
from reconciler.core.actions import Restart, Start, Stop, describe, waiting_text
from reconciler.core.admission import admit
from reconciler.core.effective import BuildConfig, Compiled, Desired, DesiredUnit, UnitKey
from reconciler.core.errors import DriverError, Problem, ReconcilerError
from reconciler.core.manifests import DEFAULT_LIMITS, InputLimits
from reconciler.core.models import Probe
from reconciler.core.observed import ContainerId, Observation, State
from reconciler.core.planner import PlanConfig, plan
from reconciler.drivers.docker import DockerDriver
from reconciler.loop import backoff, probes
from reconciler.loop.backoff import BackoffPolicy, RestartState
from reconciler.loop.statefile import write_status
from reconciler.loop.status import phase
from reconciler.loop.workqueue import WorkQueue
from reconciler.sources.directory import Change, DirectorySource, Source

if TYPE_CHECKING:
    from reconciler.loop.metrics import LoopMetrics
    from reconciler.loop.sdnotify import Notifier

log = logging.getLogger("reconciler")

# Events that may mean a unit needs work. A member's own start is usually ours;
# an infra's start or restart means its members' namespaces may be stale.
_ANY_ROLE = frozenset({"die", "stop", "kill", "destroy", "oom", "pause", "unpause"})
_INFRA_ONLY = frozenset({"start", "restart"})
_EVENT_RECHECK = 0.5  # seconds


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
    debounce_ms: int = 300
    probe_tick: float = 0.5


@dataclass(slots=True)
class _UnitStatus:
    phase: str = "Pending"
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_error: str | None = None
    source: str = ""
    updated: str = ""


@dataclass(frozen=True, slots=True)
class _Probed:
    """A running container the probe thread watches."""

    unit: UnitKey
    name: str
    container_id: ContainerId
    started: float  # monotonic
    host: str
    liveness: Probe | None
    readiness: Probe | None
    startup: Probe | None


BackoffKey = tuple[UnitKey, str, str]  # unit, container name, spec hash


class Loop:
    def __init__(
        self,
        settings: LoopSettings,
        driver: DockerDriver,
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
        self._lock = threading.Lock()  # guards the maps below
        self._restarts: dict[BackoffKey, RestartState] = {}
        self._restart_counts: dict[tuple[UnitKey, str], int] = {}
        self._retry: dict[UnitKey, float] = {}  # delay of the next retry after an error
        self._not_before: dict[UnitKey, float] = {}  # a failed unit's next try (monotonic)
        self._said: set[str] = set()  # file errors and refusals already logged
        self._unhealthy: dict[ContainerId, str] = {}
        self._probed: dict[ContainerId, _Probed] = {}
        self._probe_states: dict[tuple[ContainerId, str], probes.ProbeState] = {}
        self._ready: dict[ContainerId, bool] = {}
        self._status: dict[UnitKey, _UnitStatus] = {}
        self._known: set[UnitKey] = set()  # units seen on the daemon
        self._events: Any = None
        self._warned_empty = False

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
        if self.metrics is not None:
            self.metrics.health.beat()
        self.queue.start()
        threads = [
            threading.Thread(target=self._watch, name="watch", daemon=True),
            threading.Thread(target=self._follow_events, name="events", daemon=True),
            threading.Thread(target=self._resync, name="resync", daemon=True),
            threading.Thread(target=self._probe, name="probes", daemon=True),
        ]
        for thread in threads:
            thread.start()
        # Wake now and then: Python runs signal handlers only in this thread, and a
        # SIGTERM the kernel hands to another thread would otherwise wait until an
        # untimed wait ended, which is never (seen: a loop that ignored SIGTERM).
        while not self.stop.wait(1.0):
            pass
        log.info("stopping; containers are left running")
        events = self._events
        if events is not None:
            events.close()
        self.queue.stop(timeout=5.0)
        self._write_status()
        if notifier is not None:
            notifier.close()

    def _notifier(self) -> Notifier | None:
        """Under systemd (Type=notify): READY=1, WATCHDOG=1 and STOPPING=1 (sdnotify.py),
        for every command built on this loop."""
        from reconciler.loop.sdnotify import Notifier

        if not Notifier.wanted():
            return None
        if self.metrics is None:
            from reconciler.loop.metrics import Health, LoopMetrics, stale_after

            self.metrics = LoopMetrics(Health(stale_after(self.settings.resync)))
        return Notifier(self.metrics.health, self.stop).start()

    def _rescan(self) -> None:
        change = self.source.scan(time.monotonic())
        _say(change.warnings)
        self._refresh_desired()
        for key in self._all_keys() | change.units:
            self.queue.add(key)
        if change.recheck_in is not None:
            self._later(change.recheck_in, self._rescan)

    def _refresh_desired(self) -> None:
        compiled = self.source.compiled(self.settings.build)
        with self._lock:
            offered = self.desired.offered  # the engine's runtimes, as last observed
        desired = admit(compiled, self.settings.build, offered)
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
            return set(self.desired.keys) | self._known

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        timer = threading.Timer(delay, lambda: None if self.stop.is_set() else action())
        timer.daemon = True
        timer.start()

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
        with self._lock:  # an edit or a new commit deserves a try now, whatever failed before
            for key in change.units:
                self._not_before.pop(key, None)
                self._retry.pop(key, None)
        for key in change.units:
            self.queue.add(key)

    def _follow_events(self) -> None:
        delay, connected_before = 0.5, False
        while not self.stop.is_set():
            try:
                self._events = self.driver.events()
                if connected_before:  # the daemon came back: look at everything again
                    log.info("Docker events resumed; reconciling every unit")
                    for key in self._all_keys():
                        self.queue.add(key)
                connected_before, delay = True, 0.5
                for event in self._events:
                    if event.unit is None:
                        continue
                    if event.action in _ANY_ROLE or (
                        event.action in _INFRA_ONLY and event.role == L.ROLE_INFRA
                    ):
                        self.queue.add(event.unit)
                        # Docker announces a death before its list shows it (the
                        # list reads a replica saved after the event): look again.
                        self._later(_EVENT_RECHECK, functools.partial(self.queue.add, event.unit))
            except DriverError as exc:
                if self.stop.is_set():
                    return
                log.warning("Docker events: %s; retrying in %.1f s", exc, delay)
            self.stop.wait(delay)
            delay = min(delay * 2, 30.0)

    def _resync(self) -> None:
        while not self.stop.wait(self.settings.resync):
            if self.metrics is not None:
                self.metrics.health.beat()
            try:
                observed = self.driver.observe(start_times=False)
            except DriverError as exc:
                log.warning("resync: %s", exc)
                continue
            with self._lock:
                self._known = {k for c in observed.containers if (k := c.unit_key) is not None}
                self._known |= observed.volume_units  # a crash can leave only a volume
            self._rescan()

    # -- one pass over one unit ------------------------------------------------

    def _pass(self, key: UnitKey) -> None:
        if self.stop.is_set():
            return
        began = time.monotonic()
        with self._lock:
            wait = self._not_before.get(key, 0.0) - time.monotonic()
        if wait > 0:  # backing off after a failure: events (its own, too) wait for the timer
            self.queue.add(key, delay=wait)
            return
        with self._lock:
            desired, compiled = self.desired, self.compiled
        unit = desired.unit(key)
        # Observe what the unit asks for even when refused: the runtimes it needs may come.
        asked = next((c.unit for c in compiled if c.unit.key == key), None)
        names = [m.docker_name for m in asked.members] if asked else []
        if asked is not None and asked.infra is not None:
            names.append(asked.infra.docker_name)
        try:
            observed = self.driver.observe(names, asked.runtimes if asked else (), unit=key)
        except DriverError as exc:
            self._failed(key, f"observing: {exc}", unit)
            return
        if observed.runtimes is not None and observed.runtimes != desired.offered:
            desired = self._admit_again(compiled, observed.runtimes)
            unit = desired.unit(key)
        mine = observed.owner(key, observed.containers) == self.settings.build.owner
        if key not in desired.keys and not mine:
            with self._lock:  # another source's unit: not ours to plan, nor to report
                self._status.pop(key, None)
            return
        now = time.monotonic()
        held = self._held(key, observed, now)
        with self._lock:
            unhealthy = {
                c.id: self._unhealthy[c.id] for c in observed.containers if c.id in self._unhealthy
            }
            if observed.containers:
                self._known.add(key)
            else:
                self._known.discard(key)
        config = PlanConfig(
            instance=self.settings.build.instance,
            owner=self.settings.build.owner,
            adopt=self.settings.adopt,
            prune=True,
            allow_empty=self.settings.allow_empty,
            incomplete=self._source_broken(observed),
            only=frozenset({key}),
            held=held,
            unhealthy=unhealthy,
        )
        result = plan(desired, observed, config)
        self._warn(result.warnings, desired)
        # A refusal (another source owns the unit, a name clash, ...) stays until
        # something changes: files, events and resyncs bring the unit back here.
        refusal = next((u.error for u in result.units if u.error and not u.actions), None)
        outcome = execute(result, self.driver, parallel=1, on_begin=_begin)
        if self.metrics is not None:
            self.metrics.pass_done(time.monotonic() - began, outcome)
        error = next((u.error for u in outcome.units if u.error), None)
        for unit_result in outcome.units:
            for done in unit_result.outcomes:
                if done.ok:
                    log.info("%s: %s: %s", key, _what(done.action), done.action.reason)
                elif done.error == error:  # said once, with the retry, by _failed
                    error = f"{_what(done.action)} failed: {done.error}"
        self._after(key, unit, outcome, held, unhealthy, observed)
        if refusal is not None:
            self._refused(key, unit, refusal)
        elif error is not None:
            self._failed(key, error, unit)
        else:
            with self._lock:
                self._retry.pop(key, None)
                self._not_before.pop(key, None)
            self._record(key, unit, error=None)
            if self.metrics is not None and not held:
                self.metrics.health.settled(key)

    def _admit_again(self, compiled: tuple[Compiled, ...], offered: frozenset[str]) -> Desired:
        """The engine offers other runtimes than the units were admitted against."""
        desired = admit(compiled, self.settings.build, offered)
        with self._lock:
            if self.compiled is compiled:  # else a newer read of the source is admitted
                self.desired = desired
        return desired

    def _held(self, key: UnitKey, observed: Observation, now: float) -> dict[ContainerId, str]:
        """Exited members in crash-loop backoff, and a timer for when each may start."""
        held: dict[ContainerId, str] = {}
        policy = self.settings.backoff
        with self._lock:
            for c in observed.containers:
                if c.role == L.ROLE_INFRA:
                    continue
                bkey = (key, c.container, c.spec_hash or "")
                if c.state is State.EXITED:
                    before = self._restarts.get(bkey)
                    state = backoff.on_exit(before, now, policy)
                    self._restarts[bkey] = state
                    if not backoff.may_start(state, now):
                        if self.metrics is not None and state is not before:
                            self.metrics.backed_off(key, c.container)
                        left = backoff.seconds_left(state, now)
                        held[c.id] = (
                            f"CrashLoopBackOff: back-off {state.delay:.0f}s restarting "
                            f"{c.container} (next try in {left:.0f}s)"
                        )
                        self.queue.add(key, delay=left)
                elif c.state.alive and bkey not in self._restarts:
                    self._restarts[bkey] = backoff.on_start(None, now)
        return held

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
        now = time.monotonic()
        with self._lock:
            for done in (o for u in outcome.units for o in u.outcomes if o.ok):
                action = done.action
                if not isinstance(action, Start | Restart | Stop):
                    continue
                restarted = action.restart if isinstance(action, Start) else False
                if not restarted and action.ref.id not in unhealthy:
                    continue
                name = action.ref.container
                self._restart_counts[(key, name)] = self._restart_counts.get((key, name), 0) + 1
                if self.metrics is not None:
                    self.metrics.restarted(key, name)
                for bkey, state in list(self._restarts.items()):
                    if bkey[:2] == (key, name):
                        self._restarts[bkey] = backoff.on_start(state, now)
                self._unhealthy.pop(action.ref.id, None)
                self._forget_probes(action.ref.id)
        if any(u.outcomes for u in outcome.units):
            try:
                observed = self.driver.observe(unit=key, start_times=False)
            except DriverError:
                return
        self._watch_probes(key, unit, observed)
        members = list(observed.containers)
        with self._lock:
            status = self._status.setdefault(key, _UnitStatus())
            status.phase = "CrashLoopBackOff" if held else (phase(members) if members else "Absent")
            status.containers = {
                (c.container or "infra"): {
                    "id": c.id[:12],
                    "state": c.state.value,
                    "exitCode": c.exit_code,
                    "restarts": self._restart_counts.get((key, c.container), 0),
                    "ready": self._ready.get(c.id),
                    "waiting": held.get(c.id),
                }
                for c in members
            }

    def _refused(self, key: UnitKey, unit: DesiredUnit | None, reason: str) -> None:
        """Record why the unit is left as it is; say it once, not at every pass."""
        with self._lock:
            known = self._status.get(key)
            repeated = known is not None and known.last_error == reason
            self._retry.pop(key, None)
            self._not_before.pop(key, None)
        if not repeated:
            log.error("%s: %s", key, reason)
        if self.metrics is not None:
            self.metrics.health.settled(key)  # refused: a settled answer, reported
        with self._lock:
            status = self._status.setdefault(key, _UnitStatus())
            if status.phase in ("Absent", "Pending", "Failed"):
                status.phase = "Refused"  # nothing of it runs, and nothing will until it changes
        self._record(key, unit, reason)

    def _failed(self, key: UnitKey, error: str, unit: DesiredUnit | None) -> None:
        """Record the error, show the unit Failed, and try again later: 1 s, doubling up to
        the crash-loop cap (--backoff-max) while it lasts; one log line per attempt."""
        with self._lock:
            delay = min(self._retry.get(key, 0.5) * 2, max(self.settings.backoff.maximum, 1.0))
            self._retry[key] = delay
            self._not_before[key] = time.monotonic() + delay
            self._status.setdefault(key, _UnitStatus()).phase = "Failed"
        log.error("%s: %s (retrying in %.0f s)", key, error, delay)
        if self.metrics is not None:
            self.metrics.health.attempted(key)
        self._record(key, unit, error)
        self.queue.add(key, delay=delay)

    def _record(self, key: UnitKey, unit: DesiredUnit | None, error: str | None) -> None:
        with self._lock:
            status = self._status.setdefault(key, _UnitStatus())
            status.last_error = error
            status.updated = datetime.now(UTC).isoformat(timespec="seconds")
            if unit is not None:
                status.source = unit.source
            if status.phase == "Absent" and key not in self.desired.keys:
                del self._status[key]
        self._write_status()

    def _source_broken(self, observed: Observation) -> bool:
        """A unit whose manifest file is broken now is never pruned (it is unknown, not gone).

        Nor is anything while the source has read nothing good yet (a sync
        whose first fetch failed): what it wants is unknown, not empty.
        """
        if not self.source.complete():
            return True
        broken = set(self.source.errors())
        return any(c.labels.get(L.SOURCE) in broken for c in observed.containers)

    def _warn(self, warnings: tuple[str, ...], desired: Desired) -> None:
        for warning in warnings:
            if "--allow-empty" in warning:
                if not self._warned_empty:
                    log.warning(
                        "%s; the directory defines nothing, so no container is removed "
                        "(run with --allow-empty to mean it)",
                        warning,
                    )
                self._warned_empty = True
                continue
            log.warning(warning)
        if desired.units:
            self._warned_empty = False

    # -- probes ----------------------------------------------------------------

    def _watch_probes(self, key: UnitKey, unit: DesiredUnit | None, observed: Observation) -> None:
        """Watch the unit's running workloads and sidecars that have probes; forget the others."""
        running = {c.container: c for c in observed.containers if c.state is State.RUNNING}
        infra = next((c for c in observed.containers if c.role == L.ROLE_INFRA), None)
        live_ids = {c.id for c in running.values()}
        with self._lock:
            for cid in [cid for cid, p in self._probed.items() if p.unit == key]:
                if cid not in live_ids:
                    self._forget_probes(cid)
        for member in unit.running if unit is not None else ():
            c = running.get(member.name)
            if c is None or c.id in self._probed:
                continue
            probes_of = (member.liveness_probe, member.readiness_probe, member.startup_probe)
            if all(p is None for p in probes_of):
                continue
            # Probes reach a sandbox's workloads at the infra's address (its netns).
            target = infra if infra is not None else c
            host = self.driver.address(target.id) or "127.0.0.1"
            watched = _Probed(
                key,
                member.name,
                c.id,
                time.monotonic(),
                host,
                *probes_of,
            )
            with self._lock:
                self._probed[c.id] = watched

    def _forget_probes(self, cid: ContainerId) -> None:
        self._probed.pop(cid, None)
        self._ready.pop(cid, None)
        for kind in ("liveness", "readiness", "startup"):
            self._probe_states.pop((cid, kind), None)

    def _probe(self) -> None:
        while not self.stop.wait(self.settings.probe_tick):
            with self._lock:
                watched = list(self._probed.values())
            for target in watched:
                if target.startup is not None and not self._started(target):
                    # Kubernetes: until the startup probe succeeds, the others wait.
                    self._run_probe(target, "startup", target.startup)
                    continue
                for kind, probe in (("liveness", target.liveness), ("readiness", target.readiness)):
                    if probe is not None:
                        self._run_probe(target, kind, probe)

    def _started(self, target: _Probed) -> bool:
        with self._lock:
            state = self._probe_states.get((target.container_id, "startup"))
        return state is not None and state.ready

    def _run_probe(self, target: _Probed, kind: str, probe: Probe) -> None:
        now = time.monotonic()
        with self._lock:
            state = self._probe_states.get((target.container_id, kind), probes.ProbeState())
        if not probes.due(state, probe, target.started, now):
            return
        try:
            ok = probes.run_probe(
                probe,
                target.host,
                lambda cmd, timeout: self.driver.exec(target.container_id, cmd, timeout),
            )
        except ReconcilerError as exc:  # the probe could not run: its result is unknown
            log.debug("%s: %s probe of %s not run: %s", target.unit, kind, target.name, exc)
            return
        state = probes.record(state, probe, ok, now)
        if self.metrics is not None:
            self.metrics.probed(kind, ok)
        with self._lock:
            if target.container_id not in self._probed:
                return  # forgotten meanwhile (restarted or gone)
            self._probe_states[(target.container_id, kind)] = state
            if kind == "readiness":
                changed = self._ready.get(target.container_id) != state.ready
                self._ready[target.container_id] = state.ready
            elif state.failed and target.container_id not in self._unhealthy:
                self._unhealthy[target.container_id] = (
                    f"the {kind} probe failed {state.failures} time(s) in a row"
                )
                changed = True
            else:
                changed = False
        if changed:
            self.queue.add(target.unit)

    # -- status ----------------------------------------------------------------

    def _write_status(self) -> None:
        with self._lock:
            units = {
                str(key): {
                    "kind": key.kind.value,
                    "namespace": key.namespace,
                    "name": key.name,
                    "phase": s.phase,
                    "ready": all(c.get("ready") is not False for c in s.containers.values()),
                    "containers": s.containers,
                    "lastError": s.last_error,
                    "source": s.source,
                    "owner": str(self.settings.build.owner),
                    "updated": s.updated,
                }
                for key, s in sorted(self._status.items())
            }
        if self.metrics is not None:
            with self._lock:
                desired_keys = set(self.desired.keys)
                phases = {k: s.phase for k, s in self._status.items()}
            self.metrics.unit_states(
                desired=len(desired_keys),
                converged=sum(1 for k in desired_keys if phases.get(k) in ("Running", "Succeeded")),
                failed=sum(
                    1 for p in phases.values() if p in ("Failed", "CrashLoopBackOff", "Refused")
                ),
            )
        source_status = self.source.status()
        if self.metrics is not None:
            self.metrics.source_status(source_status)
        data = {
            "instance": self.settings.build.instance,
            "daemon": self.settings.daemon,
            **source_status,
            "updated": datetime.now(UTC).isoformat(timespec="seconds"),
            "fileErrors": {
                path: [str(p) for p in problems] for path, problems in self.source.errors().items()
            },
            "units": units,
        }
        try:
            write_status(self.settings.state_dir, self.settings.state_name, data)
        except OSError as exc:
            log.warning("writing status: %s", exc)


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
