"""Benchmark `reconciler apply` against docker-compose and the docker SDK floor.

What it measures, at each size N of ``--sizes`` (default 4,20): the wall-clock
time to bring up N sandboxes, each an infra container (local/pause:test,
IpcMode shareable) plus two workloads (local/busybox:test running ``sleep
3600``) that join the infra's network and IPC namespaces
(``container:<infra-id>``), no published ports:

- SDK script (the floor): bench/floor.py as a subprocess, so process start
  and imports count as they do for the others: the low-level
  ``docker.APIClient``, a thread pool of ``--parallel`` workers over
  sandboxes; each creates and starts the infra, then creates and starts each
  workload. Containers are named, like the others'.
- SDK in-process: the same code called in this process (no process start):
  what the daemon alone takes. SDK sequential (``--sequential``): one sandbox
  after another.
- docker-compose (Debian's 1.29.2 at /usr/bin/docker-compose): one service
  per container, workloads on ``network_mode``/``ipc: service:sN``, the infra
  on the default bridge (as the SDK's and reconciler's are, so no project
  network is made); ``up -d`` from empty, then ``up -d`` with nothing changed.
  Left out, with a note, when it is not installed.
- reconciler: one Sandbox manifest per sandbox; ``reconciler apply -f DIR``
  from empty, then again with nothing changed. Timed as a subprocess, so the
  figures include process start.

Each round runs every contender once, in an order rotated round by round so
none always goes first; tables show medians and ratios (from empty against
the floor, nothing-to-change against compose's nothing-to-change), then the
raw figures. Before the timed rounds of a size, one more round (untimed)
sends every contender through a counting proxy on the Docker socket
(bench/proxy.py), which gives the API calls per contender and phase; timing
goes straight to the daemon, so the proxy's own cost is in no figure. The
peak RSS and the CPU time (user + sys) of each subprocess (floor, reconciler,
compose) are read from ``wait4``: on a loaded machine CPU time moves less
than wall time. ``--baseline PATH`` adds another reconciler build (e.g. main's)
as one more contender, alternated with the others, for before/after figures
from one run. Each reconciler build is byte-compiled first (``compileall``, as
``pip install`` does for a wheel; the floor's docker SDK has its bytecode in
site-packages): an editable checkout run with ``PYTHONDONTWRITEBYTECODE=1``
would otherwise compile its ~60 modules from source at every run (~70 ms of
CPU), a cost no installed copy pays.
With matplotlib installed (``pip install -e '.[bench]'``) it writes a PNG
(``--plot``): converge time against N, and peak RSS against N.

After each contender, exactly what it created is removed: SDK containers by
their ``io.reconciler-bench.run`` label, compose by ``docker-compose down``
(and its project label), reconciler by its ``io.reconciler.managed-by``
instance label. Nothing else is touched.

This is a benchmark, not a test: it exits 0 whatever the verdicts say, and 1
only when it cannot measure (no daemon, missing images, a contender failed).

Run it against a private daemon:

    scripts/dockerd.sh start /tmp/benchdocker      # prints unix:///tmp/benchdocker/docker.sock
    export DOCKER_HOST=unix:///tmp/benchdocker/docker.sock
    scripts/test-image.sh
    .venv/bin/python bench/apply.py [--sizes 4,20,200] [--rounds 3] [--parallel 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import docker
import docker.errors
import floor
import yaml
from common import (
    MANAGED_BY,
    BenchError,
    connect,
    joins_another,
    positive,
    reconciler_executable,
    remove_container,
    short_id,
    table,
)
from proxy import CountingProxy

BUSYBOX, PAUSE, WORKLOADS = floor.BUSYBOX, floor.PAUSE, floor.WORKLOADS
FLOOR_SCRIPT = Path(floor.__file__)
BENCH_LABEL = "io.reconciler-bench.run"
COMPOSE_LABEL = "com.docker.compose.project"
COMPOSE = Path("/usr/bin/docker-compose")
SETTLE_SECONDS = 1.0  # let the daemon finish tearing down before the next contender

EMPTY = "from empty"
NOOP = "nothing to change"
FLOOR = "SDK script"  # the floor: bench/floor.py as a process, like the other contenders
IN_PROCESS = "SDK in-process"  # the same without process start and imports
RECONCILER = "reconciler"
BASELINE = "baseline"  # --baseline: another reconciler build
COMPOSE_NAME = "docker-compose"
FLOOR_TARGET = 1.05  # reconciler from empty / the floor from empty
NOOP_TARGET = 0.25  # reconciler nothing to change / compose nothing to change

Times = dict[str, float]  # phase -> seconds
Mark = Callable[[str], None]  # a contender calls it when a phase ends (the proxy's counts)


@dataclass
class Sample:
    """One run of one contender: seconds, and peak RSS (KiB) and CPU seconds (user + sys)
    of subprocesses, per phase."""

    times: Times = field(default_factory=dict)
    rss: dict[str, int] = field(default_factory=dict)
    cpu: Times = field(default_factory=dict)

    def record(self, phase: str, measured: tuple[float, int, float]) -> None:
        self.times[phase], self.rss[phase], self.cpu[phase] = measured


# -- the daemon ---------------------------------------------------------------------


def containers(api: docker.APIClient, label: str) -> list[dict[str, Any]]:
    """Every container (any state) carrying ``label`` (``key=value``): one list call."""
    rows: list[dict[str, Any]] = api.containers(all=True, filters={"label": label})
    return rows


def remove_labelled(api: docker.APIClient, label: str, workers: int = 4) -> None:
    """Force-remove exactly the containers carrying ``label``: joiners first, then infras."""
    rows = containers(api, label)
    joiners = [r["Id"] for r in rows if joins_another(r)]
    others = [r["Id"] for r in rows if not joins_another(r)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for batch in (joiners, others):
            list(pool.map(lambda cid: remove_container(api, cid), batch))
    left = containers(api, label)
    if left:
        raise BenchError(f"{len(left)} container(s) labelled {label} survived removal")


def expect_running(api: docker.APIClient, label: str, expected: int, who: str) -> set[str]:
    """The ids labelled ``label``; fail unless exactly ``expected`` exist and all run."""
    rows = containers(api, label)
    running = [r for r in rows if r.get("State") == "running"]
    if len(rows) != expected or len(running) != expected:
        raise BenchError(
            f"{who}: expected {expected} running containers, "
            f"found {len(running)} running of {len(rows)}"
        )
    return {r["Id"] for r in rows}


def expect_unchanged(before: set[str], after: set[str], who: str) -> None:
    """A run with nothing to change must keep every container (same ids)."""
    if before != after:
        raise BenchError(
            f"{who}: the no-change run replaced {len(before - after)} container(s); "
            "its time would not be a no-op figure"
        )


def run_timed(cmd: Sequence[str], env: dict[str, str]) -> tuple[float, int, float]:
    """Wall-clock seconds (process start included), peak RSS (KiB) and CPU seconds
    (user + sys) of a subprocess; fail on a non-zero exit."""
    began = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    output = proc.stdout.read()  # until the child closes it: it has exited, or nearly
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    if proc.returncode != 0:
        raise BenchError(f"`{' '.join(cmd)}` exited {proc.returncode}:\n{output.strip()[-2000:]}")
    return elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


# -- the contenders -----------------------------------------------------------------


class Contender(Protocol):
    name: str
    phases: tuple[str, ...]

    def available(self) -> str | None:
        """None when it can run, else why not (shown in its column)."""

    def run(self, sandboxes: int, docker_host: str, mark: Mark) -> Sample:
        """Measure one round from empty through ``docker_host``; leaves its containers
        for cleanup()."""

    def cleanup(self) -> None:
        """Remove exactly what the last run() created."""


@dataclass
class SdkContender:
    """The SDK doing the minimum (bench/floor.py) in ``workers`` threads: as a script,
    process start included (the floor), or in this process (a reference)."""

    name: str
    api: docker.APIClient  # straight to the daemon: checks and cleanup
    workers: int
    script: bool
    phases: tuple[str, ...] = (EMPTY,)
    run_id: str = ""

    def available(self) -> str | None:
        return None

    def run(self, sandboxes: int, docker_host: str, mark: Mark) -> Sample:
        self.run_id = short_id()
        prefix = f"bench-{self.run_id}"
        sample = Sample()
        if self.script:
            cmd = [sys.executable, str(FLOOR_SCRIPT), "--sandboxes", str(sandboxes)]
            cmd += ["--parallel", str(self.workers), "--name", prefix, "--label", self._label]
            env = os.environ | {"DOCKER_HOST": docker_host}
            sample.record(EMPTY, run_timed(cmd, env))
        else:
            client = docker.APIClient(base_url=docker_host, version="1.41", timeout=120)
            try:
                began = time.perf_counter()
                floor.run(client, sandboxes, self.workers, prefix, self._label)
                sample.times[EMPTY] = time.perf_counter() - began
            finally:
                client.close()
        mark(EMPTY)
        expect_running(self.api, self._label, sandboxes * (1 + WORKLOADS), self.name)
        return sample

    def cleanup(self) -> None:
        if self.run_id:
            remove_labelled(self.api, self._label)

    @property
    def _label(self) -> str:
        return f"{BENCH_LABEL}={self.run_id}"


@dataclass
class ComposeContender:
    """docker-compose 1.29.2: ``up -d`` from empty, then ``up -d`` with nothing changed."""

    api: docker.APIClient
    workdir: Path
    name: str = COMPOSE_NAME
    phases: tuple[str, ...] = (EMPTY, NOOP)
    project: str = ""

    def available(self) -> str | None:
        return None if os.access(COMPOSE, os.X_OK) else "not installed"

    def run(self, sandboxes: int, docker_host: str, mark: Mark) -> Sample:
        self.project = f"rbench{short_id()}"  # compose keeps [a-z0-9] only
        compose_file = self.workdir / f"{self.project}.yml"
        compose_file.write_text(yaml.safe_dump(_compose(sandboxes), sort_keys=False))
        up = [str(COMPOSE), "-p", self.project, "-f", str(compose_file), "up", "-d"]
        env = os.environ | {"DOCKER_HOST": docker_host}
        expected = sandboxes * (1 + WORKLOADS)
        sample = Sample()
        sample.record(EMPTY, run_timed(up, env))
        mark(EMPTY)
        before = expect_running(self.api, self._label, expected, self.name)
        sample.record(NOOP, run_timed(up, env))
        mark(NOOP)
        expect_unchanged(before, expect_running(self.api, self._label, expected, self.name), NOOP)
        return sample

    def cleanup(self) -> None:
        if not self.project:
            return
        compose_file = self.workdir / f"{self.project}.yml"
        if compose_file.exists():
            down = [str(COMPOSE), "-p", self.project, "-f", str(compose_file), "down", "-t", "0"]
            subprocess.run(down, capture_output=True, check=False)
        remove_labelled(self.api, self._label)  # whatever `down` left behind

    @property
    def _label(self) -> str:
        return f"{COMPOSE_LABEL}={self.project}"


def _compose(sandboxes: int) -> dict[str, Any]:
    services: dict[str, Any] = {}
    for index in range(sandboxes):
        infra = f"s{index}"
        services[infra] = {"image": PAUSE, "ipc": "shareable", "network_mode": "bridge"}
        for worker in range(WORKLOADS):
            services[f"{infra}w{worker}"] = {
                "image": BUSYBOX,
                "command": ["sleep", "3600"],
                "network_mode": f"service:{infra}",
                "ipc": f"service:{infra}",
            }
    return {"version": "2.4", "services": services}


@dataclass
class ReconcilerContender:
    """``reconciler apply -f DIR`` twice, as a subprocess: from empty, then a no-op."""

    api: docker.APIClient
    workers: int
    workdir: Path
    executable: Path
    name: str = RECONCILER
    phases: tuple[str, ...] = (EMPTY, NOOP)
    instance: str = ""

    def available(self) -> str | None:
        return None if os.access(self.executable, os.X_OK) else f"{self.executable} missing"

    def prepare(self) -> str:
        """Byte-compile the package this executable runs; what was done, for the output."""
        first = self.executable.read_bytes().split(b"\n", 1)[0].decode(errors="replace")
        interpreter = first.removeprefix("#!").strip().split(" ")[0]
        if not first.startswith("#!") or "python" not in interpreter:
            return f"{self.name}: not a Python script; not byte-compiled"
        where = subprocess.run(
            [interpreter, "-c", "import reconciler; print(reconciler.__path__[0])"],
            capture_output=True,
            text=True,
            check=True,
            cwd="/",  # not this checkout's package, found first from the current directory
        ).stdout.strip()
        subprocess.run([interpreter, "-m", "compileall", "-q", where], check=True)
        return f"{self.name}: {where} byte-compiled"

    def run(self, sandboxes: int, docker_host: str, mark: Mark) -> Sample:
        self.instance = f"bench-{short_id()}"
        manifests = self.workdir / self.instance
        manifests.mkdir()
        for index in range(sandboxes):
            (manifests / f"s{index}.yaml").write_text(yaml.safe_dump(_sandbox(f"s{index}")))
        apply = [
            str(self.executable),
            "--instance",
            self.instance,
            "--docker-host",
            docker_host,
            "--infra-image",
            PAUSE,
            "apply",
            "--parallel",
            str(self.workers),
            "-f",
            str(manifests),
        ]
        env = os.environ | {"DOCKER_HOST": docker_host}
        expected = sandboxes * (1 + WORKLOADS)
        sample = Sample()
        sample.record(EMPTY, run_timed(apply, env))
        mark(EMPTY)
        before = expect_running(self.api, self._label, expected, self.name)
        sample.record(NOOP, run_timed(apply, env))
        mark(NOOP)
        expect_unchanged(before, expect_running(self.api, self._label, expected, self.name), NOOP)
        return sample

    def cleanup(self) -> None:
        if self.instance:
            remove_labelled(self.api, self._label)

    @property
    def _label(self) -> str:
        return f"{MANAGED_BY}={self.instance}"


def _sandbox(name: str) -> dict[str, Any]:
    containers = [
        {"name": f"w{worker}", "image": BUSYBOX, "command": ["sleep", "3600"]}
        for worker in range(WORKLOADS)
    ]
    return {
        "apiVersion": "reconciler/v1",
        "kind": "Sandbox",
        "metadata": {"name": name},
        "spec": {
            "share": ["network", "ipc"],
            "terminationGracePeriodSeconds": 1,
            "containers": containers,
        },
    }


# -- running rounds -------------------------------------------------------------------


@dataclass
class Results:
    """Per size, per contender: every timed round, and the API calls of the counting round."""

    rounds: dict[tuple[int, str], list[Sample]] = field(default_factory=dict)
    calls: dict[tuple[int, str, str], Counter[str]] = field(default_factory=dict)

    def add(self, size: int, name: str, sample: Sample) -> None:
        self.rounds.setdefault((size, name), []).append(sample)

    def median(self, size: int, name: str, phase: str) -> float | None:
        values = [s.times[phase] for s in self.rounds.get((size, name), []) if phase in s.times]
        return statistics.median(values) if values else None

    def median_cpu(self, size: int, name: str, phase: str) -> float | None:
        values = [s.cpu[phase] for s in self.rounds.get((size, name), []) if phase in s.cpu]
        return statistics.median(values) if values else None

    def peak_rss(self, size: int, name: str, phase: str) -> int | None:
        values = [s.rss[phase] for s in self.rounds.get((size, name), []) if phase in s.rss]
        return max(values) if values else None

    def total_calls(self, size: int, name: str, phase: str) -> int | None:
        counts = self.calls.get((size, name, phase))
        return None if counts is None else sum(counts.values())

    def ratio(self, size: int, mine: tuple[str, str], theirs: tuple[str, str]) -> float | None:
        a, b = self.median(size, *mine), self.median(size, *theirs)
        return None if a is None or not b else a / b


def rotated(items: Sequence[Contender], by: int) -> list[Contender]:
    shift = by % len(items)
    return [*items[shift:], *items[:shift]]


def run_size(
    contenders: Sequence[Contender],
    size: int,
    rounds: int,
    proxy: CountingProxy | None,
    direct: str,
    results: Results,
    report: Callable[[str], None],
) -> None:
    """One counting round through ``proxy`` (when given), then ``rounds`` timed rounds."""
    runnable = [c for c in contenders if c.available() is None]
    if proxy is not None:
        report(f"{size} sandboxes: counting API calls (untimed)")
        for contender in runnable:
            proxy.take()
            try:
                contender.run(
                    size,
                    proxy.docker_host,
                    lambda phase, c=contender: results.calls.__setitem__(
                        (size, c.name, phase), proxy.take()
                    ),
                )
            finally:
                contender.cleanup()
                time.sleep(SETTLE_SECONDS)
    for number in range(rounds):
        order = rotated(runnable, number)
        report(f"{size} sandboxes, round {number + 1}/{rounds}: {', '.join(c.name for c in order)}")
        for contender in order:
            try:
                sample = contender.run(size, direct, lambda phase: None)
            finally:
                contender.cleanup()
                time.sleep(SETTLE_SECONDS)
            results.add(size, contender.name, sample)
            figures = ", ".join(f"{phase} {secs:.2f} s" for phase, secs in sample.times.items())
            report(f"  {contender.name}: {figures}")


# -- printing -------------------------------------------------------------------------


def _secs(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s"


def _ratio(value: float | None, target: float) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}x ({'OK' if value <= target else 'MISS'} <= {target}x)"


def _mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.0f} MiB"


def _num(value: int | None) -> str:
    return "-" if value is None else str(value)


def size_table(contenders: Sequence[Contender], results: Results, size: int) -> str:
    """Medians per phase and contender, with the two ratios the targets are about."""
    header = ["phase", *(f"{c.name} (floor)" if c.name == FLOOR else c.name for c in contenders)]
    rows = [[*header, "ratio"]]
    for phase, ratio in (
        (EMPTY, _ratio(results.ratio(size, (RECONCILER, EMPTY), (FLOOR, EMPTY)), FLOOR_TARGET)),
        (NOOP, _ratio(results.ratio(size, (RECONCILER, NOOP), (COMPOSE_NAME, NOOP)), NOOP_TARGET)),
    ):
        row = [phase]
        for contender in contenders:
            missing = contender.available()
            cell = missing if missing else _secs(results.median(size, contender.name, phase))
            row.append(cell if phase in contender.phases else "")
        which = "reconciler/floor" if phase == EMPTY else "reconciler/compose"
        rows.append([*row, f"{which} {ratio}"])
    baseline = results.ratio(size, (BASELINE, EMPTY), (FLOOR, EMPTY))
    if baseline is not None:
        rows.append([EMPTY, *([""] * len(contenders)), f"baseline/floor {baseline:.2f}x"])
    return table(rows)


def cpu_table(contenders: Sequence[Contender], results: Results, size: int) -> str:
    """Median CPU seconds (user + sys) of each subprocess per phase, and against the floor's."""
    floor_cpu = results.median_cpu(size, FLOOR, EMPTY)
    rows = [["contender", "phase", "CPU", "/floor CPU"]]
    for contender in contenders:
        for phase in contender.phases:
            cpu = results.median_cpu(size, contender.name, phase)
            if cpu is None:
                continue
            ratio = f"{cpu / floor_cpu:.2f}x" if floor_cpu and phase == EMPTY else ""
            rows.append([contender.name, phase, _secs(cpu), ratio])
    return table(rows) if len(rows) > 1 else "(no subprocess CPU figures)"


