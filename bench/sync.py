"""Benchmark `reconciler sync`: the time from `git push` to the pushed sandbox running.

Two triggers, each with its own instance (``bench-<random>``), bare repository
(served over file://) and state directory:

1. polling: ``sync --interval 1``;
2. webhook: ``sync --interval 3600 --listen 127.0.0.1:PORT``, and right after
   the push a signed ``POST /hooks/sync`` (what a git server sends once it
   took the push).

Each round commits a new Sandbox (an infra, local/pause:test, plus one
workload, local/busybox:test ``sleep 3600``), takes t0 just before
``git push``, and inspects every 10 ms until the infra and the workload run.
Prints min / median / max per trigger.

Then the health gate, ``sync --interval 1 --wait 60 --rollback`` (the default
``--min-ready`` 2 s), two figures per round:

3. push → healthy: a new Sandbox, until the status file's
   ``lastHealthyRevision`` is the commit;
4. push of a broken commit → rolled back: that Sandbox's workload changed to
   ``exit 1``, until the status names the rollback from the commit and the
   previous workload (its FLAVOUR) runs again. The next round's commit puts the
   good workload back.

Afterwards the loops are stopped with SIGTERM by pid and exactly the
containers labelled with the instances are removed.

    export DOCKER_HOST=unix:///tmp/benchdocker/docker.sock   # a private daemon
    scripts/test-image.sh
    .venv/bin/python bench/sync.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import docker.errors
from common import (
    BUSYBOX,
    MANAGED_BY,
    PAUSE,
    BenchError,
    connect,
    joins_another,
    positive,
    reconciler_executable,
    remove_container,
    short_id,
    table,
)

SECRET = b"bench-secret"
POLL_SECONDS = 0.01
TIMEOUT = 60.0
GIT_ENV = os.environ | {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}

MANIFEST = f"""\
apiVersion: reconciler/v1
kind: Sandbox
metadata: {{{{name: {{name}}}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - {{{{name: app, image: {BUSYBOX}, command: [sleep, "3600"]}}}}
"""
# The health gate's rounds: a workload that runs, and the same one broken.
GATED = f"""\
apiVersion: reconciler/v1
kind: Sandbox
metadata: {{{{name: {{name}}}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: {BUSYBOX}
      command: [sh, -c, "{{command}}"]
      env: [{{{{name: FLAVOUR, value: "{{flavour}}"}}}}]
"""


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def running(api: docker.APIClient, instance: str, name: str) -> bool:
    rows = api.containers(
        filters={"label": [f"{MANAGED_BY}={instance}", f"io.reconciler.sandbox={name}"]}
    )
    return len(rows) == 2  # infra and app, both running (list shows running ones only)


def hook(port: int) -> None:
    body = b'{"ref": "refs/heads/main"}'
    signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/hooks/sync", body, {"X-Hub-Signature-256": signature})
        if connection.getresponse().status != 202:
            raise BenchError("the webhook refused a signed request")
    finally:
        connection.close()


def measure(api: docker.APIClient, root: Path, webhook: bool, rounds: int) -> list[float]:
    instance = f"bench-{short_id()}"
    bare, work, state = root / "origin.git", root / "work", root / "state"
    git(root, "init", "--quiet", "--bare", "-b", "main", str(bare))
    git(root, "init", "--quiet", "-b", "main", str(work))
    (work / "deploy").mkdir()
    (work / "deploy" / "first.yaml").write_text(MANIFEST.format(name="first"))
    git(work, "add", "--all")
    git(work, "commit", "--quiet", "-m", "first")
    git(work, "push", "--quiet", f"file://{bare}", "HEAD:main")
    port = free_port()
    trigger = ["--interval", "1"]
    if webhook:
        (root / "secret").write_bytes(SECRET)
        trigger = ["--interval", "3600", "--listen", f"127.0.0.1:{port}"]
        trigger += ["--webhook-secret-file", str(root / "secret")]
    log = (root / "sync.log").open("w")
    command = [str(reconciler_executable()), "--instance", instance, "--infra-image", PAUSE]
    command += ["sync", "--repo", f"file://{bare}", "--path", "deploy", "--state-dir", str(state)]
    proc = subprocess.Popen(command + trigger, stdout=log, stderr=subprocess.STDOUT)
    times: list[float] = []
    try:
        wait(lambda: running(api, instance, "first"), proc)
        if webhook:
            wait(lambda: "webhook listening" in (root / "sync.log").read_text(), proc)
        for i in range(rounds):
            name = f"s{i}"
            (work / "deploy" / f"{name}.yaml").write_text(MANIFEST.format(name=name))
            git(work, "add", "--all")
            git(work, "commit", "--quiet", "-m", name)
            began = time.perf_counter()
            git(work, "push", "--quiet", f"file://{bare}", "HEAD:main")
            if webhook:
                hook(port)
            wait(functools.partial(running, api, instance, name), proc)
            times.append(time.perf_counter() - began)
            time.sleep(1.3)  # the next push lands at another phase of the poll
    finally:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        log.close()
        rows = api.containers(all=True, filters={"label": f"{MANAGED_BY}={instance}"})
        for row in sorted(rows, key=lambda r: not joins_another(r)):  # joiners first
            remove_container(api, row["Id"])
    return times


def sync_status(state: Path) -> dict[str, Any]:
    """The `sync` part of the loop's status file, {} before it is written."""
    for path in state.glob("*.status.json"):
        with contextlib.suppress(OSError, ValueError):
            return dict(json.loads(path.read_text()).get("sync") or {})
    return {}


def runs_flavour(api: docker.APIClient, instance: str, name: str, flavour: str) -> bool:
    rows = api.containers(
        filters={
            "label": [
                f"{MANAGED_BY}={instance}",
                f"io.reconciler.sandbox={name}",
                "io.reconciler.container=app",
            ]
        }
    )
    if len(rows) != 1:
        return False
    with contextlib.suppress(docker.errors.NotFound):
        return f"FLAVOUR={flavour}" in api.inspect_container(rows[0]["Id"])["Config"]["Env"]
    return False


def measure_gate(api: docker.APIClient, root: Path, rounds: int) -> tuple[list[float], list[float]]:
    """Push → healthy and push of a broken commit → rolled back, under --wait --rollback."""
    instance = f"bench-{short_id()}"
    bare, work, state = root / "origin.git", root / "work", root / "state"
    git(root, "init", "--quiet", "--bare", "-b", "main", str(bare))
    git(root, "init", "--quiet", "-b", "main", str(work))
    (work / "deploy").mkdir()
    command = [str(reconciler_executable()), "--instance", instance, "--infra-image", PAUSE]
    command += ["sync", "--repo", f"file://{bare}", "--path", "deploy", "--state-dir", str(state)]
    command += ["--interval", "1", "--wait", "60", "--rollback"]
    log = (root / "sync.log").open("w")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    healthy: list[float] = []
    rolled: list[float] = []

    def push(name: str, text: str) -> tuple[str, float]:
        (work / "deploy" / f"{name}.yaml").write_text(text)
        git(work, "add", "--all")
        git(work, "commit", "--quiet", "-m", name)
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True, check=True
        ).stdout.strip()
        began = time.perf_counter()
        git(work, "push", "--quiet", f"file://{bare}", "HEAD:main")
        return commit, began

    try:
        for i in range(rounds):
            name, good = f"g{i}", f"good{i}"
            if i:  # the last round's sandbox back as it was, within this round's commit
                back = GATED.format(name=f"g{i - 1}", command="sleep 3600", flavour=f"good{i - 1}")
                (work / "deploy" / f"g{i - 1}.yaml").write_text(back)
            commit, began = push(name, GATED.format(name=name, command="sleep 3600", flavour=good))

            def is_healthy(c: str = commit) -> bool:
                return bool(sync_status(state).get("lastHealthyRevision") == c)

            wait(is_healthy, proc)
            healthy.append(time.perf_counter() - began)
            broken = GATED.format(name=name, command="exit 1", flavour="broken")
            commit, began = push(name, broken)

            def back_to_good(c: str = commit, n: str = name, f: str = good) -> bool:
                rollback = sync_status(state).get("lastRollback") or {}
                return rollback.get("from") == c and runs_flavour(api, instance, n, f)

            wait(back_to_good, proc)
            rolled.append(time.perf_counter() - began)
    finally:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        log.close()
        rows = api.containers(all=True, filters={"label": f"{MANAGED_BY}={instance}"})
        for row in sorted(rows, key=lambda r: not joins_another(r)):  # joiners first
            remove_container(api, row["Id"])
    return healthy, rolled


def figures(label: str, times: list[float]) -> list[str]:
    return [
        label,
        str(len(times)),
        f"{min(times):.2f}",
        f"{statistics.median(times):.2f}",
        f"{max(times):.2f}",
    ]


def wait(check: Callable[[], bool], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():
        if proc.poll() is not None:
            raise BenchError(f"reconciler sync exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise BenchError("timed out waiting for the sandbox (see the sync log)")
        time.sleep(POLL_SECONDS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=positive, default=5)
    args = parser.parse_args()
    try:
        api = connect()
        rows = [["trigger", "n", "min s", "median s", "max s"]]
        for label, webhook in (("--interval 1", False), ("webhook", True)):
            with tempfile.TemporaryDirectory(prefix="bench-sync-") as root:
                times = measure(api, Path(root), webhook, args.rounds)
            rows.append(figures(label, times))
        print("git push -> pushed sandbox running (infra + 1 workload)")
        print(table(rows))
        with tempfile.TemporaryDirectory(prefix="bench-sync-gate-") as root:
            healthy, rolled = measure_gate(api, Path(root), args.rounds)
        print()
        print("sync --interval 1 --wait 60 --rollback (--min-ready 2)")
        rows = [["from git push", "n", "min s", "median s", "max s"]]
        rows.append(figures("-> healthy", healthy))
        rows.append(figures("broken -> rolled back", rolled))
        print(table(rows))
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
