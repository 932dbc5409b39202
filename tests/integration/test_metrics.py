"""`reconciler run --metrics-addr`: Prometheus metrics, /healthz and /readyz on a real daemon."""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.request
from pathlib import Path

from ..gitrepo import Repo
from .conftest import Harness
from .test_loop import LoopProcess
from .test_sync import SyncProcess

WEB = """
    apiVersion: reconciler/v1
    kind: Sandbox
    metadata: {name: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: app
          image: local/busybox:test
          command: [sleep, "3600"]
          readinessProbe: {exec: {command: ["true"]}, periodSeconds: 1}
"""

CRASH = """
    apiVersion: reconciler/v1
    kind: Container
    metadata: {name: crash}
    spec: {image: local/busybox:test, command: [sh, -c, "exit 3"], terminationGracePeriodSeconds: 1}
"""

MISSING = """
    apiVersion: reconciler/v1
    kind: Container
    metadata: {name: missing}
    spec: {image: "local/missing:none", imagePullPolicy: Never, terminationGracePeriodSeconds: 1}
"""


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""  # not listening yet


def _value(metrics: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` in Prometheus text; 0 when absent."""
    for line in metrics.splitlines():
        match = re.match(r"^([a-z_]+)(\{[^}]*\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return 0.0


def test_metrics_health_and_readiness_of_a_converging_loop(
    h: Harness, tmp_path: Path, free_port: int
) -> None:
    h.write("web.yaml", WEB)
    base = f"http://127.0.0.1:{free_port}"
    loop = LoopProcess(h, tmp_path / "state", "--metrics-addr", f"127.0.0.1:{free_port}")
    try:
        h.wait_until(lambda: _get(f"{base}/readyz")[0] == 200, 60)
        assert _get(f"{base}/healthz") == (200, "ok\n")
        metrics: list[str] = [""]

        def probed() -> bool:
            metrics[0] = _get(f"{base}/metrics")[1]
            # The unit gauges are set as the status file is written, within 0.2 s of the
            # pass (STATUS_EVERY), which /readyz and a first probe can both come before.
            return (
                _value(metrics[0], "reconciler_probe_results_total", probe="readiness") > 0
                and _value(metrics[0], "reconciler_units", state="converged") == 1
            )

        h.wait_until(probed, 30)
        text = metrics[0]
        assert _value(text, "reconciler_units", state="desired") == 1
        assert _value(text, "reconciler_units", state="failed") == 0
        assert _value(text, "reconciler_actions_total", type="CreateInfra", result="ok") == 1
        assert _value(text, "reconciler_actions_total", type="CreateMember", result="ok") == 1
        assert _value(text, "reconciler_pass_duration_seconds_count") >= 1
        assert _value(text, "reconciler_probe_results_total", result="success") >= 1
        assert _value(text, "reconciler_ready") == 1
        assert "serving /metrics, /healthz, /readyz on http://127.0.0.1:" in loop.log()
    finally:
        assert loop.stop() == 0


def test_crash_loops_and_failures_are_counted_and_a_failed_first_pass_is_not_ready(
    h: Harness, tmp_path: Path, free_port: int
) -> None:
    h.write("crash.yaml", CRASH)
    h.write("missing.yaml", MISSING)
    base = f"http://127.0.0.1:{free_port}"
    loop = LoopProcess(h, tmp_path / "state", "--metrics-addr", f":{free_port}")
    try:
        text: list[str] = [""]

        def backed_off() -> bool:
            text[0] = _get(f"{base}/metrics")[1]
            labels = {"unit": "container/crash", "container": "crash"}
            # Right after a restart the crashing unit is Running (converged) until its
            # container exits again, as a kubelet pod is: wait for it to be failing too.
            return (
                _value(text[0], "reconciler_crashloop_backoffs_total", **labels) >= 2
                and _value(text[0], "reconciler_restarts_total", **labels) >= 2
                and _value(text[0], "reconciler_units", state="failed") == 2
            )

        h.wait_until(backed_off, 60)
        assert _value(text[0], "reconciler_actions_total", type="CreateMember", result="error") >= 1
        # Readiness latches when the first pass has converged each unit: the crashing
        # one was started by it (and dies later), the missing image never converges.
        status, body = _get(f"{base}/readyz")
        assert (status, body) == (503, "waiting for container/missing\n")
        assert _get(f"{base}/healthz")[0] == 200
    finally:
        assert loop.stop() == 0


def test_a_bad_metrics_address_is_refused(h: Harness, tmp_path: Path) -> None:
    done = h.cli("run", str(h.root), "--state-dir", str(tmp_path), "--metrics-addr", "nope")
    assert done.returncode == 2
    assert "--metrics-addr" in done.stderr and "HOST:PORT" in done.stderr


def test_under_systemd_the_loop_says_ready_pings_the_watchdog_and_says_stopping(
    h: Harness, tmp_path: Path
) -> None:
    h.write("web.yaml", WEB)
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(60)
        env = {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "2000000"}
        loop = LoopProcess(h, tmp_path / "state", env=env)
        try:
            messages = [server.recv(200).decode() for _ in range(3)]
            while not any(m.startswith("READY=1") for m in messages):
                messages.append(server.recv(200).decode())
            assert "WATCHDOG=1" in messages
            assert h.containers(**{"io.reconciler.container": "app"})  # ready after a pass
        finally:
            assert loop.stop() == 0
        rest = []
        while "STOPPING=1" not in rest:
            rest.append(server.recv(200).decode())


def test_sync_serves_the_revision_it_applied_and_when(
    h: Harness, tmp_path: Path, free_port: int
) -> None:
    repo = Repo(tmp_path / "remote")
    repo.write("deploy/web.yaml", WEB)
    commit = repo.commit("web")
    repo.push()
    base = f"http://127.0.0.1:{free_port}"
    sync = SyncProcess(
        h, tmp_path / "state", repo.url, "--interval", "1", "--metrics-addr", f":{free_port}"
    )
    try:
        text: list[str] = [""]

        def applied() -> bool:
            text[0] = _get(f"{base}/metrics")[1]
            return _value(text[0], "reconciler_sync_info", revision=commit) == 1

        h.wait_until(applied, 60)
        assert _value(text[0], "reconciler_sync_info", branch="main", path="deploy") == 1
        assert _value(text[0], "reconciler_sync_last_success_timestamp_seconds") > 1.7e9
        assert _value(text[0], "reconciler_sync_failing") == 0
        h.wait_until(lambda: _get(f"{base}/readyz")[0] == 200, 60)
    finally:
        assert sync.stop() == 0
