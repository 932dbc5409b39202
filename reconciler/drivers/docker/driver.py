"""The Docker driver: observes containers and performs primitive operations. Does I/O.

The only module that imports ``docker``, and for a ``unix://`` daemon only
when it follows logs or events, execs, pulls or writes an archive: observing,
creating, starting, stopping and removing go through ``http``
(``http.client``), which spares ``apply`` and ``delete`` the SDK's import. It
makes no decisions: what to create, start or remove comes from the planner.
Every ``docker.errors``, ``requests`` and ``http`` failure is mapped
onto ``reconciler.core.errors`` in ``_mapped``, and transient ones are retried
here with jittered exponential backoff.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import socket
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from reconciler.core import labels as L
from reconciler.core.effective import (
    DesiredInfra,
    DesiredMember,
    DesiredVolume,
    UnitKey,
    non_root_problem,
    storage_problem,
)
from reconciler.core.errors import (
    DaemonUnavailable,
    DriverError,
    ExecFailed,
    ImageUnavailable,
    InvalidSpec,
    NameConflict,
    ObserveAgain,
    PermanentDriverError,
    TransientDriverError,
)
from reconciler.core.models import Kind
from reconciler.core.observed import ContainerId, Observation, ObservedContainer, State
from reconciler.core.ownership import Claim, Owner, claim_name
from reconciler.core.runtimes import DOCKER
from reconciler.drivers.base import ContainerEvent, EngineInfo
from reconciler.drivers.docker.http import (
    EngineCalls,
    EngineHTTPError,
    EngineUnreachable,
    UnixEngine,
)
from reconciler.drivers.docker.http import socket_path as unix_socket_path
from reconciler.drivers.docker.spec import infra_body, member_body
from reconciler.drivers.retrying import retried

if TYPE_CHECKING:
    import docker

DEFAULT_SOCKET = "unix:///var/run/docker.sock"  # the SDK's default too
API_VERSION = "1.41"  # Docker 20.10; pinned so no call is spent negotiating it
# Up to this many missing names are looked up by inspecting each (_held_by_others).
INSPECT_NAMES_MAX = 8
_EXIT_CODE = re.compile(r"^Exited \((-?\d+)\)")
_PERMANENT_500 = (
    "port is already allocated",
    "address already in use",
    "unknown runtime",
    "oci runtime create failed",
    "executable file not found",
    "no such file or directory",
    "invalid mount",
    "bind source path does not exist",
    "storage-opt",
)


class _Gone(DriverError):
    """The container or volume does not exist (any more)."""


def _by_status(status: int, text: str, what: str) -> DriverError:
    if status == 404:
        return _Gone(f"{what}: {text}")
    if status == 409 and "already in use" in text:
        return NameConflict(f"{what}: {text}")
    if status == 400:
        return InvalidSpec(f"{what}: {text}")
    if status >= 500 and not any(p in text.lower() for p in _PERMANENT_500):
        return TransientDriverError(f"{what}: {text}")
    return PermanentDriverError(f"{what}: {text}")


def _sdk_errors() -> tuple[type[Exception], ...]:
    """The SDK's and requests' base errors, once imported (until then none can be raised)."""
    found: list[type[Exception]] = []
    if (errors := sys.modules.get("docker.errors")) is not None:
        found.append(errors.DockerException)
    if (exceptions := sys.modules.get("requests.exceptions")) is not None:
        found.append(exceptions.RequestException)
    return tuple(found)


def _mapped(exc: Exception, what: str) -> DriverError:
    """The one place engine errors become reconciler errors, most specific first."""
    if isinstance(exc, EngineHTTPError):
        if exc.image_missing:
            return ImageUnavailable(f"{what}: {exc.explanation}")
        return _by_status(exc.status, exc.explanation, what)
    if isinstance(exc, EngineUnreachable):
        return DaemonUnavailable(f"{what}: the Docker daemon does not answer ({exc})")
    import docker.errors  # an SDK error: the SDK is imported already
    import requests.exceptions

    if isinstance(exc, docker.errors.ImageNotFound):
        return ImageUnavailable(f"{what}: {exc.explanation}")
    if isinstance(exc, docker.errors.NotFound):
        return _Gone(f"{what}: {exc.explanation}")
    if isinstance(exc, docker.errors.APIError):
        return _by_status(exc.status_code or 0, str(exc.explanation or exc), what)
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return DaemonUnavailable(f"{what}: the Docker daemon does not answer ({exc})")
    if isinstance(exc, docker.errors.DockerException):
        return DaemonUnavailable(f"{what}: {exc}")
    return DriverError(f"{what}: {exc}")


@contextmanager
def _engine(what: str) -> Iterator[None]:
    try:
        yield
    except (EngineHTTPError, EngineUnreachable) as exc:
        raise _mapped(exc, what) from exc
    except _sdk_errors() as exc:
        raise _mapped(exc, what) from exc


@contextmanager
def _gone_means_observe_again() -> Iterator[None]:
    try:
        yield
    except _Gone as exc:
        raise ObserveAgain(f"{exc} (removed meanwhile by another process)") from exc


_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _directory_tar(name: str, group: int) -> bytes:
    """A tar of one directory entry: owner root, ``group``, mode 2777 (setgid)."""
    entry = tarfile.TarInfo(name)
    entry.type = tarfile.DIRTYPE
    entry.mode = 0o2777
    entry.uid, entry.gid = 0, group
    entry.mtime = int(time.time())
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.addfile(entry)
    return buffer.getvalue()


def _timestamp(text: str | None) -> float | None:
    """Docker's RFC 3339 time (nanoseconds and all) to unix seconds; None for the zero time."""
    match = _RFC3339.match(text or "")
    if not match or text is None or text.startswith("0001-"):
        return None
    seconds, fraction, zone = match.groups()
    stamp = datetime.fromisoformat(seconds + ("+00:00" if zone == "Z" else zone))
    return stamp.timestamp() + (float(fraction) if fraction else 0.0)


