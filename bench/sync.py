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
Prints min / median / max per trigger. Afterwards the loops are stopped with
SIGTERM by pid and exactly the containers labelled with the instances are
removed.

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

import docker
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


def wait(check: Callable[[], bool], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():
        if proc.poll() is not None:
            raise BenchError(f"reconciler sync exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise BenchError("timed out waiting for the sandbox to run")
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
            rows.append(
                [
                    label,
                    str(len(times)),
                    f"{min(times):.2f}",
                    f"{statistics.median(times):.2f}",
                    f"{max(times):.2f}",
                ]
            )
        print("git push -> pushed sandbox running (infra + 1 workload)")
        print(table(rows))
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
