"""A typed client for the CRI ``runtime.v1`` API (containerd's CRI plugin). Does I/O.

The layer under a CRI driver: one method per CRI call the driver needs, over
the stubs generated from ``proto/api.proto`` (``reconciler.drivers.cri.pb``,
re-exported here as ``pb`` for building requests). It decides nothing; what it
owns is the engine's error vocabulary and its quirks:

- every ``grpc.RpcError`` becomes a ``reconciler.core.errors`` error in
  ``_mapped``, most specific first, re-raised with ``from``;
- removing or stopping what is already gone is success;
- idempotent calls (reads, stop, remove) are retried on transient errors with
  jittered exponential backoff; creating calls are not (a retried
  ``RunPodSandbox`` would fail on the name the first one reserved);
- containerd 1.6.20 briefly reports a container as running after its task is
  gone: ``StopContainer`` then returns OK without acting and
  ``RemoveContainer`` fails with "container is still running, to stop
  first". ``stop_container`` and ``remove_container`` retry until the state
  settles.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import NewType

import grpc

from reconciler.core.errors import (
    DaemonUnavailable,
    DriverError,
    ImageUnavailable,
    InvalidSpec,
    NameConflict,
    NotFound,
    PermanentDriverError,
    TransientDriverError,
)
from reconciler.core.spec import PullAuth
from reconciler.drivers.cri.pb import api_pb2 as pb
from reconciler.drivers.cri.pb import api_pb2_grpc as pb_grpc
from reconciler.drivers.retrying import retried

__all__ = [
    "DEFAULT_ENDPOINT",
    "CriClient",
    "CriContainerId",
    "ExecResult",
    "NotFound",
    "PodSandboxId",
    "pb",
]

DEFAULT_ENDPOINT = "unix:///run/containerd/containerd.sock"
PodSandboxId = NewType("PodSandboxId", str)
CriContainerId = NewType("CriContainerId", str)

# How long stop/remove keep retrying while containerd still reports a dead
# container as running (seen settling within a second on containerd 1.6.20).
SETTLE_SECONDS = 10.0
_STILL_RUNNING = "still running"
_MAX_MESSAGE = 16 * 1024 * 1024  # kubelet's limit: a long ListContainers exceeds gRPC's 4 MiB


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What a command run by ``ExecSync`` left behind."""

    exit_code: int
    stdout: bytes
    stderr: bytes


def _mapped(exc: grpc.RpcError, what: str) -> DriverError:
    """The one place gRPC errors become reconciler errors, most specific first."""
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    text = (exc.details() if isinstance(exc, grpc.Call) else None) or str(exc)
    message = f"{what}: {text}"
    if code == grpc.StatusCode.UNAVAILABLE:
        return DaemonUnavailable(f"{what}: the CRI runtime does not answer ({text})")
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(message)
    if code == grpc.StatusCode.ALREADY_EXISTS or "is reserved for" in text:
        return NameConflict(message)
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE):
        return InvalidSpec(message)
    if code in (
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    ):
        return TransientDriverError(message)
    if _STILL_RUNNING in text:
        return TransientDriverError(message)
    return PermanentDriverError(message)


@contextmanager
def _engine(what: str) -> Iterator[None]:
    try:
        yield
    except grpc.RpcError as exc:
        raise _mapped(exc, what) from exc


def target(endpoint: str) -> str:
    """A gRPC target from a CRI endpoint as crictl takes it (``unix:///path`` or a bare path)."""
    if endpoint.startswith("/"):
        return f"unix://{endpoint}"
    return endpoint


