"""`reconciler run` against a real daemon: triggers, restarts, nothing lost, shutdown.

Each test proves what it says: the ``loop`` fixture resyncs every
``EVENT_ONLY`` seconds, far longer than any wait here, so a test that waits
for an effect of a file or Docker event passes only if that event triggered
it; the ``resyncing`` fixture resyncs every ``FAST_RESYNC`` seconds, and a
test that shows that nothing happens waits (``LoopProcess.passes_after``)
until the loop has made passes over the unit more than a resync after the
change. Nothing is timed against the wall clock.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reconciler.core import labels as L

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


EVENT_ONLY = 600.0  # no resync during a test: only the triggers act
FAST_RESYNC = 1.0


class LoopProcess:
    """One `reconciler run` of this test's instance, stopped by its pid."""

    def __init__(
        self,
        h: Harness,
        state: Path,
        *args: str,
        env: dict[str, str] | None = None,
        resync: float = EVENT_ONLY,
    ):
        self.h = h
        self.resync = resync
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
                str(resync),
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

    def unit(self, key: str) -> dict[str, Any]:
        """The loop's status of one unit (``sandbox/web``), or {} before its first pass."""
        units = self.status().get("units") or {}
        return dict(units.get(key) or {})  # type: ignore[union-attr]

    def ready(self, key: str, container: str = "app") -> bool | None:
        return (self.unit(key).get("containers") or {}).get(container, {}).get("ready")

    def passes_after(self, key: str, since: datetime, resyncs: int = 2) -> bool:
        """Whether the loop has passed over ``key`` ``resyncs`` resync periods after ``since``."""
        updated = self.unit(key).get("updated")
        if not updated:
            return False
        elapsed = (datetime.fromisoformat(updated) - since).total_seconds()
        return elapsed >= resyncs * self.resync + 1  # +1: the stamps have whole seconds

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)  # a guard against a hang, not a measure
        finally:
            self._log.close()


@pytest.fixture
def loop(h: Harness, tmp_path: Path) -> Iterator[LoopProcess]:
    """A loop that acts only on file and Docker events (and its start)."""
    running = LoopProcess(h, tmp_path / "state")
    yield running
    running.stop()


@pytest.fixture
def resyncing(h: Harness, tmp_path: Path) -> Iterator[LoopProcess]:
    """A loop that also resyncs every FAST_RESYNC seconds (for showing nothing happens)."""
    running = LoopProcess(h, tmp_path / "state", resync=FAST_RESYNC)
    yield running
    running.stop()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


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
        members = [h.member("web", c) for c in ids]
        try:
            net = h.ns_inode(infra, "net")
            return all(m["State"]["Running"] and h.ns_inode(m, "net") == net for m in members)
        except FileNotFoundError:  # a process inspected running has exited since: look again
            return False

    h.wait_until(rejoined, 60)
    assert {c: h.member("web", c)["Id"] for c in ids} == ids


def test_a_broken_edit_changes_nothing_and_a_good_edit_converges(
    h: Harness, resyncing: LoopProcess
) -> None:
    loop = resyncing
    path = h.write("web.yaml", sandbox("web"))
    h.wait_until(lambda: running(h, "web") and running(h, "web", "sidecar"), 30)
    before = {c: h.member("web", c)["Id"] for c in ("", "app", "sidecar")}
    path.write_text(path.read_text().replace("image: local/busybox:test", "imag: oops", 1))
    edited = now()
    h.wait_until(lambda: "web.yaml" in loop.log() and "imag: unknown field" in loop.log(), 15)
    h.wait_until(lambda: loop.passes_after("sandbox/web", edited), 30)  # resyncs saw it too
    assert loop.alive()
    assert {c: h.member("web", c)["Id"] for c in before} == before
    assert f"{path}:" in loop.log()
    h.write("web.yaml", sandbox("web", flavour="b"))

    def recreated() -> bool:
        # h.sole, not h.member: between removing the old app and making the new one
        # there is none, and a poll must not fail on that.
        app = h.sole("web", "app")
        return app is not None and app["State"]["Running"] and app["Id"] != before["app"]

    h.wait_until(recreated, 30)
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


