"""The command line's exit codes and messages, with click's runner and a fake driver.

The CLI builds its driver in one factory, ``cli._driver``; these tests swap
that factory for the simulator (the integration tests run the real one).
Exit codes (cli.py's docstring): 0 success; 1 a unit failed, a manifest is
invalid or the daemon is unreachable; 2 bad usage; ``diff``: 0 no changes,
1 changes, 2 an error.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reconciler import cli
from reconciler.core.effective import UnitKey
from reconciler.core.errors import DaemonUnavailable, DriverError
from reconciler.core.observed import Observation

from .simulator import Engine

INSTANCE = "clitest"
WEB = """\
apiVersion: reconciler/v1
kind: Sandbox
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - {name: app, image: busybox:1}
"""
WITH_INIT = WEB.replace(
    "  containers:", "  initContainers: [{name: setup, image: busybox:1}]\n  containers:"
)


class FakeDriver(Engine):
    """The simulator behind the Docker driver's observe/inspect signatures."""

    def __init__(self) -> None:
        super().__init__(instance=INSTANCE)
        self.unreachable = False
        self.failing_removal = False

    def observe(
        self,
        desired_names: Collection[str] = (),
        runtimes: Collection[str] = (),
        unit: UnitKey | None = None,
        start_times: bool = True,
    ) -> Observation:
        if self.unreachable:
            raise DaemonUnavailable("the Docker daemon does not answer at unix:///nowhere")
        return super().observe()

    def inspect(self, ids: Collection[str]) -> dict[str, dict[str, Any]]:
        return {}

    def remove(self, container_id: str, grace_period: int) -> None:
        if self.failing_removal:
            raise DriverError(f"removing {container_id[:12]}: device or resource busy")
        super().remove(container_id, grace_period)


@pytest.fixture
def driver(monkeypatch: pytest.MonkeyPatch) -> FakeDriver:
    fake = FakeDriver()
    monkeypatch.setattr(cli, "_driver", lambda options: fake)
    for name in ("RECONCILER_CONFIG", "DOCKER_HOST", "RECONCILER_MODE"):
        monkeypatch.delenv(name, raising=False)
    return fake


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli.cli, ["--instance", INSTANCE, *args], catch_exceptions=False)


def _write(tmp_path: Path, text: str, name: str = "web.yaml") -> Path:
    path = tmp_path / name
    path.write_text(dedent(text))
    return path


def test_apply_converges_then_has_nothing_to_do(driver: FakeDriver, tmp_path: Path) -> None:
    path = _write(tmp_path, WEB)
    first = invoke("apply", "-f", str(path))
    assert first.exit_code == 0, first.output
    assert len(driver.containers) == 2
    assert invoke("apply", "-f", str(path)).exit_code == 0
    assert invoke("diff", "-f", str(path)).exit_code == 0


def test_apply_dry_run_changes_nothing(driver: FakeDriver, tmp_path: Path) -> None:
    done = invoke("apply", "--dry-run", "-f", str(_write(tmp_path, WEB)))
    assert done.exit_code == 0
    assert "no infra exists" in done.output
    assert driver.containers == {}


def test_apply_exits_1_when_an_init_container_fails(driver: FakeDriver, tmp_path: Path) -> None:
    driver.faults.init_exit[f"{INSTANCE}_default_web.setup"] = 7
    done = invoke("apply", "-f", str(_write(tmp_path, WITH_INIT)))
    assert done.exit_code == 1
    assert "init container setup exited with code 7" in done.output
    assert not any(c.container == "app" for c in driver.containers.values())


def test_apply_exits_1_on_an_invalid_manifest_and_prunes_nothing(
    driver: FakeDriver, tmp_path: Path
) -> None:
    path = _write(tmp_path, WEB)
    assert invoke("apply", "-f", str(tmp_path)).exit_code == 0
    _write(
        tmp_path,
        "apiVersion: reconciler/v1\nkind: Sandbox\nmetadata: {name: x}\nspec: 3\n",
        "x.yaml",
    )
    path.unlink()
    done = invoke("apply", "--prune", "-f", str(tmp_path))
    assert done.exit_code == 1
    assert "x.yaml:4" in done.output
    assert len(driver.containers) == 2, "a broken manifest never causes a prune"


