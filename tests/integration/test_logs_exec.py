"""`reconciler logs` and `exec` on a real daemon, with kubectl's meanings."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading

import pytest

from reconciler.core.errors import DriverError, PermanentDriverError
from reconciler.drivers.docker.driver import DockerDriver

from .conftest import PAUSE, Harness

WEB = """
    apiVersion: reconciler/v1
    kind: Sandbox
    metadata: {name: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: app
          image: local/busybox:test
          command: [sh, -c, 'echo started; i=0; while sleep 0.2; do i=$((i+1)); echo tick $i; done']
        - name: side
          image: local/busybox:test
          command: [sh, -c, 'echo side here >&2; exec sleep 3600']
"""


def _running(h: Harness) -> None:
    h.write("web.yaml", WEB)
    h.apply()
    h.wait_until(lambda: "tick 2" in h.cli("logs", "web").stdout)


def test_logs_default_to_the_first_workload_and_name_the_others(h: Harness) -> None:
    _running(h)
    done = h.cli("logs", "web", "--tail", "1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("tick ") and done.stdout.count("\n") == 1
    assert 'Defaulted container "app" out of: app, side' in done.stderr
    seen: list[subprocess.CompletedProcess[str]] = []

    def side_logged() -> bool:  # apply returns once side started; its line is logged after
        seen[:] = [h.cli("logs", "sandbox/web", "-c", "side")]
        return bool(seen[0].stdout)

    h.wait_until(side_logged)
    side = seen[0]
    assert (side.returncode, side.stdout) == (0, "side here\n")  # stderr is in the log too
    assert "Defaulted" not in side.stderr
    missing = h.cli("logs", "web", "-c", "nope")
    assert missing.returncode == 1
    assert "sandbox/web has no container 'nope' (it has: app, side)" in missing.stderr
    nothing = h.cli("logs", "container/web")
    assert nothing.returncode == 1 and "no sandbox or container" in nothing.stderr


def test_logs_since_a_time_after_the_last_line_prints_nothing_old(h: Harness) -> None:
    _running(h)
    everything = h.cli("logs", "web", "--timestamps").stdout.splitlines()
    last = everything[-1].split(" ", 1)[0]
    newer = h.cli("logs", "web", "--since", last, "--timestamps").stdout.splitlines()
    assert "started" not in " ".join(newer)
    # No line before the last one again (each line has its own timestamp). Not a count:
    # the app ticks every 0.2 s, and a slow second `logs` sees more new lines than the
    # first saw in all.
    assert not set(everything[:-1]) & set(newer), newer


def _follow(
    h: Harness, *args: str, ignore_int: bool = False
) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    env = os.environ | {"RECONCILER_INSTANCE": h.instance, "RECONCILER_INFRA_IMAGE": PAUSE}
    command = [sys.executable, "-m", "reconciler", "logs", "web", "-f", *args]
    if ignore_int:  # as a shell starts a background job: SIGINT ignored, across exec
        command = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *command]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def _ticks(lines: queue.Queue[str], count: int) -> list[int]:
    seen: list[int] = []
    while len(seen) < count:
        line = lines.get(timeout=30)
        if line.startswith("tick "):
            seen.append(int(line.split()[1]))
    return seen


def test_logs_follow_prints_lines_as_they_come_and_stops_on_a_signal(h: Harness) -> None:
    _running(h)
    for signum, ignore_int in (
        (signal.SIGINT, False),
        (signal.SIGTERM, False),
        (signal.SIGTERM, True),
    ):
        proc, lines = _follow(h, "--tail", "1", ignore_int=ignore_int)
        first = _ticks(lines, 1)[0]
        later = _ticks(lines, 3)  # written after the command started: it follows
        assert later == sorted(later) and later[-1] >= first + 3
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 130
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()


def test_logs_follow_ends_when_the_container_stops(h: Harness) -> None:
    _running(h)
    proc, lines = _follow(h)
    _ticks(lines, 1)
    app = h.containers(**{"io.reconciler.container": "app"})[0]["Id"]
    h.api.stop(app, timeout=1)
    assert proc.wait(timeout=60) == 0


def test_previous_shows_the_output_up_to_the_end_of_the_last_terminated_run(h: Harness) -> None:
    _running(h)
    none_yet = h.cli("logs", "web", "--previous")
    assert none_yet.returncode == 1
    assert "has not terminated since it was created" in none_yet.stderr
    app = h.containers(**{"io.reconciler.container": "app"})[0]["Id"]
    h.api.restart(app, timeout=1)  # in place: same container, same log
    h.wait_until(lambda: h.cli("logs", "web").stdout.count("started") == 2)
    previous = h.cli("logs", "web", "--previous")
    assert previous.returncode == 0, previous.stderr
    assert previous.stdout.count("started") == 1 and "tick 1\n" in previous.stdout
    current = h.cli("logs", "web", "--since", "1h").stdout
    assert current.count("started") == 2
    both = h.cli("logs", "web", "--previous", "-f")
    assert both.returncode == 2 and "do not go together" in both.stderr


def test_exec_passes_the_exit_code_output_and_stdin(h: Harness) -> None:
    _running(h)
    done = h.cli("exec", "web", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert done.returncode == 7
    assert done.stdout == "out\n"
    assert done.stderr.endswith("err\n")
    side = h.cli("exec", "web", "-c", "side", "--", "sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline")
    assert (side.returncode, side.stdout.strip()) == (0, "sleep 3600")
    piped = h.cli("exec", "web", "-i", "--", "sh", "-c", "cat; exit 3", stdin="a\nb\n")
    assert (piped.returncode, piped.stdout) == (3, "a\nb\n")
    no_binary = h.cli("exec", "web", "--", "no-such-command")
    assert no_binary.returncode == 126
    assert "executable file not found" in no_binary.stdout  # as Docker sends it
    no_unit = h.cli("exec", "nope", "--", "true")
    assert no_unit.returncode == 1 and "nope: no sandbox or container" in no_unit.stderr


def test_exec_in_a_stopped_container_is_a_clear_error(h: Harness) -> None:
    _running(h)
    side = h.containers(**{"io.reconciler.container": "side"})[0]["Id"]
    h.api.stop(side, timeout=1)
    done = h.cli("exec", "web", "-c", "side", "--", "true")
    assert done.returncode == 1
    assert "is not running" in done.stderr, done.stderr


def test_a_probes_exec_in_a_stopped_or_removed_container_says_so(h: Harness) -> None:
    """The driver's exec (probes, hooks) reports the engine's answer, not a timeout."""
    _running(h)
    side = h.containers(**{"io.reconciler.container": "side"})[0]["Id"]
    driver = DockerDriver(h.instance)
    try:
        assert driver.exec(side, ["sh", "-c", "exit 3"], 30) == 3
        h.api.stop(side, timeout=1)
        with pytest.raises(PermanentDriverError, match="is not running"):
            driver.exec(side, ["true"], 30)
        h.api.remove_container(side, force=True)
        with pytest.raises(DriverError, match="No such container"):
            driver.exec(side, ["true"], 30)
    finally:
        driver.close()
