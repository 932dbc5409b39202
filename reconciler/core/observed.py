"""What the engine reports: plain values the planner reads. No I/O.

The driver fills these from one list call (plus start times, see
``ObservedContainer.started_at``); the planner never asks the engine itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NewType

from reconciler.core import labels as L
from reconciler.core.effective import UnitKey
from reconciler.core.models import Kind
from reconciler.core.ownership import Claim, Owner, owner_of

ContainerId = NewType("ContainerId", str)


class State(StrEnum):
    """Docker's container states."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"

    @property
    def alive(self) -> bool:
        """Processes exist: the container holds its namespaces."""
        return self in (State.RUNNING, State.PAUSED, State.RESTARTING)


@dataclass(frozen=True, slots=True)
class ObservedContainer:
    id: ContainerId
    name: str
    labels: Mapping[str, str]
    state: State
    created: float  # unix seconds
    exit_code: int | None = None  # for exited containers
    # Unix seconds the current run began. Docker's list call does not report
    # it, so the driver inspects the running members of running sandboxes to
    # fill it: it is how a workload left in a restarted infra's old
    # namespaces is told from a current one. None where not needed, which
    # includes a member the driver proved current without it (the Docker
    # driver's infra-run label): None never makes a rejoin.
    started_at: float | None = None
    # Host bindings of a running container: (host IP, host port, "tcp"/"udp").
    ports: tuple[tuple[str, int, str], ...] = ()

    @property
    def instance(self) -> str | None:
        return self.labels.get(L.MANAGED_BY)

    @property
    def unit_key(self) -> UnitKey | None:
        try:
            kind = Kind(self.labels[L.KIND])
            return UnitKey(kind, self.labels[L.NAMESPACE], self.labels[L.SANDBOX])
        except (KeyError, ValueError):
            return None

    @property
    def role(self) -> L.Role | None:
        """None when its role label is missing or unknown."""
        return L.role_of(self.labels)

    @property
    def container(self) -> str:
        return self.labels.get(L.CONTAINER, "")

    @property
    def spec_hash(self) -> str | None:
        return self.labels.get(L.SPEC_HASH)

    @property
    def infra_id(self) -> str:
        return self.labels.get(L.INFRA_ID, "")

    @property
    def grace_period(self) -> int:
        try:
            return int(self.labels.get(L.GRACE, "30"))
        except ValueError:
            return 30


@dataclass(frozen=True, slots=True)
class Observation:
    """A snapshot of the engine, as far as planning needs it."""

    containers: tuple[ObservedContainer, ...] = ()
    # Names held by containers this instance does not manage (only the ones
    # that collide with a desired name are looked up).
    foreign_names: frozenset[str] = field(default_factory=frozenset)
    # The OCI runtimes the daemon offers; None when not read (only runc asked for).
    runtimes: frozenset[str] | None = None
    # Owners recorded apart from containers (see ownership.py), by unit.
    claims: tuple[tuple[UnitKey, Claim], ...] = ()
    # The labels of this instance's data volumes (emptyDir), by unit: a crash
    # between removing a unit's containers and its volumes leaves only these.
    volumes: tuple[tuple[UnitKey, Mapping[str, str]], ...] = ()

    @property
    def volume_units(self) -> frozenset[UnitKey]:
        return frozenset(key for key, _ in self.volumes)

    def owner(self, key: UnitKey, members: Iterable[ObservedContainer]) -> Owner | None:
        """The owner of the unit ``key`` whose containers are ``members`` (ownership.owner_of):
        its newest claim, else the infra's owner label, else the oldest container's, else
        its volumes' (a unit that is only a volume left behind)."""
        ordered = sorted(members, key=lambda c: (c.role != L.ROLE_INFRA, c.created, c.id))
        labels = [*(c.labels for c in ordered), *(v for k, v in self.volumes if k == key)]
        return owner_of(labels, (c for k, c in self.claims if k == key))
