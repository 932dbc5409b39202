"""Kill `reconciler apply` / `run` at random points, then check one more pass converges exactly.

Shared by scripts/crash.py (20 sandboxes, 50 kills each way, with figures)
and tests/integration/test_crash.py (a small version). Between kills the
manifests change (a new generation of some sandboxes' `app`, which recreates
it; a sandbox or two removed and brought back, which prunes), so kills land
in creates, starts, removals, recreates and init runs alike.

After every kill the state is surveyed (what the crash left: containers
created but never started, members joined to an infra that is gone, volumes
of units no longer desired); after the final pass it must be exact: one
running infra per sandbox, one copy of every member, each joined to its
infra and of the desired spec, nothing else of the instance, container or
volume.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

from reconciler.core import labels as L
from reconciler.core.admission import compile_and_admit
from reconciler.core.compile import BuildConfig
from reconciler.core.manifests import load_paths
from reconciler.core.spec import Desired, DesiredUnit
from reconciler.drivers.docker.capabilities import DOCKER

BUSYBOX = "local/busybox:test"
PAUSE = "local/pause:test"


@dataclass
class Figures:
    kills: int = 0  # SIGKILLs that landed while the process was still working
    finished_first: int = 0  # runs that were done before their kill came
    left: Counter[str] = field(default_factory=Counter)  # what the kills left, summed
    final_duplicates: int = 0
    final_orphans: int = 0
    final_wrong: list[str] = field(default_factory=list)
    final_seconds: float = 0.0

    @property
    def exact(self) -> bool:
        return not (self.final_duplicates or self.final_orphans or self.final_wrong)


def sandbox(name: str, generation: int, volume: bool, share: str = "[network, ipc]") -> str:
    vol = "  volumes: [{name: data, emptyDir: {}}]\n" if volume else ""
    mount = ", volumeMounts: [{name: data, mountPath: /data}]" if volume else ""
    return (
        "apiVersion: reconciler/v1\nkind: Sandbox\n"
        f"metadata: {{name: {name}}}\n"
        f"spec:\n  terminationGracePeriodSeconds: 1\n  share: {share}\n"
        + vol
        + "  initContainers:\n"
        f"    - {{name: setup, image: {BUSYBOX}, command: ['true']}}\n"
        "  containers:\n"
        f"    - {{name: app, image: {BUSYBOX}, command: [sleep, '3600'],"
        f" env: [{{name: GEN, value: '{generation}'}}]{mount}}}\n"
        f"    - {{name: side, image: {BUSYBOX}, command: [sleep, '3600']}}\n"
    )


class CrashRun:
    """One instance, one directory of manifests, one daemon."""

    def __init__(
        self, api: docker.APIClient, root: Path, instance: str, sandboxes: int, seed: int
    ) -> None:
        self.api = api
        self.root = root
        self.instance = instance
        self.rng = random.Random(seed)
        self.generation = dict.fromkeys((f"s{i:02d}" for i in range(sandboxes)), 0)
        self.shared_pid: set[str] = set()  # a change of the infra's spec: all is recreated
        self.removed: set[str] = set()
        self.figures = Figures()
        self.full_apply = 3.0  # seconds a whole apply takes (calibrate, and as runs finish)
        (root / "manifests").mkdir(parents=True, exist_ok=True)
        self._write()

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    def _write(self) -> None:
        for i, (name, gen) in enumerate(sorted(self.generation.items())):
            path = self.manifests / f"{name}.yaml"
            if name in self.removed:
                path.unlink(missing_ok=True)
            else:
                share = "[network, ipc, pid]" if name in self.shared_pid else "[network, ipc]"
                path.write_text(sandbox(name, gen, volume=i % 3 == 0, share=share))

    def change(self) -> None:
        """A new generation for some sandboxes; now and then one leaves or comes back."""
        names = sorted(self.generation)
        for name in self.rng.sample(names, max(1, len(names) // 3)):
            self.generation[name] += 1
        for name in self.rng.sample(names, max(1, len(names) // 6)):
            self.shared_pid ^= {name}
        if self.rng.random() < 0.3:
            if self.removed and self.rng.random() < 0.5:
                self.removed.discard(self.rng.choice(sorted(self.removed)))
            elif len(self.removed) < len(names) // 4:
                self.removed.add(self.rng.choice(names))
        self._write()

    def env(self) -> dict[str, str]:
        return os.environ | {"RECONCILER_INSTANCE": self.instance, "RECONCILER_INFRA_IMAGE": PAUSE}

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "reconciler", *args],
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def apply_args(self) -> list[str]:
        return ["apply", "-f", str(self.manifests), "--prune", "--allow-empty"]

    def run_args(self) -> list[str]:
        state = self.root / "state"
        return ["run", str(self.manifests), "--state-dir", str(state), "--resync", "1"]

    def calibrate(self, run: bool = False) -> None:
        """Converge once, unkilled, with the command to be killed (a unit belongs to the
        source that made it: `run` leaves `apply`'s units alone): how long that takes
        bounds the kill times."""
        if run:
            self.final_run()
            assert not self.problems(), self.problems()
        else:
            done = self.final_apply()
            assert done.returncode == 0, done.stdout + done.stderr
        self.full_apply = max(1.0, self.figures.final_seconds)

    def kill_once(self, args: list[str]) -> bool:
        """Start the command, SIGKILL it at a random moment, survey what it left.

        Whether the kill landed while it still worked; one that finished first
        teaches how long a pass takes, so later kills fall within it.
        """
        self.change()
        began = time.monotonic()
        proc = self._spawn(*args)
        at = began + self.rng.uniform(0.3, self.full_apply)
        while proc.poll() is None and time.monotonic() < at:
            time.sleep(0.02)
        landed = proc.poll() is None
        if landed:
            proc.send_signal(signal.SIGKILL)
            self.figures.kills += 1
        else:
            self.figures.finished_first += 1
            self.full_apply = max(1.0, time.monotonic() - began)
        proc.wait()
        self.figures.left.update(self.survey())
        return landed

    def kill_until(self, args: list[str], kills: int) -> None:
        """Kill the command ``kills`` times mid-work (at most three tries a kill)."""
        for _ in range(3 * kills):
            if self.figures.kills >= kills:
                return
            self.kill_once(args)

    def final_apply(self) -> subprocess.CompletedProcess[str]:
        began = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", *self.apply_args()],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        self.figures.final_seconds = time.monotonic() - began
        return done

    def final_run(self, within: float = 300.0) -> None:
        """Run the loop until the state is exact (or ``within`` passes), then stop it."""
        began = time.monotonic()
        proc = self._spawn(*self.run_args())
        try:
            while time.monotonic() - began < within:
                time.sleep(1.0)
                if not self.problems():
                    break
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        self.figures.final_seconds = time.monotonic() - began

    # -- what is there ----------------------------------------------------------------

    def desired(self) -> Desired:
        loaded = load_paths([str(self.manifests)])
        assert loaded.ok, [str(p) for p in loaded.errors]
        config = BuildConfig(self.instance, infra_image=PAUSE, driver=DOCKER)
        return compile_and_admit(loaded.manifests, config, values=loaded.values)

    def containers(self) -> list[dict[str, Any]]:
        label = f"{L.MANAGED_BY}={self.instance}"
        return list(self.api.containers(all=True, filters={"label": label}))

    def volumes(self) -> list[dict[str, Any]]:
        label = f"{L.MANAGED_BY}={self.instance}"
        return list(self.api.volumes(filters={"label": label}).get("Volumes") or [])

    def survey(self) -> Counter[str]:
        """What the state holds that one more pass must repair."""
        found: Counter[str] = Counter()
        rows = self.containers()
        wanted = {u.key.name for u in self.desired().units}
        infra_ids = {
            r["Labels"][L.SANDBOX]: r["Id"] for r in rows if r["Labels"][L.ROLE] == "infra"
        }
        copies = Counter((r["Labels"][L.SANDBOX], r["Labels"][L.CONTAINER]) for r in rows)
        found["duplicates"] += sum(n - 1 for n in copies.values())
        for r in rows:
            labels = r["Labels"]
            if r["State"] == "created":
                found["created, never started"] += 1
            if labels[L.SANDBOX] not in wanted:
                found["containers of units no longer desired"] += 1
            elif labels[L.ROLE] != "infra" and labels.get(L.INFRA_ID) != infra_ids.get(
                labels[L.SANDBOX]
            ):
                found["members whose infra is gone"] += 1
        found["volumes of units no longer desired"] += sum(
            1 for v in self.volumes() if v["Labels"].get(L.SANDBOX) not in wanted
        )
        return found

    def problems(self) -> list[str]:
        """Why the state is not exactly the desired one (empty when it is)."""
        want = self.desired()
        rows = self.containers()
        wrong: list[str] = []
        by_unit: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            by_unit.setdefault(r["Labels"][L.SANDBOX], []).append(r)
        for unit in want.units:
            wrong += _unit_problems(unit, by_unit.pop(unit.key.name, []))
        for name, rows_left in by_unit.items():
            wrong.append(f"sandbox/{name}: {len(rows_left)} orphaned container(s)")
        wanted_volumes = {v.name for u in want.units for v in u.volumes}
        for v in self.volumes():
            if v["Name"] not in wanted_volumes:
                wrong.append(f"volume {v['Name']} orphaned")
        return wrong

    def judge(self) -> None:
        """Fill the final figures from the state as it is now."""
        rows = self.containers()
        copies = Counter((r["Labels"][L.SANDBOX], r["Labels"][L.CONTAINER]) for r in rows)
        self.figures.final_duplicates = sum(n - 1 for n in copies.values())
        wanted = {u.key.name for u in self.desired().units}
        self.figures.final_orphans = sum(
            1 for r in rows if r["Labels"][L.SANDBOX] not in wanted
        ) + sum(1 for v in self.volumes() if v["Labels"].get(L.SANDBOX) not in wanted)
        self.figures.final_wrong = self.problems()

    def cleanup(self) -> None:
        for r in self.containers():
            self.api.remove_container(r["Id"], force=True)
        for v in self.volumes():
            self.api.remove_volume(v["Name"], force=True)


def _unit_problems(unit: DesiredUnit, here: list[dict[str, Any]]) -> list[str]:
    """Why one desired sandbox's containers (``here``) are not exactly what it asks for."""
    wrong: list[str] = []
    infras = [r for r in here if r["Labels"][L.ROLE] == "infra"]
    if len(infras) != 1 or infras[0]["State"] != "running":
        wrong.append(f"{unit.key}: {len(infras)} infra(s), not one running")
        return wrong
    assert unit.infra is not None
    if infras[0]["Labels"][L.SPEC_HASH] != unit.infra.hash:
        wrong.append(f"{unit.key}: infra of another spec")
    for member in unit.members:
        mine = [r for r in here if r["Labels"][L.CONTAINER] == member.name]
        if len(mine) != 1:
            wrong.append(f"{unit.key}: {len(mine)} copies of {member.name}")
            continue
        labels, state = mine[0]["Labels"], mine[0]["State"]
        if labels[L.SPEC_HASH] != member.hash:
            wrong.append(f"{unit.key}: {member.name} of another spec")
        if labels.get(L.INFRA_ID) != infras[0]["Id"]:
            wrong.append(f"{unit.key}: {member.name} joined another infra")
        expected = "running" if member.spec.role == "workload" else "exited"
        if state != expected:
            wrong.append(f"{unit.key}: {member.name} is {state}, not {expected}")
    extra = len(here) - 1 - len(unit.members)
    if extra > 0:
        wrong.append(f"{unit.key}: {extra} container(s) more than desired")
    return wrong
