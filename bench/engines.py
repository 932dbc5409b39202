"""Compare the engines: time to converge N sandboxes from empty, and an idle loop's CPU.

Contenders: docker+runc (``--driver docker``), cri+runc and cri+runsc
(``--driver cri``; runsc only when containerd offers it). Each is given the
same ``--sandboxes`` Sandbox manifests (default 20), each an infra (the pause
image, or the CRI pod sandbox) plus two workloads (local/busybox:test running
``sleep 3600``) sharing network and IPC, with the runtime the contender names.

1. converge: ``reconciler apply -f DIR`` from empty, timed as a subprocess
   (process start included), until it returns with every unit converged;
   then ``reconciler delete -f DIR`` (not timed). Contenders alternate, the
   order rotated round by round so a busy moment of the shared machine does
   not always hit the same one; the table shows medians of ``--rounds``.
2. idle (``--idle SECONDS``, 0 skips it): ``reconciler run DIR`` on the same
   N sandboxes, once converged, for SECONDS; the CPU it used meanwhile
   (utime + stime of /proc/PID/stat) as a share of one core. Under CRI the
   loop relists every second (kubelet's PLEG); under Docker it follows the
   event stream.

Each contender runs as an instance of its own (``bench-<random>``); what it
made is removed with ``reconciler delete`` and, should that fail, left for
the operator to see. Nothing else is touched.

    export DOCKER_HOST=$(scripts/dockerd.sh start /tmp/rd)        && scripts/test-image.sh
    export CONTAINER_RUNTIME_ENDPOINT=$(scripts/containerd.sh start /tmp/rc)
    scripts/cri-images.sh "$CONTAINER_RUNTIME_ENDPOINT"
    .venv/bin/python bench/engines.py [--rounds 3] [--sandboxes 20] [--idle 30]

A benchmark, not a test: exits 1 only when it cannot measure.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import positive, reconciler_executable, short_id, table

PAUSE = "local/pause:test"


@dataclass(frozen=True)
class Contender:
    name: str
    driver: str
    runtime: str


CONTENDERS = (
    Contender("docker+runc", "docker", "runc"),
    Contender("cri+runc", "cri", "runc"),
    Contender("cri+runsc", "cri", "runsc"),
)


def manifests(directory: Path, count: int, runtime: str) -> None:
    for i in range(count):
        (directory / f"s{i:02d}.yaml").write_text(
            f"""apiVersion: reconciler/v1
kind: Sandbox
metadata: {{name: s{i:02d}}}
spec:
  runtime: {runtime}
  share: [network, ipc]
  terminationGracePeriodSeconds: 1
  containers:
    - {{name: a, image: local/busybox:test, command: [sleep, "3600"]}}
    - {{name: b, image: local/busybox:test, command: [sleep, "3600"]}}
"""
        )


def environment(contender: Contender, instance: str, state: Path) -> dict[str, str]:
    return os.environ | {
        "RECONCILER_INSTANCE": instance,
        "RECONCILER_DRIVER": contender.driver,
        "RECONCILER_INFRA_IMAGE": PAUSE,
        "RECONCILER_CRI_STATE_DIR": str(state / "cri"),
    }


def reconciler(env: dict[str, str], *args: str) -> float:
    began = time.perf_counter()
    done = subprocess.run(
        [str(reconciler_executable()), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    took = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"reconciler {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return took


def converge(contender: Contender, count: int, work: Path) -> float:
    instance = f"bench-{short_id()}"
    directory = work / instance
    directory.mkdir()
    manifests(directory, count, contender.runtime)
    env = environment(contender, instance, work / f"{instance}.state")
    try:
        return reconciler(env, "apply", "-f", str(directory))
    finally:
        reconciler(env, "delete", "-f", str(directory))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle(contender: Contender, count: int, work: Path, seconds: float) -> float:
    """The share of one core ``reconciler run`` uses while nothing changes."""
    instance = f"bench-{short_id()}"
    directory = work / instance
    directory.mkdir()
    manifests(directory, count, contender.runtime)
    state = work / f"{instance}.state"
    env = environment(contender, instance, state)
    reconciler(env, "apply", "-f", str(directory))  # converged before the loop starts
    loop = subprocess.Popen(
        [str(reconciler_executable()), "run", str(directory), "--state-dir", str(state)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        time.sleep(5)  # its first pass over every unit
        before, began = cpu_seconds(loop.pid), time.monotonic()
        time.sleep(seconds)
        used = cpu_seconds(loop.pid) - before
        return used / (time.monotonic() - began)
    finally:
        loop.send_signal(signal.SIGTERM)
        loop.wait(timeout=60)
        reconciler(env, "delete", "-f", str(directory))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=positive, default=3)
    parser.add_argument("--sandboxes", type=positive, default=20)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds; 0 skips it")
    options = parser.parse_args()
    if not os.environ.get("DOCKER_HOST") or not os.environ.get("CONTAINER_RUNTIME_ENDPOINT"):
        sys.exit("set DOCKER_HOST and CONTAINER_RUNTIME_ENDPOINT (see the module's help)")
    contenders = [c for c in CONTENDERS if c.runtime != "runsc" or Path("/usr/bin/runsc").exists()]
    times: dict[str, list[float]] = {c.name: [] for c in contenders}
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as temporary:
        work = Path(temporary)
        for round_number in range(options.rounds):
            shift = round_number % len(contenders)
            for contender in contenders[shift:] + contenders[:shift]:
                took = converge(contender, options.sandboxes, work)
                times[contender.name].append(took)
                print(f"round {round_number + 1}: {contender.name} {took:.2f} s", flush=True)
        rows = [["engine", f"{options.sandboxes} sandboxes from empty (median)", "rounds"]]
        rows += [
            [name, f"{statistics.median(v):.2f} s", " ".join(f"{x:.2f}" for x in v)]
            for name, v in times.items()
        ]
        print(table(rows))
        if options.idle > 0:
            shares = [["engine", f"idle loop over {options.sandboxes} sandboxes", "seconds"]]
            for contender in contenders:
                share = idle(contender, options.sandboxes, work, options.idle)
                shares.append(
                    [contender.name, f"{100 * share:.1f} % of a core", f"{options.idle:.0f}"]
                )
            print(table(shares))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
