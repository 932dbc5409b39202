"""`sync --wait` (health gate), `--rollback` and `--notify` on a real daemon and real git.

The events are received by a small HTTP server in this process.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ..gitrepo import Repo
from .conftest import Harness
from .test_sync import SyncProcess, running_as, sandbox

CRASHING = """
    apiVersion: reconciler/v1
    kind: Sandbox
    metadata: {{name: {name}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: app
          image: local/busybox:test
          command: [sh, -c, "exit 1"]
          env: [{{name: FLAVOUR, value: "{flavour}"}}]
"""
NEVER_READY = """
    apiVersion: reconciler/v1
    kind: Sandbox
    metadata: {{name: {name}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: app
          image: local/busybox:test
          command: [sleep, "3600"]
          env: [{{name: FLAVOUR, value: "{flavour}"}}]
          readinessProbe: {{exec: {{command: ["false"]}}, periodSeconds: 1}}
"""


class Events:
    """What `sync --notify` POSTs, as received."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.lock = threading.Lock()
        events = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with events.lock:
                    events.got.append(json.loads(body))
                    events.auth.append(self.headers.get("Authorization"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def kinds(self) -> list[tuple[str, str | None]]:
        with self.lock:
            return [(e["event"], e["revision"]) for e in self.got]


@pytest.fixture
def events() -> Iterator[Events]:
    received = Events()
    yield received
    received.server.shutdown()
    received.server.server_close()


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "remote")


def health(syncing: SyncProcess) -> dict[str, Any]:
    return dict(syncing.sync_status().get("health") or {})


def push(repo: Repo, text: str, message: str) -> tuple[str, float]:
    repo.write("deploy/web.yaml", text)
    commit = repo.commit(message)
    began = time.monotonic()
    repo.push()
    return commit, began


def metric(port: int, name: str, **labels: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return float("nan")


def test_a_crash_looping_commit_fails_fast_and_is_rolled_back_then_a_newer_one_is_taken(
    h: Harness, repo: Repo, tmp_path: Path, events: Events, free_port: int
) -> None:
    wait = 120
    hook = f"http://hook:s3cret@127.0.0.1:{events.port}/events"
    syncing = SyncProcess(
        h,
        tmp_path / "state",
        repo.url,
        "--interval",
        "1",
        "--wait",
        str(wait),
        "--rollback",
        "--notify",
        hook,
        "--metrics-addr",
        f"127.0.0.1:{free_port}",
    )
    try:
        good, _ = push(repo, sandbox("web", flavour="a"), "good")
        h.wait_until(lambda: syncing.sync_status().get("lastHealthyRevision") == good, 60)
        status = syncing.sync_status()
        assert status["lastAppliedRevision"] == good and status["health"]["state"] == "Healthy"
        assert running_as(h, "web", "a")

        bad, pushed = push(repo, CRASHING.format(name="web", flavour="b"), "crashes")
        h.wait_until(
            lambda: (syncing.sync_status().get("lastRollback") or {}).get("from") == bad, 60
        )
        took = time.monotonic() - pushed
        assert took < wait / 2, f"failed fast: {took:.1f} s, not at --wait {wait} s"
        h.wait_until(lambda: running_as(h, "web", "a"), 60)  # the previous revision's container
        h.wait_until(lambda: health(syncing).get("state") == "Healthy", 60)
        status = syncing.sync_status()
        why = "sandbox/web: app: CrashLoopBackOff (exited 1)"
        assert status["lastRollback"]["to"] == good and status["lastRollback"]["reason"] == why
        assert status["lastAppliedRevision"] == good and status["lastAttemptedRevision"] == bad
        assert status["health"]["revision"] == good
        assert status["lastError"] == (
            f"commit {bad} failed its health gate: {why} (rolled back to {good})"
        )
        assert f"rolled back from {bad} to {good}: {why}" in syncing.log()
        table = h.cli("get", "--state-dir", str(syncing.state)).stdout
        assert f"lastHealthyRevision:   {good}" in table
        assert f"lastRollback: from {bad} to {good}" in table and why in table
        got = json.loads(h.cli("get", "--state-dir", str(syncing.state), "-o", "json").stdout)
        assert got["syncs"][0]["lastHealthyRevision"] == good
        assert metric(free_port, "reconciler_sync_info", healthy_revision=good) == 1
        assert metric(free_port, "reconciler_sync_last_rollback_timestamp_seconds") > 1.7e9
        # The failed commit is not retried: polls go on (interval 1 s), nothing moves.
        fetched = syncing.sync_status()["lastFetchAt"]
        h.wait_until(lambda: syncing.sync_status()["lastFetchAt"] != fetched, 30)
        assert running_as(h, "web", "a") and syncing.log().count(f"revision {bad} of") == 1

        newer, _ = push(repo, sandbox("web", flavour="c"), "fixed")
        h.wait_until(lambda: syncing.sync_status().get("lastHealthyRevision") == newer, 60)
        assert running_as(h, "web", "c")
        assert metric(free_port, "reconciler_sync_health", state="healthy") == 1
        h.wait_until(lambda: len(events.got) >= 8, 30)
        assert events.kinds() == [
            ("revision-applied", good),
            ("revision-healthy", good),
            ("revision-applied", bad),
            ("revision-unhealthy", bad),
            ("rolled-back", bad),
            ("revision-healthy", good),  # the rollback converged
            ("revision-applied", newer),
            ("revision-healthy", newer),
        ]
        unhealthy = events.got[3]
        assert unhealthy["units"] == ["sandbox/web"] and why in unhealthy["message"]
        assert unhealthy["source"] == f"git:{repo.url}#main:deploy"
        assert set(events.auth) == {"Basic aG9vazpzM2NyZXQ="}  # hook:s3cret
    finally:
        syncing.stop()
    seen = [syncing.log(), *(p.read_text() for p in syncing.state.glob("*.status.json"))]
    for text in seen:
        assert "s3cret" not in text and "/events" not in text


def test_a_readiness_probe_that_never_passes_fails_the_commit_at_wait(
    h: Harness, repo: Repo, tmp_path: Path
) -> None:
    wait = 8
    syncing = SyncProcess(h, tmp_path / "state", repo.url, "--interval", "1", "--wait", str(wait))
    try:
        good, _ = push(repo, sandbox("web", flavour="a"), "good")
        h.wait_until(lambda: syncing.sync_status().get("lastHealthyRevision") == good, 60)

        never, pushed = push(repo, NEVER_READY.format(name="web", flavour="b"), "never ready")
        h.wait_until(lambda: health(syncing).get("revision") == never, 30)
        h.wait_until(lambda: running_as(h, "web", "b"), 60)
        state = health(syncing)
        assert state["state"] == "Progressing"
        h.wait_until(lambda: health(syncing).get("state") == "Unhealthy", wait + 30)
        took = time.monotonic() - pushed
        assert took >= wait, f"judged after {took:.1f} s, before --wait {wait} s"
        status = syncing.sync_status()
        (reason,) = status["health"]["units"]
        assert reason.startswith("sandbox/web: app: readiness probe failing for "), reason
        assert int(reason.rsplit(" ", 2)[1]) >= wait - 3, reason  # failing since the first probe
        assert status["lastAppliedRevision"] == good and status["lastHealthyRevision"] == good
        assert f"commit {never} failed its health gate within {wait} s" in status["lastError"]
        assert "no --rollback" in status["lastError"]
        assert running_as(h, "web", "b"), "without --rollback the loop keeps converging to it"
    finally:
        syncing.stop()
