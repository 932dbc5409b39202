"""Evicting a unit whose emptyDir outgrew its sizeLimit, as kubelet does. No I/O.

kubelet's eviction manager measures each emptyDir of a running pod and, when
its usage exceeds ``sizeLimit``, kills the pod's containers and leaves the pod
``Failed`` with reason ``Evicted`` and the message ``Usage of EmptyDir volume
"cache" exceeds the limit "10Mi".``; nothing restarts an evicted pod in place.
Here the control loop measures (loop/evictions.py) and asks the planner to
evict; this module says what that plan is, and how long an eviction holds:

- evicting records the eviction on the engine first (``RecordEviction``: it
  survives a restart of the loop, and `get` shows it without one), then stops
  every running container of the unit, members together with their grace
  period (preStop hooks run, as for every stop), then the infra. Containers
  are stopped, not removed, so their logs stay; the volume keeps its data;
- the unit then stays stopped, whatever its restartPolicy (a restart would
  only fill the disk again), until its manifest changes (``fingerprint``: what
  its containers are created from, or a volume's sizeLimit), an `apply` lifts
  the eviction (``lift``), or it is deleted (its record goes with its volumes).
  Lifting converges it as usual: its stopped containers start again, with the
  volume as they left it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.core import labels as L
from reconciler.core.actions import Action, LiftEviction, RecordEviction, Ref, Stop
from reconciler.core.infraplan import INFRA_GRACE
from reconciler.core.observed import Eviction, ObservedContainer, State
from reconciler.core.quantity import bytes_quantity
from reconciler.core.spec import DesiredUnit, DesiredVolume


def message(volume: DesiredVolume) -> str:
    """kubelet's message for ``volume`` outgrowing its sizeLimit."""
    limit = bytes_quantity(volume.size_limit or 0)
    return f'Usage of EmptyDir volume "{volume.volume}" exceeds the limit "{limit}".'


def fingerprint(unit: DesiredUnit) -> str:
    """What a change of the unit's manifest changes: its containers' spec hashes and its
    volumes' size limits (probes, restartPolicy and the like leave an eviction as it is)."""
    parts = [unit.infra.hash if unit.infra is not None else ""]
    parts += sorted(f"{m.spec.role}/{m.name}={m.hash}" for m in unit.members)
    parts += sorted(f"volume/{v.volume}={v.size_limit}" for v in unit.volumes)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class EvictionPlan:
    """What an eviction makes of a unit's plan: ``hold`` is the whole plan of a unit
    evicted (now, or before and still); else ``before`` goes ahead of its usual plan."""

    hold: tuple[Action, ...] | None = None
    before: tuple[Action, ...] = ()


def plan_eviction(
    unit: DesiredUnit,
    containers: Iterable[ObservedContainer],
    recorded: Eviction | None,
    asked: str | None,
    lift: bool,
) -> EvictionPlan:
    """The unit's eviction: ``recorded`` on the engine, ``asked`` (the loop measured a
    volume over its limit: the message), ``lift`` (an apply: run it again whatever the
    record says). A unit that has finished is not evicted (kubelet evicts active pods)."""
    containers = list(containers)
    now = fingerprint(unit)
    if recorded is not None:
        if lift:
            return EvictionPlan(before=(LiftEviction(unit.key, "applied: it runs again"),))
        if recorded.fingerprint != now:
            why = "its manifest changed since it was evicted"
            return EvictionPlan(before=(LiftEviction(unit.key, why),))
        return EvictionPlan(hold=_stops(unit, containers, f"evicted: {recorded.message}"))
    if asked is None or not _active(unit, containers):
        return EvictionPlan()
    record = RecordEviction(unit.key, Eviction(asked, now), asked)
    return EvictionPlan(hold=(record, *_stops(unit, containers, f"evicted: {asked}")))


def _active(unit: DesiredUnit, containers: list[ObservedContainer]) -> bool:
    """Whether the unit has not finished: a member runs, or one exited that its restart
    policy starts again (a crash loop is active too). Its infra alone does not count."""
    for c in containers:
        if c.role == L.ROLE_INFRA:
            continue
        if c.state.alive:
            return True
        if c.state is State.EXITED and c.role in (L.ROLE_WORKLOAD, L.ROLE_SIDECAR):
            policy = "Always" if c.role == L.ROLE_SIDECAR else unit.restart_policy
            if policy == "Always" or (policy == "OnFailure" and c.exit_code != 0):
                return True
    return False


def _stops(unit: DesiredUnit, containers: list[ObservedContainer], why: str) -> tuple[Action, ...]:
    """Stop what runs: workloads, then sidecars, then init containers (those of one role
    together, each with the grace period), then the infra."""
    order: dict[L.Role | None, int] = {
        L.ROLE_WORKLOAD: 0,
        L.ROLE_SIDECAR: 1,
        L.ROLE_INIT: 2,
        L.ROLE_INFRA: 3,
    }
    alive = sorted(
        (c for c in containers if c.state.alive),
        key=lambda c: (order.get(c.role, 0), c.created, c.id),
    )
    return tuple(
        Stop(Ref.of(c), INFRA_GRACE if c.role == L.ROLE_INFRA else unit.grace_period, why)
        for c in alive
    )


__all__ = ["EvictionPlan", "fingerprint", "message", "plan_eviction"]