class DockerLogStream:
    """Lines of a container's output as Docker sends them; ``close()`` ends a follow."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except _sdk_errors() as exc:
            raise _mapped(exc, "reading logs") from exc
        except (AttributeError, ValueError, OSError):  # closed under us: the end of the stream
            return

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.close()


def _copy_in(source: BinaryIO, sock: socket.socket) -> None:
    """Copy ``source`` into an exec's stdin until it ends, then half-close the socket
    so the command reads end of file (``cat`` returns)."""
    read = getattr(source, "read1", source.read)
    with contextlib.suppress(OSError, ValueError):
        while chunk := read(65536):
            sock.sendall(chunk)
        sock.shutdown(socket.SHUT_WR)


class DockerEvents:
    """An iterator of events over Docker's stream; ``close()`` unblocks it from another thread."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[ContainerEvent]:
        try:
            for raw in self._stream:
                actor = raw.get("Actor") or {}
                attributes = actor.get("Attributes") or {}
                observed = ObservedContainer(
                    ContainerId(actor.get("ID", "")), "", attributes, State.DEAD, 0.0
                )
                action = str(raw.get("Action") or raw.get("status") or "").split(":")[0]
                yield ContainerEvent(observed.unit_key, action, observed.role, observed.id)
        except _sdk_errors() as exc:
            raise _mapped(exc, "following events") from exc
        except (AttributeError, ValueError, OSError) as exc:  # the stream was closed under us
            raise DaemonUnavailable(f"following events: the stream ended ({exc})") from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.close()


def _run_key(settings: Mapping[str, Any] | None) -> tuple[str, ...]:
    """One run of a container, as list and inspect both show it: its network endpoints' ids.

    Docker makes new endpoints at every start (bridge, host and none alike;
    measured on 20.10 after restart, stop/start and kill/start) and shows
    none while the container is stopped; () when there is nothing to go by.
    """
    networks = (settings or {}).get("Networks") or {}
    return tuple(sorted(e for n in networks.values() if (e := (n or {}).get("EndpointID"))))


def _run_label(run: tuple[str, ...]) -> str:
    """The value of ``L.INFRA_RUN`` for a run ("" for none): short, fixed length."""
    return hashlib.sha256(",".join(run).encode()).hexdigest()[:16] if run else ""


@dataclass(slots=True)
class _Proof:
    """Members seen to start after an infra's run ``run`` began, with the start times read."""

    run: tuple[str, ...]
    infra_started: float
    members: dict[str, float]