def test_a_half_written_file_never_removes_a_unit(h: Harness, tmp_path: Path) -> None:
    both = sandbox("a") + "---" + sandbox("b")
    path = h.write("ab.yaml", both)
    loop = LoopProcess(h, tmp_path / "state", resync=FAST_RESYNC)  # reads the file at start
    try:
        h.wait_until(lambda: running(h, "a") and running(h, "b"), 30)
        kept = h.member("b", "app")["Id"]
        assert "files changed" not in loop.log()
        path.write_text(sandbox("a").lstrip("\n").replace("\n    ", "\n")[4:])  # the first half
        # The loop has read the half-written file, where b is missing ...
        h.wait_until(lambda: "files changed: ab.yaml" in loop.log(), 15)
        h.write("ab.yaml", both)  # ... and the editor's second write comes within the settle time.
        written = now()
        # Past the settle time (2 s) and two resyncs more: b is still there, untouched.
        h.wait_until(lambda: loop.passes_after("sandbox/b", written, resyncs=4), 30)
        assert h.member("b", "app")["Id"] == kept
        assert "sandbox/b: remove" not in loop.log()
    finally:
        loop.stop()


def test_emptying_the_directory_removes_nothing_without_allow_empty(
    h: Harness, resyncing: LoopProcess
) -> None:
    loop = resyncing
    h.write("a.yaml", sandbox("a"))
    h.wait_until(lambda: running(h, "a") and running(h, "a", "sidecar"), 30)
    kept = h.member("a", "app")["Id"]
    (h.root / "a.yaml").unlink()
    emptied = now()
    h.wait_until(lambda: "--allow-empty" in loop.log(), 15)
    h.wait_until(lambda: loop.passes_after("sandbox/a", emptied), 30)
    assert h.member("a", "app")["Id"] == kept


