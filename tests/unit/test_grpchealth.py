"""grpc probes (reconciler/loop/grpchealth.py) against a health server in this process.

The server speaks the wire format by hand (field 1 of each message), so the
probe's messages are checked against grpc/health/v1/health.proto, not against
themselves."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest

from reconciler.core.errors import ProbeNotRun
from reconciler.core.models import Probe
from reconciler.loop.grpchealth import grpc_check
from reconciler.loop.probes import run_probe
from reconciler.loop.verdict import USER_AGENT, Verdict

WAIT = 10.0
HOST = "127.0.0.1"
# HealthCheckResponse{status}: field 1, varint.
STATUS = {"": 1, "web": 1, "down": 2}  # SERVING, NOT_SERVING; others SERVICE_UNKNOWN (3)


class Health:
    """grpc.health.v1.Health/Check by hand: which services asked, with which user agent."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []
        self.release = threading.Event()

    def check(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        service = request[2:].decode() if request[:1] == b"\n" else ""  # field 1, short
        agent = dict(context.invocation_metadata()).get("user-agent", "")
        self.asked.append((service, str(agent)))
        if service == "slow":
            self.release.wait(WAIT)
        return bytes([0x08, STATUS.get(service, 3)])


def _serve(services: dict[str, grpc.RpcMethodHandler]) -> tuple[grpc.Server, int]:
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    if services:
        handler = grpc.method_handlers_generic_handler("grpc.health.v1.Health", services)
        server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(f"{HOST}:0")
    server.start()
    return server, port


@pytest.fixture
def health() -> Iterator[tuple[Health, int]]:
    servicer = Health()
    server, port = _serve({"Check": grpc.unary_unary_rpc_method_handler(servicer.check)})
    yield servicer, port
    servicer.release.set()
    server.stop(None)


@pytest.fixture
def no_health() -> Iterator[int]:
    """A gRPC server without the health service."""
    server, port = _serve({})
    yield port
    server.stop(None)


@pytest.fixture
def refused_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        yield sock.getsockname()[1]


def test_serving_succeeds_and_the_service_is_asked_for(health: Any) -> None:
    servicer, port = health
    assert grpc_check(HOST, port, "", WAIT) == Verdict(True)
    assert grpc_check(HOST, port, "web", WAIT) == Verdict(True)
    assert [service for service, _ in servicer.asked] == ["", "web"]
    assert all(agent.startswith(USER_AGENT + " ") for _, agent in servicer.asked), servicer.asked


@pytest.mark.parametrize(
    ("service", "status"), [("down", "NOT_SERVING"), ("other", "SERVICE_UNKNOWN")]
)
def test_any_other_status_fails(health: Any, service: str, status: str) -> None:
    _, port = health
    verdict = grpc_check(HOST, port, service, WAIT)
    assert verdict == Verdict(False, f"service unhealthy (responded with {status!r})")


def test_a_server_without_the_health_service_fails(no_health: int) -> None:
    verdict = grpc_check(HOST, no_health, "", WAIT)
    assert not verdict.ok and "does not implement the grpc health protocol" in verdict.message


def test_a_slow_answer_fails_at_the_timeout(health: Any) -> None:
    _, port = health
    began = time.monotonic()
    verdict = grpc_check(HOST, port, "slow", 0.3)
    assert not verdict.ok and verdict.message.startswith("timeout:")
    assert time.monotonic() - began < WAIT / 2


def test_nothing_listening_is_tried_until_the_timeout_then_fails(refused_port: int) -> None:
    began = time.monotonic()
    verdict = grpc_check(HOST, refused_port, "", 0.5)
    elapsed = time.monotonic() - began
    assert not verdict.ok and verdict.message.startswith("timeout:")
    assert 0.4 < elapsed < WAIT / 2, "kubelet dials with WithBlock: refusals are retried"


def test_run_probe_asks_the_containers_address(health: Any) -> None:
    servicer, port = health
    spec = Probe.model_validate({"grpc": {"port": port, "service": "web"}})  # timeout 1 s
    assert run_probe(spec, HOST, lambda command, timeout: 1) == Verdict(True)
    assert not run_probe(spec, "127.0.0.2", lambda command, timeout: 1).ok  # not listening there
    assert servicer.asked[0][0] == "web"


def test_without_grpcio_the_probe_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "grpc", None)  # `import grpc` raises ImportError
    with pytest.raises(ProbeNotRun, match="need grpcio and protobuf"):
        grpc_check(HOST, 1, "", 1.0)
