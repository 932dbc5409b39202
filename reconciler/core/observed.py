"""What the engine reports, in no engine's words: plain values the planner reads. No I/O.

The driver fills an ``Observation`` from one list call (plus start times, see
``ObservedContainer.started_at``); the planner never asks the engine itself.
``ContainerDetails`` is what `get` shows beyond the list, and
``ContainerEvent`` what the loop hears; each driver maps its engine's states
and events onto these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NewType

from reconciler.core import labels as L
from reconciler.core.models import Kind, PullPolicy
from reconciler.core.ownership import Claim, Owner, owner_of
from reconciler.core.spec import PullAuth, UnitKey

ContainerId = NewType("ContainerId", str)


class State(StrEnum):
    """A container's state, as kubelet's (created, running, exited, unknown) with
    paused: frozen, its processes and namespaces kept (Docker's pause)."""

    CREATED = "created"  # made, never started
    RUNNING = "running"  # its processes run (Docker's "restarting" too: mid-restart)
    PAUSED = "paused"
    EXITED = "exited"  # its last run ended; it can start again where the engine allows
    UNKNOWN = "unknown"  # the engine cannot start it again (Docker's dead or removing)

    @property
    def alive(self) -> bool:
        """Processes exist: the container holds its namespaces."""
        return self in (State.RUNNING, State.PAUSED)


class EventKind(StrEnum):
    """What happened to a container, in an event."""

    STARTED = "started"  # it (re)started: an infra's start means new namespaces
    EXITED = "exited"  # its processes ended (died, stopped, killed by the OOM killer)
    REMOVED = "removed"
    CHANGED = "changed"  # signalled, paused or unpaused: worth a look
    CREATED = "created"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ContainerEvent:
    """Something happened to one of this instance's containers."""

    unit: UnitKey | None
    kind: EventKind
    role: L.Role | None
    container_id: str


@dataclass(frozen=True, slots=True)
class ContainerDetails:
    """What the list does not show of a container, for people (`get`, `logs --previous`)."""

    started_at: float | None = None  # unix seconds its latest run began
    finished_at: float | None = None  # unix seconds its latest run ended
    restarts: int = 0  # in place (Docker), or its attempt (CRI)
    runtime: str = ""  # the runtime (handler) it runs under


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
    image_id: str = ""  # the image it runs (sha256:...), for reconciler.io/image-update

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


@dataclass(frozen=True, slots=True, order=True)
class Taken:
    """A desired container whose name on the engine another container holds (Docker's
    names are one flat space): the unit is refused, the other container left alone."""

    unit: UnitKey
    container: str  # its name in the manifest; "" for the infra
    name: str  # the engine's name that is taken


@dataclass(frozen=True, slots=True)
class Eviction:
    """A unit evicted by the loop (an emptyDir outgrew its sizeLimit), as the engine
    records it: kept stopped until ``fingerprint`` (eviction.fingerprint of the unit
    as it was then) no longer matches the unit's manifest, or an apply lifts it."""

    message: str  # kubelet's: Usage of EmptyDir volume "cache" exceeds the limit "10Mi".
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Observation:
    """A snapshot of the engine, as far as planning needs it."""

    containers: tuple[ObservedContainer, ...] = ()
    # Desired containers whose names others hold; only the units in ``looked_up``
    # were asked about (the units the observation was given).
    taken: frozenset[Taken] = field(default_factory=frozenset)
    looked_up: frozenset[UnitKey] = field(default_factory=frozenset)
    # The OCI runtimes the daemon offers; None when not read (only runc asked for).
    runtimes: frozenset[str] | None = None
    # Owners recorded apart from containers (see ownership.py), by unit.
    claims: tuple[tuple[UnitKey, Claim], ...] = ()
    # The labels of this instance's data volumes (emptyDir), by unit: a crash
    # between removing a unit's containers and its volumes leaves only these.
    volumes: tuple[tuple[UnitKey, Mapping[str, str]], ...] = ()
    # The units the loop evicted, as recorded apart from their containers.
    evictions: tuple[tuple[UnitKey, Eviction], ...] = ()

    @property
    def volume_units(self) -> frozenset[UnitKey]:
        return frozenset(key for key, _ in self.volumes)

    def eviction(self, key: UnitKey) -> Eviction | None:
        """The unit's eviction record, if it has one."""
        return next((e for k, e in self.evictions if k == key), None)

    def owner(self, key: UnitKey, members: Iterable[ObservedContainer]) -> Owner | None:
        """The owner of the unit ``key`` whose containers are ``members`` (ownership.owner_of):
        its newest claim, else the infra's owner label, else the oldest container's, else
        its volumes' (a unit that is only a volume left behind)."""
        ordered = sorted(members, key=lambda c: (c.role != L.ROLE_INFRA, c.created, c.id))
        labels = [*(c.labels for c in ordered), *(v for k, v in self.volumes if k == key)]
        return owner_of(labels, (c for k, c in self.claims if k == key))


@dataclass(frozen=True, slots=True)
class FactsWanted:
    """What admission must learn from the engine before it lets some units run."""

    images: Mapping[str, PullPolicy] = field(default_factory=dict)  # whose user to read
    storage: bool = False  # whether a container's writable layer can be size-limited
    # What a pull of each image tries (imagePullSecrets), as creating the container would.
    pull_auth: Mapping[str, tuple[PullAuth, ...]] = field(default_factory=dict, repr=False)

    def __bool__(self) -> bool:
        return bool(self.images) or self.storage


@dataclass(frozen=True, slots=True)
class EngineFacts:
    """What the engine told of its images and itself (admission.admit_facts reads it).

    ``users``: each image's user ("" when it sets none); ``unknown``: images
    whose user could not be read, with why; ``storage``: None when a storage
    limit can be enforced, else why not.
    """

    users: Mapping[str, str] = field(default_factory=dict)
    unknown: Mapping[str, str] = field(default_factory=dict)
    storage: str | None = None