def calls_table(contenders: Sequence[Contender], results: Results, size: int) -> str:
    """API calls per contender and phase (the counting round), the busiest requests named."""
    rows = [["contender", "phase", "calls", "of which"]]
    for contender in contenders:
        for phase in contender.phases:
            counts = results.calls.get((size, contender.name, phase))
            if counts is None:
                continue
            top = ", ".join(f"{n} {what}" for what, n in counts.most_common(4))
            rows.append([contender.name, phase, str(sum(counts.values())), top])
    return table(rows) if len(rows) > 1 else "(no counts: --no-count)"


def raw_table(contenders: Sequence[Contender], results: Results, size: int) -> str:
    columns = [(c.name, p) for c in contenders if c.available() is None for p in c.phases]
    header = ["round", *(f"{n} {'empty' if p == EMPTY else 'no-op'}" for n, p in columns)]
    rounds = max((len(v) for (s, _), v in results.rounds.items() if s == size), default=0)
    rows = [header]
    for number in range(rounds):
        row = [str(number + 1)]
        for name, phase in columns:
            runs = results.rounds.get((size, name), [])
            if number >= len(runs):
                row.append("-")
                continue
            cpu = runs[number].cpu.get(phase)
            cell = _secs(runs[number].times.get(phase))
            row.append(cell if cpu is None else f"{cell} ({cpu:.2f} CPU)")
        rows.append(row)
    return table(rows)


