"""Benchmark the control loop, `reconciler run DIR`: how fast it heals, how fast it applies.

It starts ``reconciler run`` as a subprocess with its own instance
(``bench-<random>``), its own temporary manifest directory and state
directory, on ``--sandboxes`` sandboxes, each an infra (local/pause:test)
plus two workloads (local/busybox:test running ``sleep 3600``), waits until
all of them run, then measures:

1. kill -> running again, ``--kills`` times (default 20): pick a workload,
   take t0, ``docker kill`` it (the low-level ``docker.APIClient.kill``),
   then inspect it every 10 ms until it runs with a ``StartedAt`` other than
   before. Target: median under 1 s.

   Every kill hits a different workload, never the same one twice in a run,
   and the sandbox count is sized to make that possible (at least
   ``--kills`` workloads). The reason is crash-loop backoff (kubelet's): the
   first restart of a container is immediate, but each further exit within
   the crash loop waits ``--backoff-initial`` (10 s), then 20 s, 40 s, ...
   A crash loop ends only once the container has run 10 minutes without
   exiting, so spacing kills of one container 11 s apart would not help: its
   second kill would still be held 10 s, and the benchmark would measure the
   backoff, not the loop's reaction. Kills are 0.6 s apart, so the re-check
   the loop schedules 0.5 s after each Docker event is done before the next.

2. file written -> sandbox running, ``--creates`` times (default 5): write a
   new Sandbox manifest the way editors save, to a dot-file (which the loop
   ignores) then ``rename`` it into place; t0 is taken just before the rename.
   Then inspect every 10 ms until its infra and both workloads run.

Both print min / median / p90 / max, and a breakdown by the daemon's own
timestamps (``FinishedAt``, ``StartedAt``) and, for files, the loop's
``files changed`` log line: where the time goes.

Per size (``--sizes``, each ``--rounds`` times, a fresh instance each round)
it also measures: the loop's converge from empty (``run`` started -> every
container running, followed by the daemon's events, not by polling a list
that costs dockerd ~0.25 s of CPU at 1,500 containers) against the floor
(bench/floor.py, the SDK creating the same containers, as a process, just
before); the loop's CPU over an idle window of ``--idle`` seconds after the
converge (``/proc/PID/stat``: a resync every 30 s falls in a window of 30 s
or more), and its peak RSS (``VmHWM``) at the end. Kills per round are
``--kills`` or the size's workload count, whichever is smaller. A summary
table gives medians by size.

Afterwards exactly what it made is cleaned up: the loop is stopped with
SIGTERM by its pid (it leaves its containers running, by design), then the
containers and volumes labelled ``io.reconciler.managed-by=<instance>`` are
removed. Nothing else is touched.

This is a benchmark, not a test: it exits 0 whatever the verdict, and 1 only
when it cannot measure (no daemon, missing images, the loop died, a timeout).

Run it against a private daemon:

    scripts/dockerd.sh start /tmp/benchdocker      # prints unix:///tmp/benchdocker/docker.sock
    export DOCKER_HOST=unix:///tmp/benchdocker/docker.sock
    scripts/test-image.sh
    .venv/bin/python bench/loop.py [--kills 20] [--creates 5] [--sizes 5,50] [--rounds 1]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import docker
import docker.errors
import yaml
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

WORKLOADS = ("w0", "w1")  # per sandbox
NAMESPACE = "default"

POLL_SECONDS = 0.01
GAP_SECONDS = 0.6  # between measurements: past the loop's 0.5 s re-check after an event
STOP_SECONDS = 15.0  # SIGTERM -> exit, before SIGKILL
MIN_SANDBOXES = 5
KILL_TARGET_SECONDS = 1.0
NEVER_STARTED = "0001-01-01T00:00:00Z"


# -- the daemon ---------------------------------------------------------------------


def state_of(api: docker.APIClient, name: str) -> dict[str, Any] | None:
    """The container's ``State`` (from inspect), or None while it does not exist."""
    try:
        state: dict[str, Any] = api.inspect_container(name)["State"]
    except docker.errors.NotFound:
        return None
    return state


