"""What the CRI runtime holds of this instance, as core's observation. Does I/O.

Ownership, spec hash and source are CRI labels (core/labels.py's keys), so
observing is one ``ListPodSandbox`` and one ``ListContainers`` with a label
selector, plus a ``ContainerStatus`` per exited container (the list has no
exit code). A Sandbox's pod stands where Docker's infra does; the
one-container pod of a ``kind: Container`` is not reported as an infra (it
comes and goes with its container).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor

from reconciler.core import labels as L
from reconciler.core.errors import NotFound
from reconciler.core.observed import (
    ContainerDetails,
    ContainerId,
    Observation,
    ObservedContainer,
    State,
)
from reconciler.core.spec import DesiredUnit, UnitKey
from reconciler.drivers.base import EngineInfo
from reconciler.drivers.cri.client import CriClient, pb
from reconciler.drivers.cri.files import Files
from reconciler.drivers.cri.pods import PodBook
from reconciler.drivers.cri.selectors import selector
from reconciler.drivers.cri.spec import IMPLICIT, ports_of

ONE_CONTAINER_POD = "one-container-pod"  # the mode `get` shows for a kind: Container
ORPHAN_SECONDS = 60.0  # a one-container pod this old without its container is left over

STATES = {
    pb.CONTAINER_CREATED: State.CREATED,
    pb.CONTAINER_RUNNING: State.RUNNING,
    pb.CONTAINER_EXITED: State.EXITED,
    pb.CONTAINER_UNKNOWN: State.UNKNOWN,
}


def seconds(nanoseconds: int) -> float | None:
    return nanoseconds / 1e9 if nanoseconds > 0 else None


class Observer:
    def __init__(self, cri: CriClient, instance: str, book: PodBook, files: Files) -> None:
        self.cri = cri
        self.instance = instance
        self.book = book
        self.files = files

    def observe(self, units: Collection[DesiredUnit], unit: UnitKey | None) -> Observation:
        """This instance's pods and containers. Names never clash under CRI (a pod's uid
        is part of them), so none of ``units`` is taken."""
        chosen = selector(self.instance, unit)
        pods = self.cri.list_pod_sandbox(chosen)
        rows = self.cri.list_containers(chosen)
        observed = self._pods(pods)
        with self.book.lock:
            self.book.pod_of.update((row.id, row.pod_sandbox_id) for row in rows)
        codes = self._exit_codes([r.id for r in rows if r.state == pb.CONTAINER_EXITED])
        implicit_ports = {p.id: ports_of(p.annotations) for p in pods if IMPLICIT in p.labels}
        for row in rows:
            state = STATES.get(row.state, State.UNKNOWN)
            labels = dict(row.labels)
            if row.pod_sandbox_id in implicit_ports:  # `get` says what it runs as (read only there)
                labels[L.MODE] = ONE_CONTAINER_POD
            observed.append(
                ObservedContainer(
                    ContainerId(row.id),
                    f"{row.metadata.name}.{row.metadata.attempt}",
                    labels,
                    state,
                    row.created_at / 1e9,
                    exit_code=codes.get(row.id),
                    ports=implicit_ports.get(row.pod_sandbox_id, ()) if state.alive else (),
                    image_id=row.image_ref,
                )
            )
        observed.extend(_orphans(pods, rows))
        runtimes = {r for u in units for r in u.runtimes}
        offered = self.runtimes() if runtimes - {"runc"} else None
        claims, volumes, evictions = self.files.stored(unit)
        looked_up = frozenset(u.key for u in units)
        return Observation(
            tuple(observed), frozenset(), looked_up, offered, claims, volumes, evictions
        )

    def _pods(self, pods: list[pb.PodSandbox]) -> list[ObservedContainer]:
        """The Sandboxes' pods, as their infras (the implicit pods are only remembered)."""
        observed = []
        with self.book.lock:
            for pod in pods:
                self.book.sandboxes.add(pod.id)
                if IMPLICIT in pod.labels:
                    self.book.implicit.add(pod.id)
                    continue
                state = State.RUNNING if pod.state == pb.SANDBOX_READY else State.EXITED
                observed.append(
                    ObservedContainer(
                        ContainerId(pod.id),
                        f"{pod.metadata.namespace}/{pod.metadata.name}",
                        dict(pod.labels),
                        state,
                        pod.created_at / 1e9,
                        ports=ports_of(pod.annotations) if state.alive else (),
                    )
                )
        return observed

    def _exit_codes(self, ids: list[str]) -> dict[str, int]:
        def one(cid: str) -> tuple[str, int | None]:
            try:
                return cid, self.cri.container_status(cid).status.exit_code
            except NotFound:
                return cid, None

        if not ids:
            return {}
        with ThreadPoolExecutor(max_workers=min(8, len(ids))) as pool:
            return {cid: code for cid, code in pool.map(one, ids) if code is not None}

    def snapshot(self) -> dict[str, tuple[State, Mapping[str, str]]]:
        """Every pod's and container's state, by id (what the events poller compares)."""
        chosen = selector(self.instance, None)
        found: dict[str, tuple[State, Mapping[str, str]]] = {}
        for pod in self.cri.list_pod_sandbox(chosen):
            if IMPLICIT not in pod.labels:
                ready = pod.state == pb.SANDBOX_READY
                found[pod.id] = (State.RUNNING if ready else State.EXITED, dict(pod.labels))
        for row in self.cri.list_containers(chosen):
            found[row.id] = (STATES.get(row.state, State.UNKNOWN), dict(row.labels))
        return found

    def details(self, ids: Collection[str]) -> dict[str, ContainerDetails]:
        """A pod's creation and runtime handler; a container's run times and attempt."""

        def one(cid: str) -> tuple[str, ContainerDetails | None]:
            try:
                if self.is_pod(cid):
                    pod = self.cri.pod_sandbox_status(cid).status
                    return cid, ContainerDetails(
                        started_at=seconds(pod.created_at),
                        restarts=pod.metadata.attempt,
                        runtime=pod.runtime_handler,
                    )
                status = self.cri.container_status(cid).status
            except NotFound:
                return cid, None
            return cid, ContainerDetails(
                started_at=seconds(status.started_at),
                finished_at=seconds(status.finished_at),
                restarts=status.metadata.attempt,
                runtime=status.labels.get(L.RUNTIME, ""),
            )

        with ThreadPoolExecutor(max_workers=8) as pool:
            return {cid: d for cid, d in pool.map(one, ids) if d is not None}

    def is_pod(self, some_id: str) -> bool:
        with self.book.lock:
            if some_id in self.book.sandboxes:
                return True
            if some_id in self.book.pod_of:
                return False
        try:
            self.cri.container_status(some_id)
        except NotFound:
            return True
        return False

    def sandbox_of(self, container_id: str) -> str:
        with self.book.lock:
            known = self.book.pod_of.get(container_id)
        if known is not None:
            return known
        rows = self.cri.list_containers(selector(self.instance, None))
        with self.book.lock:
            self.book.pod_of.update((r.id, r.pod_sandbox_id) for r in rows)
            return self.book.pod_of.get(container_id, "")

    def address(self, container_id: str) -> str | None:
        """The pod's IP address (every container of a pod has it)."""
        try:
            sandbox = container_id if self.is_pod(container_id) else self.sandbox_of(container_id)
            if not sandbox:
                return None
            return self.cri.pod_sandbox_status(sandbox).status.network.ip or None
        except NotFound:
            return None

    def runtimes(self) -> frozenset[str]:
        """The runtime handlers a pod may name (from Status)."""
        return self.cri.runtime_handlers()

    def engine(self) -> EngineInfo:
        version = self.cri.version()
        return EngineInfo(
            version=f"{version.runtime_name} {version.runtime_version}",
            api_version=version.runtime_api_version,
            runtimes=tuple(sorted(self.runtimes())),
            default_runtime="runc",
        )


def _orphans(pods: list[pb.PodSandbox], rows: list[pb.Container]) -> list[ObservedContainer]:
    """One-container pods left without their container (a crash between removing the
    container and its pod), older than ORPHAN_SECONDS (younger ones may be a pod
    another process is filling): reported without a role, so the planner removes
    them as no longer in the manifest."""
    filled = {r.pod_sandbox_id for r in rows}
    now = time.time()
    return [
        ObservedContainer(
            ContainerId(pod.id),
            f"empty pod {pod.metadata.namespace}/{pod.metadata.name}",
            {k: v for k, v in pod.labels.items() if k not in (L.ROLE, L.CONTAINER)},
            State.RUNNING if pod.state == pb.SANDBOX_READY else State.EXITED,
            pod.created_at / 1e9,
        )
        for pod in pods
        if IMPLICIT in pod.labels
        and pod.id not in filled
        and now - pod.created_at / 1e9 > ORPHAN_SECONDS
    ]


__all__ = ["ONE_CONTAINER_POD", "Observer", "seconds"]
