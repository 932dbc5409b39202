"""The CRI driver: a Sandbox is the runtime's pod sandbox (a ``base.Driver``). Does I/O.

Talks to a CRI runtime (containerd's CRI plugin) through ``client``; the
request bodies are built in ``spec``. A facade over its parts:
``observe.Observer`` (pods, containers, details), ``actions.Actions`` (pods
and containers made, stopped, removed), ``images.Images`` (pulls, users),
``files.Files`` (volumes, owner claims and evictions under ``state_dir``) and
``tools.Tools`` (events by relisting, log files, exec), sharing what they
have seen in one ``pods.PodBook``. It decides nothing: the planner does, told
by ``CRI.in_place`` that under CRI a container is never restarted in place
(a restart is a new container, its next ``attempt``) and a dead pod is
rebuilt (there is no rejoin); it has no ``restart``.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
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
from reconciler.drivers.cri.actions import Actions
from reconciler.drivers.cri.capabilities import CRI
from reconciler.drivers.cri.client import DEFAULT_ENDPOINT, CriClient
from reconciler.drivers.cri.files import Files
from reconciler.drivers.cri.images import Images
from reconciler.drivers.cri.observe import Observer
from reconciler.drivers.cri.pods import PodBook
from reconciler.drivers.cri.tools import POLL_SECONDS, CriEvents, CriLogStream, Tools

DEFAULT_STATE_DIR = "/var/lib/reconciler-cri"


class CriDriver:
    """Talks to one CRI runtime for one reconciler instance."""

    capabilities: DriverCapabilities = CRI  # pods only; the pod profiles; what CRI lacks

    def __init__(
        self,
        instance: str,
        endpoint: str | None = None,
        state_dir: str | None = None,
        timeout: float = 60.0,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.instance = instance
        self.cri = CriClient(endpoint or DEFAULT_ENDPOINT, timeout=timeout)
        self.state = Path(state_dir or DEFAULT_STATE_DIR)
        self.poll = poll
        self.book = PodBook()
        self.files = Files(self.state, instance)
        self._observer = Observer(self.cri, instance, self.book, self.files)
        self._images = Images(self.cri)
        self._actions = Actions(
            self.cri, instance, self.book, self._observer, self._images, self.files, self.logs_dir
        )
        self._tools = Tools(self.cri)

    def close(self) -> None:
        self.cri.close()

    @property
    def logs_dir(self) -> Path:
        return self.state / "logs"

    # -- observing ---------------------------------------------------------------

    def observe(
        self,
        units: Collection[DesiredUnit] = (),
        unit: UnitKey | None = None,
        start_times: bool = True,
    ) -> Observation:
        """One ListPodSandbox, one ListContainers (label selectors), a ContainerStatus
        per exited container. Members never rejoin under CRI: no start times."""
        del start_times
        return self._observer.observe(units, unit)

    def facts(self, wanted: FactsWanted, pull: bool) -> EngineFacts:
        return self._images.facts(wanted, pull)

    def details(self, ids: Collection[str]) -> dict[str, ContainerDetails]:
        return self._observer.details(ids)

    def address(self, container_id: str) -> str | None:
        return self._observer.address(container_id)

    def latest_image(self, image: str, auth: tuple[PullAuth, ...] = ()) -> str:
        return self._images.latest(image, auth)

    def runtimes(self) -> frozenset[str]:
        return self._observer.runtimes()

    def engine(self) -> EngineInfo:
        return self._observer.engine()

    def events(self) -> CriEvents:
        """This instance's pod and container changes, relisted every ``poll`` seconds."""
        self.cri.version()  # DaemonUnavailable now rather than in the iteration
        return CriEvents(self._observer.snapshot, self.poll)

    # -- acting ------------------------------------------------------------------

    def create_infra(self, infra: DesiredInfra) -> ContainerId:
        return self._actions.create_infra(infra)

    def create_member(self, member: DesiredMember, infra_id: str | None) -> ContainerId:
        return self._actions.create_member(member, infra_id)

    def start(self, container_id: str) -> None:
        self._actions.start(container_id)

    def stop(self, container_id: str, grace_period: int) -> None:
        self._actions.stop(container_id, grace_period)

    def wait(self, container_id: str) -> int:
        return self._actions.wait(container_id)

    def remove(self, container_id: str, grace_period: int) -> None:
        self._actions.remove(container_id, grace_period)

    def ensure_volume(self, volume: DesiredVolume) -> None:
        self.files.ensure_volume(volume)

    def remove_volumes(self, unit: UnitKey) -> None:
        self.files.remove_volumes(unit)

    def record_owner(self, unit: UnitKey, owner: Owner) -> None:
        self.files.record_owner(unit, owner)

    def record_eviction(self, unit: UnitKey, eviction: Eviction) -> None:
        self.files.record_eviction(unit, eviction)

    def lift_eviction(self, unit: UnitKey) -> None:
        self.files.lift_eviction(unit)

    def volume_path(self, name: str) -> str | None:
        """The volume's host directory (the driver's state directory is on this host)."""
        return self.files.volume_path(name)

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
    ) -> CriLogStream:
        return self._tools.logs(
            container_id, follow=follow, tail=tail, since=since, until=until, timestamps=timestamps
        )


__all__ = ["DEFAULT_STATE_DIR", "CriDriver"]
