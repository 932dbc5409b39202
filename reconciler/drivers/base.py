"""The one interface every engine's driver implements, and the values it hands back. No I/O.

The executor, the control loop and the CLI know a driver only as ``Driver``;
only the CLI's factory names a concrete one (``drivers/docker.py`` today),
which an import-linter contract in pyproject.toml holds. What a driver can do
is declared in its ``capabilities`` (``core/runtimes.py``), a constant the CLI
reads without connecting to the engine or importing its client library.

A driver decides nothing (the planner does). Its methods raise the
``core/errors.py`` hierarchy only: engine errors are mapped inside the driver.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from reconciler.core.effective import DesiredInfra, DesiredMember, DesiredVolume, UnitKey
from reconciler.core.labels import Role
from reconciler.core.observed import ContainerId, Observation
from reconciler.core.ownership import Owner
from reconciler.core.runtimes import DriverCapabilities


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """What ``reconciler version`` shows about the engine."""

    version: str
    api_version: str
    runtimes: tuple[str, ...]
    default_runtime: str


@dataclass(frozen=True, slots=True)
class ContainerEvent:
    """Something happened to one of this instance's containers."""

    unit: UnitKey | None
    action: str  # die, stop, kill, destroy, start, restart, create, ... (Docker's words)
    role: Role | None
    container_id: str


class EventStream(Protocol):
    """Events as they happen; ``close()`` (from another thread) ends the iteration."""

    def __iter__(self) -> Iterator[ContainerEvent]: ...
    def close(self) -> None: ...


class LogStream(Protocol):
    """A container's output, chunk by chunk; ``close()`` ends a follow."""

    def __iter__(self) -> Iterator[bytes]: ...
    def close(self) -> None: ...


class Driver(Protocol):
    """One container engine, for one reconciler instance."""

    @property
    def capabilities(self) -> DriverCapabilities:
        """What this driver can run (modes, runtime profiles, what a sandbox is)."""
        ...

    def close(self) -> None: ...

    # -- observing -----------------------------------------------------------------

    def observe(
        self,
        desired_names: Collection[str] = (),
        runtimes: Collection[str] = (),
        unit: UnitKey | None = None,
        start_times: bool = True,
    ) -> Observation:
        """This instance's containers, volumes and claims (only ``unit``'s, when given);
        which of ``desired_names`` others hold; the runtimes offered when ``runtimes``
        asks for more than runc. Raises DaemonUnavailable / TransientDriverError."""
        ...

    def events(self) -> EventStream:
        """This instance's container events. Raises DaemonUnavailable."""
        ...

    def inspect(self, ids: Collection[str]) -> Mapping[str, Mapping[str, Any]]:
        """The engine's details of ``ids`` for display (never for planning); gone ones
        are left out. The shape is Docker's inspect data (State, HostConfig,
        RestartCount), which ``loop/status.py`` reads."""
        ...

    def address(self, container_id: str) -> str | None:
        """The container's IP address, where probes reach it; None when it has none."""
        ...

    def runtimes(self) -> frozenset[str]:
        """The OCI runtimes the engine offers."""
        ...

    def engine(self) -> EngineInfo:
        """The engine's version and runtimes. Raises DaemonUnavailable."""
        ...

    def run_times(self, container_id: str) -> tuple[float | None, float | None]:
        """(started, finished) of the container's latest run, unix seconds."""
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

    # -- acting (the executor) -------------------------------------------------------

    def create_infra(self, infra: DesiredInfra) -> ContainerId:
        """Create and start the sandbox's infra."""
        ...

    def create_member(self, member: DesiredMember, infra_id: str | None) -> ContainerId:
        """Create and start a member, joined to ``infra_id`` when it joins one."""
        ...

    def start(self, container_id: str) -> None: ...
    def restart(self, container_id: str, grace_period: int) -> None: ...
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
    def remove_volumes(self, unit: UnitKey) -> None: ...
    def record_owner(self, unit: UnitKey, owner: Owner) -> None: ...

    # -- running commands in a container ----------------------------------------------

    def exec(self, container_id: str, command: list[str], timeout: float) -> int:
        """Run ``command`` (probes, hooks): its exit code. Raises TimeoutError when it
        outlives ``timeout``, DriverError when it cannot run (container gone, engine
        error), so a probe or hook that cannot run fails."""
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
