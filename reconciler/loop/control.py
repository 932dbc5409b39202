"""The control loop behind `reconciler run DIR` and `reconciler sync`. Does I/O: Docker, threads.

Level-triggered: every trigger only says *which unit to look at*; the work
queue coalesces triggers per unit, and a pass observes that unit, plans it
(the planner decides everything) and executes the plan. Triggers:

- the source's changes (``sources.Source``: a watched directory's files, a git
  branch's new commit) → the units they define or defined;
- Docker events of this instance's containers (a member's death, any stop or
  removal, an infra's start or restart) → that unit, at once;
- a periodic resync → every unit, desired or observed;
- timers: a crash-loop backoff ending, a settling file, a retry after an error;
- a disk emptyDir measured over its sizeLimit (evictions.py) → that unit, which
  the planner then evicts.

``Loop`` composes the parts, each with its own lock and its own tests:
triggers.py (events, resync, timers, retries after errors → keys),
workqueue.py (one pass per key at a time), restarts.py (the restart book:
kubelet's crash-loop backoff, handed to the planner as ``held`` containers),
prober.py (which containers are probed when; liveness failures reach the
planner as ``unhealthy``), evictions.py (the disk emptyDirs measured against
their sizeLimit; one over it reaches the planner as ``evict``),
desiredstate.py (the source's units, compiled and admitted, and those whose
last pass was quiet), booking.py (what a pass did:
logged, counted, recorded, retried) and statuswriter.py (the file `get`
reads). What is left here is reading the source, the threads, and the pass
itself (observe → plan → execute).

Nothing is lost: a file that fails to load keeps its last
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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.converge.reconcile import reconcile
from reconciler.core import labels as L
from reconciler.core.actions import waiting_text
from reconciler.core.admission import admit
from reconciler.core.compile import BuildConfig, Compiled
from reconciler.core.errors import DriverError, Problem
from reconciler.core.manifests import DEFAULT_LIMITS, Decrypt, InputLimits
from reconciler.core.models import Probe
from reconciler.core.observed import ContainerId, Observation
from reconciler.core.planner import PlanConfig, Unhealthy
from reconciler.core.spec import Desired, DesiredUnit, UnitKey
from reconciler.drivers.base import Driver
from reconciler.loop import probes
from reconciler.loop.backoff import BackoffPolicy
from reconciler.loop.booking import Booking
from reconciler.loop.desiredstate import DesiredState
from reconciler.loop.evictions import INTERVAL, Evictions
from reconciler.loop.gate import RevisionGate
from reconciler.loop.imagewatch import ImageWatch
from reconciler.loop.metrics import Health, LoopMetrics, stale_after
from reconciler.loop.prober import Probed, Prober
from reconciler.loop.restarts import RestartBook
from reconciler.loop.sdnotify import Notifier
from reconciler.loop.statusrecord import (
    StatusBook,
)
from reconciler.loop.statuswriter import StatusWriter
from reconciler.loop.triggers import KnownUnits, Retries, Triggers
from reconciler.loop.views import View, Views, by_unit
from reconciler.loop.workqueue import WorkQueue
from reconciler.sources.directory import Change, DirectorySource, Source

log = logging.getLogger("reconciler")

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
    decrypt: Decrypt | None = None  # opens *.age manifests (sources/age.py)
    # Seconds between measurements of the disk emptyDirs with a sizeLimit (evictions.py);
    # 0: none (a sizeLimit on disk is then not enforced).
    eviction_interval: float = INTERVAL
    image_check: float = 0.0  # seconds between checks of followed images' tags; 0: none


class Loop:
    def __init__(
        self,
        settings: LoopSettings,
        driver: Driver,
        source: Source | None = None,
        metrics: LoopMetrics | None = None,
        gate: RevisionGate | None = None,
    ) -> None:
        """``source`` is where desired state comes from; by default ``settings.directory``.
        ``metrics``: Prometheus metrics and health (metrics.py), when served; ``gate``:
        judges each revision the source hands over by the status book (gate.py)."""
        self.settings = settings
        self.gate = gate
        self.driver = driver
        self.source: Source = source or _directory(settings)
        if metrics is None and Notifier.wanted():  # under systemd: its watchdog reads health
            metrics = LoopMetrics(Health(stale_after(settings.resync)))
        self.metrics = metrics
        self.state = DesiredState()
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
        self.prober = Prober(
            _probe_runner(driver), self.asks.add, on_result=metrics.probed if metrics else None
        )
        self.status = StatusBook(str(settings.build.owner))
        self.evictions = Evictions(
            units=lambda: self.desired.units,
            active=self.status.active,
            where=driver.volume_path,
            ask=self.asks.add,
        )
        units = lambda: self.desired.units  # noqa: E731 -- read when they tick
        self.images = ImageWatch(units, driver.latest_image, driver.observe, self.asks.add)
        self.writer = StatusWriter(
            instance=settings.build.instance,
            daemon=settings.daemon,
            state_dir=settings.state_dir,
            state_name=settings.state_name,
            book=self.status,
            source=self.source,
            desired_keys=self.state.keys,
            timers=self.triggers,
            metrics=metrics,
        )
        self.booking = Booking(
            state=self.state,
            retries=self.retries,
            restarts=self.restarts,
            prober=self.prober,
            status=self.status,
            writer=self.writer,
            queue=lambda key, delay: self.queue.add(key, delay=delay),
            observe=self._observe,
            forget=lambda key: self.views.forget([key]),
            address=driver.address,
            metrics=metrics,
        )

    @property
    def desired(self) -> Desired:
        """The source's units as admitted."""
        return self.state.now()[0]

    # -- running -------------------------------------------------------------

    def run(self) -> None:
        """Run until ``stop`` is set; containers are left as they are."""
        log.info(
            "watching %s for instance %r on %s",
            self.source.describe(),
            self.settings.build.instance,
            self.settings.daemon,
        )
        notifier = _notifier(self.metrics, self.stop)
        self._rescan()
        # The events first: a container that dies after the first observation is then
        # heard of, and its unit's pass looks again instead of planning from that view.
        opened = threading.Event()
        _thread("events", self._follow_events, opened)
        opened.wait(EVENTS_FIRST)
        self._prime()
        if self.metrics is not None:
            self.metrics.health.beat()
        self.queue.start()
        _thread("watch", self._watch)
        periodic = [
            ("resync", self.settings.resync, self._resync),
            ("probes", self.settings.probe_tick, self.prober.tick),
            ("evictions", self.settings.eviction_interval, self.evictions.tick),
            ("images", self.settings.image_check, self.images.tick),
        ]
        if self.gate is not None:  # judges a revision by what the passes recorded
            judge = functools.partial(self.gate.tick, self.status.units, self.writer.soon)
            periodic.append(("gate", self.settings.probe_tick, judge))
        for name, period, tick in periodic:
            if period > 0:  # an eviction interval of 0 measures nothing
                _thread(name, self.triggers.every, period, tick)
        # Wake now and then: Python runs signal handlers only in this thread, and a
        # SIGTERM the kernel hands to another thread would otherwise wait until an
        # untimed wait ended, which is never (seen: a loop that ignored SIGTERM).
        while not self.stop.wait(1.0):
            pass
        log.info("stopping; containers are left running")
        self.triggers.close()
        self.queue.stop(timeout=5.0)
        self.writer.write()
        if notifier is not None:
            notifier.close()

    def _prime(self) -> None:
        """Observe everything once before the first passes, who else holds the desired
        names included: each unit's first pass plans from its part (views.py), not from
        a list call of its own. Units the engine holds that are no longer desired are
        queued now too. When this fails, the passes observe for themselves."""
        compiled = self.state.now()[1]
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
            parts = by_unit(observed, keys | self.state.quiet_keys())
            unchanged = self.state.unchanged(parts) - change.units
            self.status.seen(unchanged)  # looked at, as a pass would have: `get` says when
            self.writer.soon()
            keys -= unchanged
            for key in keys:
                self.views.offer(key, View(started, parts[key]))
            for key in keys:
                self.queue.add(key)
        if change.recheck_in is not None:
            self.triggers.later(change.recheck_in, self._rescan)

    def _refresh_desired(self) -> tuple[Compiled, ...]:
        """Compile and admit the source's units again: what it compiled."""
        compiled = self.source.compiled(self.settings.build)
        before, compiled_before = self.state.now()
        # The source hands back the same tuple while its files are unchanged; the
        # engine's runtimes are those last observed.
        admitted = before if compiled is compiled_before else None
        desired = admitted or admit(compiled, self.settings.build, before.offered)
        self.state.update(compiled, desired)
        if self.metrics is not None and self.source.complete():
            # The first pass: the units of the first good read (sync: its first commit),
            # queued right after this. Later calls change nothing.
            self.metrics.health.first_pass(self._all_keys())
        # Say each problem once, while it lasts: a resync re-reads, it does not re-report.
        for line in sorted(self.state.news(_problems(self.source, desired))):
            log.error("%s", line)
        return compiled

    def _all_keys(self) -> set[UnitKey]:
        return self.state.keys() | self.known.keys()

    # -- triggers ------------------------------------------------------------

    def _watch(self) -> None:
        self.source.watch(self.stop, self._changed)

    def _changed(self, change: Change | None) -> None:
        """The source read something new: take it, and look at the units it names."""
        if change is None:  # only the source's own status is new (a fetch, a failed commit)
            self.writer.write()
            return
        _say(change.warnings)
        compiled = self._refresh_desired()
        if self.gate is not None and change.revision is not None:
            # As this thread compiled that revision; one found healthy before is not judged.
            self.gate.arm(change.revision, compiled, judged=change.healthy)
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
        desired, compiled = self.state.now()
        self.state.unquiet(key)
        held: dict[ContainerId, str] = {}
        unhealthy: dict[ContainerId, Unhealthy] = {}
        evict = self.evictions.take(key)  # measured over a sizeLimit: evict it

        def configure(observed: Observation, admitted: Desired) -> PlanConfig | None:
            """Plan the unit, unless it is another source's; its restarts held, its
            containers that failed liveness."""
            mine = observed.owner(key, observed.containers) == self.settings.build.owner
            if key not in admitted.keys and not mine:
                return None
            held.update(self.booking.held(key, observed))
            unhealthy.update(self.prober.unhealthy(observed.containers))
            self.known.seen(key, bool(observed.containers))
            return PlanConfig.of(
                self.settings.build,
                adopt=self.settings.adopt,
                prune=True,
                allow_empty=self.settings.allow_empty,
                incomplete=_source_broken(self.source, observed),
                only=frozenset({key}),
                held=held,
                unhealthy=unhealthy,
                evict={key: evict} if evict is not None else None,
                outdated=self.images.outdated(admitted.unit(key), observed.containers),
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
            rounds=0,  # a unit changed meanwhile is retried (failed), like any failure
            observed=self.views.take(key, _wanted(compiled, key)),
            on_plan=lambda admitted, planned: self.booking.warn(planned.warnings, admitted),
            on_begin=_begin,
        )
        self.views.ask(key)  # the next pass must see what this one did
        if done.admitted is not None and done.admitted is not desired:
            self.state.admitted_again(compiled, done.admitted)
        unit = (done.desired or desired).unit(key)
        if done.error is not None or done.observed is None:
            self.booking.failed(key, f"observing: {done.error}", unit)
            return
        if done.result is None:  # nothing planned
            self.status.drop(key)  # another source's unit: not ours to plan, nor to report
            return
        elapsed = time.monotonic() - began
        self.booking.book(
            key, unit, done.plan, done.result, done.observed, elapsed, held, unhealthy
        )

    def _observe(self, key: UnitKey) -> Observation:
        """Observe the unit as a pass does, and offer that to its next pass: the one
        its infra's start event queued while this pass ran needs no list call."""
        wanted = _wanted(self.state.now()[1], key)
        started = self.views.now()
        observed = self.driver.observe([wanted] if wanted is not None else [], unit=key)
        self.views.offer(key, View(started, observed))
        return observed