def test_allow_empty_means_it(h: Harness, tmp_path: Path) -> None:
    h.write("a.yaml", sandbox("a"))
    loop = LoopProcess(h, tmp_path / "state", "--allow-empty", "--log-format", "json")
    try:
        h.wait_until(lambda: running(h, "a"), 30)
        (h.root / "a.yaml").unlink()
        # The pass logs its removals once all its actions are done (volumes and claims
        # after the containers): wait for the log too, not to stop the loop before.
        removed = '"message": "sandbox/a: remove'
        h.wait_until(lambda: not h.containers() and removed in loop.log(), 30)
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
    lines = loop.log().splitlines()
    created = next(i for i, line in enumerate(lines) if "container/crash: create crash" in line)
    starts = [i for i, line in enumerate(lines) if "container/crash: start crash" in line][:4]
    # Backoff 1 s doubling to 8 s: the first restart is immediate (nothing held after
    # the create), then each is held back 1, 2, 4 s, as the log says between the starts ...
    assert not [line for line in lines[created : starts[0]] if "back-off" in line]
    for n, (a, b) in enumerate(itertools.pairwise(starts)):
        said = {s for line in lines[a:b] for s in re.findall(r"back-off (\d+)s", line)}
        assert said == {str(2**n)}, lines[a:b]
    # ... and waits at least that long after the start before it. No comparison of two
    # gaps: on a loaded machine one pass (a Docker start) alone can take seconds.
    stamps = [datetime.strptime(lines[i][:23], "%Y-%m-%d %H:%M:%S,%f").timestamp() for i in starts]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert gaps[0] >= 0.9 and gaps[1] >= 1.8 and gaps[2] >= 3.6, gaps
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
    h.wait_until(lambda: loop.ready("sandbox/live") is True, 30)  # the probes run
    h.wait_until(lambda: h.member("live", "app")["State"]["StartedAt"] != first, 30)
    h.wait_until(lambda: "liveness probe failed" in loop.log(), 10)  # logged once it is done
    h.wait_until(lambda: loop.unit("sandbox/live")["containers"]["app"]["restarts"] >= 1, 10)


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
              readinessProbe:
                exec: {command: [test, -f, /tmp/ok]}
                periodSeconds: 1
        """,
    )
    h.wait_until(lambda: running(h, "slow"), 30)
    first = h.member("slow", "app")["State"]["StartedAt"]
    # Readiness is probed only once the startup probe has succeeded, so ready=True
    # shows that the startup probe ran and passed; liveness alone (failureThreshold 1)
    # would have restarted the container in its first 3 s, before /tmp/ok existed.
    h.wait_until(lambda: loop.ready("sandbox/slow") is True, 30)
    assert h.member("slow", "app")["State"]["StartedAt"] == first
    assert loop.unit("sandbox/slow")["containers"]["app"]["restarts"] == 0
    assert "probe failed" not in loop.log()


def test_readiness_is_reported_as_it_changes(h: Harness, loop: LoopProcess) -> None:
    h.write(
        "ready.yaml",
        """
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: ready}
        spec:
          terminationGracePeriodSeconds: 1
          containers:
            - name: app
              image: local/busybox:test
              command: [sleep, "3600"]
              readinessProbe:
                exec: {command: [test, -f, /tmp/ok]}
                periodSeconds: 1
        """,
    )
    h.wait_until(lambda: running(h, "ready"), 30)
    member = h.member("ready", "app")
    seen: list[object] = []

    def ready_as(value: bool) -> bool:
        get = h.cli("get", "ready", "--state-dir", str(loop.state), "-o", "json")
        (unit,) = json.loads(get.stdout)["units"]
        (app,) = [c for c in unit["containers"] if c["name"] == "app"]
        seen.append(app["ready"])
        return bool(app["ready"] is value)

    # The test, not a timer in the container, changes what the probe finds: a window
    # of a few seconds for ready=True was a race with `get` on a loaded machine.
    h.wait_until(lambda: ready_as(False), 30)
    assert h.exec(member["Id"], "touch", "/tmp/ok")[0] == 0
    h.wait_until(lambda: ready_as(True), 30)
    assert h.exec(member["Id"], "rm", "/tmp/ok")[0] == 0
    h.wait_until(lambda: ready_as(False), 30)
    again = h.member("ready", "app")
    unchanged = again["State"]["StartedAt"] == member["State"]["StartedAt"]
    assert unchanged and again["State"]["Running"], "readiness never restarts a container"
    assert seen[-1] is False and True in seen


def test_a_second_run_for_the_same_instance_is_refused(h: Harness, loop: LoopProcess) -> None:
    # The loop's start (a Python process importing pydantic and docker) on a loaded
    # machine: as long as the other tests allow a loop to start and converge.
    h.wait_until(lambda: loop.status() != {} or "watching" in loop.log(), 60)
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
    assert loop.stop() == 0  # within stop()'s timeout, or it raises
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
            # The loop has noticed the daemon is gone, and lives on.
            private.wait_until(lambda: "Docker events:" in loop.log(), 30)
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


def test_a_runtime_the_daemon_lacks_is_refused_by_the_loop_and_the_rest_converges(
    h: Harness, loop: LoopProcess
) -> None:
    """The loop admits against the runtimes the daemon offers, as apply does."""
    h.write(
        "vm.yaml",
        """
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: vm}
        spec: {image: local/busybox:test, runtime: kata, command: [sleep, "3600"]}
        """,
    )
    h.write("web.yaml", sandbox("web"))
    # The pass sets the phase, then the error: a status write of another unit's pass
    # in between shows Refused without its reason. Wait for both.
    h.wait_until(
        lambda: (
            running(h, "web")
            and loop.unit("container/vm").get("phase") == "Refused"
            and loop.unit("container/vm").get("lastError") is not None
        )
    )
    assert "runtime 'kata' is not offered by the Docker daemon" in str(
        loop.unit("container/vm").get("lastError")
    )
    assert not h.containers(**{L.SANDBOX: "vm"}), "nothing of a refused unit is created"