def summary_table(results: Results, sizes: Sequence[int]) -> str:
    """One row per size: the figures the issue's targets are about."""
    rows = [
        [
            "N",
            "floor empty",
            "in-process",
            "reconciler empty",
            "/floor",
            "/in-process",
            "compose no-op",
            "reconciler no-op",
            "/compose",
            "calls empty/no-op",
            "compose calls",
            "reconciler RSS",
        ]
    ]
    for size in sizes:
        rows.append(
            [
                str(size),
                _secs(results.median(size, FLOOR, EMPTY)),
                _secs(results.median(size, IN_PROCESS, EMPTY)),
                _secs(results.median(size, RECONCILER, EMPTY)),
                _plain(results.ratio(size, (RECONCILER, EMPTY), (FLOOR, EMPTY))),
                _plain(results.ratio(size, (RECONCILER, EMPTY), (IN_PROCESS, EMPTY))),
                _secs(results.median(size, COMPOSE_NAME, NOOP)),
                _secs(results.median(size, RECONCILER, NOOP)),
                _plain(results.ratio(size, (RECONCILER, NOOP), (COMPOSE_NAME, NOOP))),
                f"{_num(results.total_calls(size, RECONCILER, EMPTY))}"
                f"/{_num(results.total_calls(size, RECONCILER, NOOP))}",
                f"{_num(results.total_calls(size, COMPOSE_NAME, EMPTY))}"
                f"/{_num(results.total_calls(size, COMPOSE_NAME, NOOP))}",
                _mib(results.peak_rss(size, RECONCILER, EMPTY)),
            ]
        )
    return table(rows)


