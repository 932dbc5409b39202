"""Probes with Kubernetes' semantics, run by `reconciler run` against real containers:
httpGet with headers (a busybox httpd CGI checks them), an exec probe's $(VAR), a
grpc probe against a real health server in the pod's network namespace, and a
probe's own terminationGracePeriodSeconds timing the kill after it fails."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from reconciler.core import labels as L
from reconciler.loop.verdict import USER_AGENT

from .conftest import Harness
from .test_loop import LoopProcess, running

pytestmark = pytest.mark.integration


@pytest.fixture
def loop(h: Harness, tmp_path: Path) -> Iterator[LoopProcess]:
    process = LoopProcess(h, tmp_path / "state")
    yield process
    process.stop()


def restarts(loop: LoopProcess, key: str, container: str = "app") -> int:
    return int(loop.unit(key).get("containers", {}).get(container, {}).get("restarts", 0))


# busybox httpd hands a CGI every request header as HTTP_*: the script logs them and
# answers 200 only for the probe's header, until /tmp/fail exists.
CGI_POD = """
    apiVersion: v1
    kind: Pod
    metadata: {name: headers}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: app
          image: local/busybox:test
          command: [sh, -c]
          args:
            - |
              mkdir -p /www/cgi-bin
              cat > /www/cgi-bin/check <<'EOF'
              #!/bin/sh
              echo "$HTTP_USER_AGENT|$HTTP_ACCEPT|$HTTP_HOST|$HTTP_X_PROBE" >> /tmp/seen
              if [ "$HTTP_X_PROBE" = secret ] && [ ! -f /tmp/fail ]; then
                echo "Status: 200 OK"
              else
                echo "Status: 500 Failing"
              fi
              echo
              EOF
              chmod +x /www/cgi-bin/check
              touch /tmp/ok
              exec httpd -f -p 8080 -h /www
          env: [{name: MARKER, value: /tmp/ok}]
          livenessProbe:
            httpGet:
              path: /cgi-bin/check
              port: 8080
              httpHeaders: [{name: X-Probe, value: secret}, {name: Host, value: web.test}]
            periodSeconds: 1
            failureThreshold: 2
          readinessProbe:
            exec: {command: [test, -f, "$(MARKER)"]}  # kubelet expands it: /tmp/ok
            periodSeconds: 1
"""


def test_an_http_probe_sends_its_headers_and_its_failure_restarts(
    h: Harness, loop: LoopProcess
) -> None:
    h.write("headers.yaml", CGI_POD)
    h.wait_until(lambda: running(h, "headers"), 30)
    app = h.member("headers", "app")
    h.wait_until(lambda: loop.ready("sandbox/headers") is True, 30)  # $(MARKER) expanded
    code, seen = h.exec(app["Id"], "cat", "/tmp/seen")
    assert code == 0
    assert f"{USER_AGENT}|*/*|web.test|secret" in seen.splitlines(), seen
    assert restarts(loop, "sandbox/headers") == 0
    assert h.member("headers", "app")["State"]["StartedAt"] == app["State"]["StartedAt"]

    assert h.exec(app["Id"], "touch", "/tmp/fail")[0] == 0  # the CGI answers 500 now
    h.wait_until(
        lambda: h.member("headers", "app")["State"]["StartedAt"] != app["State"]["StartedAt"], 30
    )
    h.wait_until(lambda: restarts(loop, "sandbox/headers") >= 1, 10)
    assert "HTTP probe failed with statuscode: 500" in loop.log()


# A grpc.health.v1 server, run in the pod's network namespace (nsenter) by this test:
# no gRPC server fits in busybox. It answers the service "app" with what a file says.
HEALTH_SERVER = """
import sys
from concurrent.futures import ThreadPoolExecutor
import grpc

path, port = sys.argv[1], int(sys.argv[2])

def check(request, context):
    service = request[2:].decode() if request[:1] == b"\\n" else ""
    status = {"SERVING": 1, "NOT_SERVING": 2}[open(path).read().strip()]
    return bytes([0x08, status if service == "app" else 3])

