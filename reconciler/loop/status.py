"""What `reconciler get` reports, derived from observed containers. No I/O.

``UnitStatus`` is `get`'s output (docs/output.schema.json); what a loop adds
to it comes from its record (statusrecord.py), merged by ``merge_loop_status``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from reconciler.core import labels as L
from reconciler.core.models import Kind
from reconciler.core.observed import ContainerDetails, Observation, ObservedContainer, State
from reconciler.core.spec import UnitKey
from reconciler.loop.statusrecord import LoopStatus


@dataclass(frozen=True, slots=True)
class ContainerStatus:
    name: str  # in the manifest; "infra" for the infra
    role: L.Role | Literal[""]  # "": its role label is missing or unknown
    id: str
    state: str
    runtime: str
    restarts: int
    exit_code: int | None
    started_at: str | None
    ready: bool | None = None  # readiness, as the loop last probed it
    waiting: str | None = None  # why a restart is held back (CrashLoopBackOff)


@dataclass(frozen=True, slots=True)
class UnitStatus:
    kind: str
    namespace: str
    name: str
    mode: str
    runtime: str
    phase: str
    source: str
    owner: str = ""  # the source that owns it (ownership.py); "" for units from before owners
    containers: list[ContainerStatus] = field(default_factory=list)
    last_error: str | None = None  # the loop's last error on this unit
    message: str | None = None  # why it is in its phase (Evicted: the eviction's message)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def phase(containers: list[ObservedContainer]) -> str:
    """Kubernetes-like phase: Pending, Running, Succeeded, Failed."""
    infra = [c for c in containers if c.role == L.ROLE_INFRA]
    inits = [c for c in containers if c.role == L.ROLE_INIT]
    workloads = [c for c in containers if c.role == L.ROLE_WORKLOAD]
    if infra and not any(c.state.alive for c in infra):
        return "Pending"
    if (
        any(c.state is State.EXITED and c.exit_code not in (0, None) for c in inits)
        and not workloads
    ):
        return "Failed"
    if not workloads or any(c.state is State.CREATED for c in workloads):
        return "Pending"
    if any(c.state.alive for c in workloads):
        return "Running"
    if all(c.exit_code == 0 for c in workloads):
        return "Succeeded"
    return "Failed"


def unit_statuses(
    observed: Observation, instance: str, details: Mapping[str, ContainerDetails]
) -> list[UnitStatus]:
    """One status per unit of ``instance``; ``details`` what the engine told of each, if read."""
    groups: dict[UnitKey, list[ObservedContainer]] = defaultdict(list)
    for c in observed.containers:
        key = c.unit_key
        if c.instance == instance and key is not None:
            groups[key].append(c)
    for key, _claim in observed.claims:
        groups.setdefault(key, [])
    order: dict[L.Role | None, int] = {
        L.ROLE_INFRA: 0,
        L.ROLE_INIT: 1,
        L.ROLE_SIDECAR: 1,
        L.ROLE_WORKLOAD: 2,
    }
    result = []
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda c: (order.get(c.role, 3), _position(c), c.created))
        if not members:
            continue  # only a claim is left: nothing runs
        first = members[0].labels
        owner = observed.owner(key, members)
        eviction = observed.eviction(key)  # recorded on the engine: shown without a loop
        result.append(
            UnitStatus(
                kind=key.kind.value,
                namespace=key.namespace,
                name=key.name,
                mode=first.get(L.MODE, ""),
                runtime=first.get(L.RUNTIME, ""),
                phase="Evicted" if eviction is not None else phase(members),
                source=first.get(L.SOURCE, ""),
                owner=str(owner) if owner else "",
                containers=[_container(c, details.get(c.id)) for c in members],
                message=eviction.message if eviction is not None else None,
            )
        )
    return result


def _position(c: ObservedContainer) -> int:
    """Its place in the manifest (a label); containers from before it sort by creation."""
    try:
        return int(c.labels.get(L.POSITION, ""))
    except ValueError:
        return -1


def _container(c: ObservedContainer, details: ContainerDetails | None) -> ContainerStatus:
    details = details or ContainerDetails()
    started = details.started_at
    return ContainerStatus(
        name=c.container or "infra",
        role=c.role or "",
        id=c.id[:12],
        state=c.state.value,
        runtime=details.runtime or c.labels.get(L.RUNTIME, ""),
        restarts=details.restarts,
        exit_code=c.exit_code,
        started_at=None if started is None else _rfc3339(started),
    )


def _rfc3339(seconds: float) -> str:
    """As Kubernetes shows a container's startedAt: RFC 3339, whole seconds, UTC."""
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z")


def merge_loop_status(
    statuses: list[UnitStatus], loop: LoopStatus | Mapping[str, Any]
) -> list[UnitStatus]:
    """Fold what `reconciler run` knows (restarts, backoff, readiness, errors) into ``statuses``.

    ``loop`` is a loop's record (statusrecord.py), or its file's JSON object.
    """
    record = loop if isinstance(loop, LoopStatus) else LoopStatus.from_json(loop)
    units = record.units
    merged = []
    for s in statuses:
        seen = units.get(str(UnitKey(Kind(s.kind), s.namespace, s.name)))
        if seen is None:
            merged.append(s)
            continue
        new = []
        for c in s.containers:
            known = seen.containers.get(c.name)
            same = known is not None and known.id == c.id
            new.append(
                replace(
                    c,
                    restarts=known.restarts if known is not None and same else c.restarts,
                    ready=known.ready if known is not None and same else None,
                    waiting=known.waiting
                    if known is not None and same and c.state == "exited"
                    else None,
                )
            )
        waiting = any(c.waiting for c in new)
        merged.append(
            replace(
                s,
                containers=new,
                phase="CrashLoopBackOff"
                if waiting
                else seen.phase
                if seen.phase in ("Failed", "Refused")
                else s.phase,
                last_error=seen.last_error,
            )
        )
    # Desired units with nothing on the daemon: refused, failed, or not made yet.
    observed = {str(UnitKey(Kind(s.kind), s.namespace, s.name)) for s in statuses}
    for key, seen in sorted(units.items()):
        if key in observed:
            continue
        try:
            kind = Kind(seen.kind)
        except ValueError:
            continue
        merged.append(
            UnitStatus(
                kind=kind.value,
                namespace=seen.namespace,
                name=seen.name,
                mode="",
                runtime="",
                phase=seen.phase,
                source=seen.source,
                owner=seen.owner,
                last_error=seen.last_error,
                message=seen.message,
            )
        )
    return sorted(merged, key=lambda s: UnitKey(Kind(s.kind), s.namespace, s.name))