def _plain(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def plot(results: Results, sizes: Sequence[int], path: Path) -> str:
    """Write the PNG; what was done, for the output."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no plot: matplotlib is not installed (pip install -e '.[bench]')"
    figure, (times, memory) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, phase, style in (
        (FLOOR, EMPTY, "k--"),
        (IN_PROCESS, EMPTY, "k:"),
        (COMPOSE_NAME, EMPTY, "s-"),
        (RECONCILER, EMPTY, "o-"),
        (COMPOSE_NAME, NOOP, "s:"),
        (RECONCILER, NOOP, "o:"),
    ):
        points = [(n, results.median(n, name, phase)) for n in sizes]
        xs = [n for n, v in points if v is not None]
        if xs:
            ys = [v for _, v in points if v is not None]
            label = f"{name}, {'from empty' if phase == EMPTY else 'nothing to change'}"
            times.plot(xs, ys, style, label=label)
    times.set(xlabel="sandboxes (3 containers each)", ylabel="seconds (median)")
    times.set_title("apply: converge time against N")
    for name, style in ((FLOOR, "k--"), (COMPOSE_NAME, "s-"), (RECONCILER, "o-")):
        points = [(n, results.peak_rss(n, name, EMPTY)) for n in sizes]
        xs = [n for n, v in points if v is not None]
        if xs:
            memory.plot(xs, [v / 1024 for _, v in points if v is not None], style, label=name)
    memory.set(xlabel="sandboxes (3 containers each)", ylabel="MiB")
    memory.set_title("peak RSS of the process, from empty")
    for axes in (times, memory):
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
        if len(sizes) > 1 and max(sizes) / min(sizes) >= 20:
            axes.set_xscale("log")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return f"plot written to {path}"


def describe(api: docker.APIClient, args: argparse.Namespace) -> str:
    version = api.version()
    return (
        f"sizes {', '.join(map(str, args.sizes))} sandboxes x (infra + {WORKLOADS} workloads); "
        f"{args.parallel} workers; {args.rounds} timed round(s) per size, alternated; medians"
        f"{'' if args.no_count else '; one more, untimed, through the counting proxy'}\n"
        f"daemon {os.environ['DOCKER_HOST']}: Docker {version.get('Version')}, "
        f"{os.cpu_count()} CPUs on this host"
    )


# -- main -----------------------------------------------------------------------------


def sizes(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of numbers, e.g. 4,20") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("sizes must be at least 1")
    return sorted(set(values))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time `reconciler apply` against docker-compose and the docker SDK floor."
    )
    parser.add_argument(
        "--sizes", type=sizes, default=[4, 20], help="sandbox counts (default 4,20)"
    )
    parser.add_argument("--rounds", type=positive, default=3, help="timed rounds (default 3)")
    parser.add_argument(
        "--parallel",
        type=positive,
        default=4,
        help="workers of the SDK floor and reconciler apply --parallel (default 4)",
    )
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="also time the SDK one sandbox at a time (in-process)",
    )
    parser.add_argument(
        "--no-compose", action="store_true", help="leave docker-compose out even if installed"
    )
    parser.add_argument(
        "--no-in-process", action="store_true", help="leave the in-process SDK reference out"
    )
    parser.add_argument(
        "--reconciler",
        type=Path,
        default=None,
        help="the reconciler executable to time (default: the one beside this Python); "
        "with PYTHONPATH, another checkout's code",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another reconciler executable timed beside --reconciler, as 'baseline' "
        "(e.g. main's venv, for before/after figures from one run)",
    )
    parser.add_argument(
        "--no-count", action="store_true", help="skip the counting round (no API-call figures)"
    )
    parser.add_argument(
        "--plot",
        type=Path,
        default=Path("bench-apply.png"),
        help="where the PNG goes (default ./bench-apply.png)",
    )
    parser.add_argument("--no-plot", action="store_true", help="write no PNG")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        api = connect()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    direct = os.environ["DOCKER_HOST"]
    results = Results()
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
        workdir = Path(tmp)
        contenders: list[Contender] = [
            SdkContender(FLOOR, api, args.parallel, script=True),
            *([] if args.no_in_process else [SdkContender(IN_PROCESS, api, args.parallel, False)]),
            *([SdkContender("SDK sequential", api, 1, script=False)] if args.sequential else []),
            *([] if args.no_compose else [ComposeContender(api, workdir)]),
            ReconcilerContender(
                api, args.parallel, workdir, args.reconciler or reconciler_executable()
            ),
            *(
                [ReconcilerContender(api, args.parallel, workdir, args.baseline, name=BASELINE)]
                if args.baseline
                else []
            ),
        ]
        print(describe(api, args), flush=True)
        for contender in contenders:
            if contender.available() is not None:
                print(f"{contender.name}: {contender.available()}; left out")
            elif isinstance(contender, ReconcilerContender):
                print(contender.prepare())
        proxy = None
        if not args.no_count:
            if not direct.startswith("unix://"):
                print("error: counting needs a unix socket DOCKER_HOST (or --no-count)")
                return 1
            proxy = CountingProxy(workdir / "counting.sock", Path(direct.removeprefix("unix://")))
            proxy.start()
        try:
            for size in args.sizes:
                run_size(
                    contenders,
                    size,
                    args.rounds,
                    proxy,
                    direct,
                    results,
                    lambda line: print(line, flush=True),
                )
        except (BenchError, docker.errors.DockerException) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            if proxy is not None:
                proxy.stop()
    for size in args.sizes:
        print(f"\n== {size} sandboxes ({size * (1 + WORKLOADS)} containers): medians")
        print(size_table(contenders, results, size))
        print("\nCPU time, user + sys (medians)")
        print(cpu_table(contenders, results, size))
        print("\nAPI calls (counting round)")
        print(calls_table(contenders, results, size))
        print("\nper round")
        print(raw_table(contenders, results, size))
    print("\n== summary (medians; RSS: the largest of the timed rounds)")
    print(summary_table(results, args.sizes))
    if not args.no_plot:
        print(plot(results, args.sizes, args.plot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