def epoch(stamp: str) -> float | None:
    """Seconds since the epoch of a Docker RFC 3339 (nanosecond) UTC timestamp."""
    if not stamp or stamp == NEVER_STARTED:
        return None
    whole, _, rest = stamp.rstrip("Z").partition(".")
    fraction = float(f"0.{rest}") if rest else 0.0
    return datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp() + fraction


def cleanup(api: docker.APIClient, instance: str, workers: int = 4) -> tuple[int, int]:
    """Remove the instance's containers (joiners first, then infras), then its volumes."""
    label = f"{MANAGED_BY}={instance}"
    rows = api.containers(all=True, filters={"label": label})
    joiners = [r["Id"] for r in rows if joins_another(r)]
    others = [r["Id"] for r in rows if not joins_another(r)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for batch in (joiners, others):
            list(pool.map(lambda cid: remove_container(api, cid), batch))
    volumes = api.volumes(filters={"label": label}).get("Volumes") or []
    for volume in volumes:
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_volume(volume["Name"], force=True)
    left = api.containers(all=True, filters={"label": label})
    if left:
        raise BenchError(f"{len(left)} container(s) labelled {label} survived removal")
    return len(rows), len(volumes)


# -- manifests ----------------------------------------------------------------------


def sandbox_manifest(name: str) -> dict[str, Any]:
    containers = [
        {"name": worker, "image": BUSYBOX, "command": ["sleep", "3600"]} for worker in WORKLOADS
    ]
    return {
        "apiVersion": "reconciler/v1",
        "kind": "Sandbox",
        "metadata": {"name": name},
        "spec": {"share": ["network", "ipc"], "containers": containers},
    }


def infra_name(instance: str, sandbox: str) -> str:
    return f"{instance}_{NAMESPACE}_{sandbox}_infra"


def workload_names(instance: str, sandbox: str) -> list[str]:
    return [f"{instance}_{NAMESPACE}_{sandbox}.{worker}" for worker in WORKLOADS]


def write_atomically(directory: Path, sandbox: str) -> tuple[float, float]:
    """Save ``<sandbox>.yaml`` as editors do: a dot-file, then a rename.

    Returns t0 just before the rename, as (perf_counter, wall clock).
    """
    final = directory / f"{sandbox}.yaml"
    hidden = directory / f".{sandbox}.yaml.tmp"
    with hidden.open("w") as handle:
        yaml.safe_dump(sandbox_manifest(sandbox), handle)
        handle.flush()
        os.fsync(handle.fileno())
    began, wall = time.perf_counter(), time.time()
    hidden.rename(final)
    return began, wall


# -- the loop under test --------------------------------------------------------------


@dataclass
class LoopProcess:
    """``reconciler run`` as a subprocess, its stderr in a log file."""

    instance: str
    manifests: Path
    state_dir: Path
    log_path: Path
    executable: Path
    proc: subprocess.Popen[bytes] | None = None
    _log: TextIO | None = None

    def start(self) -> None:
        command = [
            str(self.executable),
            "--instance",
            self.instance,
            "--docker-host",
            os.environ["DOCKER_HOST"],
            "--infra-image",
            PAUSE,
            "run",
            str(self.manifests),
            "--state-dir",
            str(self.state_dir),
        ]
        self._log = self.log_path.open("w")
        # Its own session: a Ctrl-C here must not stop it before we clean up.
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(
                f"reconciler run exited {self.proc.returncode}; its log:\n{self.log_tail()}"
            )

    def stop(self) -> int | None:
        """SIGTERM by pid, SIGKILL if it lingers; its exit code (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                print(f"warning: reconciler run (pid {self.proc.pid}) ignored SIGTERM; killing it")
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
        return self.proc.returncode

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def noticed(self, filename: str) -> float | None:
        """Wall-clock time of the loop's ``files changed`` line naming ``filename``."""
        for line in self.log_path.read_text(errors="replace").splitlines():
            if "files changed:" not in line:
                continue
            names = line.split("files changed:", 1)[1].split(",")
            if filename in (n.strip() for n in names):
                stamp = " ".join(line.split()[:2])  # "%Y-%m-%d %H:%M:%S,mmm", local time
                with contextlib.suppress(ValueError):
                    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        return None


def wait_running(
    api: docker.APIClient, names: Sequence[str], loop: LoopProcess, timeout: float
) -> dict[str, dict[str, Any]]:
    """Poll until every named container runs; their states."""
    deadline = time.perf_counter() + timeout
    while True:
        states = {name: state_of(api, name) for name in names}
        if all(s is not None and s.get("Running") for s in states.values()):
            return {name: s for name, s in states.items() if s is not None}
        loop.check_alive()
        if time.perf_counter() > deadline:
            waiting = [n for n, s in states.items() if not (s and s.get("Running"))]
            raise BenchError(
                f"{len(waiting)} container(s) not running after {timeout:.0f} s "
                f"(e.g. {waiting[0]}); the loop's log:\n{loop.log_tail()}"
            )
        time.sleep(POLL_SECONDS)


class RunningWatch:
    """Which containers of an instance run, from the daemon's events (start, die, destroy).

    The converge figure used to poll a list of the instance's running containers
    every 0.1 s. dockerd serializes every row of such a list (~160 us of its CPU
    each, measured at ~470 containers), so at 1,500 containers each poll cost it
    ~0.25 s of CPU, a growing share of the 2 cores the loop shares with it, while
    the floor, timed as a process, was never polled. Events cost it nothing per
    container; one list call confirms the count at the end.
    """

    def __init__(self, api: docker.APIClient, instance: str) -> None:
        self.api = api
        self.label = f"{MANAGED_BY}={instance}"
        self.running: set[str] = set()
        self.changed = threading.Condition()
        self.stream: Any = None

    def start(self) -> RunningWatch:
        self.stream = self.api.events(
            decode=True, filters={"type": "container", "label": [self.label]}
        )
        threading.Thread(target=self._follow, name="running-watch", daemon=True).start()
        return self

    def _follow(self) -> None:
        with contextlib.suppress(Exception):  # the stream ends when closed
            for event in self.stream:
                action, cid = event.get("Action") or event.get("status"), event.get("id")
                with self.changed:
                    if action == "start":
                        self.running.add(cid)
                    elif action in ("die", "destroy"):
                        self.running.discard(cid)
                    self.changed.notify_all()

    def wait(self, expected: int, loop: LoopProcess, timeout: float) -> None:
        """Until ``expected`` containers run (events, then one list call to confirm)."""
        deadline = time.perf_counter() + timeout
        try:
            while True:
                with self.changed:
                    self.changed.wait_for(lambda: len(self.running) >= expected, 1.0)
                    seen = len(self.running)
                if seen >= expected:
                    rows = self.api.containers(filters={"label": self.label, "status": "running"})
                    if len(rows) >= expected:
                        return
                loop.check_alive()
                if time.perf_counter() > deadline:
                    raise BenchError(
                        f"{seen} of {expected} containers running after {timeout:.0f} s; "
                        f"the loop's log:\n{loop.log_tail()}"
                    )
        finally:
            self.stream.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmHWM for pid {pid}")


def time_floor(api: docker.APIClient, sandboxes: int, parallel: int) -> float:
    """bench/floor.py creating and starting ``sandboxes`` as a process: its wall time."""
    name = f"floor-{short_id()}"
    label = f"io.reconciler.bench.floor={name}"
    command = [
        sys.executable,
        str(Path(__file__).with_name("floor.py")),
        "--sandboxes",
        str(sandboxes),
        "--parallel",
        str(parallel),
        "--name",
        name,
        "--label",
        label,
    ]
    began = time.perf_counter()
    try:
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise BenchError(f"the floor failed at {sandboxes} sandboxes: {last}")
        return time.perf_counter() - began
    finally:
        rows = api.containers(all=True, filters={"label": label})
        with ThreadPoolExecutor(max_workers=4) as pool:
            for batch in (
                [r["Id"] for r in rows if joins_another(r)],
                [r["Id"] for r in rows if not joins_another(r)],
            ):
                list(pool.map(lambda cid: remove_container(api, cid), batch))


# -- measurements ---------------------------------------------------------------------


@dataclass(frozen=True)
class KillSample:
    total: float  # t0 (before the kill) -> seen running again
    exited: float | None  # t0 -> FinishedAt: the kill took effect
    restarted: float | None  # FinishedAt -> new StartedAt: the loop reacted, Docker started it
    seen: float | None  # new StartedAt -> our poll saw it


def measure_kill(api: docker.APIClient, name: str, loop: LoopProcess, timeout: float) -> KillSample:
    before = state_of(api, name)
    if before is None or not before.get("Running"):
        raise BenchError(f"{name} is not running before its kill")
    began, wall = time.perf_counter(), time.time()
    api.kill(name)
    deadline = began + timeout
    while True:
        state = state_of(api, name)
        if state and state.get("Running") and state.get("StartedAt") != before["StartedAt"]:
            total, seen_wall = time.perf_counter() - began, time.time()
            break
        loop.check_alive()
        if time.perf_counter() > deadline:
            raise BenchError(
                f"{name} did not run again within {timeout:.0f} s of its kill; "
                f"the loop's log:\n{loop.log_tail()}"
            )
        time.sleep(POLL_SECONDS)
    finished, started = epoch(state.get("FinishedAt", "")), epoch(state.get("StartedAt", ""))
    return KillSample(
        total,
        None if finished is None else finished - wall,
        None if finished is None or started is None else started - finished,
        None if started is None else seen_wall - started,
    )


@dataclass(frozen=True)
class CreateSample:
    total: float  # t0 (before the rename) -> infra and workloads seen running
    noticed: float | None  # t0 -> the loop logged the file change
    infra: float | None  # noticed -> the infra started
    workloads: float | None  # infra started -> the last workload started
    seen: float | None  # last start -> our poll saw all running


def measure_create(
    api: docker.APIClient, directory: Path, sandbox: str, loop: LoopProcess, timeout: float
) -> CreateSample:
    infra = infra_name(loop.instance, sandbox)
    names = [infra, *workload_names(loop.instance, sandbox)]
    began, wall = write_atomically(directory, sandbox)
    states = wait_running(api, names, loop, timeout)
    total, seen_wall = time.perf_counter() - began, time.time()
    infra_started = epoch(states[infra].get("StartedAt", ""))
    starts = [epoch(s.get("StartedAt", "")) for s in states.values()]
    last = None if None in starts else max(s for s in starts if s is not None)
    noticed = loop.noticed(f"{sandbox}.yaml")
    return CreateSample(
        total,
        None if noticed is None else noticed - wall,
        None if noticed is None or infra_started is None else infra_started - noticed,
        None if last is None or infra_started is None else last - infra_started,
        None if last is None else seen_wall - last,
    )


# -- printing -------------------------------------------------------------------------


@dataclass
class Figures:
    """Named series of seconds, in the order added."""

    series: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float | None) -> None:
        values = self.series.setdefault(name, [])
        if value is not None:
            values.append(value)


