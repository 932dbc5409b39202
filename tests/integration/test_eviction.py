"""emptyDir.sizeLimit on disk, enforced by `reconciler run` as kubelet does, on a real daemon.

The loop measures the Docker volume under the daemon's data root (this test
runs as root on the daemon's host, as the loop must), evicts the unit whose
emptyDir outgrew its limit (its containers stopped, not removed), shows it
Evicted with kubelet's message, keeps it so, and leaves a unit under its
limit alone. The loop here resyncs every second but measures only every
EVICTION seconds: a resync never measures, so the eviction is the measure's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.core import labels as L

from .conftest import Harness
from .test_loop import FAST_RESYNC, LoopProcess, now
from .test_output import SCHEMA

EVICTION = "1"  # seconds between measurements (kubelet: 10)
MESSAGE = 'Usage of EmptyDir volume "cache" exceeds the limit "1Mi".'

PODS = """
    apiVersion: v1
    kind: Pod
    metadata: {name: filler}
    spec:
      terminationGracePeriodSeconds: 1
      volumes: [{name: cache, emptyDir: {sizeLimit: 1Mi}}]
      containers:
        - name: app
          image: local/busybox:test
          command: [sh, -c, "sleep 1; dd if=/dev/zero of=/cache/fill bs=1k count=2048; sleep 3600"]
          volumeMounts: [{name: cache, mountPath: /cache}]
        - {name: sidecar, image: local/busybox:test, command: [sleep, "3600"]}
---
    apiVersion: v1
    kind: Pod
    metadata: {name: small}
    spec:
      terminationGracePeriodSeconds: 1
      volumes: [{name: cache, emptyDir: {sizeLimit: 1Mi}}]
      containers:
        - name: app
          image: local/busybox:test
          command: [sh, -c, "dd if=/dev/zero of=/cache/fill bs=1024 count=100; sleep 3600"]
          volumeMounts: [{name: cache, mountPath: /cache}]
"""


@pytest.fixture
def loop(h: Harness, tmp_path: Path) -> Iterator[LoopProcess]:
    running = LoopProcess(
        h, tmp_path / "state", "--eviction-interval", EVICTION, resync=FAST_RESYNC
    )
    yield running
    running.stop()


def _get(h: Harness, *args: str) -> dict[str, Any]:
    done = h.cli("get", "-o", "json", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return {u["name"]: u for u in json.loads(done.stdout)["units"]}


def _states(h: Harness, pod: str) -> dict[str, tuple[str, str]]:
    """Each container of the pod: its id and Docker state."""
    return {
        c["Labels"].get(L.CONTAINER) or "infra": (c["Id"], c["State"])
        for c in h.containers(**{L.SANDBOX: pod})
    }


def test_an_emptydir_over_its_size_limit_evicts_its_pod_and_only_it(
    h: Harness, loop: LoopProcess
) -> None:
    h.write("pods.yaml", PODS)
    h.wait_until(lambda: len(_states(h, "filler")) == 3 and len(_states(h, "small")) == 2, 30)
    h.wait_until(lambda: {s for _, s in _states(h, "small").values()} == {"running"}, 30)
    small = _states(h, "small")
    state = ("--state-dir", str(loop.state))

    h.wait_until(lambda: _get(h, *state).get("filler", {}).get("phase") == "Evicted", 60)
    filler = _get(h, *state)["filler"]
    assert filler["message"] == MESSAGE
    # get shows the engine's record as soon as it is made; the pass logs when it ends.
    h.wait_until(lambda: f"WARNING sandbox/filler: evict it: {MESSAGE}" in loop.log(), 30)
    # Stopped, not removed (their logs stay): the same three containers.
    h.wait_until(lambda: {s for _, s in _states(h, "filler").values()} == {"exited"}, 30)
    stopped = _states(h, "filler")
    assert len(stopped) == 3

    # It stays evicted over passes and measurements; the unit under its limit is untouched.
    since = now()
    h.wait_until(lambda: loop.passes_after("sandbox/filler", since), 30)
    assert _states(h, "filler") == stopped, "not restarted (restartPolicy Always)"
    assert _states(h, "small") == small
    seen = _get(h, *state)
    assert (seen["filler"]["phase"], seen["small"]["phase"]) == ("Evicted", "Running")
    assert loop.unit("sandbox/filler")["message"] == MESSAGE
    assert {c["state"] for c in seen["filler"]["containers"]} == {"exited"}

    # The record is the engine's: `get` shows it without the loop, too.
    assert loop.stop() == 0
    alone = _get(h)
    assert (alone["filler"]["phase"], alone["filler"]["message"]) == ("Evicted", MESSAGE)
    table = h.cli("get")
    assert f"sandbox/filler: evicted: {MESSAGE}" in table.stdout, table.stdout


def test_apply_lifts_an_eviction(h: Harness, loop: LoopProcess) -> None:
    h.write("pods.yaml", PODS)
    state = ("--state-dir", str(loop.state))
    h.wait_until(lambda: _get(h, *state).get("filler", {}).get("phase") == "Evicted", 60)
    h.wait_until(lambda: {s for _, s in _states(h, "filler").values()} == {"exited"}, 30)
    loop.stop()
    done = h.cli("apply", "-f", str(h.root), "--adopt", "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert [e.message for e in SCHEMA.iter_errors(data)] == []
    filler = next(u for u in data["units"] if u["name"] == "filler")
    assert {
        "type": "LiftEviction",
        "target": {"unit": "sandbox/filler"},
        "reason": "applied: it runs again",
    } in filler["actions"]
    assert {s for _, s in _states(h, "filler").values()} == {"running"}
    assert _get(h)["filler"]["phase"] == "Running"
