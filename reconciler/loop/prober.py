"""The probe scheduler: which containers are probed, when, and what their probes said.

No I/O of its own: running one probe is a callable the loop passes in (it
calls probes.run_probe through the driver), and the clock is injected
(``time.monotonic`` by default). After each pass the loop tells the prober
which of the unit's members run (``watch``); a probe thread calls ``tick``.
Kubernetes semantics, per container run (probes.py has the arithmetic):

- until a startup probe has succeeded, the other probes of the container wait;
- a readiness verdict is kept for status (``ready``), and a change of it
  queues the unit (``on_change``), so status follows; so does a startup
  probe's first success (``started``);
- a liveness or startup probe that failed ``failureThreshold`` times marks the
  container unhealthy (``unhealthy``, the planner's input) and queues the unit:
  the planner restarts or stops it, and the loop calls ``restarted``;
- a success with a warning (a redirect not followed), and a probe that cannot
  run here (``ProbeNotRun``), are logged once per container run, as they last.

A container that is restarted, stops running or is gone is forgotten: its
next run starts from fresh probe states. Thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from reconciler.core import labels as L
from reconciler.core.errors import ProbeNotRun, ReconcilerError
from reconciler.core.models import Probe
from reconciler.core.observed import ContainerId, ObservedContainer, State
from reconciler.core.planner import Unhealthy
from reconciler.core.spec import DesiredMember, UnitKey
from reconciler.loop import probes

log = logging.getLogger("reconciler")

KINDS = ("liveness", "readiness", "startup")


@dataclass(frozen=True, slots=True)
class Probed:
    """A running container the prober watches."""

    unit: UnitKey
    name: str
    container_id: ContainerId
    started: float  # on the prober's clock
    host: str  # where its network probes connect
    liveness: Probe | None
    readiness: Probe | None
    startup: Probe | None


# Runs one probe of a target once: what it says. Raises ReconcilerError when it
# could not run (its result is unknown and not recorded).
RunProbe = Callable[[Probed, Probe], probes.Verdict]


class Prober:
    def __init__(
        self,
        run: RunProbe,
        on_change: Callable[[UnitKey], None],
        clock: Callable[[], float] = time.monotonic,
        on_result: Callable[[str, bool], None] | None = None,
    ) -> None:
        """``on_change(unit)``: a verdict changed (queue the unit);
        ``on_result(kind, ok)``: every recorded run (metrics)."""
        self._run = run
        self._on_change = on_change
        self._on_result = on_result
        self._clock = clock
        self._lock = threading.Lock()
        self._probed: dict[ContainerId, Probed] = {}
        self._states: dict[tuple[ContainerId, str], probes.ProbeState] = {}
        self._ready: dict[ContainerId, bool] = {}
        self._unhealthy: dict[ContainerId, tuple[UnitKey, Unhealthy]] = {}
        self._said: set[tuple[ContainerId, str, str]] = set()  # (id, kind, message) logged

    # -- what the passes tell it ---------------------------------------------------

    def watch(
        self,
        key: UnitKey,
        members: Iterable[DesiredMember],
        containers: Iterable[ObservedContainer],
        address: Callable[[ContainerId], str | None],
    ) -> None:
        """Watch the unit's running ``members`` that have probes; forget the others.

        ``containers`` are the unit's, as observed now; ``address`` gives a
        container's IP address (the driver's): probes reach a sandbox's
        workloads at its infra's address (its network namespace).
        """
        containers = list(containers)
        running = {c.container: c for c in containers if c.state is State.RUNNING}
        infra = next((c for c in containers if c.role == L.ROLE_INFRA), None)
        live = {c.id for c in running.values()}
        present = {c.id for c in containers}
        with self._lock:
            for cid in [cid for cid, p in self._probed.items() if p.unit == key]:
                if cid not in live:
                    self._forget(cid)
            for cid in [cid for cid, (unit, _) in self._unhealthy.items() if unit == key]:
                if cid not in present:
                    del self._unhealthy[cid]
            watched = set(self._probed)
        for member in members:
            c = running.get(member.name)
            if c is None or c.id in watched:
                continue
            kinds = (member.liveness_probe, member.readiness_probe, member.startup_probe)
            if all(p is None for p in kinds):
                continue
            target = infra if infra is not None else c
            host = address(target.id) or "127.0.0.1"
            probed = Probed(key, member.name, c.id, self._clock(), host, *kinds)
            with self._lock:
                self._probed[c.id] = probed

    def restarted(self, cid: ContainerId) -> None:
        """The loop restarted or stopped the container: a new run, fresh verdicts."""
        with self._lock:
            self._unhealthy.pop(cid, None)
            self._forget(cid)

    def _forget(self, cid: ContainerId) -> None:
        self._probed.pop(cid, None)
        self._ready.pop(cid, None)
        for kind in KINDS:
            self._states.pop((cid, kind), None)
        self._said = {said for said in self._said if said[0] != cid}

    # -- what the passes ask ---------------------------------------------------------

    def unhealthy(self, containers: Iterable[ObservedContainer]) -> dict[ContainerId, Unhealthy]:
        """Which of ``containers`` failed a liveness (or startup) probe: which, and why."""
        with self._lock:
            return {c.id: self._unhealthy[c.id][1] for c in containers if c.id in self._unhealthy}

    def ready(self, cid: ContainerId) -> bool | None:
        """The readiness verdict of a container; None when it has no readiness probe yet."""
        with self._lock:
            return self._ready.get(cid)

    def started(self, cid: ContainerId) -> bool | None:
        """Whether a container's startup probe has passed; None when it has none."""
        with self._lock:
            target = self._probed.get(cid)
            if target is None or target.startup is None:
                return None
            state = self._states.get((cid, "startup"))
            return state is not None and state.ready

    def watching(self) -> list[Probed]:
        with self._lock:
            return list(self._probed.values())

    # -- probing -------------------------------------------------------------------

    def tick(self) -> None:
        """Run every probe that is due now (one round of the probe thread)."""
        for target in self.watching():
            if target.startup is not None and not self._started(target):
                # Kubernetes: until the startup probe succeeds, the others wait.
                self._probe(target, "startup", target.startup)
                continue
            for kind, probe in (("liveness", target.liveness), ("readiness", target.readiness)):
                if probe is not None:
                    self._probe(target, kind, probe)

    def _started(self, target: Probed) -> bool:
        with self._lock:
            state = self._states.get((target.container_id, "startup"))
        return state is not None and state.ready

    def _probe(self, target: Probed, kind: str, probe: Probe) -> None:
        now = self._clock()
        cid = target.container_id
        with self._lock:
            state = self._states.get((cid, kind), probes.ProbeState())
        if not probes.due(state, probe, target.started, now):
            return
        try:
            verdict = self._run(target, probe)
        except ProbeNotRun as exc:  # cannot run here (or broke off): said, not recorded
            self._say(target, kind, str(exc))
            return
        except ReconcilerError as exc:  # the probe could not run: its result is unknown
            log.debug("%s: %s probe of %s not run: %s", target.unit, kind, target.name, exc)
            return
        if verdict.warning:
            self._say(target, kind, verdict.warning)
        ok = verdict.ok
        state = probes.record(state, probe, ok, now)
        if self._on_result is not None:
            self._on_result(kind, ok)
        with self._lock:
            if cid not in self._probed:
                return  # forgotten meanwhile (restarted or gone)
            before = self._states.get((cid, kind))
            self._states[(cid, kind)] = state
            if kind == "startup" and state.ready:
                # Started: the other probes begin, and status (a health gate) follows.
                changed = before is None or not before.ready
            elif kind == "readiness":
                changed = self._ready.get(cid) != state.ready
                self._ready[cid] = state.ready
            elif state.failed and cid not in self._unhealthy:
                why = f"the {kind} probe failed {state.failures} time(s) in a row"
                why += f": {verdict.message}" if verdict.message else ""
                failed: Literal["liveness", "startup"] = (
                    "startup" if kind == "startup" else "liveness"
                )
                self._unhealthy[cid] = (target.unit, Unhealthy(why, failed))
                changed = True
            else:
                changed = False
        if changed:
            self._on_change(target.unit)

    def _say(self, target: Probed, kind: str, message: str) -> None:
        """Log ``message`` of the target's ``kind`` probe once per container run."""
        said = (target.container_id, kind, message)
        with self._lock:
            if said in self._said or target.container_id not in self._probed:
                return
            self._said.add(said)
        log.warning("%s: %s probe of %s: %s", target.unit, kind, target.name, message)


__all__ = ["KINDS", "Probed", "Prober", "RunProbe"]