def test_apply_exits_1_when_the_daemon_is_unreachable(driver: FakeDriver, tmp_path: Path) -> None:
    driver.unreachable = True
    done = invoke("apply", "-f", str(_write(tmp_path, WEB)))
    assert done.exit_code == 1
    assert "error: the Docker daemon does not answer" in done.output


def test_diff_exit_codes(driver: FakeDriver, tmp_path: Path) -> None:
    path = _write(tmp_path, WEB)
    changes = invoke("diff", "-f", str(path))
    assert changes.exit_code == 1 and "no infra exists" in changes.output
    invoke("apply", "-f", str(path))
    assert invoke("diff", "-f", str(path)).exit_code == 0
    driver.unreachable = True
    assert invoke("diff", "-f", str(path)).exit_code == 2


def test_diff_exits_2_on_a_planning_error(driver: FakeDriver, tmp_path: Path) -> None:
    driver.unmanaged.add(f"{INSTANCE}_default_web.app")  # somebody else holds the name
    done = invoke("diff", "-f", str(_write(tmp_path, WEB)))
    assert done.exit_code == 2
    assert "already taken" in done.output


def test_diff_exits_2_on_an_invalid_manifest(driver: FakeDriver, tmp_path: Path) -> None:
    done = invoke("diff", "-f", str(_write(tmp_path, WEB.replace("name: web", "name: Web"))))
    assert done.exit_code == 2
    assert "web.yaml:3" in done.output and "metadata.name" in done.output


def test_delete_exits_1_when_a_removal_fails(driver: FakeDriver, tmp_path: Path) -> None:
    assert invoke("apply", "-f", str(_write(tmp_path, WEB))).exit_code == 0
    driver.failing_removal = True
    done = invoke("delete", "sandbox/web")
    assert done.exit_code == 1
    assert "device or resource busy" in done.output
    driver.failing_removal = False
    assert invoke("delete", "web").exit_code == 0
    assert driver.containers == {}


def test_delete_of_an_unknown_unit_exits_1(driver: FakeDriver) -> None:
    done = invoke("delete", "sandbox/nothing")
    assert done.exit_code == 1
    assert "sandbox/nothing not found" in done.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("apply",), "give at least one -f PATH"),
        (("diff",), "give at least one -f PATH"),
        (("delete",), "give -f PATH or at least one NAME"),
        (("delete", "pod/web"), "kind must be sandbox or container"),
        (("apply", "--parallel", "0", "-f", "x"), "--parallel"),
        (("get", "-o", "xml"), "'xml' is not one of"),
        (("run", "/tmp", "--backoff-initial", "9", "--backoff-max", "1"), "exceeds"),
        (("frobnicate",), "No such command"),
    ],
)
def test_usage_errors_exit_2(driver: FakeDriver, args: tuple[str, ...], message: str) -> None:
    done = invoke(*args)
    assert done.exit_code == 2, done.output
    assert message in done.output


def test_a_bad_instance_name_is_a_usage_error(driver: FakeDriver) -> None:
    done = CliRunner().invoke(cli.cli, ["--instance", "Not_A_Label", "get"])
    assert done.exit_code == 2
    assert "--instance" in done.output


def test_run_on_a_missing_directory_exits_1(driver: FakeDriver, tmp_path: Path) -> None:
    done = invoke("run", str(tmp_path / "missing"), "--state-dir", str(tmp_path / "state"))
    assert done.exit_code == 1
    assert "missing is not a directory" in done.output
    assert driver.calls == []


def test_get_reports_phase_and_containers_as_json(driver: FakeDriver, tmp_path: Path) -> None:
    assert invoke("get", "--state-dir", str(tmp_path)).output.strip() == "no units"
    invoke("apply", "-f", str(_write(tmp_path, WEB)))
    done = invoke("get", "-o", "json", "--state-dir", str(tmp_path / "state"))
    assert done.exit_code == 0
    (unit,) = json.loads(done.output)["units"]
    assert (unit["kind"], unit["name"], unit["phase"]) == ("Sandbox", "web", "Running")
    assert [c["name"] for c in unit["containers"]] == ["infra", "app"]


def test_validate_exit_codes(tmp_path: Path) -> None:
    assert invoke("validate", "-f", str(_write(tmp_path, WEB))).exit_code == 0
    bad = _write(tmp_path, WEB.replace("Sandbox", "Sandbx"), "bad.yaml")
    done = invoke("validate", "-f", str(bad))
    assert done.exit_code == 1
    assert "bad.yaml:2" in done.output
