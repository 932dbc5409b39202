"""The typed actions a plan is made of. No I/O.

Each action is a frozen value with a ``reason`` a person can read; the
executor dispatches on the type with ``match``. The infra a member joins is
not named here: it is the unit's current infra when the action runs (the one
observed, or the one a ``CreateInfra`` earlier in the same unit made).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import assert_never

from reconciler.core import labels as L
from reconciler.core.observed import ContainerId, Eviction, ObservedContainer
from reconciler.core.ownership import Owner
from reconciler.core.spec import DesiredInfra, DesiredMember, DesiredVolume, UnitKey


@dataclass(frozen=True, slots=True)
class Ref:
    """An existing container, as the plan names it."""

    id: ContainerId
    name: str  # its Docker name
    role: L.Role | None  # None: its role label is missing or unknown
    container: str  # its name in the manifest ("" for the infra)
    # Its lifecycle hooks, as it was created with them (labels): the executor
    # runs preStop before stopping it and postStart after starting it again.
    post_start: tuple[str, ...] = ()
    pre_stop: tuple[str, ...] = ()

    @classmethod
    def of(cls, observed: ObservedContainer) -> Ref:
        return cls(
            observed.id,
            observed.name,
            observed.role,
            observed.container,
            _hook(observed.labels.get(L.POST_START)),
            _hook(observed.labels.get(L.PRE_STOP)),
        )

    @property
    def label(self) -> str:
        return self.container or "infra"


def _hook(label: str | None) -> tuple[str, ...]:
    """A hook label (a JSON list of strings); anything else is no hook."""
    if not label:
        return ()
    try:
        command = json.loads(label)
    except ValueError:
        return ()
    if isinstance(command, list) and command and all(isinstance(a, str) for a in command):
        return tuple(command)
    return ()


@dataclass(frozen=True, slots=True)
class EnsureVolume:
    volume: DesiredVolume
    reason: str


@dataclass(frozen=True, slots=True)
class CreateInfra:
    """Create and start the infra; it becomes the unit's current infra."""

    infra: DesiredInfra
    reason: str


@dataclass(frozen=True, slots=True)
class CreateMember:
    """Create and start a workload (joined to the unit's current infra, if any)."""

    member: DesiredMember
    reason: str


@dataclass(frozen=True, slots=True)
class RunInit:
    """Create and start an init container, then wait for it to exit 0."""

    member: DesiredMember
    reason: str


@dataclass(frozen=True, slots=True)
class WaitInit:
    """An init container is already running: wait for it to exit 0."""

    ref: Ref
    reason: str


@dataclass(frozen=True, slots=True)
class Start:
    ref: Ref
    reason: str
    is_infra: bool = False  # starting the infra makes it the unit's current infra
    restart: bool = False  # an exited workload started again under its restartPolicy


@dataclass(frozen=True, slots=True)
class Stop:
    """Stop (SIGTERM, grace period, SIGKILL) and keep the container."""

    ref: Ref
    grace_period: int
    reason: str


@dataclass(frozen=True, slots=True)
class Restart:
    """Rejoin: restart in place so the container enters the infra's current namespaces."""

    ref: Ref
    grace_period: int
    reason: str


@dataclass(frozen=True, slots=True)
class Remove:
    """Stop (SIGTERM, grace period, SIGKILL) and remove."""

    ref: Ref
    grace_period: int
    reason: str


@dataclass(frozen=True, slots=True)
class Recreate:
    """Remove a member and create its replacement in its place."""

    old: Ref
    grace_period: int
    member: DesiredMember
    reason: str
    # A restart of an exited or unhealthy member, where the engine cannot restart
    # one in place (CRI): the loop counts it as Start(restart=True) is counted.
    restart: bool = False


@dataclass(frozen=True, slots=True)
class RemoveVolumes:
    """Remove the volumes this unit owns (found by label)."""

    unit: UnitKey
    reason: str


@dataclass(frozen=True, slots=True)
class RecordOwner:
    """Record ``owner`` as the unit's owner (a claim): its containers' labels say otherwise."""

    unit: UnitKey
    owner: Owner
    reason: str


