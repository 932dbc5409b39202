"""The CRI client against an in-process gRPC server (no containerd): the stubs
match the .proto, gRPC status codes map onto reconciler.core.errors, gone is
success, and containerd 1.6.20's still-running race is retried."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable, Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2

from reconciler.core.errors import (
    DaemonUnavailable,
    ImageUnavailable,
    InvalidSpec,
    NameConflict,
    PermanentDriverError,
    TransientDriverError,
)
from reconciler.drivers.cri import client as cri_client
from reconciler.drivers.cri.client import CriClient, NotFound, pb
from reconciler.drivers.cri.pb import api_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[2]


def test_committed_stubs_match_the_proto(tmp_path: Path) -> None:
    """Edit proto/api.proto, then run scripts/gen-cri.sh: this fails until you do."""
    pytest.importorskip("grpc_tools")
    out = tmp_path / "api.pb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{ROOT / 'proto'}",
            f"--descriptor_set_out={out}",
            str(ROOT / "proto" / "api.proto"),
        ],
        check=True,
    )
    fresh = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    _drop_json_names(fresh.message_type)  # protoc leaves them out of generated code
    committed = descriptor_pb2.FileDescriptorProto.FromString(pb.DESCRIPTOR.serialized_pb)
    assert committed == fresh


def _drop_json_names(messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
    for message in messages:
        for field in message.field:
            field.ClearField("json_name")
        _drop_json_names(message.nested_type)


def test_the_wire_names_are_the_cri_ones() -> None:
    assert pb.DESCRIPTOR.package == "runtime.v1"
    assert pb.DESCRIPTOR.services_by_name["RuntimeService"].full_name == "runtime.v1.RuntimeService"
    assert pb.KeyValue.DESCRIPTOR.fields_by_name["value"].number == 2


class Runtime(pb_grpc.RuntimeServiceServicer):
    """A scripted runtime: each call pops its next answer (a status code and text, or OK)."""

    def __init__(self) -> None:
        self.answers: dict[str, list[tuple[grpc.StatusCode, str] | None]] = {}
        self.calls: list[str] = []
        self.states: list[pb.ContainerState.ValueType] = []

    def _answer(self, method: str, context: grpc.ServicerContext) -> None:
        self.calls.append(method)
        queue = self.answers.get(method, [])
        answer = queue.pop(0) if queue else None
        if answer is not None:
            context.abort(*answer)

    def Version(
        self, request: pb.VersionRequest, context: grpc.ServicerContext
    ) -> pb.VersionResponse:
        self._answer("Version", context)
        return pb.VersionResponse(runtime_name="fake", runtime_api_version="v1")

    def Status(self, request: pb.StatusRequest, context: grpc.ServicerContext) -> pb.StatusResponse:
        self._answer("Status", context)
        config = '{"containerd": {"runtimes": {"runc": {}, "runsc": {}}}}'
        return pb.StatusResponse(info={"config": config})

    def StopContainer(
        self, request: pb.StopContainerRequest, context: grpc.ServicerContext
    ) -> pb.StopContainerResponse:
        self._answer("StopContainer", context)
        return pb.StopContainerResponse()

    def RemoveContainer(
        self, request: pb.RemoveContainerRequest, context: grpc.ServicerContext
    ) -> pb.RemoveContainerResponse:
        self._answer("RemoveContainer", context)
        return pb.RemoveContainerResponse()

    def ContainerStatus(
        self, request: pb.ContainerStatusRequest, context: grpc.ServicerContext
    ) -> pb.ContainerStatusResponse:
        self._answer("ContainerStatus", context)
        state = self.states.pop(0) if self.states else pb.CONTAINER_EXITED
        return pb.ContainerStatusResponse(
            status=pb.ContainerStatus(id=request.container_id, state=state)
        )

    def RemovePodSandbox(
        self, request: pb.RemovePodSandboxRequest, context: grpc.ServicerContext
    ) -> pb.RemovePodSandboxResponse:
        self._answer("RemovePodSandbox", context)
        return pb.RemovePodSandboxResponse()

    def RunPodSandbox(
        self, request: pb.RunPodSandboxRequest, context: grpc.ServicerContext
    ) -> pb.RunPodSandboxResponse:
        self._answer("RunPodSandbox", context)
        return pb.RunPodSandboxResponse(pod_sandbox_id="p1")


class Images(pb_grpc.ImageServiceServicer):
    def PullImage(
        self, request: pb.PullImageRequest, context: grpc.ServicerContext
    ) -> pb.PullImageResponse:
        context.abort(
            grpc.StatusCode.UNKNOWN, f"failed to resolve reference {request.image.image!r}"
        )
        raise AssertionError  # abort raises


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[tuple[Runtime, CriClient]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    fake = Runtime()
    pb_grpc.add_RuntimeServiceServicer_to_server(fake, server)
    pb_grpc.add_ImageServiceServicer_to_server(Images(), server)
    endpoint = f"unix://{tmp_path}/cri.sock"
    server.add_insecure_port(endpoint)
    server.start()
    client = CriClient(str(tmp_path / "cri.sock"), timeout=5)
    yield fake, client
    client.close()
    server.stop(None)


def test_a_call_reaches_the_runtime(runtime: tuple[Runtime, CriClient]) -> None:
    _, client = runtime
    assert client.version().runtime_api_version == "v1"
    assert client.runtime_handlers() == {"runc", "runsc"}


@pytest.mark.parametrize(
    ("code", "text", "error"),
    [
        (grpc.StatusCode.NOT_FOUND, "not found", NotFound),
        (grpc.StatusCode.ALREADY_EXISTS, "exists", NameConflict),
        (grpc.StatusCode.UNKNOWN, 'name "web_default_u_0" is reserved for "abc"', NameConflict),
        (grpc.StatusCode.INVALID_ARGUMENT, "bad", InvalidSpec),
        (grpc.StatusCode.UNKNOWN, "failed to setup network", PermanentDriverError),
    ],
)
def test_status_codes_map_onto_the_hierarchy(
    runtime: tuple[Runtime, CriClient],
    code: grpc.StatusCode,
    text: str,
    error: type[Exception],
) -> None:
    fake, client = runtime
    fake.answers["RunPodSandbox"] = [(code, text)]
    with pytest.raises(error, match="run pod sandbox web"):
        client.run_pod_sandbox(pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="web")))
    assert fake.calls == ["RunPodSandbox"]  # creating calls are never retried


def test_no_runtime_is_daemon_unavailable(tmp_path: Path) -> None:
    with (
        CriClient(f"unix://{tmp_path}/none.sock", timeout=2) as client,
        pytest.raises(DaemonUnavailable),
    ):
        client.list_pod_sandbox()


def test_transient_failures_of_a_read_are_retried(runtime: tuple[Runtime, CriClient]) -> None:
    fake, client = runtime
    fake.answers["Version"] = [(grpc.StatusCode.RESOURCE_EXHAUSTED, "busy")]
    assert client.version().runtime_name == "fake"
    assert fake.calls == ["Version", "Version"]


def test_removing_what_is_gone_is_success(runtime: tuple[Runtime, CriClient]) -> None:
    fake, client = runtime
    fake.answers["RemoveContainer"] = [(grpc.StatusCode.NOT_FOUND, "not found")]
    fake.answers["RemovePodSandbox"] = [(grpc.StatusCode.NOT_FOUND, "not found")]
    client.remove_container("c1")
    client.remove_pod_sandbox("p1")


def test_remove_waits_out_containerds_still_running_race(
    runtime: tuple[Runtime, CriClient],
) -> None:
    fake, client = runtime
    still = (grpc.StatusCode.UNKNOWN, 'container "c1" is still running, to stop first')
    fake.answers["RemoveContainer"] = [still, still]
    client.remove_container("c1")
    assert fake.calls.count("RemoveContainer") == 3
    assert "StopContainer" in fake.calls


def test_stop_asks_again_while_the_container_is_reported_running(
    runtime: tuple[Runtime, CriClient],
) -> None:
    fake, client = runtime
    fake.states = [pb.CONTAINER_RUNNING, pb.CONTAINER_EXITED]
    client.stop_container("c1", 1)
    assert fake.calls == ["StopContainer", "ContainerStatus", "StopContainer", "ContainerStatus"]


def test_stop_gives_up_when_the_state_never_settles(
    runtime: tuple[Runtime, CriClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, client = runtime
    monkeypatch.setattr(cri_client, "SETTLE_SECONDS", 0.2)
    fake.states = [pb.CONTAINER_RUNNING] * 1000
    with pytest.raises(TransientDriverError, match="still reported running"):
        client.stop_container.__wrapped__(client, "c1", 0)  # type: ignore[attr-defined]


def test_an_unpullable_image_is_image_unavailable(runtime: tuple[Runtime, CriClient]) -> None:
    _, client = runtime
    with pytest.raises(ImageUnavailable, match="local/nothing"):
        client.pull_image("local/nothing:1")
