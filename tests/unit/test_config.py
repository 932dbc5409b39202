"""The operator's configuration file and its precedence (flags > env > file > defaults)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli.config import OperatorConfig, load_config
from reconciler.core.errors import ManifestError
from reconciler.core.models import Mode

THREE = """\
apiVersion: reconciler/v1
kind: Sandbox
metadata: {name: s}
spec:
  containers: [{name: a, image: x}, {name: b, image: x}, {name: c, image: x}]
"""


def test_a_full_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "instance: edge\nmode: standalone\nallowedModes: [standalone, container-in-sandbox]\n"
        "defaultRuntime: runsc\nallowedRuntimes: [runc, runsc]\ninfraImage: local/pause:test\n"
        "stateDir: /tmp/x\nresync: 15\nbackoffInitial: 5\nbackoffMax: 60\n"
    )
    config = load_config(path)
    assert config.mode is Mode.STANDALONE and config.allowed_runtimes == ["runc", "runsc"]
    assert config.default_map() == {
        "instance": "edge",
        "mode": "standalone",
        "allowed_modes": "standalone,container-in-sandbox",
        "default_runtime": "runsc",
        "allowed_runtimes": "runc,runsc",
        "infra_image": "local/pause:test",
        "run": {"state_dir": "/tmp/x", "resync": 15.0, "backoff_initial": 5.0, "backoff_max": 60.0},
    }


def test_unknown_keys_and_bad_values_name_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("instance: edge\nmood: standalone\nresync: -1\n")
    with pytest.raises(ManifestError) as caught:
        load_config(path)
    assert sorted(str(p) for p in caught.value.problems) == [
        f"{path}:2:1: mood: unknown configuration key",
        f"{path}:3:1: resync: Input should be greater than 0",
    ]


def test_an_empty_file_is_all_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("# nothing yet\n")
    assert load_config(path) == OperatorConfig()


def validate(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> int:
    manifest = tmp_path / "three.yaml"
    manifest.write_text(THREE)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args, "validate", "-f", str(manifest)],
        env=clean | (env or {}),
        capture_output=True,
        text=True,
        check=False,
    ).returncode


def test_precedence_flags_over_env_over_file_over_defaults(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("mode: standalone\n")
    assert validate(tmp_path) == 0, "default: container-in-sandbox takes three containers"
    assert validate(tmp_path, "--config", str(config)) == 1, "the file says standalone"
    env = {"RECONCILER_MODE": "container-in-sandbox"}
    assert validate(tmp_path, "--config", str(config), env=env) == 0, "env beats the file"
    assert validate(tmp_path, "--config", str(config), "--mode", "standalone", env=env) == 1
    assert validate(tmp_path, env={"RECONCILER_CONFIG": str(config)}) == 1


def test_a_broken_config_stops_every_command(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("nope: 1\n")
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "--config", str(config), "validate", "-f", "-"],
        input=THREE,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert f"{config}:1:1: nope: unknown configuration key" in done.stderr