def p90(values: Sequence[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def figures_table(figures: Figures) -> str:
    rows = [["", "n", "min", "median", "p90", "max"]]
    for name, values in figures.series.items():
        if not values:
            rows.append([name, "0", "-", "-", "-", "-"])
            continue
        stats = (min(values), statistics.median(values), p90(values), max(values))
        rows.append([name, str(len(values)), *(_ms(v) for v in stats)])
    return table(rows)


def kill_figures(samples: Sequence[KillSample]) -> Figures:
    figures = Figures()
    for s in samples:
        figures.add("kill -> running again", s.total)
        figures.add("  kill -> exited (FinishedAt)", s.exited)
        figures.add("  exited -> started (StartedAt)", s.restarted)
        figures.add("  started -> seen by the poll", s.seen)
    return figures


def create_figures(samples: Sequence[CreateSample]) -> Figures:
    figures = Figures()
    for s in samples:
        figures.add("file written -> sandbox running", s.total)
        figures.add("  rename -> loop logs the change", s.noticed)
        figures.add("  logged -> infra started", s.infra)
        figures.add("  infra -> last workload started", s.workloads)
        figures.add("  last start -> seen by the poll", s.seen)
    return figures


def verdict(samples: Sequence[KillSample]) -> str:
    median = statistics.median(s.total for s in samples)
    ok = "OK" if median < KILL_TARGET_SECONDS else "MISS"
    return (
        f"kill -> running again: median {_ms(median)} (target < {_ms(KILL_TARGET_SECONDS)}): {ok}"
    )


def describe(api: docker.APIClient, args: argparse.Namespace) -> str:
    version = api.version()
    return (
        f"sizes {', '.join(map(str, args.sizes))} sandboxes x (infra + {len(WORKLOADS)} "
        f"workloads); {args.rounds} round(s) each; up to {args.kills} kills of distinct "
        f"workloads and {args.creates} new sandbox files per round; idle window "
        f"{args.idle} s; polls every {_ms(POLL_SECONDS)}\n"
        f"daemon {os.environ['DOCKER_HOST']}: Docker {version.get('Version')}, "
        f"{os.cpu_count()} CPUs on this host"
    )


# -- main -----------------------------------------------------------------------------


def sizes(text: str) -> list[int]:
    try:
        found = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of numbers, e.g. 5,50") from None
    if not found or min(found) < 1:
        raise argparse.ArgumentTypeError("sizes must be at least 1")
    return found


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time `reconciler run`: converge, idle CPU, RSS, kill and file latency."
    )
    parser.add_argument("--kills", type=positive, default=20, help="kills (default 20)")
    parser.add_argument("--creates", type=positive, default=5, help="new sandbox files (default 5)")
    parser.add_argument(
        "--sizes",
        type=sizes,
        default=None,
        help=f"sandbox counts at the start (default: enough that no workload is killed twice, "
        f"at least {MIN_SANDBOXES})",
    )
    parser.add_argument("--sandboxes", type=positive, default=None, help="one size (old name)")
    parser.add_argument("--rounds", type=positive, default=1, help="rounds per size (default 1)")
    parser.add_argument(
        "--idle",
        type=int,
        default=30,
        help="seconds of idle loop whose CPU is measured (default 30; 0 skips)",
    )
    parser.add_argument("--parallel", type=positive, default=4, help="the floor's threads")
    parser.add_argument("--no-floor", action="store_true", help="do not time the SDK floor")
    parser.add_argument(
        "--timeout",
        type=positive,
        default=60,
        help="seconds one measurement may take before giving up (default 60)",
    )
    args = parser.parse_args(argv)
    if args.sizes is None:
        needed = math.ceil(args.kills / len(WORKLOADS))
        args.sizes = [args.sandboxes or max(MIN_SANDBOXES, needed)]
    return args


@dataclass
class RoundResult:
    size: int
    floor: float | None
    converge: float
    idle_cpu: float | None  # percent of one core
    rss_mib: float
    kills: list[KillSample]
    creates: list[CreateSample]


def run_round(api: docker.APIClient, args: argparse.Namespace, size: int) -> RoundResult:
    """One round at one size: the floor, then a fresh loop instance, cleaned up after."""
    floor = None if args.no_floor else time_floor(api, size, args.parallel)
    if floor is not None:
        print(f"  floor (bench/floor.py): {floor:.2f} s", flush=True)
    instance = f"bench-{short_id()}"
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-loop-") as tmp:
        workdir = Path(tmp)
        (workdir / "manifests").mkdir()
        (workdir / "state").mkdir()
        loop = LoopProcess(
            instance,
            workdir / "manifests",
            workdir / "state",
            workdir / "loop.log",
            reconciler_executable(),
        )
        try:
            return measure_loop(api, args, loop, size, floor)
        finally:
            if not stop_and_clean(api, loop):
                raise BenchError(f"cleaning up {instance} failed")


def measure_loop(
    api: docker.APIClient,
    args: argparse.Namespace,
    loop: LoopProcess,
    size: int,
    floor: float | None,
) -> RoundResult:
    sandboxes = [f"s{index}" for index in range(size)]
    for sandbox in sandboxes:
        write_atomically(loop.manifests, sandbox)
    expected = size * (1 + len(WORKLOADS))
    watch = RunningWatch(api, loop.instance).start()
    began = time.perf_counter()
    loop.start()
    assert loop.proc is not None
    watch.wait(expected, loop, args.timeout + expected)
    converge = time.perf_counter() - began
    print(f"  loop: all {expected} containers running after {converge:.2f} s", flush=True)

    idle = None
    if args.idle:
        time.sleep(GAP_SECONDS)
        before, at = cpu_seconds(loop.proc.pid), time.perf_counter()
        time.sleep(args.idle)
        idle = 100 * (cpu_seconds(loop.proc.pid) - before) / (time.perf_counter() - at)
        print(f"  idle: {idle:.2f} % of a core over {args.idle} s", flush=True)

    workloads = [name for s in sandboxes for name in workload_names(loop.instance, s)]
    kills: list[KillSample] = []
    count = min(args.kills, len(workloads))
    for number, name in enumerate(random.sample(workloads, count), 1):
        time.sleep(GAP_SECONDS)
        kills.append(measure_kill(api, name, loop, args.timeout))
        print(f"  kill {number}/{count} {name}: {_ms(kills[-1].total)}", flush=True)

    creates: list[CreateSample] = []
    for number in range(1, args.creates + 1):
        time.sleep(GAP_SECONDS)
        sandbox = f"new{number}"
        creates.append(measure_create(api, loop.manifests, sandbox, loop, args.timeout))
        print(f"  file {number}/{args.creates} {sandbox}.yaml: {_ms(creates[-1].total)}")
    rss = peak_rss_mib(loop.proc.pid)
    return RoundResult(size, floor, converge, idle, rss, kills, creates)


def stop_and_clean(api: docker.APIClient, loop: LoopProcess) -> bool:
    """SIGTERM the loop, then remove what its instance made; whether that worked."""
    code = loop.stop()
    label = f"{MANAGED_BY}={loop.instance}"
    try:
        removed, volumes = cleanup(api, loop.instance)
    except (BenchError, docker.errors.DockerException) as exc:
        print(f"error: cleaning up {label}: {exc}", file=sys.stderr)
        return False
    print(
        f"  cleanup: reconciler run exited {code} after SIGTERM; removed {removed} "
        f"container(s) and {volumes} volume(s) labelled {label}"
    )
    return True


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summary_table(results: Sequence[RoundResult]) -> str:
    rows = [
        [
            "sandboxes",
            "floor",
            "run: converge",
            "ratio",
            "peak RSS",
            "idle CPU",
            "kill -> running",
            "file -> running",
        ]
    ]
    for size in dict.fromkeys(r.size for r in results):
        mine = [r for r in results if r.size == size]
        floor = _median([r.floor for r in mine])
        converge = statistics.median(r.converge for r in mine)
        idle = _median([r.idle_cpu for r in mine])
        kills = _median([k.total for r in mine for k in r.kills])
        creates = _median([c.total for r in mine for c in r.creates])
        rows.append(
            [
                str(size),
                "-" if floor is None else f"{floor:.2f} s",
                f"{converge:.2f} s",
                "-" if floor is None else f"{converge / floor:.2f}x",
                f"{statistics.median(r.rss_mib for r in mine):.0f} MiB",
                "-" if idle is None else f"{idle:.2f} %",
                "-" if kills is None else _ms(kills),
                "-" if creates is None else _ms(creates),
            ]
        )
    return table(rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        api = connect()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # SIGTERM, like Ctrl-C, unwinds through the cleanup below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    print(describe(api, args), flush=True)
    results: list[RoundResult] = []
    try:
        for size in args.sizes:
            for number in range(1, args.rounds + 1):
                print(f"{size} sandboxes, round {number}/{args.rounds}", flush=True)
                results.append(run_round(api, args, size))
    except (BenchError, docker.errors.DockerException) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    kills = [k for r in results for k in r.kills]
    creates = [c for r in results for c in r.creates]
    print()
    print(figures_table(kill_figures(kills)))
    print()
    print(figures_table(create_figures(creates)))
    print()
    print(summary_table(results))
    print()
    print(verdict(kills))
    return 0


if __name__ == "__main__":
    sys.exit(main())