class DockerDriver:
    """Talks to one Docker daemon for one reconciler instance (a ``base.Driver``)."""

    capabilities = DOCKER  # both modes; the runtime profiles measured under Docker

    def __init__(
        self,
        instance: str,
        base_url: str | None = None,
        timeout: int = 120,
        direct_http: bool = True,
    ) -> None:
        self.instance = instance
        self._base_url = base_url
        self._timeout = timeout
        self._api: docker.APIClient | None = None
        # A unix:// daemon's common calls need no SDK (http.py); tcp:// and TLS use it.
        path = unix_socket_path(base_url or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET)
        self._http = UnixEngine(path, API_VERSION, timeout) if path and direct_http else None
        self._pull_locks: dict[str, threading.Lock] = {}
        self._pulled: set[str] = set()
        self._storage_info: tuple[str, str] | None = None
        self._lock = threading.Lock()
        self._api_lock = threading.Lock()
        self._proofs: dict[str, _Proof] = {}  # by infra id: see _with_start_times
        self._infra_runs: dict[str, str] = {}  # by infra id: see _infra_run

    @property
    def api(self) -> docker.APIClient:
        """The SDK's client, imported and made when first needed (acting, logs, exec, events)."""
        with self._api_lock:
            if self._api is None:
                import docker
                import docker.utils

                kwargs: dict[str, Any] = dict(docker.utils.kwargs_from_env())
                if self._base_url:
                    kwargs["base_url"] = self._base_url
                kwargs.pop("version", None)
                self._api = docker.APIClient(version=API_VERSION, timeout=self._timeout, **kwargs)
            return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()

    @property
    def _calls(self) -> EngineCalls:
        """Who makes the common calls: ``http`` for a unix:// daemon, else the SDK."""
        if self._http is not None:
            return self._http
        return self.api

    # -- observing ---------------------------------------------------------------

    @retried
    def observe(
        self,
        desired_names: Collection[str] = (),
        runtimes: Collection[str] = (),
        unit: UnitKey | None = None,
        start_times: bool = True,
    ) -> Observation:
        """This instance's containers in one list call, plus what the plan needs more.

        Start times are not in Docker's list output. They tell a workload left
        in a restarted infra's namespaces from a current one, so the running
        members of sandboxes whose infra runs need them, unless a proof from
        an earlier observation still holds (``_with_start_times``); the rest
        are read by inspecting them and their infra (concurrently).
        Desired names missing from it are looked up (``_held_by_others``) to find
        those held by containers this instance does not manage; ``docker info`` is
        read only when a runtime other than runc is asked for. ``unit`` narrows
        the list to one unit's containers (the control loop's per-unit pass).

        Raises DaemonUnavailable / TransientDriverError.
        """
        wanted = [f"{L.MANAGED_BY}={self.instance}", *_unit_labels(unit)]
        with _engine("listing containers"):
            rows = self._calls.containers(all=True, filters={"label": wanted})
        containers = [self._row(r) for r in rows]
        if start_times:
            runs = {r["Id"]: _run_key(r.get("NetworkSettings")) for r in rows}
            containers = self._with_start_times(containers, runs, whole=unit is None)
        names = {c.name for c in containers}
        missing = [n for n in desired_names if n not in names]
        foreign = self._held_by_others(missing) if missing else frozenset()
        offered = self.runtimes() if set(runtimes) - {"runc"} else None
        claims, volumes = self._volumes(unit)
        return Observation(tuple(containers), foreign, offered, claims, volumes)

    def _held_by_others(self, missing: list[str]) -> frozenset[str]:
        """Which of ``missing`` a container outside this instance holds.

        A few names are inspected one by one: dockerd finds a name in its index.
        More are matched here against one list of every container: a list
        filtered by name would make dockerd match each name's regexp against
        every container it holds (3 names: ~300 ms at 1,500 containers, where
        the whole list costs it ~100 ms and an inspect under 1 ms).
        """
        if len(missing) > INSPECT_NAMES_MAX:
            wanted = set(missing)
            with _engine("listing containers"):
                everything = self._calls.containers(all=True)
            return frozenset(
                name
                for r in everything
                if (r.get("Labels") or {}).get(L.MANAGED_BY) != self.instance
                for name in (n.lstrip("/") for n in r.get("Names") or [])
                if name in wanted
            )
        held: set[str] = set()
        for name in missing:
            try:
                with _engine(f"looking up the name {name}"):
                    info = self._calls.inspect_container(name)
            except _Gone:
                continue
            # dockerd also resolves an id prefix: only a container of that name holds it.
            labels = (info.get("Config") or {}).get("Labels") or {}
            if info.get("Name") == f"/{name}" and labels.get(L.MANAGED_BY) != self.instance:
                held.add(name)
        return frozenset(held)

    def _volumes(
        self, unit: UnitKey | None
    ) -> tuple[tuple[tuple[UnitKey, Claim], ...], tuple[tuple[UnitKey, Mapping[str, str]], ...]]:
        """One volume list call: owners recorded apart from containers (ownership.py),
        and the data volumes of each unit (a crash can leave one behind its unit)."""
        wanted = [f"{L.MANAGED_BY}={self.instance}", *_unit_labels(unit)]
        with _engine("listing volumes"):
            found = self._calls.volumes(filters={"label": wanted}).get("Volumes") or []
        claims = []
        volumes: list[tuple[UnitKey, Mapping[str, str]]] = []
        for volume in found:
            labels = volume.get("Labels") or {}
            try:
                key = UnitKey(Kind(labels[L.KIND]), labels[L.NAMESPACE], labels[L.SANDBOX])
            except (KeyError, ValueError):
                continue  # not one of ours in full: left alone
            if labels.get(L.CLAIM) == "true":
                owner = Owner.from_labels(labels)
                if owner is not None:
                    created = _timestamp(volume.get("CreatedAt")) or 0.0
                    claims.append((key, Claim(volume["Name"], owner, created)))
            elif L.VOLUME in labels:
                volumes.append((key, labels))
        return tuple(claims), tuple(volumes)

    @staticmethod
    def _row(row: dict[str, Any]) -> ObservedContainer:
        state = State(row.get("State") or "dead")
        exit_code = None
        if state is State.EXITED:
            match = _EXIT_CODE.match(row.get("Status") or "")
            exit_code = int(match.group(1)) if match else None
        names = row.get("Names") or ["/"]
        return ObservedContainer(
            id=ContainerId(row["Id"]),
            name=names[0].lstrip("/"),
            labels=row.get("Labels") or {},
            state=state,
            created=float(row.get("Created") or 0),
            exit_code=exit_code,
            ports=tuple(
                (p.get("IP") or "", int(p["PublicPort"]), p.get("Type") or "tcp")
                for p in row.get("Ports") or ()
                if p.get("PublicPort")
            ),
        )

    def _with_start_times(
        self,
        containers: list[ObservedContainer],
        runs: Mapping[str, tuple[str, ...]],
        whole: bool,
    ) -> list[ObservedContainer]:
        """Start times for the running members of running sandboxes, and their infras.

        Docker gives a container new network endpoints at every start (bridge,
        host and none alike) and shows their ids in the list (``_run_key``).
        So a member needs no inspect when the list proves it started after its
        infra's current run began:
        - its ``L.INFRA_RUN`` label, written when it was created, names the
          infra's current run: the infra has not restarted since then, and the
          member can only have started after its own creation (its start
          times stay None: not needed);
        - or an earlier observation by this driver inspected it starting after
          the infra's start, and the infra is still in that run (a member
          rejoined in place, or started again after a daemon restart, keeps a
          label naming a run that is over). It keeps the start times read then.
        The rest, and their infras, are inspected. So a steady state costs one
        list call; ``whole``: the list covered every unit, so proofs of
        containers gone are dropped.
        """
        infras = {c.unit_key: c for c in containers if c.role == L.ROLE_INFRA and c.state.alive}
        members = [
            c
            for c in containers
            if c.state.alive and c.unit_key in infras and c.role not in (L.ROLE_INFRA, L.ROLE_INIT)
        ]
        started: dict[str, float | None] = {}
        unproven: list[ObservedContainer] = []
        with self._lock:
            if whole:  # forget infras and members gone
                alive = {c.id for c in containers if c.state.alive}
                self._proofs = {k: v for k, v in self._proofs.items() if k in alive}
                for kept in self._proofs.values():
                    kept.members = {k: v for k, v in kept.members.items() if k in alive}
            for member in members:
                infra = infras[member.unit_key]
                label = member.labels.get(L.INFRA_RUN)
                if label and label == _run_label(runs.get(infra.id, ())):
                    continue  # created in the infra's current run: started after it
                proof = self._proofs.get(infra.id)
                if (
                    proof is not None
                    and proof.run == runs.get(infra.id)
                    and member.id in proof.members
                ):
                    started[infra.id] = proof.infra_started
                    started[member.id] = proof.members[member.id]
                else:
                    unproven.append(member)
        if unproven:
            needed: dict[str, ObservedContainer] = {}
            for member in unproven:
                needed[member.id] = member
                needed[infras[member.unit_key].id] = infras[member.unit_key]
            with ThreadPoolExecutor(max_workers=8) as pool:
                found = dict(zip(needed, pool.map(self._started_at, needed.values()), strict=True))
            started |= {cid: at for cid, (at, _) in found.items()}
            self._prove(unproven, infras, found)
        return [replace(c, started_at=started[c.id]) if c.id in started else c for c in containers]

    def _prove(
        self,
        members: list[ObservedContainer],
        infras: Mapping[UnitKey | None, ObservedContainer],
        found: Mapping[str, tuple[float | None, tuple[str, ...]]],
    ) -> None:
        """Remember the members inspected to have started after their infra's current run began.

        The infra's run is read from its own inspect, with its start time, so
        the two belong together even if it restarted after the list call.
        """
        with self._lock:
            for member in members:
                infra = infras[member.unit_key]
                infra_started, run = found[infra.id]
                member_started, _ = found[member.id]
                if infra_started is None or member_started is None or not run:
                    continue
                if member_started < infra_started:
                    continue  # stale namespaces: the plan rejoins it
                proof = self._proofs.get(infra.id)
                if proof is None or proof.run != run:
                    proof = self._proofs[infra.id] = _Proof(run, infra_started, {})
                proof.members[member.id] = member_started

    def _started_at(self, container: ObservedContainer) -> tuple[float | None, tuple[str, ...]]:
        """When the container's current run began, and that run's endpoints (``_run_key``)."""
        try:
            with _engine(f"inspecting {container.name}"):
                info = self._calls.inspect_container(container.id)
        except _Gone:
            return None, ()
        started = _timestamp(info.get("State", {}).get("StartedAt"))
        return started, _run_key(info.get("NetworkSettings"))

    def inspect(self, ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """Full inspect data for ``ids`` (for status display, never for planning)."""

        def one(container_id: str) -> tuple[str, dict[str, Any] | None]:
            try:
                with _engine(f"inspecting {container_id[:12]}"):
                    return container_id, self._calls.inspect_container(container_id)
            except _Gone:
                return container_id, None

        with ThreadPoolExecutor(max_workers=8) as pool:
            return {cid: info for cid, info in pool.map(one, ids) if info is not None}

    def events(self) -> DockerEvents:
        """This instance's container events, as they happen; ``close()`` ends the stream.

        Raises DaemonUnavailable when the daemon does not answer.
        """
        filters = {"type": ["container"], "label": [f"{L.MANAGED_BY}={self.instance}"]}
        with _engine("following events"):
            stream = self.api.events(decode=True, filters=filters)
        return DockerEvents(stream)

    def exec(self, container_id: str, command: list[str], timeout: float) -> int:
        """Run ``command`` in the container (exec probes, hooks): its exit code.

        Raises TimeoutError when it outlives ``timeout``; DriverError when the exec
        cannot be made (the container is gone: _Gone; not running: PermanentDriverError);
        ExecFailed when the engine fails it once made (the container stopped meanwhile,
        the daemon failed): what it is, in its message, not a timeout.
        """
        what = f"exec in {container_id[:12]}"
        with _engine(what):
            run = self.api.exec_create(container_id, command)
        result: list[int | ExecFailed] = []

        def wait() -> None:
            try:
                with _engine(what):
                    self.api.exec_start(run["Id"])
                    code = self.api.exec_inspect(run["Id"]).get("ExitCode")
                result.append(int(code or 0))
            except DriverError as exc:  # handed to the caller's thread
                failed = ExecFailed(str(exc))
                failed.__cause__ = exc
                result.append(failed)

        worker = threading.Thread(target=wait, daemon=True)
        worker.start()
        worker.join(timeout)
        if not result:
            raise TimeoutError(f"{command} did not finish within {timeout} s")
        if isinstance(result[0], ExecFailed):
            raise result[0]
        return result[0]

    def address(self, container_id: str) -> str | None:
        """The container's IP address on its network (where probes reach it)."""
        try:
            with _engine(f"inspecting {container_id[:12]}"):
                info = self._calls.inspect_container(container_id)
        except _Gone:
            return None
        networks = (info.get("NetworkSettings") or {}).get("Networks") or {}
        for network in networks.values():
            if network.get("IPAddress"):
                return str(network["IPAddress"])
        return None

    def engine(self) -> EngineInfo:
        """The engine's version, API version, runtimes and default runtime (two calls).

        Raises DaemonUnavailable when it does not answer.
        """
        with _engine("reading the engine version"):
            version = self._calls.version()
            info = self._calls.info()
        return EngineInfo(
            version=str(version.get("Version") or "unknown"),
            api_version=str(version.get("ApiVersion") or "unknown"),
            runtimes=tuple(sorted((info.get("Runtimes") or {}).keys())),
            default_runtime=str(info.get("DefaultRuntime") or "runc"),
        )

    @retried
    def runtimes(self) -> frozenset[str]:
        """The OCI runtimes the daemon offers (``docker info`` → Runtimes)."""
        with _engine("reading daemon info"):
            return frozenset((self._calls.info().get("Runtimes") or {}).keys())

    # -- what people ask of a container: logs, exec (reconciler logs / exec) -------

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
        """The container's output (stdout and stderr merged, in order), as Docker keeps it.

        Docker keeps one log per container across restarts in place, so ``until``
        the current run's start gives what earlier runs wrote. With ``follow`` the
        stream ends when the container stops, or when ``close()`` is called.
        Raises DriverError (container gone, daemon down).
        """
        with _engine(f"reading the logs of {container_id[:12]}"):
            stream = self.api.logs(
                container_id,
                stream=True,
                follow=follow,
                tail="all" if tail is None else tail,
                since=since,
                until=until,
                timestamps=timestamps,
            )
        return DockerLogStream(stream)

    def run_times(self, container_id: str) -> tuple[float | None, float | None]:
        """(StartedAt, FinishedAt) of the container's latest run; None where it has none.

        Raises DriverError when the container is gone.
        """
        with _engine(f"inspecting {container_id[:12]}"):
            state = self._calls.inspect_container(container_id).get("State") or {}
        return _timestamp(state.get("StartedAt")), _timestamp(state.get("FinishedAt"))

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
        """Run ``command`` in the container with its output copied to ``out`` / ``err``
        (and ``stdin`` copied in, then closed, when given): its exit code, as
        ``docker exec`` gives it (126 cannot run, 127 not found).

        ``size`` is the terminal's (rows, columns) under ``tty``.
        Raises DriverError when the container is gone or not running.
        """
        with _engine(f"exec in {container_id[:12]}"):
            run = self.api.exec_create(
                container_id, command, stdin=stdin is not None, tty=tty, stdout=True, stderr=True
            )
            sock = self.api.exec_start(run["Id"], tty=tty, socket=True)
            if tty and size is not None:
                with contextlib.suppress(*_sdk_errors()):
                    self.api.exec_resize(run["Id"], height=size[0], width=size[1])
        import docker.utils.socket

        raw = getattr(sock, "_sock", sock)
        if stdin is not None:
            threading.Thread(target=_copy_in, args=(stdin, raw), daemon=True).start()
        try:
            for stream, data in docker.utils.socket.frames_iter(raw, tty):
                target = err if stream == docker.utils.socket.STDERR else out
                target.write(data)
                target.flush()
        except (OSError, docker.errors.DockerException) as exc:
            raise DriverError(f"exec in {container_id[:12]}: {exc}") from exc
        finally:
            with contextlib.suppress(OSError):
                sock.close()
        with _engine(f"exec in {container_id[:12]}"):
            code = self.api.exec_inspect(run["Id"]).get("ExitCode")
        return int(code) if code is not None else 1

    # -- acting ------------------------------------------------------------------

    def create_infra(self, infra: DesiredInfra) -> ContainerId:
        """Create and start the infra. Raises ImageUnavailable, NameConflict, DriverError."""
        container_id = self._create(infra_body(infra), infra.docker_name, "IfNotPresent")
        self._start_new(container_id)
        return container_id

    def create_member(self, member: DesiredMember, infra_id: str | None) -> ContainerId:
        """Create and start a workload joined to ``infra_id``. Raises as ``create_infra``,
        and InvalidSpec when runAsNonRoot cannot hold (checked before anything is created)."""
        if member.spec.storage_size is not None:
            problem = storage_problem(member.name, *self._storage())
            if problem is not None:
                raise InvalidSpec(problem)
        if member.run_as_non_root:
            image_user = "" if member.spec.user else self._image_user(member)
            problem = non_root_problem(member.name, member.spec.user, image_user)
            if problem is not None:
                raise InvalidSpec(problem)
        body = member_body(member, infra_id)
        if infra_id is not None and member.spec.joins:
            run = self._infra_run(infra_id)
            if run:
                body["Labels"][L.INFRA_RUN] = run
        container_id = self._create(body, member.docker_name, member.pull_policy)
        self._start_new(container_id)
        return container_id

    def _infra_run(self, infra_id: str) -> str:
        """The label ``L.INFRA_RUN`` for a member joining ``infra_id`` now ("" if unknown).

        Read once per infra by this driver: if the infra restarts after that,
        a later member names a run already over, which only costs it inspects.
        """
        with self._lock:
            known = self._infra_runs.get(infra_id)
        if known is None:
            try:
                with _engine(f"inspecting infra {infra_id[:12]}"):
                    info = self._calls.inspect_container(infra_id)
            except DriverError:
                # Only a shortcut is lost: the member is inspected when observed. If the
                # infra is gone, creating the member fails on its own, with its own message.
                return ""
            known = _run_label(_run_key(info.get("NetworkSettings")))
            with self._lock:
                self._infra_runs[infra_id] = known
        return known

    def _storage(self) -> tuple[str, str]:
        """The daemon's storage driver and its backing file system (read once)."""
        if self._storage_info is None:
            with _engine("reading daemon info"):
                info = self._calls.info()
            status = dict(info.get("DriverStatus") or [])
            self._storage_info = (
                str(info.get("Driver") or ""),
                str(status.get("Backing Filesystem") or ""),
            )
        return self._storage_info

    def _image_user(self, member: DesiredMember) -> str:
        """The image's Config.User (pulled first, as creating it would)."""
        image = member.spec.image
        if member.pull_policy == "Always":
            self._pull(image, once=True)
        elif not self._image_present(image):
            if member.pull_policy == "Never":
                raise ImageUnavailable(f"image {image} is not present and imagePullPolicy is Never")
            self._pull(image, once=False)
        with _engine(f"inspecting image {image}"):
            info = self._calls.inspect_image(image)
        return str((info.get("Config") or {}).get("User") or "")

    def _start_new(self, container_id: ContainerId) -> None:
        """Start what was just created; if the daemon refuses (a port taken, a bad mount),
        remove it again, so a failed attempt leaves nothing half-made behind."""
        try:
            self.start(container_id)
        except PermanentDriverError:
            with contextlib.suppress(DriverError):
                self.remove(container_id, 0)
            raise

    def _create(self, body: dict[str, Any], name: str, pull_policy: str) -> ContainerId:
        image = body["Image"]
        if pull_policy == "Always":
            self._pull(image, once=True)
        try:
            return self._create_once(body, name)
        except ImageUnavailable:
            if pull_policy == "Never":
                raise ImageUnavailable(
                    f"image {image} is not present and imagePullPolicy is Never"
                ) from None
        self._pull(image, once=False)
        return self._create_once(body, name)

    @retried
    def _create_once(self, body: dict[str, Any], name: str) -> ContainerId:
        """Create; a name taken by this instance, or a joined infra gone, means observe again.

        Names are deterministic, so two processes converging the same unit at
        once collide here (409): the second learns the first was faster.
        """
        try:
            with _engine(f"creating {name}"):
                return ContainerId(self._calls.create_container_from_config(body, name)["Id"])
        except NameConflict:
            if self._managed_name(name):
                raise ObserveAgain(
                    f"creating {name}: this instance already has a container of that name "
                    "(made meanwhile by another process)"
                ) from None
            raise
        except _Gone as exc:  # the infra it joins was removed meanwhile
            raise ObserveAgain(f"creating {name}: {exc}") from exc

    def _managed_name(self, name: str) -> bool:
        try:
            with _engine(f"inspecting {name}"):
                info = self._calls.inspect_container(name)
        except _Gone:
            return True  # taken a moment ago, gone now: observing again sorts it out
        labels = (info.get("Config") or {}).get("Labels") or {}
        return labels.get(L.MANAGED_BY) == self.instance

    def _pull(self, image: str, once: bool) -> None:
        with self._lock:
            lock = self._pull_locks.setdefault(image, threading.Lock())
        with lock:  # one pull per image at a time; parallel units wait for it
            if image in self._pulled and once:
                return
            if not once and self._image_present(image):
                return  # another unit pulled it meanwhile
            import docker.utils

            repository, tag = docker.utils.parse_repository_tag(image)
            try:
                with _engine(f"pulling {image}"):
                    for line in self.api.pull(
                        repository, tag=tag or "latest", stream=True, decode=True
                    ):
                        if isinstance(line, dict) and line.get("error"):
                            raise ImageUnavailable(f"pulling {image}: {line['error']}")
            except ImageUnavailable:
                raise
            except DriverError as exc:
                raise ImageUnavailable(
                    f"image {image} is not present locally and could not be pulled: {exc}"
                ) from exc
            self._pulled.add(image)

    def _image_present(self, image: str) -> bool:
        try:
            with _engine(f"inspecting image {image}"):
                self._calls.inspect_image(image)
        except _Gone:
            return False
        except ImageUnavailable:
            return False
        return True

    @retried
    def start(self, container_id: str) -> None:
        """Start a container (a running one stays as it is).

        Raises ObserveAgain when it is gone (removed meanwhile), DriverError.
        """
        with _gone_means_observe_again(), _engine(f"starting {container_id[:12]}"):
            self._calls.start(container_id)

    @retried
    def restart(self, container_id: str, grace_period: int) -> None:
        """Stop (SIGTERM, grace, SIGKILL) and start again in place: same id.

        Raises ObserveAgain when it is gone (removed meanwhile), DriverError.
        """
        with _gone_means_observe_again(), _engine(f"restarting {container_id[:12]}"):
            self._calls.restart(container_id, timeout=grace_period)

    @retried
    def stop(self, container_id: str, grace_period: int) -> None:
        """Stop (SIGTERM, grace, SIGKILL) and keep the container. Already gone is success."""
        try:
            with _engine(f"stopping {container_id[:12]}"):
                self._calls.stop(container_id, timeout=grace_period)
        except _Gone:
            return

    @retried
    def wait(self, container_id: str) -> int:
        """Block until the container exits; return its exit code. ObserveAgain when gone."""
        with _gone_means_observe_again(), _engine(f"waiting for {container_id[:12]}"):
            result = self._calls.wait(container_id, timeout=None)
        return int(result.get("StatusCode", -1))

    @retried
    def remove(self, container_id: str, grace_period: int) -> None:
        """Stop (SIGTERM, grace, SIGKILL) and remove. Already gone is success.

        Another process removing it at the same time (Docker answers 409
        "removal ... is already in progress") is success too, once it is gone.
        """
        try:
            with _engine(f"stopping {container_id[:12]}"):
                self._calls.stop(container_id, timeout=grace_period)
            with _engine(f"removing {container_id[:12]}"):
                self._calls.remove_container(container_id, force=True)
        except _Gone:
            return
        except PermanentDriverError as exc:
            if "already in progress" not in str(exc):
                raise
            try:
                with _engine(f"waiting for {container_id[:12]} to be removed"):
                    self._calls.wait(container_id, timeout=None, condition="removed")
            except _Gone:
                return

    @retried
    def ensure_volume(self, volume: DesiredVolume) -> None:
        """Create the named volume with its labels; an existing one is kept."""
        with _engine(f"creating volume {volume.docker_name}"):
            self._calls.create_volume(volume.docker_name, labels=dict(volume.labels))
        if volume.group is not None:
            self._own(volume, volume.group)

    def _own(self, volume: DesiredVolume, group: int) -> None:
        """Make the volume's root root:group, mode 2777, as kubelet does for an fsGroup.

        Docker has no volume option for it, so a throwaway container (never
        started) mounts the volume and the archive API writes one directory
        entry onto its mount point: extracting a directory over an existing one
        applies the entry's owner and mode. (The entry cannot be "." of the
        mount path itself: Docker skips "." when extracting.)
        """
        body = {
            "Image": volume.helper_image,
            "Entrypoint": ["true"],
            "Labels": {L.HELPER: self.instance},
            "HostConfig": {
                "Mounts": [
                    {
                        "Type": "volume",
                        "Source": volume.docker_name,
                        "Target": "/volume",
                        "VolumeOptions": {"NoCopy": True},
                    }
                ]
            },
        }
        name = f"{volume.docker_name}.fsgroup-{uuid.uuid4().hex[:8]}"
        helper = self._create(body, name, "IfNotPresent")
        try:
            with _engine(f"setting the group of volume {volume.docker_name}"):
                self.api.put_archive(helper, "/", _directory_tar("volume", group))
        finally:
            with contextlib.suppress(DriverError), _engine(f"removing {name}"):
                self._calls.remove_container(helper, force=True)

    @retried
    def record_owner(self, unit: UnitKey, owner: Owner) -> None:
        """Claim ``unit`` for ``owner`` (a labelled volume), then drop its older claims."""
        name = claim_name(self.instance, unit.kind.value, unit.namespace, unit.name, owner)
        labels = {
            L.MANAGED_BY: self.instance,
            L.KIND: unit.kind.value,
            L.NAMESPACE: unit.namespace,
            L.SANDBOX: unit.name,
            L.CLAIM: "true",
        } | owner.labels()
        with _engine(f"recording the owner of {unit}"):
            self._calls.create_volume(name, labels=labels)
        filters = {
            "label": [f"{L.MANAGED_BY}={self.instance}", f"{L.CLAIM}=true", *_unit_labels(unit)]
        }
        with _engine("listing claims"):
            volumes = self._calls.volumes(filters=filters).get("Volumes") or []
        for volume in volumes:
            if volume["Name"] != name:
                with contextlib.suppress(_Gone), _engine(f"removing claim {volume['Name']}"):
                    self._calls.remove_volume(volume["Name"])

    @retried
    def remove_volumes(self, unit: UnitKey) -> None:
        """Remove the volumes this instance made for ``unit``. Already gone is success."""
        filters = {"label": [f"{L.MANAGED_BY}={self.instance}", *_unit_labels(unit)]}
        with _engine("listing volumes"):
            volumes = self._calls.volumes(filters=filters).get("Volumes") or []
        for volume in volumes:
            try:
                with _engine(f"removing volume {volume['Name']}"):
                    self._calls.remove_volume(volume["Name"])
            except _Gone:
                continue


def _unit_labels(unit: UnitKey | None) -> list[str]:
    """Label filters that narrow a list call to one unit's objects."""
    if unit is None:
        return []
    return [
        f"{L.KIND}={unit.kind.value}",
        f"{L.NAMESPACE}={unit.namespace}",
        f"{L.SANDBOX}={unit.name}",
    ]
