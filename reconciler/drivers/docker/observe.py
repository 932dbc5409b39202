"""What the Docker daemon holds of this instance, as core's observation. Does I/O.

One list call with a label filter gives the containers (``docker ps`` has
their state, exit code, ports and labels); one volume list the claims and
data volumes and evictions; start times only where ``starts.py`` cannot prove them; the
names of desired containers missing from the list are looked up to find
the ones another container holds; ``docker info`` only when a runtime other
than runc is asked for.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reconciler.core import labels as L
from reconciler.core.errors import NotFound
from reconciler.core.models import Kind
from reconciler.core.naming import container_name
from reconciler.core.observed import (
    ContainerDetails,
    ContainerId,
    Eviction,
    Observation,
    ObservedContainer,
    State,
    Taken,
)
from reconciler.core.ownership import Claim, Owner
from reconciler.core.spec import DesiredUnit, UnitKey
from reconciler.drivers.base import EngineInfo
from reconciler.drivers.docker.connection import Connection, timestamp
from reconciler.drivers.docker.errors import calling
from reconciler.drivers.docker.starts import StartTimes, run_key

# Up to this many missing names are looked up by inspecting each (_held_by_others).
INSPECT_NAMES_MAX = 8
_EXIT_CODE = re.compile(r"^Exited \((-?\d+)\)")
# Docker's states in core's words: "restarting" is mid-restart (alive), "removing" and
# "dead" can never start again.
_STATES = {
    "created": State.CREATED,
    "running": State.RUNNING,
    "restarting": State.RUNNING,
    "paused": State.PAUSED,
    "exited": State.EXITED,
}


_Stored = tuple[
    tuple[tuple[UnitKey, Claim], ...],
    tuple[tuple[UnitKey, Mapping[str, str]], ...],
    tuple[tuple[UnitKey, Eviction], ...],
]


def state(docker_state: str | None) -> State:
    return _STATES.get(docker_state or "", State.UNKNOWN)


class Observer:
    """Observes one daemon for one instance; keeps what proves start times between calls."""

    def __init__(self, connection: Connection) -> None:
        self._engine = connection
        self._starts = StartTimes(connection)

    def observe(
        self, units: Collection[DesiredUnit], unit: UnitKey | None, start_times: bool
    ) -> Observation:
        """This instance's containers (``unit``'s only, when given), with start times where
        planning needs them; which of ``units``' names others hold; the runtimes offered
        when they ask for more than runc; claims and data volumes."""
        with calling("listing containers"):
            rows = self._engine.calls.containers(
                all=True, filters={"label": self._engine.mine(unit)}
            )
        containers = [_row(r) for r in rows]
        if start_times:
            runs = {r["Id"]: run_key(r.get("NetworkSettings")) for r in rows}
            containers = self._starts.fill(containers, runs, whole=unit is None)
        wanted = self._names(units)
        listed = {c.name for c in containers}
        missing = [n for n in wanted if n not in listed]
        held = self._held_by_others(missing) if missing else frozenset()
        taken = frozenset(Taken(*wanted[name], name) for name in held)
        runtimes = {r for u in units for r in u.runtimes}
        offered = self.runtimes() if runtimes - {"runc"} else None
        claims, volumes, evictions = self._volumes(unit)
        looked_up = frozenset(u.key for u in units)
        return Observation(tuple(containers), taken, looked_up, offered, claims, volumes, evictions)

    def _names(self, units: Collection[DesiredUnit]) -> dict[str, tuple[UnitKey, str]]:
        """The Docker names of the units' containers: (unit, container; "" the infra)."""
        names = {}
        for u in units:
            for m in u.members:
                names[container_name(self._engine.instance, u.key, m.name)] = (u.key, m.name)
            if u.infra is not None:
                names[container_name(self._engine.instance, u.key, None)] = (u.key, "")
        return names

    def _held_by_others(self, missing: list[str]) -> frozenset[str]:
        """Which of ``missing`` a container outside this instance holds.

        A few names are inspected one by one: dockerd finds a name in its index.
        More are matched here against one list of every container: a list
        filtered by name would make dockerd match each name's regexp against
        every container it holds (3 names: ~300 ms at 1,500 containers, where
        the whole list costs it ~100 ms and an inspect under 1 ms).
        """
        instance = self._engine.instance
        if len(missing) > INSPECT_NAMES_MAX:
            wanted = set(missing)
            with calling("listing containers"):
                everything = self._engine.calls.containers(all=True)
            return frozenset(
                name
                for r in everything
                if (r.get("Labels") or {}).get(L.MANAGED_BY) != instance
                for name in (n.lstrip("/") for n in r.get("Names") or [])
                if name in wanted
            )
        held: set[str] = set()
        for name in missing:
            try:
                with calling(f"looking up the name {name}"):
                    info = self._engine.calls.inspect_container(name)
            except NotFound:
                continue
            # dockerd also resolves an id prefix: only a container of that name holds it.
            labels = (info.get("Config") or {}).get("Labels") or {}
            if info.get("Name") == f"/{name}" and labels.get(L.MANAGED_BY) != instance:
                held.add(name)
        return frozenset(held)

    def _volumes(self, unit: UnitKey | None) -> _Stored:
        """One volume list call: owners recorded apart from containers (ownership.py),
        the data volumes of each unit (a crash can leave one behind its unit), and the
        units evicted (eviction.py)."""
        with calling("listing volumes"):
            found = self._engine.calls.volumes(filters={"label": self._engine.mine(unit)})
        claims = []
        volumes: list[tuple[UnitKey, Mapping[str, str]]] = []
        evictions: list[tuple[UnitKey, Eviction]] = []
        for volume in found.get("Volumes") or []:
            labels = volume.get("Labels") or {}
            try:
                key = UnitKey(Kind(labels[L.KIND]), labels[L.NAMESPACE], labels[L.SANDBOX])
            except (KeyError, ValueError):
                continue  # not one of ours in full: left alone
            if labels.get(L.CLAIM) == "true":
                owner = Owner.from_labels(labels)
                if owner is not None:
                    created = timestamp(volume.get("CreatedAt")) or 0.0
                    claims.append((key, Claim(volume["Name"], owner, created)))
            elif L.EVICTED in labels:
                message = labels.get(L.EVICTION_MESSAGE, "")
                evictions.append((key, Eviction(message, labels[L.EVICTED])))
            elif L.VOLUME in labels:
                volumes.append((key, labels))
        return tuple(claims), tuple(volumes), tuple(evictions)

    def details(self, ids: Collection[str]) -> dict[str, ContainerDetails]:
        """What `get` and `logs --previous` read of ``ids`` (concurrent inspects)."""

        def one(container_id: str) -> tuple[str, ContainerDetails | None]:
            try:
                with calling(f"inspecting {container_id[:12]}"):
                    info = self._engine.calls.inspect_container(container_id)
            except NotFound:
                return container_id, None
            found = info.get("State") or {}
            labels = (info.get("Config") or {}).get("Labels") or {}
            return container_id, ContainerDetails(
                started_at=timestamp(found.get("StartedAt")),
                finished_at=timestamp(found.get("FinishedAt")),
                restarts=int(info.get("RestartCount") or 0),
                runtime=(info.get("HostConfig") or {}).get("Runtime") or labels.get(L.RUNTIME, ""),
            )

        with ThreadPoolExecutor(max_workers=8) as pool:
            return {cid: d for cid, d in pool.map(one, ids) if d is not None}

    def address(self, container_id: str) -> str | None:
        """The container's IP address on its network (where probes reach it)."""
        try:
            with calling(f"inspecting {container_id[:12]}"):
                info = self._engine.calls.inspect_container(container_id)
        except NotFound:
            return None
        networks = (info.get("NetworkSettings") or {}).get("Networks") or {}
        for network in networks.values():
            if network.get("IPAddress"):
                return str(network["IPAddress"])
        return None

    def runtimes(self) -> frozenset[str]:
        """The OCI runtimes the daemon offers (``docker info`` → Runtimes)."""
        with calling("reading daemon info"):
            return frozenset((self._engine.calls.info().get("Runtimes") or {}).keys())

    def engine(self) -> EngineInfo:
        """The engine's version, API version, runtimes and default runtime (two calls)."""
        with calling("reading the engine version"):
            version = self._engine.calls.version()
            info = self._engine.calls.info()
        return EngineInfo(
            version=str(version.get("Version") or "unknown"),
            api_version=str(version.get("ApiVersion") or "unknown"),
            runtimes=tuple(sorted((info.get("Runtimes") or {}).keys())),
            default_runtime=str(info.get("DefaultRuntime") or "runc"),
        )


def _row(row: dict[str, Any]) -> ObservedContainer:
    found = state(row.get("State"))
    exit_code = None
    if found is State.EXITED:
        match = _EXIT_CODE.match(row.get("Status") or "")
        exit_code = int(match.group(1)) if match else None
    names = row.get("Names") or ["/"]
    return ObservedContainer(
        id=ContainerId(row["Id"]),
        name=names[0].lstrip("/"),
        labels=row.get("Labels") or {},
        state=found,
        created=float(row.get("Created") or 0),
        exit_code=exit_code,
        image_id=str(row.get("ImageID") or ""),
        ports=tuple(
            (p.get("IP") or "", int(p["PublicPort"]), p.get("Type") or "tcp")
            for p in row.get("Ports") or ()
            if p.get("PublicPort")
        ),
    )


__all__ = ["INSPECT_NAMES_MAX", "Observer", "state"]
