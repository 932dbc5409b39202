"""`reconciler run` against a real daemon: triggers, restarts, nothing lost, shutdown."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from reconciler import labels as L

from .conftest import PAUSE, Harness

SANDBOX = """
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
        - {{name: sidecar, image: local/busybox:test, command: [sleep, "3600"]}}
"""


def sandbox(name: str, flavour: str = "a") -> str:
    return SANDBOX.format(name=name, flavour=flavour)


class LoopProcess:
    """One `reconciler run` of this test's instance, stopped by its pid."""

    def __init__(self, h: Harness, state: Path, *args: str, env: dict[str, str] | None = None):
        self.h = h
        self.state = state
        self.log_path = state / "loop.log"
        state.mkdir(parents=True, exist_ok=True)
        environment = (
            os.environ
            | {
                "RECONCILER_INSTANCE": h.instance,
                "RECONCILER_INFRA_IMAGE": PAUSE,
            }
            | (env or {})
        )
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reconciler",
                "run",
                str(h.root),
                "--state-dir",
                str(state),
                "--resync",
                "5",
                "--backoff-initial",
                "1",
                "--backoff-max",
                "8",
                *args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=environment,
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def status(self) -> dict[str, object]:
        files = list(self.state.glob(f"{self.h.instance}.*.status.json"))
        return json.loads(files[0].read_text()) if files else {}

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        finally:
            self._log.close()


@pytest.fixture
def loop(h: Harness, tmp_path: Path) -> Iterator[LoopProcess]:
    running = LoopProcess(h, tmp_path / "state")
    yield running
    running.stop()


def running(h: Harness, sandbox: str, container: str = "app") -> bool:
    found = h.containers(**{L.SANDBOX: sandbox, L.CONTAINER: container})
    return len(found) == 1 and found[0]["State"] == "running"


def test_dropping_a_file_converges_and_a_kill_is_undone(h: Harness, loop: LoopProcess) -> None:
    h.write("web.yaml", sandbox("web"))
    h.wait_until(lambda: running(h, "web") and running(h, "web", "sidecar"), 30)
    app = h.member("web", "app")
    h.api.kill(app["Id"])
    h.wait_until(lambda: h.member("web", "app")["State"]["StartedAt"] != app["State"]["StartedAt"])
    again = h.member("web", "app")
    assert again["Id"] == app["Id"] and again["State"]["Running"]
    assert h.ns_inode(again, "net") == h.ns_inode(h.member("web"), "net")


def test_a_restarted_infra_gets_its_workloads_back(h: Harness, loop: LoopProcess) -> None:
    h.write("web.yaml", sandbox("web"))
    h.wait_until(lambda: running(h, "web") and running(h, "web", "sidecar"), 30)
    ids = {c: h.member("web", c)["Id"] for c in ("app", "sidecar")}
    h.api.restart(h.member("web")["Id"], timeout=1)

    def rejoined() -> bool:
        infra = h.member("web")
        if not infra["State"]["Running"]:
            return False
        net = h.ns_inode(infra, "net")
        members = [h.member("web", c) for c in ids]
        return all(m["State"]["Running"] and h.ns_inode(m, "net") == net for m in members)

    h.wait_until(rejoined, 30)
    assert {c: h.member("web", c)["Id"] for c in ids} == ids


def test_a_broken_edit_changes_nothing_and_a_good_edit_converges(
    h: Harness, loop: LoopProcess
) -> None:
    path = h.write("web.yaml", sandbox("web"))
    h.wait_until(lambda: running(h, "web") and running(h, "web", "sidecar"), 30)
    before = {c: h.member("web", c)["Id"] for c in ("", "app", "sidecar")}
    path.write_text(path.read_text().replace("image: local/busybox:test", "imag: oops", 1))
    h.wait_until(lambda: "web.yaml" in loop.log() and "imag: unknown field" in loop.log(), 15)
    time.sleep(2)
    assert loop.alive()
    assert {c: h.member("web", c)["Id"] for c in before} == before
    assert f"{path}:" in loop.log()
    h.write("web.yaml", sandbox("web", flavour="b"))
    h.wait_until(lambda: running(h, "web") and h.member("web", "app")["Id"] != before["app"], 30)
    assert "FLAVOUR=b" in h.member("web", "app")["Config"]["Env"]
    assert h.member("web", "sidecar")["Id"] == before["sidecar"]


