"""What reconciler asks of a container engine, by caller, in no engine's words. No I/O.

Each caller knows a driver by the small protocol it needs, as httpx's client
knows only its transport:

- ``Converging``: what one reconcile needs (converge/): observe, the facts an
  admission needs of the engine, and the primitive actions of a plan;
- ``Watching``: what the control loop adds (loop/): the engine's events, and
  where a volume's data lives on the host (to measure an emptyDir against its
  sizeLimit);
- ``Tooling``: what the CLI's tools read (get, logs, exec, version);
- ``Driver``: all of them, which every engine's driver implements.

``RestartsInPlace`` is apart: only an engine that can start a stopped
container again, and restart an infra with its members rejoining it
(``DriverCapabilities.in_place``: Docker), has it; the planner never plans a
restart in place for another.

Values crossing the seam are core's (core/spec.py, core/observed.py): typed
specs in, observations, ``ContainerDetails`` and ``ContainerEvent`` out.
Only the CLI's factory (cli/engines.py) names a concrete driver, which an
import-linter contract holds. A driver decides nothing (the planner does);
its methods raise the core/errors.py hierarchy only, engine errors mapped
inside the driver's own package.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable

from reconciler.core.observed import (
    ContainerDetails,
    ContainerEvent,
    ContainerId,
    EngineFacts,
    Eviction,
    FactsWanted,
    Observation,
)
from reconciler.core.ownership import Owner
from reconciler.core.runtimes import DriverCapabilities
from reconciler.core.spec import (
    DesiredInfra,
    DesiredMember,
    DesiredUnit,
    DesiredVolume,
    PullAuth,
    UnitKey,
)


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """What ``reconciler version`` shows about the engine."""

    version: str
    api_version: str
    runtimes: tuple[str, ...]
    default_runtime: str


class EventStream(Protocol):
    """Events as they happen; ``close()`` (from another thread) ends the iteration."""

    def __iter__(self) -> Iterator[ContainerEvent]: ...
    def close(self) -> None: ...


class LogStream(Protocol):
    """A container's output, chunk by chunk; ``close()`` ends a follow."""

    def __iter__(self) -> Iterator[bytes]: ...
    def close(self) -> None: ...


class Converging(Protocol):
    """What one reconcile needs: observe, learn facts, and do a plan's actions."""

    @property
    def capabilities(self) -> DriverCapabilities:
        """What this driver can run (modes, runtime profiles, what it lacks)."""
        ...

    def observe(
        self,
        units: Collection[DesiredUnit] = (),
        unit: UnitKey | None = None,
        start_times: bool = True,
    ) -> Observation:
        """This instance's containers, volumes and claims (only ``unit``'s, when given);
        which of ``units``' containers' names others hold; the runtimes offered when
        ``units`` ask for more than runc. Raises DaemonUnavailable / TransientDriverError."""
        ...

    def facts(self, wanted: FactsWanted, pull: bool) -> EngineFacts:
        """What ``wanted`` asks of the engine; images are pulled (per their pull policy)
        only when ``pull``. Raises DaemonUnavailable."""
        ...

    def create_infra(self, infra: DesiredInfra) -> ContainerId:
        """Create and start the sandbox's infra."""
        ...

    def create_member(self, member: DesiredMember, infra_id: str | None) -> ContainerId:
        """Create and start a member, joined to ``infra_id`` when it joins one."""
        ...

    def start(self, container_id: str) -> None: ...
    def stop(self, container_id: str, grace_period: int) -> None:
        """Stop and keep it; already gone is success."""
        ...

    def wait(self, container_id: str) -> int:
        """Block until it exits: its exit code."""
        ...

    def remove(self, container_id: str, grace_period: int) -> None:
        """Stop and remove; already gone is success."""
        ...

    def ensure_volume(self, volume: DesiredVolume) -> None: ...
    def remove_volumes(self, unit: UnitKey) -> None:
        """Remove the unit's volumes, its owner claims and its eviction record."""
        ...

    def record_owner(self, unit: UnitKey, owner: Owner) -> None: ...
    def record_eviction(self, unit: UnitKey, eviction: Eviction) -> None:
        """Record the unit's eviction apart from its containers (``observe`` reports it
        in ``Observation.evictions`` until lifted), replacing one recorded before."""
        ...

    def lift_eviction(self, unit: UnitKey) -> None:
        """Forget the unit's eviction; none recorded is success."""
        ...

    def address(self, container_id: str) -> str | None:
        """The container's (an infra's: its pod's) IP address, where probes reach it and
        what status.podIP gives; None when it has none."""
        ...

    def exec(self, container_id: str, command: list[str], timeout: float) -> int:
        """Run ``command`` (probes, hooks): its exit code. Raises TimeoutError when it
        outlives ``timeout``, DriverError when it cannot run (container gone, engine
        error), so a probe or hook that cannot run fails."""
        ...


@runtime_checkable
class RestartsInPlace(Protocol):
    """An engine that restarts a container in place, same id (Docker)."""

    def restart(self, container_id: str, grace_period: int) -> None: ...


class Watching(Protocol):
    """What the control loop adds to a reconcile."""

    def events(self) -> EventStream:
        """This instance's container events. Raises DaemonUnavailable."""
        ...

    def volume_path(self, name: str) -> str | None:
        """Where the data of this instance's volume ``name`` (an emptyDir on disk,
        naming.volume_name) lives on this host, for the loop to measure its usage;
        None when there is no such volume. Raises DaemonUnavailable."""
        ...


class FollowsImages(Protocol):
    """An engine that can say which image a tag names now (the loop's image watch)."""

    def latest_image(self, image: str, auth: tuple[PullAuth, ...] = ()) -> str:
        """Pull ``image`` now; the id of the image its tag names. Raises DriverError."""
        ...


class Tooling(Protocol):
    """What `get`, `logs`, `exec` and `version` read."""

    def details(self, ids: Collection[str]) -> Mapping[str, ContainerDetails]:
        """What the list does not show of ``ids`` (for people, never for planning);
        gone ones are left out."""
        ...

    def engine(self) -> EngineInfo:
        """The engine's version and runtimes. Raises DaemonUnavailable."""
        ...

    def runtimes(self) -> frozenset[str]:
        """The OCI runtimes (CRI: runtime handlers) the engine offers."""
        ...

    def logs(
        self,
        container_id: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
        timestamps: bool = False,
    ) -> LogStream:
        """The container's output, stdout and stderr merged. Raises DriverError."""
        ...

    def exec_attached(
        self,
        container_id: str,
        command: list[str],
        out: BinaryIO,
        err: BinaryIO,
        stdin: BinaryIO | None = None,
        tty: bool = False,
        size: tuple[int, int] | None = None,
    ) -> int:
        """Run ``command`` with its output copied to ``out`` / ``err`` (``reconciler exec``):
        its exit code. Raises DriverError when the container is gone or not running."""
        ...


class Driver(Converging, Watching, FollowsImages, Tooling, Protocol):
    """One container engine, for one reconciler instance: everything above."""

    def close(self) -> None:
        """Release the engine's connections (the CLI and the loop call it when done)."""
        ...


__all__ = [
    "Converging",
    "Driver",
    "EngineFacts",
    "EngineInfo",
    "EventStream",
    "FactsWanted",
    "LogStream",
    "RestartsInPlace",
    "Tooling",
    "Watching",
]
