"""Benchmark `reconciler apply` against docker-compose and the docker SDK floor.

What it measures: the wall-clock time to bring up N sandboxes (default 20),
each an infra container (local/pause:test, IpcMode shareable) plus two
workloads (local/busybox:test running ``sleep 3600``) that join the infra's
network and IPC namespaces (``container:<infra-id>``), no published ports:

- SDK parallel (the floor): the low-level ``docker.APIClient``, a thread pool
  of ``--parallel`` workers over sandboxes; each creates and starts the infra,
  then creates and starts each workload. Containers are named, like the others'.
- SDK sequential: the same, one sandbox after another.
- docker-compose (Debian's 1.29.2 at /usr/bin/docker-compose): one service
  per container, workloads on ``network_mode``/``ipc: service:sN``, the infra
  on the default bridge (as the SDK's and reconciler's are, so no project
  network is made); ``up -d`` from empty, then ``up -d`` with nothing changed.
- reconciler: one Sandbox manifest per sandbox; ``reconciler apply -f DIR``
  from empty, then again with nothing changed. Timed as a subprocess, so the
  figures include process start.

Each round runs every contender once, in an order rotated round by round so
none always goes first; the table shows medians, the per-round raw figures
follow. After each contender, exactly what it created is removed: SDK
containers by their ``io.reconciler-bench.run`` label, compose by
``docker-compose down`` (and its project label), reconciler by its
``io.reconciler.managed-by`` instance label. Nothing else is touched.

This is a benchmark, not a test: it exits 0 whatever the verdicts say, and 1
only when it cannot measure (no daemon, missing images, a contender failed).

Run it against a private daemon:

    scripts/dockerd.sh start /tmp/benchdocker      # prints unix:///tmp/benchdocker/docker.sock
    export DOCKER_HOST=unix:///tmp/benchdocker/docker.sock
    scripts/test-image.sh
    .venv/bin/python bench/apply.py [--rounds 3] [--sandboxes 20] [--parallel 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

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

WORKLOADS = 2  # per sandbox
BENCH_LABEL = "io.reconciler-bench.run"
COMPOSE_LABEL = "com.docker.compose.project"
COMPOSE = Path("/usr/bin/docker-compose")
SETTLE_SECONDS = 1.0  # let the daemon finish tearing down before the next contender

EMPTY = "from empty"
NOOP = "nothing to change"
FLOOR_RATIO_TARGET = 1.15
NOOP_TARGET_SECONDS = 0.4

Times = dict[str, float]  # phase -> seconds


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


def run_timed(cmd: Sequence[str], cwd: Path | None = None) -> float:
    """Wall-clock seconds of a subprocess (process start included); fail on non-zero exit."""
    began = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - began
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        raise BenchError(f"`{' '.join(cmd)}` exited {proc.returncode}:\n{output[-2000:]}")
    return elapsed


# -- the contenders -----------------------------------------------------------------


class Contender(Protocol):
    name: str
    phases: tuple[str, ...]

    def available(self) -> str | None:
        """None when it can run, else why not (shown in its column)."""

    def run(self) -> Times:
        """Measure one round from empty; leaves its containers for cleanup()."""

    def cleanup(self) -> None:
        """Remove exactly what the last run() created."""


@dataclass
class SdkContender:
    """The floor: the low-level SDK doing the minimum, in ``workers`` threads."""

    name: str
    api: docker.APIClient
    sandboxes: int
    workers: int
    phases: tuple[str, ...] = (EMPTY,)
    run_id: str = ""

    def available(self) -> str | None:
        return None

    def run(self) -> Times:
        self.run_id = short_id()
        began = time.perf_counter()
        if self.workers == 1:
            for index in range(self.sandboxes):
                self._sandbox(index)
        else:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                list(pool.map(self._sandbox, range(self.sandboxes)))
        elapsed = time.perf_counter() - began
        expect_running(self.api, self._label, self.sandboxes * (1 + WORKLOADS), self.name)
        return {EMPTY: elapsed}

    def cleanup(self) -> None:
        if self.run_id:
            remove_labelled(self.api, self._label)

    @property
    def _label(self) -> str:
        return f"{BENCH_LABEL}={self.run_id}"

    def _sandbox(self, index: int) -> None:
        labels = {BENCH_LABEL: self.run_id}
        prefix = f"bench-{self.run_id}-s{index}"
        infra = self._create_started(PAUSE, None, f"{prefix}-infra", labels, "shareable")
        joined = f"container:{infra}"
        for worker in range(WORKLOADS):
            name = f"{prefix}-w{worker}"
            self._create_started(BUSYBOX, ["sleep", "3600"], name, labels, joined, joined)

    def _create_started(
        self,
        image: str,
        command: list[str] | None,
        name: str,
        labels: dict[str, str],
        ipc_mode: str,
        network_mode: str | None = None,
    ) -> str:
        host_config = self.api.create_host_config(ipc_mode=ipc_mode, network_mode=network_mode)
        container = self.api.create_container(
            image, command=command, name=name, labels=labels, host_config=host_config
        )
        container_id: str = container["Id"]
        self.api.start(container_id)
        return container_id


@dataclass
class ComposeContender:
    """docker-compose 1.29.2: ``up -d`` from empty, then ``up -d`` with nothing changed."""

    api: docker.APIClient
    sandboxes: int
    workdir: Path
    name: str = "docker-compose"
    phases: tuple[str, ...] = (EMPTY, NOOP)
    project: str = ""

    def available(self) -> str | None:
        return None if os.access(COMPOSE, os.X_OK) else "not installed"

    def run(self) -> Times:
        self.project = f"rbench{short_id()}"  # compose keeps [a-z0-9] only
        compose_file = self.workdir / f"{self.project}.yml"
        compose_file.write_text(yaml.safe_dump(self._compose(), sort_keys=False))
        up = [str(COMPOSE), "-p", self.project, "-f", str(compose_file), "up", "-d"]
        expected = self.sandboxes * (1 + WORKLOADS)
        empty = run_timed(up)
        before = expect_running(self.api, self._label, expected, self.name)
        noop = run_timed(up)
        expect_unchanged(before, expect_running(self.api, self._label, expected, self.name), NOOP)
        return {EMPTY: empty, NOOP: noop}

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

    def _compose(self) -> dict[str, Any]:
        services: dict[str, Any] = {}
        for index in range(self.sandboxes):
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
    sandboxes: int
    workers: int
    workdir: Path
    executable: Path
    name: str = "reconciler"
    phases: tuple[str, ...] = (EMPTY, NOOP)
    instance: str = ""

    def available(self) -> str | None:
        return None if os.access(self.executable, os.X_OK) else f"{self.executable} missing"

    def run(self) -> Times:
        self.instance = f"bench-{short_id()}"
        manifests = self.workdir / self.instance
        manifests.mkdir()
        for index in range(self.sandboxes):
            (manifests / f"s{index}.yaml").write_text(yaml.safe_dump(_sandbox(f"s{index}")))
        apply = [
            str(self.executable),
            "--instance",
            self.instance,
            "--docker-host",
            os.environ["DOCKER_HOST"],
            "--infra-image",
            PAUSE,
            "apply",
            "--parallel",
            str(self.workers),
            "-f",
            str(manifests),
        ]
        expected = self.sandboxes * (1 + WORKLOADS)
        empty = run_timed(apply)
        before = expect_running(self.api, self._label, expected, self.name)
        noop = run_timed(apply)
        expect_unchanged(before, expect_running(self.api, self._label, expected, self.name), NOOP)
        return {EMPTY: empty, NOOP: noop}

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
        "spec": {"share": ["network", "ipc"], "containers": containers},
    }


# -- running rounds -------------------------------------------------------------------


@dataclass
class Results:
    """Per contender, per phase: the seconds of every round."""

    rounds: dict[str, list[Times]] = field(default_factory=dict)

    def add(self, name: str, times: Times) -> None:
        self.rounds.setdefault(name, []).append(times)

    def median(self, name: str, phase: str) -> float | None:
        values = [t[phase] for t in self.rounds.get(name, []) if phase in t]
        return statistics.median(values) if values else None


def rotated(items: Sequence[Contender], by: int) -> list[Contender]:
    shift = by % len(items)
    return [*items[shift:], *items[:shift]]


def run_rounds(
    contenders: Sequence[Contender], rounds: int, report: Callable[[str], None]
) -> Results:
    results = Results()
    runnable = [c for c in contenders if c.available() is None]
    for contender in contenders:
        missing = contender.available()
        if missing is not None:
            report(f"{contender.name}: {missing}")
    for number in range(rounds):
        order = rotated(runnable, number)
        report(f"round {number + 1}/{rounds}: {', '.join(c.name for c in order)}")
        for contender in order:
            try:
                times = contender.run()
            finally:
                contender.cleanup()
                time.sleep(SETTLE_SECONDS)
            results.add(contender.name, times)
            figures = ", ".join(f"{phase} {secs:.2f} s" for phase, secs in times.items())
            report(f"  {contender.name}: {figures}")
    return results


# -- printing -------------------------------------------------------------------------


def _cell(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s"


def _ratio_cell(results: Results, floor: str) -> str:
    ratio = _floor_ratio(results, floor)
    if ratio is None:
        return "-"
    verdict = "OK" if ratio <= FLOOR_RATIO_TARGET else "MISS"
    return f"{ratio:.2f}x (<= {FLOOR_RATIO_TARGET}x {verdict})"


def _noop_cell(results: Results) -> str:
    noop = results.median("reconciler", NOOP)
    if noop is None:
        return "-"
    verdict = "OK" if noop < NOOP_TARGET_SECONDS else "MISS"
    return f"{noop:.2f} s (< {NOOP_TARGET_SECONDS} s {verdict})"


def _floor_ratio(results: Results, floor: str) -> float | None:
    mine = results.median("reconciler", EMPTY)
    base = results.median(floor, EMPTY)
    return None if mine is None or not base else mine / base


def summary_table(contenders: Sequence[Contender], results: Results, floor: str) -> str:
    header = ["", *(_column_name(c, floor) for c in contenders), "reconciler/floor, target"]
    rows = [header]
    for phase in (EMPTY, NOOP):
        row = [phase]
        for contender in contenders:
            missing = contender.available()
            row.append(missing or _cell(results.median(contender.name, phase)))
        row.append(_ratio_cell(results, floor) if phase == EMPTY else _noop_cell(results))
        rows.append(row)
    return table(rows)


def _column_name(contender: Contender, floor: str) -> str:
    return f"{contender.name} (floor)" if contender.name == floor else contender.name


def raw_table(contenders: Sequence[Contender], results: Results) -> str:
    columns = [(c.name, p) for c in contenders if c.available() is None for p in c.phases]
    header = ["round", *(f"{n} {'empty' if p == EMPTY else 'no-op'}" for n, p in columns)]
    rounds = max((len(r) for r in results.rounds.values()), default=0)
    rows = [header]
    for number in range(rounds):
        row = [str(number + 1)]
        for name, phase in columns:
            runs = results.rounds.get(name, [])
            row.append(_cell(runs[number].get(phase)) if number < len(runs) else "-")
        rows.append(row)
    return table(rows)


def verdicts(results: Results, floor: str) -> list[str]:
    lines = []
    empty = results.median("reconciler", EMPTY)
    ratio = _floor_ratio(results, floor)
    if empty is not None and ratio is not None:
        ok = "OK" if ratio <= FLOOR_RATIO_TARGET else "MISS"
        lines.append(
            f"reconciler from empty: {empty:.2f} s = {ratio:.2f}x floor "
            f"(target <= {FLOOR_RATIO_TARGET}x): {ok}"
        )
    noop = results.median("reconciler", NOOP)
    if noop is not None:
        ok = "OK" if noop < NOOP_TARGET_SECONDS else "MISS"
        lines.append(
            f"reconciler nothing to change: {noop:.2f} s (target < {NOOP_TARGET_SECONDS} s): {ok}"
        )
    return lines


def describe(api: docker.APIClient, args: argparse.Namespace) -> str:
    version = api.version()
    total = args.sandboxes * (1 + WORKLOADS)
    return (
        f"{args.sandboxes} sandboxes x (infra + {WORKLOADS} workloads) = {total} containers; "
        f"{args.parallel} workers; {args.rounds} rounds, alternated; medians\n"
        f"daemon {os.environ['DOCKER_HOST']}: Docker {version.get('Version')}, "
        f"{os.cpu_count()} CPUs on this host"
    )


# -- main -----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time `reconciler apply` against docker-compose and the docker SDK floor."
    )
    parser.add_argument("--rounds", type=positive, default=3, help="rounds (default 3)")
    parser.add_argument("--sandboxes", type=positive, default=20, help="sandboxes (default 20)")
    parser.add_argument(
        "--parallel",
        type=positive,
        default=4,
        help="workers of the SDK floor and reconciler apply --parallel (default 4)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        api = connect()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    floor = "SDK parallel"
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
        workdir = Path(tmp)
        contenders: list[Contender] = [
            SdkContender(floor, api, args.sandboxes, args.parallel),
            SdkContender("SDK sequential", api, args.sandboxes, 1),
            ComposeContender(api, args.sandboxes, workdir),
            ReconcilerContender(
                api, args.sandboxes, args.parallel, workdir, reconciler_executable()
            ),
        ]
        print(describe(api, args), flush=True)
        try:
            results = run_rounds(contenders, args.rounds, lambda line: print(line, flush=True))
        except (BenchError, docker.errors.DockerException) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(f"\nmedians of {args.rounds} round(s)")
    print(summary_table(contenders, results, floor))
    print("\nper round")
    print(raw_table(contenders, results))
    print()
    print("\n".join(verdicts(results, floor)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