def test_deleting_one_file_removes_only_its_sandbox(h: Harness, loop: LoopProcess) -> None:
    h.write("a.yaml", sandbox("a"))
    h.write("b.yaml", sandbox("b"))
    h.wait_until(lambda: running(h, "a") and running(h, "b"), 30)
    kept = h.member("a", "app")["Id"]
    (h.root / "b.yaml").unlink()
    h.wait_until(lambda: not h.containers(**{L.SANDBOX: "b"}), 30)
    assert h.member("a", "app")["Id"] == kept


def test_a_half_written_file_never_removes_a_unit(h: Harness, loop: LoopProcess) -> None:
    both = sandbox("a") + "---" + sandbox("b")
    path = h.write("ab.yaml", both)
    h.wait_until(lambda: running(h, "a") and running(h, "b"), 30)
    kept = h.member("b", "app")["Id"]
    path.write_text(sandbox("a").lstrip("\n").replace("\n    ", "\n")[4:])  # the first half
    time.sleep(0.8)
    h.write("ab.yaml", both)  # the editor's second write
    time.sleep(4)
    assert h.member("b", "app")["Id"] == kept


def test_emptying_the_directory_removes_nothing_without_allow_empty(
    h: Harness, loop: LoopProcess
) -> None:
    h.write("a.yaml", sandbox("a"))
    h.wait_until(lambda: running(h, "a") and running(h, "a", "sidecar"), 30)
    kept = h.member("a", "app")["Id"]
    (h.root / "a.yaml").unlink()
    h.wait_until(lambda: "--allow-empty" in loop.log(), 15)
    time.sleep(2)
    assert h.member("a", "app")["Id"] == kept


def test_allow_empty_means_it(h: Harness, tmp_path: Path) -> None:
    h.write("a.yaml", sandbox("a"))
    loop = LoopProcess(h, tmp_path / "state", "--allow-empty", "--log-format", "json")
    try:
        h.wait_until(lambda: running(h, "a"), 30)
        (h.root / "a.yaml").unlink()
        h.wait_until(lambda: not h.containers(), 30)
    finally:
        loop.stop()
    entries = [json.loads(line) for line in loop.log().splitlines() if line.strip()]
    assert any("remove app" in e["message"] for e in entries)
    assert {"time", "level", "message"} <= set(entries[0])


def test_a_crashing_container_is_restarted_with_growing_delays(
    h: Harness, loop: LoopProcess
) -> None:
    h.write(
        "crash.yaml",
        """
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: crash}
        spec: {image: local/busybox:test, command: [sh, -c, "exit 3"]}
        """,
    )
    h.wait_until(lambda: loop.log().count("container/crash: start crash") >= 4, 40)
    stamps = [
        datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        for line in loop.log().splitlines()
        if "container/crash: start crash" in line
    ]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    # Backoff 1 s doubling to 8 s: the first restart is immediate, then 1, 2, 4 s.
    # Without backoff the gaps would stay at the length of one pass.
    assert gaps[1] >= 0.9 and gaps[2] >= 1.8 and gaps[2] > gaps[0], gaps
    assert "back-off 1s" in loop.log() and "back-off 2s" in loop.log()
    seen: list[dict[str, object]] = []

    def in_backoff() -> bool:
        # Between its death and the loop's next pass the status file lags; poll.
        get = h.cli("get", "--state-dir", str(loop.state), "-o", "json")
        seen[:] = json.loads(get.stdout)["units"]
        return seen[0]["phase"] == "CrashLoopBackOff"

    h.wait_until(in_backoff, 20)
    (container,) = seen[0]["containers"]  # type: ignore[misc]
    assert container["restarts"] >= 3 and "next try in" in container["waiting"]


def test_liveness_failures_restart_the_container(h: Harness, loop: LoopProcess) -> None:
    h.write(
        "live.yaml",
        """
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: live}
        spec:
          terminationGracePeriodSeconds: 1
          containers:
            - name: app
              image: local/busybox:test
              command: [sh, -c, "touch /tmp/ok; sleep 3; rm /tmp/ok; sleep 3600"]
              livenessProbe:
                exec: {command: [test, -f, /tmp/ok]}
                periodSeconds: 1
                timeoutSeconds: 10
                failureThreshold: 2
              readinessProbe:
                exec: {command: [test, -f, /tmp/ok]}
                periodSeconds: 1
        """,
    )
    h.wait_until(lambda: running(h, "live"), 30)
    first = h.member("live", "app")["State"]["StartedAt"]
    h.wait_until(lambda: h.member("live", "app")["State"]["StartedAt"] != first, 30)
    h.wait_until(lambda: "liveness probe failed" in loop.log(), 10)  # logged once it is done
    status = loop.status()
    assert "sandbox/live" in status["units"]  # type: ignore[operator]