@dataclass(frozen=True, slots=True)
class RecordEviction:
    """Record that the unit is evicted (its containers are stopped after this, and stay so)."""

    unit: UnitKey
    eviction: Eviction
    reason: str


@dataclass(frozen=True, slots=True)
class LiftEviction:
    """Forget the unit's eviction: it converges again."""

    unit: UnitKey
    reason: str


Action = (
    RecordOwner
    | RecordEviction
    | LiftEviction
    | EnsureVolume
    | CreateInfra
    | CreateMember
    | RunInit
    | WaitInit
    | Start
    | Stop
    | Restart
    | Remove
    | Recreate
    | RemoveVolumes
)


def _lane(action: Action) -> str | None:
    """Which neighbours an action may run beside; None: it runs alone, in order.

    Stopping a container waits out its grace period, so a unit's members are
    stopped together (as kubelet kills a pod's containers together): N grace
    periods cost one. Creating and starting are the daemon's CPU work and gain
    nothing from more concurrency than the pool across units already gives.
    """
    match action:
        case Restart():
            return "restart"
        case Recreate(member=member) if member.spec.role == L.ROLE_WORKLOAD:
            return "recreate"
        case Remove(ref=ref) if ref.role != L.ROLE_INFRA:
            return f"remove-{ref.role or ''}"
        case Stop(ref=ref) if ref.role != L.ROLE_INFRA:
            return f"stop-{ref.role or ''}"
    return None


def steps(actions: tuple[Action, ...]) -> list[tuple[Action, ...]]:
    """Split a unit's ordered actions into steps; the actions of one step may run at once."""
    result: list[tuple[Action, ...]] = []
    previous: str | None = None
    for action in actions:
        lane = _lane(action)
        if lane is not None and lane == previous:
            result[-1] = (*result[-1], action)
        else:
            result.append((action,))
        previous = lane
    return result


def describe(action: Action) -> tuple[str, str, str]:
    """(symbol, what, why) of an action."""
    match action:
        case RecordOwner() | RecordEviction() | LiftEviction():
            return _recorded(action)
        case EnsureVolume(volume=v):
            return "=", f"ensure volume {v.name}", action.reason
        case CreateInfra():
            return "+", "create infra", action.reason
        case CreateMember(member=m):
            return "+", f"create {m.name}", action.reason
        case RunInit(member=m):
            return "+", f"run init {m.name}", action.reason
        case WaitInit(ref=r):
            return ">", f"wait for init {r.label}", action.reason
        case Start(ref=r):
            return ">", f"start {r.label} {r.id[:12]}", action.reason
        case Stop(ref=r):
            return "-", f"stop {r.label} {r.id[:12]}", action.reason
        case Restart(ref=r):
            return "~", f"rejoin {r.label} {r.id[:12]} (restart in place)", action.reason
        case Remove(ref=r):
            return "-", f"remove {r.label} {r.id[:12]}", action.reason
        case Recreate(old=old, member=m):
            return "~", f"recreate {m.name} (was {old.id[:12]})", action.reason
        case RemoveVolumes():
            return "-", "remove its volumes", action.reason
    assert_never(action)


def _recorded(action: RecordOwner | RecordEviction | LiftEviction) -> tuple[str, str, str]:
    """(symbol, what, why) of an action that records something about the unit."""
    match action:
        case RecordOwner(owner=owner):
            return "=", f"record owner {owner}", action.reason
        case RecordEviction():
            return "-", "evict it", action.reason
        case LiftEviction():
            return "=", "lift its eviction", action.reason
    assert_never(action)


def waiting_text(action: Action) -> str | None:
    """What a person waits for while ``action`` runs, said as it begins: a grace period."""
    match action:
        case Stop(ref=r, grace_period=grace) | Remove(ref=r, grace_period=grace) if grace > 0:
            return f"stopping {r.label} (grace {grace} s)"
        case Restart(ref=r, grace_period=grace) if grace > 0:
            return f"restarting {r.label} (grace {grace} s)"
        case Recreate(old=old, grace_period=grace) if grace > 0:
            return f"stopping {old.label} to recreate it (grace {grace} s)"
    return None
