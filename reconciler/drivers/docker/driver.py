"""The Docker driver: one daemon, one reconciler instance (a ``base.Driver``). Does I/O.

A facade over its parts, each with its own state: ``observe.Observer``
(lists, start-time proofs, names others hold, details), ``images.Images``
(pulls, image users, storage), ``actions.Actions`` (create, start, restart,
stop, wait, remove), ``volumes.Volumes`` (data volumes, owner claims, eviction records) and
``tools.Tools`` (events, logs, exec). It decides nothing: what to create,
start or remove comes from the planner; errors are mapped in errors.py.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import BinaryIO

from reconciler.core.observed import (
    ContainerDetails,
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
from reconciler.drivers.base import EngineInfo
from reconciler.drivers.docker.actions import Actions
from reconciler.drivers.docker.capabilities import DOCKER
from reconciler.drivers.docker.connection import Connection
from reconciler.drivers.docker.images import Images
from reconciler.drivers.docker.observe import Observer
from reconciler.drivers.docker.subpaths import resolve_sub_paths
from reconciler.drivers.docker.tools import DockerEvents, DockerLogStream, Tools
from reconciler.drivers.docker.volumes import Volumes
from reconciler.drivers.retrying import retried


class DockerDriver:
    """Talks to one Docker daemon for one reconciler instance."""

    capabilities: DriverCapabilities = DOCKER

    def __init__(
        self,
        instance: str,
        base_url: str | None = None,
        timeout: int = 120,
        direct_http: bool = True,
    ) -> None:
        self.instance = instance
        self.connection = Connection(instance, base_url, timeout, direct_http)
        self._observer = Observer(self.connection)
        self._images = Images(self.connection)
        self._actions = Actions(self.connection, self._images)
        self._volumes = Volumes(self.connection, self._actions)
        self._tools = Tools(self.connection)

    def close(self) -> None:
        self.connection.close()

    # -- observing -------------------------------------------------------------

    @retried
    def observe(
        self,
        units: Collection[DesiredUnit] = (),
        unit: UnitKey | None = None,
        start_times: bool = True,
    ) -> Observation:
        """This instance's containers in one list call, plus what the plan needs more
        (observe.py). Raises DaemonUnavailable / TransientDriverError."""
        return self._observer.observe(units, unit, start_times)

    @retried
    def facts(self, wanted: FactsWanted, pull: bool) -> EngineFacts:
        return self._images.facts(wanted, pull)

    def details(self, ids: Collection[str]) -> dict[str, ContainerDetails]:
        return self._observer.details(ids)

    def address(self, container_id: str) -> str | None:
        return self._observer.address(container_id)

    def latest_image(self, image: str, auth: tuple[PullAuth, ...] = ()) -> str:
        return self._images.latest(image, auth)

    @retried
    def runtimes(self) -> frozenset[str]:
        return self._observer.runtimes()

    def engine(self) -> EngineInfo:
        return self._observer.engine()

    def events(self) -> DockerEvents:
        return self._tools.events()

    # -- acting ------------------------------------------------------------------

    def create_infra(self, infra: DesiredInfra) -> ContainerId:
        return self._actions.create_infra(infra)

    def create_member(self, member: DesiredMember, infra_id: str | None) -> ContainerId:
        member = resolve_sub_paths(member, self._volumes.mountpoint)
        return self._actions.create_member(member, infra_id)

    def start(self, container_id: str) -> None:
        self._actions.start(container_id)

    def restart(self, container_id: str, grace_period: int) -> None:
        self._actions.restart(container_id, grace_period)

    def stop(self, container_id: str, grace_period: int) -> None:
        self._actions.stop(container_id, grace_period)

    def wait(self, container_id: str) -> int:
        return self._actions.wait(container_id)

    def remove(self, container_id: str, grace_period: int) -> None:
        self._actions.remove(container_id, grace_period)

    def ensure_volume(self, volume: DesiredVolume) -> None:
        self._volumes.ensure(volume)

    def remove_volumes(self, unit: UnitKey) -> None:
        self._volumes.remove_all(unit)

    def record_eviction(self, unit: UnitKey, eviction: Eviction) -> None:
        self._volumes.record_eviction(unit, eviction)

    def lift_eviction(self, unit: UnitKey) -> None:
        self._volumes.lift_eviction(unit)

    def volume_path(self, name: str) -> str | None:
        """The volume's ``Mountpoint``: under the daemon's data root, which is on this
        host only when the daemon is (a unix:// socket; not a remote or VM daemon's)."""
        return self._volumes.path(name)

    def record_owner(self, unit: UnitKey, owner: Owner) -> None:
        self._volumes.record_owner(unit, owner)

    # -- commands and output ------------------------------------------------------

    def exec(self, container_id: str, command: list[str], timeout: float) -> int:
        return self._tools.exec(container_id, command, timeout)

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
        return self._tools.exec_attached(container_id, command, out, err, stdin, tty, size)

    def logs(
        self,
        container_id: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
        timestamps: bool = False,
    ) -> DockerLogStream:
        return self._tools.logs(
            container_id, follow=follow, tail=tail, since=since, until=until, timestamps=timestamps
        )


__all__ = ["DockerDriver"]