handler = grpc.method_handlers_generic_handler(
    "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)}
)
server = grpc.server(ThreadPoolExecutor(2))
server.add_generic_rpc_handlers((handler,))
server.add_insecure_port(f"0.0.0.0:{port}")
server.start()
print("serving", flush=True)
server.wait_for_termination()
"""

GRPC_POD = """
    apiVersion: v1
    kind: Pod
    metadata: {name: health}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: app
          image: local/busybox:test
          command: [sleep, "3600"]
          startupProbe:  # holds liveness back until the test's server answers
            grpc: {port: 50051, service: app}
            periodSeconds: 1
            failureThreshold: 60
          livenessProbe:
            grpc: {port: 50051, service: app}
            periodSeconds: 1
            failureThreshold: 2
          readinessProbe:
            grpc: {port: 50051, service: app}
            periodSeconds: 1
"""


@pytest.fixture
def health_server(h: Harness, tmp_path: Path) -> Iterator[tuple[Path, list[subprocess.Popen[str]]]]:
    """(the status file, the server processes started): stopped by their pids."""
    status = tmp_path / "status"
    status.write_text("SERVING")
    started: list[subprocess.Popen[str]] = []
    yield status, started
    for process in started:
        process.terminate()
        process.wait(10)


def test_a_grpc_probe_asks_a_real_health_server_and_its_failure_restarts(
    h: Harness, loop: LoopProcess, health_server: tuple[Path, list[subprocess.Popen[str]]]
) -> None:
    status, started = health_server
    h.write("health.yaml", GRPC_POD)
    h.wait_until(lambda: running(h, "health"), 30)
    infra = h.member("health")
    netns = f"/proc/{infra['State']['Pid']}/ns/net"
    server = subprocess.Popen(
        ["nsenter", f"--net={netns}", sys.executable, "-c", HEALTH_SERVER, str(status), "50051"],
        stdout=subprocess.PIPE,
        text=True,
    )
    started.append(server)
    assert server.stdout is not None and server.stdout.readline() == "serving\n"
    first = h.member("health", "app")["State"]["StartedAt"]
    h.wait_until(lambda: loop.ready("sandbox/health") is True, 30)
    assert restarts(loop, "sandbox/health") == 0

    status.write_text("NOT_SERVING")
    h.wait_until(lambda: h.member("health", "app")["State"]["StartedAt"] != first, 30)
    h.wait_until(lambda: restarts(loop, "sandbox/health") >= 1, 10)
    assert "service unhealthy (responded with 'NOT_SERVING')" in loop.log()


# busybox sleep as PID 1 has no SIGTERM handler, so the kernel ignores SIGTERM: a stop
# waits out the whole grace period, then SIGKILLs (exit 137). The grpc liveness probe
# finds nothing listening: each run fails at its 1 s timeout.
GRACE_POD = """
    apiVersion: v1
    kind: Pod
    metadata: {name: grace}
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 30
      containers:
        - name: app
          image: local/busybox:test
          command: [sleep, "3600"]
          livenessProbe:
            grpc: {port: 50051}
            periodSeconds: 1
            failureThreshold: 1
            terminationGracePeriodSeconds: 2
"""


def _seconds(stamp: str) -> float:
    """Docker's RFC 3339 time with nanoseconds, as seconds since the epoch."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(whole + "+00:00").timestamp() + float(f"0.{fraction or 0}")


def test_a_probes_grace_period_times_the_kill_after_it_fails(h: Harness, loop: LoopProcess) -> None:
    h.write("grace.yaml", GRACE_POD)
    h.wait_until(lambda: running(h, "grace"), 30)

    def stopped() -> bool:
        found = h.containers(**{L.SANDBOX: "grace", L.CONTAINER: "app"})
        return len(found) == 1 and found[0]["State"] == "exited"

    h.wait_until(stopped, 60)
    state = h.member("grace", "app")["State"]
    lived = _seconds(state["FinishedAt"]) - _seconds(state["StartedAt"])
    assert state["ExitCode"] == 137, "SIGTERM ignored: killed when the grace period ran out"
    # At least the probe's timeout and then its grace period; the pod's grace period
    # would have kept it alive longer than this bound (Docker's own times, no tuning).
    probe_timeout, probe_grace, pod_grace = 1, 2, 30
    assert probe_timeout + probe_grace <= lived < probe_timeout + pod_grace, lived
    assert "(grace 2 s)" in loop.log() and "restartPolicy is Never" in loop.log()
