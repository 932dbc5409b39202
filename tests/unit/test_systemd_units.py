"""contrib/systemd: `systemd-analyze verify` finds nothing to say, and the hardening
keeps its exposure score (`systemd-analyze security --offline`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "contrib" / "systemd"
ANALYZE = shutil.which("systemd-analyze")


@pytest.fixture
def units(tmp_path: Path) -> Path:
    """The units, with ExecStart pointing at this checkout's reconciler (verify checks it)."""
    if ANALYZE is None:
        reason = "systemd-analyze is missing (Debian package systemd; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    here = str(Path(sys.executable).parent / "reconciler")
    for unit in UNITS.glob("*.service"):
        text = unit.read_text().replace("/usr/local/bin/reconciler", here)
        (tmp_path / unit.name).write_text(text)
    return tmp_path


def _analyze(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, *args], cwd=directory, capture_output=True, text=True, check=False, timeout=120
    )


def test_the_units_verify_cleanly(units: Path) -> None:
    assert sorted(p.name for p in units.iterdir()) == [
        "reconciler-sync@.service",
        "reconciler.service",
    ]
    for name in ("reconciler.service", "reconciler-sync@edge.service"):
        done = _analyze(units, "verify", "--man=no", f"./{name}")
        # verify exits 0 on an unknown key, but says so: nothing said is the bar.
        assert (done.returncode, done.stderr, done.stdout) == (0, "", ""), name


def test_verify_would_catch_a_mistake(units: Path) -> None:
    text = (units / "reconciler.service").read_text()
    (units / "bad.service").write_text(text.replace("Type=notify", "Type=notify\nTypo=yes"))
    done = _analyze(units, "verify", "--man=no", "./bad.service")
    assert "Unknown key 'Typo'" in done.stderr


def test_the_hardening_keeps_the_exposure_low(units: Path) -> None:
    for name in ("reconciler.service", "reconciler-sync@edge.service"):
        done = _analyze(units, "security", "--offline=yes", f"./{name}")
        if "--offline" in done.stderr:  # systemd older than 252
            pytest.skip(f"systemd-analyze security --offline is not supported: {done.stderr}")
        match = re.search(r"Overall exposure level for \S+: ([\d.]+)", done.stdout + done.stderr)
        assert match, done.stdout + done.stderr
        assert float(match.group(1)) <= 2.0, name  # 1.8 / 1.9 when written; 10 is none
