"""A grpc probe as kubelet runs it (k8s.io/kubernetes pkg/probe/grpc). Network I/O.

``grpc.health.v1.Health/Check`` with the probe's ``service`` (default the
empty name: the server as a whole), over plaintext HTTP/2 to ``host:port``,
with ``User-Agent: kube-probe/<version>`` and no proxy. One ``timeoutSeconds``
covers connecting and the call: kubelet dials with ``WithBlock``, so a port
that refuses is tried again until the timeout, as ``wait_for_ready`` does.
``SERVING`` succeeds; any other status, any RPC error (``UNIMPLEMENTED``: the
server has no health service) and the timeout fail.

grpcio and protobuf come with the ``cri`` extra; without them the probe cannot
run, and ``ProbeNotRun`` says so. The two messages are built here from their
descriptors (grpc/health/v1/health.proto) rather than generated as the CRI's
are (drivers/cri/pb): two fields do not call for a protoc step, and a pool of
their own keeps them apart from grpcio-health-checking's, if that is installed.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from reconciler.core.errors import ProbeNotRun
from reconciler.loop.verdict import USER_AGENT, Verdict

METHOD = "/grpc.health.v1.Health/Check"
SERVING = 1  # HealthCheckResponse.ServingStatus
_STATUSES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
_MISSING = "gRPC probes need grpcio and protobuf (dependencies of reconciler, missing here)"


def grpc_check(host: str, port: int, service: str, timeout: float) -> Verdict:
    """One Health/Check of ``service`` at ``host:port`` within ``timeout`` seconds.

    Raises ProbeNotRun when grpcio or protobuf cannot be imported. Imported here, not
    at the top: a Docker-only `apply` need not load gRPC (~60 ms)."""
    try:
        import grpc

        request, response = _messages()
    except ImportError as exc:
        raise ProbeNotRun(f"{_MISSING}: {exc}") from exc
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    options = [("grpc.primary_user_agent", USER_AGENT), ("grpc.enable_http_proxy", 0)]
    with grpc.insecure_channel(address, options=options) as channel:
        check: grpc.UnaryUnaryMultiCallable[Any, Any] = channel.unary_unary(
            METHOD,
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response.FromString,
        )
        try:
            answer = check(request(service=service), timeout=timeout, wait_for_ready=True)
        except grpc.RpcError as exc:
            return Verdict(False, _failure(exc, grpc, address, timeout))
    if answer.status == SERVING:
        return Verdict(True)
    status = _STATUSES.get(answer.status, str(answer.status))
    return Verdict(False, f"service unhealthy (responded with {status!r})")


def _failure(exc: Any, grpc: Any, address: str, timeout: float) -> str:
    """kubelet's words for a failed call."""
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return (
            "this server does not implement the grpc health protocol "
            f"(grpc.health.v1.Health): {details}"
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"timeout: health rpc to {address} did not complete within {timeout:g}s"
    return f"health rpc probe failed: {code.name}: {details}"


@cache
def _messages() -> tuple[Any, Any]:
    """HealthCheckRequest and HealthCheckResponse, as protobuf classes."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="reconciler/grpc/health/v1/health.proto", package="grpc.health.v1", syntax="proto3"
    )
    proto.message_type.add(name="HealthCheckRequest").field.add(
        name="service", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL
    )
    answer = proto.message_type.add(name="HealthCheckResponse")
    statuses = answer.enum_type.add(name="ServingStatus")
    for number, name in _STATUSES.items():
        statuses.value.add(name=name, number=number)
    answer.field.add(
        name="status",
        number=1,
        type=field.TYPE_ENUM,
        type_name=".grpc.health.v1.HealthCheckResponse.ServingStatus",
        label=field.LABEL_OPTIONAL,
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return tuple(  # type: ignore[return-value]
        message_factory.GetMessageClass(pool.FindMessageTypeByName(f"grpc.health.v1.{name}"))
        for name in ("HealthCheckRequest", "HealthCheckResponse")
    )


__all__ = ["METHOD", "SERVING", "grpc_check"]
