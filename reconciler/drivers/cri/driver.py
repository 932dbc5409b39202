"""The CRI driver: a Sandbox is the runtime's pod sandbox. Does I/O.

Talks to a CRI runtime (containerd's CRI plugin) through ``client``; the
request bodies are built in ``spec``. It decides nothing: the planner does,
told by ``CRI.in_place`` that under CRI a container is never restarted in place
(a restart is a new container, its next ``attempt``) and a dead pod is rebuilt
(there is no rejoin). What it maps:

- the infra of a Sandbox is the pod sandbox (``RunPodSandbox`` with the runtime
  handler its ``runtime`` names; its id stands where Docker's infra id does);
  a ``kind: Container`` runs as a one-container pod that is not reported as an
  infra (it comes and goes with its container);
- ownership, spec hash and source are CRI labels (the label keys of
  core/labels.py), so observing is one ``ListPodSandbox`` and one
  ``ListContainers`` with a label selector, plus a ``ContainerStatus`` per exited
  container (the list call has no exit code);
- events: CRI runtimes before 1.26 have no event stream (containerd 1.6 lacks
  ``GetContainerEvents``), so ``events()`` relists every second, as kubelet's PLEG
  does, and yields what changed;
- volumes (emptyDir) are host directories and owner claims small JSON files,
  both under ``state_dir``; container logs are the CRI log files under
  ``state_dir/logs``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from reconciler.core import labels as L
from reconciler.core.effective import (
    DesiredInfra,
    DesiredMember,
    DesiredVolume,
    UnitKey,
    non_root_problem,
)
from reconciler.core.errors import (
    DriverError,
    ExecFailed,
    ImageUnavailable,
    InvalidSpec,
    ObserveAgain,
    PermanentDriverError,
    TransientDriverError,
)
from reconciler.core.models import Kind
from reconciler.core.observed import ContainerId, Observation, ObservedContainer, State
from reconciler.core.ownership import Claim, Owner, claim_name
from reconciler.core.runtimes import CRI
from reconciler.drivers.base import ContainerEvent, EngineInfo
from reconciler.drivers.cri.client import DEFAULT_ENDPOINT, CriClient, Gone, pb
from reconciler.drivers.cri.spec import (
    IMPLICIT,
    LOG_DIRECTORY,
    PodShape,
    bare_shape,
    container_config,
    infra_shape,
    ports_of,
    sandbox_config,
    sandbox_config_of,
)

DEFAULT_STATE_DIR = "/var/lib/reconciler-cri"
ONE_CONTAINER_POD = "one-container-pod"  # the mode `get` shows for a kind: Container
POLL_SECONDS = 1.0  # the events relist period (kubelet's PLEG relists every second)
ORPHAN_SECONDS = 60.0  # a one-container pod this old without its container is left over
_WAIT_POLL = 0.2

_CONTAINER_STATES = {
    pb.CONTAINER_CREATED: State.CREATED,
    pb.CONTAINER_RUNNING: State.RUNNING,
    pb.CONTAINER_EXITED: State.EXITED,
    pb.CONTAINER_UNKNOWN: State.DEAD,
}


def _seconds(nanoseconds: int) -> float | None:
    return nanoseconds / 1e9 if nanoseconds > 0 else None


def _rfc3339(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _selector(instance: str, unit: UnitKey | None) -> dict[str, str]:
    wanted = {L.MANAGED_BY: instance}
    if unit is not None:
        wanted |= {L.KIND: unit.kind.value, L.NAMESPACE: unit.namespace, L.SANDBOX: unit.name}
    return wanted


def _unit_of(labels: Mapping[str, str]) -> UnitKey | None:
    try:
        return UnitKey(Kind(labels[L.KIND]), labels[L.NAMESPACE], labels[L.SANDBOX])
    except (KeyError, ValueError):
        return None


class CriEvents:
    """Events made by relisting every ``period`` seconds (kubelet's PLEG): a container or
    pod that appeared, started, exited or went is an event. ``close()`` ends it."""

    def __init__(self, driver: CriDriver, period: float = POLL_SECONDS) -> None:
        self._driver = driver
        self._period = period
        self._closed = threading.Event()

    def close(self) -> None:
        self._closed.set()

    def __iter__(self) -> Iterator[ContainerEvent]:
        before = self._driver.snapshot()
        while not self._closed.wait(self._period):
            now = self._driver.snapshot()
            for cid, (state, labels) in now.items():
                old = before.get(cid)
                if old is not None and old[0] == state:
                    continue
                action = {State.RUNNING: "start", State.CREATED: "create"}.get(state, "die")
                yield ContainerEvent(_unit_of(labels), action, L.role_of(labels), cid)
            for cid, (_, labels) in before.items():
                if cid not in now:
                    yield ContainerEvent(_unit_of(labels), "destroy", L.role_of(labels), cid)
            before = now


class CriLogStream:
    """A container's CRI log file (``TIMESTAMP STREAM P|F TEXT`` lines) as its output;
    with ``follow`` it waits for more until the container exits or ``close()``."""

    def __init__(
        self,
        path: Path,
        running: Any,
        *,
        follow: bool,
        tail: int | None,
        since: float | None,
        until: float | None,
        timestamps: bool,
    ) -> None:
        self._path = path
        self._running = running
        self._follow = follow
        self._tail = tail
        self._since = since
        self._until = until
        self._timestamps = timestamps
        self._closed = threading.Event()

    def close(self) -> None:
        self._closed.set()

    def _line(self, raw: bytes) -> bytes | None:
        stamp, _, rest = raw.partition(b" ")
        _stream, _, rest = rest.partition(b" ")
        tag, _, text = rest.partition(b" ")
        if self._since is not None or self._until is not None:
            try:
                when = datetime.fromisoformat(stamp.decode()[:26].rstrip("Z") + "+00:00")
            except ValueError:
                when = None
            if when is not None:
                seconds = when.timestamp()
                if self._since is not None and seconds < self._since:
                    return None
                if self._until is not None and seconds > self._until:
                    return None
        text = text.rstrip(b"\n") + (b"" if tag == b"P" else b"\n")
        return (stamp + b" " + text) if self._timestamps else text

    def __iter__(self) -> Iterator[bytes]:
        try:
            handle = self._path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            lines = [x for raw in handle.readlines() if (x := self._line(raw)) is not None]
            if self._tail is not None:
                lines = lines[-self._tail :] if self._tail > 0 else []
            yield from lines
            while self._follow and not self._closed.is_set():
                raw = handle.readline()
                if raw.endswith(b"\n"):
                    line = self._line(raw)
                    if line is not None:
                        yield line
                    continue
                handle.seek(-len(raw), os.SEEK_CUR)
                if not self._running():
                    return
                self._closed.wait(0.25)


class CriDriver:
    """Talks to one CRI runtime for one reconciler instance (a ``base.Driver``)."""

    capabilities = CRI  # container-in-sandbox only; the pod profiles of runc, runsc, kata

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
        self._lock = threading.Lock()
        self._pods: dict[str, pb.PodSandboxConfig] = {}  # sandbox id -> its config (seen)
        self._implicit: set[str] = set()  # sandbox ids of kind: Container pods
        self._sandboxes: set[str] = set()  # sandbox ids seen (ids name pods and containers)
        self._pod_of: dict[str, str] = {}  # container id -> sandbox id
        self._attempts: dict[tuple[str, str], int] = {}  # (sandbox, name) -> last attempt

    def close(self) -> None:
        self.cri.close()

    @property
    def volumes_dir(self) -> Path:
        return self.state / "volumes"

    @property
    def claims_dir(self) -> Path:
        return self.state / "claims"

    @property
    def logs_dir(self) -> Path:
        return self.state / "logs"

    # -- observing ---------------------------------------------------------------

    def observe(
        self,
        desired_names: Collection[str] = (),
        runtimes: Collection[str] = (),
        unit: UnitKey | None = None,
        start_times: bool = True,
    ) -> Observation:
        """This instance's pods and containers: one ListPodSandbox, one ListContainers
        (label selectors), a ContainerStatus per exited container. Names never clash
        under CRI (a pod's uid is part of them), so no foreign names are looked up."""
        del desired_names, start_times  # members never rejoin under CRI: no start times
        selector = _selector(self.instance, unit)
        pods = self.cri.list_pod_sandbox(selector)
        rows = self.cri.list_containers(selector)
        observed: list[ObservedContainer] = []
        with self._lock:
            for pod in pods:
                self._sandboxes.add(pod.id)
                if IMPLICIT in pod.labels:
                    self._implicit.add(pod.id)
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
            for row in rows:
                self._pod_of[row.id] = row.pod_sandbox_id
        exited = [r.id for r in rows if r.state == pb.CONTAINER_EXITED]
        codes = self._exit_codes(exited)
        implicit_ports = {p.id: ports_of(p.annotations) for p in pods if IMPLICIT in p.labels}
        for row in rows:
            state = _CONTAINER_STATES.get(row.state, State.DEAD)
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
                )
            )
        observed.extend(self._orphans(pods, rows))
        offered = self.runtimes() if set(runtimes) - {"runc"} else None
        claims, volumes = self._stored(unit)
        return Observation(tuple(observed), frozenset(), offered, claims, volumes)

    @staticmethod
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

    def _exit_codes(self, ids: list[str]) -> dict[str, int]:
        def one(cid: str) -> tuple[str, int | None]:
            try:
                return cid, self.cri.container_status(cid).status.exit_code
            except Gone:
                return cid, None

        if not ids:
            return {}
        with ThreadPoolExecutor(max_workers=min(8, len(ids))) as pool:
            return {cid: code for cid, code in pool.map(one, ids) if code is not None}

    def snapshot(self) -> dict[str, tuple[State, Mapping[str, str]]]:
        """Every pod's and container's state, by id (what the events poller compares)."""
        selector = _selector(self.instance, None)
        found: dict[str, tuple[State, Mapping[str, str]]] = {}
        for pod in self.cri.list_pod_sandbox(selector):
            if IMPLICIT not in pod.labels:
                ready = pod.state == pb.SANDBOX_READY
                found[pod.id] = (State.RUNNING if ready else State.EXITED, dict(pod.labels))
        for row in self.cri.list_containers(selector):
            found[row.id] = (_CONTAINER_STATES.get(row.state, State.DEAD), dict(row.labels))
        return found

    def events(self) -> CriEvents:
        """This instance's pod and container changes, relisted every ``poll`` seconds."""
        self.cri.version()  # DaemonUnavailable now rather than in the iteration
        return CriEvents(self, self.poll)

    def inspect(self, ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """What status (loop/status.py) reads, in its Docker shape: State.StartedAt,
        HostConfig.Runtime (the pod's handler) and RestartCount (the CRI attempt)."""

        def one(cid: str) -> tuple[str, dict[str, Any] | None]:
            try:
                if self._is_pod(cid):
                    pod = self.cri.pod_sandbox_status(cid).status
                    started = _rfc3339(_seconds(pod.created_at))
                    return cid, {
                        "State": {"StartedAt": started},
                        "HostConfig": {"Runtime": pod.runtime_handler},
                        "RestartCount": pod.metadata.attempt,
                    }
                status = self.cri.container_status(cid).status
            except Gone:
                return cid, None
            return cid, {
                "State": {"StartedAt": _rfc3339(_seconds(status.started_at))},
                "HostConfig": {},
                "RestartCount": status.metadata.attempt,
            }

        with ThreadPoolExecutor(max_workers=8) as pool:
            return {cid: info for cid, info in pool.map(one, ids) if info is not None}

    def _is_pod(self, some_id: str) -> bool:
        with self._lock:
            if some_id in self._sandboxes:
                return True
            if some_id in self._pod_of:
                return False
        try:
            self.cri.container_status(some_id)
        except Gone:
            return True
        return False

    def _sandbox_of(self, container_id: str) -> str:
        with self._lock:
            known = self._pod_of.get(container_id)
        if known is not None:
            return known
        rows = self.cri.list_containers(_selector(self.instance, None))
        with self._lock:
            self._pod_of.update((r.id, r.pod_sandbox_id) for r in rows)
            return self._pod_of.get(container_id, "")

    def address(self, container_id: str) -> str | None:
        """The pod's IP address (every container of a pod has it)."""
        try:
            sandbox = container_id if self._is_pod(container_id) else self._sandbox_of(container_id)
            if not sandbox:
                return None
            return self.cri.pod_sandbox_status(sandbox).status.network.ip or None
        except Gone:
            return None

    def runtimes(self) -> frozenset[str]:
        """The runtime handlers a pod may name (from Status)."""
        return self.cri.runtime_handlers()

    def engine(self) -> EngineInfo:
        version = self.cri.version()
        handlers = self.runtimes()
        return EngineInfo(
            version=f"{version.runtime_name} {version.runtime_version}",
            api_version=version.runtime_api_version,
            runtimes=tuple(sorted(handlers)),
            default_runtime="runc",
        )

    def run_times(self, container_id: str) -> tuple[float | None, float | None]:
        status = self.cri.container_status(container_id).status
        return _seconds(status.started_at), _seconds(status.finished_at)

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
        """The container's CRI log file (stdout and stderr merged, in order). Each attempt
        is a container of its own with a file of its own."""
        status = self.cri.container_status(container_id).status

        def running() -> bool:
            try:
                state = self.cri.container_status(container_id).status.state
            except DriverError:
                return False
            return state in (pb.CONTAINER_RUNNING, pb.CONTAINER_CREATED)

        return CriLogStream(
            Path(status.log_path),
            running,
            follow=follow,
            tail=tail,
            since=since,
            until=until,
            timestamps=timestamps,
        )

    # -- acting ------------------------------------------------------------------

    def create_infra(self, infra: DesiredInfra) -> ContainerId:
        """Run the pod sandbox with the runtime handler its runtime names."""
        return ContainerId(self._run_pod(infra_shape(infra)))

    def _run_pod(self, shape: PodShape) -> str:
        uid = uuid.uuid4().hex
        log_directory = self.logs_dir / f"{shape.namespace}_{shape.name}_{uid}"
        log_directory.mkdir(parents=True, exist_ok=True)
        config = sandbox_config(shape, uid, str(log_directory))
        try:
            sandbox = self.cri.run_pod_sandbox(config, runtime_handler=shape.runtime)
        except DriverError:
            shutil.rmtree(log_directory, ignore_errors=True)
            raise
        with self._lock:
            self._pods[sandbox] = config
            self._sandboxes.add(sandbox)
            if IMPLICIT in shape.labels:
                self._implicit.add(sandbox)
        return sandbox

    def _pod_config(self, sandbox: str) -> pb.PodSandboxConfig:
        with self._lock:
            known = self._pods.get(sandbox)
        if known is not None:
            return known
        try:
            status = self.cri.pod_sandbox_status(sandbox).status
        except Gone as exc:
            raise ObserveAgain(f"pod sandbox {sandbox[:12]} is gone: {exc}") from exc
        config = sandbox_config_of(status)
        with self._lock:
            self._pods[sandbox] = config
        return config

    def create_member(self, member: DesiredMember, infra_id: str | None) -> ContainerId:
        """Create and start ``member`` in the pod ``infra_id`` (its next attempt there); a
        kind: Container gets a one-container pod of its own first."""
        implicit = infra_id is None
        sandbox = infra_id or self._run_pod(bare_shape(member))
        try:
            container = self._create_in(member, sandbox, "" if implicit else sandbox)
        except DriverError:
            if implicit:
                self._remove_pod(sandbox)
            raise
        return container

    def _create_in(self, member: DesiredMember, sandbox: str, infra_label: str) -> ContainerId:
        pod = self._pod_config(sandbox)
        self._ensure_image(member, pod)
        if member.run_as_non_root:
            problem = non_root_problem(member.name, member.spec.user, self._image_user(member))
            if problem is not None:
                raise InvalidSpec(problem)
        attempt = self._next_attempt(sandbox, member.name)
        share = tuple(
            ns
            for ns, mode in (
                ("network", pb.POD),
                ("ipc", pod.linux.security_context.namespace_options.ipc),
                ("pid", pod.linux.security_context.namespace_options.pid),
            )
            if mode == pb.POD
        )
        config = container_config(
            member, attempt, share, str(self.volumes_dir), infra_id=infra_label
        )
        (Path(pod.log_directory) / member.name).mkdir(parents=True, exist_ok=True)
        container = self.cri.create_container(sandbox, config, pod)
        with self._lock:
            self._pod_of[container] = sandbox
            self._attempts[(sandbox, member.name)] = attempt
        try:
            self.cri.start_container(container)
        except PermanentDriverError:
            with contextlib.suppress(DriverError):
                self.cri.remove_container(container)
            raise
        return ContainerId(container)

    def _next_attempt(self, sandbox: str, name: str) -> int:
        """One more than any attempt of ``name`` in the pod this process made, removed or
        still there (kubelet's attempt counter)."""
        rows = self.cri.list_containers(
            {L.MANAGED_BY: self.instance, L.CONTAINER: name}, sandbox_id=sandbox
        )
        seen = [r.metadata.attempt for r in rows]
        with self._lock:
            if (sandbox, name) in self._attempts:
                seen.append(self._attempts[(sandbox, name)])
        return max(seen) + 1 if seen else 0

    def _ensure_image(self, member: DesiredMember, pod: pb.PodSandboxConfig) -> None:
        image, policy = member.spec.image, member.pull_policy
        if policy == "Always" or (policy != "Never" and self.cri.image_status(image) is None):
            try:
                self.cri.pull_image(image, pod)
            except ImageUnavailable as exc:
                raise ImageUnavailable(
                    f"image {image} of container {member.name} is not present and could not "
                    f"be pulled (imagePullPolicy {policy}): {exc}"
                ) from exc
        elif policy == "Never" and self.cri.image_status(image) is None:
            raise ImageUnavailable(f"image {image} is not present and imagePullPolicy is Never")

    def _image_user(self, member: DesiredMember) -> str:
        if member.spec.user:
            return ""
        image = self.cri.image_status(member.spec.image)
        if image is None:
            return ""
        if image.HasField("uid"):
            return str(image.uid.value)
        return image.username

    def start(self, container_id: str) -> None:
        """Start a created container. A pod sandbox cannot be started again under CRI."""
        if self._is_pod(container_id):
            raise PermanentDriverError(
                f"pod sandbox {container_id[:12]}: a CRI pod cannot be started again (the "
                "planner rebuilds it)"
            )
        try:
            self.cri.start_container(container_id)
        except Gone as exc:
            raise ObserveAgain(f"{exc} (removed meanwhile)") from exc

    def restart(self, container_id: str, grace_period: int) -> None:
        """Never called under CRI (``CRI.in_place`` is False): refused."""
        del grace_period
        raise PermanentDriverError(
            f"{container_id[:12]}: a CRI container is never restarted in place (the planner "
            "replaces it with its next attempt)"
        )

    def stop(self, container_id: str, grace_period: int) -> None:
        if self._is_pod(container_id):
            self.cri.stop_pod_sandbox(container_id)
            return
        self.cri.stop_container(container_id, grace_period)

    def wait(self, container_id: str) -> int:
        """Poll its status until it exits: its exit code."""
        while True:
            try:
                status = self.cri.container_status(container_id).status
            except Gone as exc:
                raise ObserveAgain(f"{exc} (removed meanwhile)") from exc
            if status.state == pb.CONTAINER_EXITED:
                return int(status.exit_code)
            time.sleep(_WAIT_POLL)

    def remove(self, container_id: str, grace_period: int) -> None:
        """Stop and remove a container (and the one-container pod of a kind: Container), or
        a whole pod sandbox with its log directory. Already gone is success."""
        if self._is_pod(container_id):
            self._remove_pod(container_id)
            return
        sandbox = self._sandbox_of(container_id)
        try:
            attempt = self.cri.container_status(container_id).status.metadata
            with self._lock:
                key = (sandbox, attempt.name)
                self._attempts[key] = max(self._attempts.get(key, 0), attempt.attempt)
        except Gone:
            pass
        self.cri.stop_container(container_id, grace_period)
        self.cri.remove_container(container_id)
        with self._lock:
            implicit = sandbox in self._implicit
        if implicit:
            self._remove_pod(sandbox)

    def _remove_pod(self, sandbox: str) -> None:
        log_directory = ""
        with contextlib.suppress(Gone):
            log_directory = self.cri.pod_sandbox_status(sandbox).status.annotations.get(
                LOG_DIRECTORY, ""
            )
        self.cri.stop_pod_sandbox(sandbox)
        self.cri.remove_pod_sandbox(sandbox)
        if log_directory.startswith(str(self.logs_dir) + "/"):
            shutil.rmtree(log_directory, ignore_errors=True)
        with self._lock:
            self._pods.pop(sandbox, None)
            for key in [k for k in self._attempts if k[0] == sandbox]:
                del self._attempts[key]

    # -- volumes and claims: files under state_dir ----------------------------------

    def ensure_volume(self, volume: DesiredVolume) -> None:
        """A host directory for the volume (kept when it exists), with its labels beside it."""
        root = self.volumes_dir / volume.docker_name
        data = root / "data"
        data.mkdir(parents=True, exist_ok=True)
        (root / "labels.json").write_text(json.dumps(volume.labels))
        if volume.group is not None:
            os.chown(data, 0, volume.group)
            data.chmod(0o2777)

    def remove_volumes(self, unit: UnitKey) -> None:
        for root, labels in self._labelled(self.volumes_dir, "*/labels.json"):
            if _unit_of(labels) == unit and labels.get(L.MANAGED_BY) == self.instance:
                shutil.rmtree(root.parent, ignore_errors=True)

    def record_owner(self, unit: UnitKey, owner: Owner) -> None:
        name = claim_name(self.instance, unit.kind.value, unit.namespace, unit.name, owner)
        labels = {
            L.MANAGED_BY: self.instance,
            L.KIND: unit.kind.value,
            L.NAMESPACE: unit.namespace,
            L.SANDBOX: unit.name,
            L.CLAIM: "true",
        } | owner.labels()
        self.claims_dir.mkdir(parents=True, exist_ok=True)
        path = self.claims_dir / f"{name}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(labels))
        temporary.replace(path)
        for other, found in self._labelled(self.claims_dir, "*.json"):
            if other != path and _unit_of(found) == unit:
                other.unlink(missing_ok=True)

    @staticmethod
    def _labelled(directory: Path, pattern: str) -> list[tuple[Path, dict[str, str]]]:
        found = []
        for path in sorted(directory.glob(pattern)):
            with contextlib.suppress(OSError, ValueError):
                found.append(
                    (path, {str(k): str(v) for k, v in json.loads(path.read_text()).items()})
                )
        return found

    def _stored(
        self, unit: UnitKey | None
    ) -> tuple[tuple[tuple[UnitKey, Claim], ...], tuple[tuple[UnitKey, Mapping[str, str]], ...]]:
        claims = []
        for path, labels in self._labelled(self.claims_dir, "*.json"):
            key, owner = _unit_of(labels), Owner.from_labels(labels)
            if labels.get(L.MANAGED_BY) != self.instance or key is None or owner is None:
                continue
            if unit is None or key == unit:
                claims.append((key, Claim(path.stem, owner, path.stat().st_mtime)))
        volumes: list[tuple[UnitKey, Mapping[str, str]]] = []
        for _, labels in self._labelled(self.volumes_dir, "*/labels.json"):
            key = _unit_of(labels)
            mine = labels.get(L.MANAGED_BY) == self.instance and key is not None
            if mine and key is not None and (unit is None or key == unit):
                volumes.append((key, labels))
        return tuple(claims), tuple(volumes)

    # -- running commands ----------------------------------------------------------

    def exec(self, container_id: str, command: list[str], timeout: float) -> int:
        """ExecSync: its exit code. TimeoutError when it outlives ``timeout``."""
        seconds = max(1, int(timeout + 0.999))
        try:
            # containerd may wait out a command that ignores its timeout (seen under
            # gVisor): the call itself gives up a moment after the timeout.
            return self.cri.exec_sync(container_id, command, seconds, margin=2.0).exit_code
        except TransientDriverError as exc:
            if "timeout" in str(exc).lower() or "deadline" in str(exc).lower():
                raise TimeoutError(f"{command} did not finish within {timeout} s") from exc
            raise ExecFailed(str(exc)) from exc
        except Gone:
            raise
        except PermanentDriverError as exc:
            if "timeout" in str(exc).lower():
                raise TimeoutError(f"{command} did not finish within {timeout} s") from exc
            raise

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
        """ExecSync with its output copied out once it ends: no stdin, no terminal
        (CRI's streaming Exec is not implemented by this driver)."""
        del size
        if stdin is not None or tty:
            raise DriverError(
                "the cri driver runs commands with ExecSync: no stdin and no terminal"
            )
        result = self.cri.exec_sync(container_id, command, 0)
        out.write(result.stdout)
        out.flush()
        err.write(result.stderr)
        err.flush()
        return result.exit_code


__all__ = ["DEFAULT_STATE_DIR", "CriDriver", "CriEvents", "CriLogStream"]