def test_a_startup_probe_holds_liveness_back_until_it_succeeds(
    h: Harness, loop: LoopProcess
) -> None:
    h.write(
        "slow.yaml",
        """
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: slow}
        spec:
          terminationGracePeriodSeconds: 1
          containers:
            - name: app
              image: local/busybox:test
              command: [sh, -c, "sleep 3; touch /tmp/ok; sleep 3600"]
              startupProbe:
                exec: {command: [test, -f, /tmp/ok]}
                periodSeconds: 1
                failureThreshold: 30
              livenessProbe:
                exec: {command: [test, -f, /tmp/ok]}
                periodSeconds: 1
                timeoutSeconds: 10
                failureThreshold: 1
        """,
    )
    h.wait_until(lambda: running(h, "slow"), 30)
    first = h.member("slow", "app")["State"]["StartedAt"]
    time.sleep(6)  # liveness alone would have killed it in the first 3 s
    assert h.member("slow", "app")["State"]["StartedAt"] == first
    assert "probe failed" not in loop.log()


def test_a_second_run_for_the_same_instance_is_refused(h: Harness, loop: LoopProcess) -> None:
    h.wait_until(lambda: loop.status() != {} or "watching" in loop.log(), 15)
    second = subprocess.run(
        [sys.executable, "-m", "reconciler", "run", str(h.root), "--state-dir", str(loop.state)],
        env=os.environ | {"RECONCILER_INSTANCE": h.instance},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert second.returncode == 1
    assert (
        f"instance '{h.instance}' is already running in process {loop.process.pid}" in second.stderr
    )


def test_sigterm_stops_the_loop_and_leaves_containers_running(
    h: Harness, loop: LoopProcess
) -> None:
    h.write("web.yaml", sandbox("web"))
    h.wait_until(lambda: running(h, "web") and running(h, "web", "sidecar"), 30)
    began = time.monotonic()
    assert loop.stop() == 0
    assert time.monotonic() - began < 10
    assert running(h, "web") and running(h, "web", "sidecar") and running(h, "web", "")
    assert "containers are left running" in loop.log()


def test_the_loop_survives_a_daemon_restart_and_reconverges(h: Harness, tmp_path: Path) -> None:
    """A private daemon: this test stops and starts it while `run` is active."""
    scripts = Path(__file__).resolve().parents[2] / "scripts"
    home = Path(f"/tmp/rt-{h.instance}")
    # dockerd.sh gives the daemon a bridge of its own (and takes it away on stop).
    host = subprocess.run(
        [scripts / "dockerd.sh", "start", str(home)], capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {"DOCKER_HOST": host}
    try:
        subprocess.run([scripts / "test-image.sh"], env=os.environ | env, check=True)
        import docker

        private = Harness(docker.APIClient(base_url=host, version="1.41"), h.root, h.instance)
        h.write("web.yaml", sandbox("web"))
        loop = LoopProcess(private, tmp_path / "state", env=env)
        try:
            private.wait_until(
                lambda: running(private, "web") and running(private, "web", "sidecar"), 30
            )
            subprocess.run([scripts / "dockerd.sh", "stop", str(home)], check=True)
            time.sleep(3)
            assert loop.alive(), loop.log()
            subprocess.run(
                [scripts / "dockerd.sh", "start", str(home)], check=True, capture_output=True
            )

            def converged() -> bool:
                if not all(running(private, "web", c) for c in ("", "app", "sidecar")):
                    return False
                net = private.ns_inode(private.member("web"), "net")
                return all(
                    private.ns_inode(private.member("web", c), "net") == net
                    for c in ("app", "sidecar")
                )

            private.wait_until(converged, 60)
            assert loop.alive()
        finally:
            loop.stop()
            private.cleanup()
    finally:
        subprocess.run([scripts / "dockerd.sh", "stop", str(home)], check=False)
        subprocess.run(["rm", "-rf", str(home)], check=False)