class _Asks:
    """The work queue as the triggers see it: a unit they queue must next be seen as
    the engine is from then on (views.py); a resync queues through ``Loop.queue``."""

    def __init__(self, loop: Loop) -> None:
        self._loop = loop

    def add(self, key: UnitKey, delay: float = 0.0) -> None:
        self._loop.views.ask(key)
        self._loop.queue.add(key, delay)


def _directory(settings: LoopSettings) -> DirectorySource:
    """`run`'s source: the watched directory of ``settings``."""
    s = settings
    return DirectorySource(s.directory, s.recursive, s.settle, s.debounce_ms, s.limits, s.decrypt)


def _thread(name: str, target: Callable[..., None], *args: Any) -> None:
    """Start one of the loop's threads (daemons: a stopped loop leaves none behind)."""
    threading.Thread(target=target, args=args, name=name, daemon=True).start()


def _notifier(metrics: LoopMetrics | None, stop: threading.Event) -> Notifier | None:
    """Under systemd (Type=notify): READY=1, WATCHDOG=1 and STOPPING=1 (sdnotify.py),
    for every command built on this loop."""
    if metrics is None or not Notifier.wanted():  # Loop() made metrics if wanted
        return None
    return Notifier(metrics.health, stop).start()


def _source_broken(source: Source, observed: Observation) -> bool:
    """A unit whose manifest file is broken now is never pruned (it is unknown, not gone).

    Nor is anything while the source has read nothing good yet (a sync
    whose first fetch failed): what it wants is unknown, not empty.
    """
    if not source.complete():
        return True
    broken = set(source.errors())
    return any(c.labels.get(L.SOURCE) in broken for c in observed.containers)