class CriClient:
    """One gRPC channel to a CRI runtime; every method says what it raises.

    Every method raises ``DaemonUnavailable`` when the runtime does not answer
    and ``DriverError`` subclasses for what it refuses.
    """

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, timeout: float = 60.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._channel = grpc.insecure_channel(
            target(endpoint),
            options=[
                ("grpc.max_receive_message_length", _MAX_MESSAGE),
                ("grpc.max_send_message_length", _MAX_MESSAGE),
            ],
        )
        self._runtime = pb_grpc.RuntimeServiceStub(self._channel)
        self._images = pb_grpc.ImageServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> CriClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the runtime ---------------------------------------------------------------

    @retried
    def version(self) -> pb.VersionResponse:
        with _engine("version"):
            return self._runtime.Version(pb.VersionRequest(version="v1"), timeout=self.timeout)

    @retried
    def status(self, verbose: bool = False) -> pb.StatusResponse:
        with _engine("status"):
            return self._runtime.Status(pb.StatusRequest(verbose=verbose), timeout=self.timeout)

    def runtime_handlers(self) -> frozenset[str]:
        """The runtime handlers a pod may name: from ``Status`` (newer runtimes list them;
        containerd 1.6 puts its CRI config, runtimes included, in the verbose info)."""
        status = self.status(verbose=True)
        if status.runtime_handlers:
            return frozenset(h.name for h in status.runtime_handlers if h.name)
        try:
            config = json.loads(status.info.get("config", "{}"))
            runtimes = config["containerd"]["runtimes"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentDriverError(
                f"status: the runtime names no runtime handlers ({exc!r})"
            ) from exc
        return frozenset(str(name) for name in runtimes)

    # -- pod sandboxes -------------------------------------------------------------

    def run_pod_sandbox(
        self, config: pb.PodSandboxConfig, runtime_handler: str = ""
    ) -> PodSandboxId:
        """Create and start a pod sandbox. Not retried: a second try would find its
        name reserved by the first. Raises NameConflict for a taken name."""
        with _engine(f"run pod sandbox {config.metadata.name}"):
            response = self._runtime.RunPodSandbox(
                pb.RunPodSandboxRequest(config=config, runtime_handler=runtime_handler),
                timeout=self.timeout,
            )
        return PodSandboxId(response.pod_sandbox_id)

    @retried
    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        """Stop every container of the pod and the sandbox, release its network. A
        sandbox that is gone is success."""
        try:
            with _engine(f"stop pod sandbox {sandbox_id}"):
                self._runtime.StopPodSandbox(
                    pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=self.timeout
                )
        except NotFound:
            pass

    @retried
    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        """Remove the sandbox and every container in it. A sandbox that is gone is success."""
        try:
            with _engine(f"remove pod sandbox {sandbox_id}"):
                self._runtime.RemovePodSandbox(
                    pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=self.timeout
                )
        except NotFound:
            pass

    @retried
    def pod_sandbox_status(
        self, sandbox_id: str, verbose: bool = False
    ) -> pb.PodSandboxStatusResponse:
        """Raises NotFound when there is no such sandbox."""
        with _engine(f"pod sandbox status {sandbox_id}"):
            return self._runtime.PodSandboxStatus(
                pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id, verbose=verbose),
                timeout=self.timeout,
            )

    @retried
    def list_pod_sandbox(
        self,
        label_selector: Mapping[str, str] | None = None,
        state: pb.PodSandboxState.ValueType | None = None,
    ) -> list[pb.PodSandbox]:
        """One call, whatever the number of pods: the selector filters in the runtime."""
        selector = pb.PodSandboxFilter(label_selector=dict(label_selector or {}))
        if state is not None:
            selector.state.state = state
        with _engine("list pod sandboxes"):
            response = self._runtime.ListPodSandbox(
                pb.ListPodSandboxRequest(filter=selector), timeout=self.timeout
            )
        return list(response.items)

    # -- containers ----------------------------------------------------------------

    def create_container(
        self,
        sandbox_id: str,
        config: pb.ContainerConfig,
        sandbox_config: pb.PodSandboxConfig,
    ) -> CriContainerId:
        """Create a container in a pod. Not retried (its name would be reserved)."""
        with _engine(f"create container {config.metadata.name}"):
            response = self._runtime.CreateContainer(
                pb.CreateContainerRequest(
                    pod_sandbox_id=sandbox_id, config=config, sandbox_config=sandbox_config
                ),
                timeout=self.timeout,
            )
        return CriContainerId(response.container_id)

    def start_container(self, container_id: str) -> None:
        with _engine(f"start container {container_id}"):
            self._runtime.StartContainer(
                pb.StartContainerRequest(container_id=container_id), timeout=self.timeout
            )

    @retried
    def stop_container(self, container_id: str, timeout: int) -> None:
        """SIGTERM (or the image's stop signal), SIGKILL after ``timeout`` seconds; returns
        once the runtime reports the container stopped. NotFound is success.

        containerd 1.6.20 may answer OK while it still reports the container as
        running (its task already gone): then stop again until the state settles.
        """
        deadline = time.monotonic() + timeout + SETTLE_SECONDS
        pause = 0.05
        while True:
            try:
                with _engine(f"stop container {container_id}"):
                    self._runtime.StopContainer(
                        pb.StopContainerRequest(container_id=container_id, timeout=timeout),
                        timeout=self.timeout + timeout,
                    )
                state = self.container_status(container_id).status.state
            except NotFound:
                return
            if state != pb.CONTAINER_RUNNING:
                return
            if time.monotonic() > deadline:
                raise TransientDriverError(
                    f"stop container {container_id}: still reported running"
                    f" {timeout + SETTLE_SECONDS:.0f} s after the stop"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
            timeout = 0  # it was asked once, gracefully; what is left is the race

    @retried
    def remove_container(self, container_id: str) -> None:
        """Remove a stopped container. NotFound is success.

        containerd 1.6.20 refuses with "container is still running, to stop
        first" for a moment after the task is gone: stop it and try again until
        the state settles (at most SETTLE_SECONDS).
        """
        deadline = time.monotonic() + SETTLE_SECONDS
        pause = 0.05
        while True:
            try:
                with _engine(f"remove container {container_id}"):
                    self._runtime.RemoveContainer(
                        pb.RemoveContainerRequest(container_id=container_id),
                        timeout=self.timeout,
                    )
                return
            except NotFound:
                return
            except TransientDriverError as exc:
                if _STILL_RUNNING not in str(exc) or time.monotonic() > deadline:
                    raise
            self.stop_container(container_id, 0)
            time.sleep(pause)
            pause = min(pause * 2, 0.5)

    @retried
    def list_containers(
        self,
        label_selector: Mapping[str, str] | None = None,
        sandbox_id: str = "",
        state: pb.ContainerState.ValueType | None = None,
    ) -> list[pb.Container]:
        """One call, whatever the number of containers: the selector filters in the runtime."""
        selector = pb.ContainerFilter(
            label_selector=dict(label_selector or {}), pod_sandbox_id=sandbox_id
        )
        if state is not None:
            selector.state.state = state
        with _engine("list containers"):
            response = self._runtime.ListContainers(
                pb.ListContainersRequest(filter=selector), timeout=self.timeout
            )
        return list(response.containers)

    @retried
    def container_status(
        self, container_id: str, verbose: bool = False
    ) -> pb.ContainerStatusResponse:
        """Raises NotFound when there is no such container."""
        with _engine(f"container status {container_id}"):
            return self._runtime.ContainerStatus(
                pb.ContainerStatusRequest(container_id=container_id, verbose=verbose),
                timeout=self.timeout,
            )

    def exec_sync(
        self, container_id: str, command: list[str], timeout: int, margin: float | None = None
    ) -> ExecResult:
        """Run ``command`` in the container and wait for it, at most ``timeout`` seconds
        (0: no limit), the call at most ``margin`` seconds more (default: the client's
        timeout; the runtime may take the command's whole time to give up on it).
        Not retried: the command may have side effects. Raises TransientDriverError
        when it runs out of time."""
        extra = self.timeout if margin is None else margin
        deadline = None if timeout <= 0 else timeout + extra
        with _engine(f"exec in {container_id}"):
            response = self._runtime.ExecSync(
                pb.ExecSyncRequest(container_id=container_id, cmd=command, timeout=timeout),
                timeout=deadline,
            )
        return ExecResult(response.exit_code, response.stdout, response.stderr)

    # -- images --------------------------------------------------------------------

    def pull_image(
        self,
        image: str,
        sandbox_config: pb.PodSandboxConfig | None = None,
        auth: PullAuth | None = None,
    ) -> str:
        """Pull ``image`` (with ``auth``, an imagePullSecret's credentials); returns its
        reference (an image id). Raises ImageUnavailable when it cannot be pulled (a
        registry that cannot be reached, a name it lacks, credentials it refuses)."""
        request = pb.PullImageRequest(image=pb.ImageSpec(image=image))
        if sandbox_config is not None:
            request.sandbox_config.CopyFrom(sandbox_config)
        if auth is not None:
            # No server_address, as kubelet sends none: containerd parses one as a URL and
            # drops the credentials unless its host is the image's (a bare host:port fails).
            request.auth.CopyFrom(pb.AuthConfig(username=auth.username, password=auth.password))
        try:
            with _engine(f"pull image {image}"):
                response = self._images.PullImage(request, timeout=self.timeout * 10)
        except DaemonUnavailable:
            raise
        except DriverError as exc:
            raise ImageUnavailable(str(exc)) from exc.__cause__
        return response.image_ref

    @retried
    def image_status(self, image: str) -> pb.Image | None:
        """The image, or None when the runtime does not have it."""
        with _engine(f"image status {image}"):
            response = self._images.ImageStatus(
                pb.ImageStatusRequest(image=pb.ImageSpec(image=image)), timeout=self.timeout
            )
        return response.image if response.HasField("image") else None

    @retried
    def list_images(self) -> list[pb.Image]:
        with _engine("list images"):
            response = self._images.ListImages(pb.ListImagesRequest(), timeout=self.timeout)
        return list(response.images)
