"""The benchmark's smoke size runs end to end (no timing is asserted: CI machines vary)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import docker
import pytest

pytestmark = pytest.mark.integration

BENCH = Path(__file__).resolve().parents[2] / "bench" / "apply.py"


def test_the_apply_benchmark_prints_its_tables_at_a_smoke_size(
    api: docker.APIClient, tmp_path: Path
) -> None:
    done = subprocess.run(
        [
            *(sys.executable, str(BENCH), "--sizes", "2", "--rounds", "1", "--no-compose"),
            *("--plot", str(tmp_path / "apply.png")),
        ],
        env=os.environ,  # DOCKER_HOST: the daemon the `api` fixture checked
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "== 2 sandboxes (6 containers): medians" in out
    assert "== summary" in out
    # The counting proxy saw both contenders, and the no-op of reconciler lists its containers.
    assert re.search(r"^SDK script +from empty +12 ", out, re.M), out  # 6 creates, 6 starts
    assert re.search(r"^reconciler +nothing to change +\d+ .*GET /containers/json", out, re.M)
    summary = out.split("== summary", 1)[1].splitlines()
    assert any(line.startswith("2 ") for line in summary), out
    # The plot is written when matplotlib is there, and skipped with a note when not.
    assert (tmp_path / "apply.png").exists() or "no plot: matplotlib is not installed" in out


def test_the_loop_benchmark_prints_its_summary_at_a_smoke_size(api: docker.APIClient) -> None:
    loop_bench = BENCH.with_name("loop.py")
    done = subprocess.run(
        [
            *(sys.executable, str(loop_bench), "--sizes", "1", "--rounds", "1"),
            *("--kills", "1", "--creates", "1", "--idle", "1"),
        ],
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "removed 6 container(s)" in out, out  # 1 sandbox + 1 new file, 3 containers each
    summary = out.split("file -> running", 2)[-1]
    assert re.search(
        r"^1 +[\d.]+ s +[\d.]+ s +[\d.]+x +\d+ MiB +[\d.]+ % +\d+ ms +\d+ ms", summary, re.M
    ), out
    # Nothing of the floor's or the loop's is left behind.
    assert not api.containers(all=True, filters={"label": "io.reconciler.bench.floor"})