def _problems(source: Source, desired: Desired) -> set[str]:
    """What is wrong now: files that fail to load, units refused."""
    return {
        f"{problem} (keeping what {path} defined before)"
        for path, problems in source.errors().items()
        for problem in problems
    } | {f"{key}: refused: {reason}" for key, reason in desired.refused}


def _probe_runner(driver: Driver) -> Callable[[Probed, Probe], probes.Verdict]:
    """How the prober runs a probe: exec probes through the engine."""

    def run(target: Probed, probe: Probe) -> probes.Verdict:
        def exec_(cmd: list[str], timeout: float) -> int:
            return driver.exec(target.container_id, cmd, timeout)

        return probes.run_probe(probe, target.host, exec_)

    return run


def _wanted(compiled: Iterable[Compiled], key: UnitKey) -> DesiredUnit | None:
    """The unit as compiled (what its observation asks about), if the source defines it."""
    return next((c.unit for c in compiled if c.unit.key == key), None)


def _begin(key: UnitKey, action: Any) -> None:
    text = waiting_text(action)
    if text is not None:
        log.info("%s: %s", key, text)


def _say(warnings: tuple[Problem, ...]) -> None:
    for problem in warnings:
        log.warning("%s", problem)


__all__ = ["Loop", "LoopSettings"]
