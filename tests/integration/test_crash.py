"""Crash consistency on a real daemon: kills, half-made states, two applies, a daemon gone.

scripts/crash.py is the full harness (20 sandboxes, 50 kills each way);
these are its small versions and one test per repair rule.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import docker

from reconciler.core import labels as L
from reconciler.core.naming import name_of
from reconciler.core.ownership import applied
from reconciler.drivers.docker.spec import member_body
from tests.crashing import PAUSE, CrashRun

from .conftest import Harness


def crash_run(h: Harness, tmp_path: Path, sandboxes: int, seed: int = 7) -> CrashRun:
    return CrashRun(h.api, tmp_path / "crash", h.instance, sandboxes, seed)


def test_apply_killed_at_random_points_is_repaired_by_one_more_apply(
    h: Harness, tmp_path: Path
) -> None:
    crash = crash_run(h, tmp_path, sandboxes=3)
    crash.calibrate()
    for _ in range(4):
        crash.kill_once(crash.apply_args())
    done = crash.final_apply()
    assert done.returncode == 0, done.stdout + done.stderr
    assert crash.problems() == []


def test_run_killed_at_random_points_is_repaired_by_the_next_run(
    h: Harness, tmp_path: Path
) -> None:
    crash = crash_run(h, tmp_path, sandboxes=3, seed=11)
    crash.calibrate(run=True)
    for _ in range(3):
        crash.kill_once(crash.run_args())
    crash.final_run(within=90)
    assert crash.problems() == []


def test_a_member_never_started_and_members_of_a_gone_infra_are_repaired(
    h: Harness, tmp_path: Path
) -> None:
    crash = crash_run(h, tmp_path, sandboxes=2)
    crash.calibrate()
    (unit, other) = crash.desired().units
    # s00: `side` removed and created again but never started, as a kill between
    # create and start leaves it.
    side = next(m for m in unit.members if m.name == "side")
    infra = h.member(unit.key.name)
    h.api.remove_container(h.member(unit.key.name, "side")["Id"], force=True)
    h.api.create_container_from_config(member_body(side, infra["Id"]), name_of(side.labels))
    # s01: its infra removed, as a kill between removing it and creating the next leaves it.
    h.api.remove_container(h.member(other.key.name)["Id"], force=True)
    assert crash.problems() != []
    done = crash.final_apply()
    assert done.returncode == 0, done.stdout + done.stderr
    assert crash.problems() == []


def test_a_volume_left_without_its_unit_is_pruned(h: Harness, tmp_path: Path) -> None:
    crash = crash_run(h, tmp_path, sandboxes=1)
    # As `apply --prune` of these manifests made it: a source prunes only its own.
    labels = {
        L.MANAGED_BY: h.instance,
        L.KIND: "Sandbox",
        L.NAMESPACE: "default",
        L.SANDBOX: "gone",
        L.VOLUME: "data",
        **applied([str(crash.manifests.resolve())]).labels(),
    }
    h.api.create_volume(f"{h.instance}_default_gone.data", labels=labels)
    assert "volume" in " ".join(crash.problems())
    done = crash.final_apply()  # apply --prune
    assert done.returncode == 0, done.stdout + done.stderr
    assert crash.problems() == []


def test_two_applies_at_once_converge_without_duplicates(h: Harness, tmp_path: Path) -> None:
    crash = crash_run(h, tmp_path, sandboxes=6, seed=3)
    for _ in range(2):
        crash.change()
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "reconciler", *crash.apply_args()],
                env=crash.env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [run.communicate(timeout=300)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        assert crash.problems() == []


def test_dockerd_stopped_mid_apply_is_a_clear_error_and_the_next_apply_converges(
    h: Harness, tmp_path: Path
) -> None:
    scripts = Path(__file__).resolve().parents[2] / "scripts"
    home = Path(f"/tmp/rc-{h.instance}")
    host = subprocess.run(
        [scripts / "dockerd.sh", "start", str(home)], capture_output=True, text=True, check=True
    ).stdout.strip()
    env = os.environ | {"DOCKER_HOST": host}
    try:
        subprocess.run([scripts / "test-image.sh"], env=env, check=True, capture_output=True)
        private = docker.APIClient(base_url=host, version="1.41", timeout=60)
        crash = CrashRun(private, tmp_path / "crash", h.instance, 8, seed=5)
        apply = subprocess.Popen(
            [sys.executable, "-m", "reconciler", *crash.apply_args()],
            env=env | {"RECONCILER_INSTANCE": h.instance, "RECONCILER_INFRA_IMAGE": PAUSE},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not crash.containers():
            assert time.monotonic() < deadline and apply.poll() is None, "apply made nothing"
            time.sleep(0.05)
        subprocess.run([scripts / "dockerd.sh", "stop", str(home)], check=True)
        output = apply.communicate(timeout=300)[0]
        assert apply.returncode == 1, output
        assert "the Docker daemon does not answer" in output
        assert "Traceback" not in output
        subprocess.run(
            [scripts / "dockerd.sh", "start", str(home)], check=True, capture_output=True
        )
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", *crash.apply_args()],
            env=env | {"RECONCILER_INSTANCE": h.instance, "RECONCILER_INFRA_IMAGE": PAUSE},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert crash.problems() == []
        crash.cleanup()
    finally:
        subprocess.run([scripts / "dockerd.sh", "stop", str(home)], check=False)
        subprocess.run(["rm", "-rf", str(home)], check=False)
