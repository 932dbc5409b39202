"""The typed actions a plan is made of. No I/O.

Each action is a frozen value with a ``reason`` a person can read; the
executor dispatches on the type with ``match``. The infra a member joins is
not named here: it is the unit's current infra when the action runs (the one
observed, or the one a ``CreateInfra`` earlier in the same unit made).
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.desired import DesiredInfra, DesiredMember, DesiredVolume, UnitKey
from reconciler.observed import ContainerId, ObservedContainer


@dataclass(frozen=True, slots=True)
class Ref:
    """An existing container, as the plan names it."""

    id: ContainerId
    name: str  # its Docker name
    role: str
    container: str  # its name in the manifest ("" for the infra)

    @classmethod
    def of(cls, observed: ObservedContainer) -> Ref:
        return cls(observed.id, observed.name, observed.role, observed.container)

    @property
    def label(self) -> str:
        return self.container or "infra"


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


@dataclass(frozen=True, slots=True)
class RemoveVolumes:
    """Remove the volumes this unit owns (found by label)."""

    unit: UnitKey
    reason: str


Action = (
    EnsureVolume
    | CreateInfra
    | CreateMember
    | RunInit
    | WaitInit
    | Start
    | Restart
    | Remove
    | Recreate
    | RemoveVolumes
)
