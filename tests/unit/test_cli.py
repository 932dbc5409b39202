"""The command line's exit codes and messages, with click's runner and a fake driver.

The CLI builds its driver in one factory, ``cli.engines.make_driver``; these
tests swap that factory for the simulator (the integration tests run the real one).
Exit codes (cli.py's docstring): 0 success; 1 a unit failed, a manifest is
invalid or the daemon is unreachable; 2 bad usage; ``diff``: 0 no changes,
1 changes, 2 an error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path
from textwrap import dedent

import pytest
from click.testing import CliRunner, Result

from reconciler import cli
from reconciler.cli import engines
from reconciler.cli.options import Options
from reconciler.core.errors import DaemonUnavailable, DriverError
from reconciler.core.models import Mode
from reconciler.core.observed import Observation
from reconciler.core.spec import DesiredUnit, UnitKey
from reconciler.drivers.docker.capabilities import DOCKER

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
    """The simulator (a whole ``Driver``), with an unreachable daemon and a failing removal."""

    def __init__(self) -> None:
        super().__init__(instance=INSTANCE)
        self.unreachable = False
        self.failing_removal = False

    def observe(
        self,
        units: Collection[DesiredUnit] = (),
        unit: UnitKey | None = None,
        start_times: bool = True,
    ) -> Observation:
        if self.unreachable:
            raise DaemonUnavailable("the Docker daemon does not answer at unix:///nowhere")
        return super().observe(units, unit, start_times)

    def remove(self, container_id: str, grace_period: int) -> None:
        if self.failing_removal:
            raise DriverError(f"removing {container_id[:12]}: device or resource busy")
        super().remove(container_id, grace_period)


@pytest.fixture
def driver(monkeypatch: pytest.MonkeyPatch) -> FakeDriver:
    fake = FakeDriver()
    monkeypatch.setattr(engines, "make_driver", lambda options: fake)
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


def test_exec_exits_with_the_commands_code(driver: FakeDriver, tmp_path: Path) -> None:
    assert invoke("apply", "-f", str(_write(tmp_path, WEB))).exit_code == 0
    driver.exec_codes["false"] = 1
    assert invoke("exec", "web", "--", "true").exit_code == 0
    assert invoke("exec", "web", "--", "false").exit_code == 1
    assert ("exec", f"{INSTANCE}_default_web.app") in driver.calls


def test_the_driver_is_chosen_by_name_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_DRIVER", "nonesuch")
    done = invoke("validate", "-f", "-")
    assert done.exit_code == 2 and "Invalid value for '--driver'" in done.output
    monkeypatch.setenv("RECONCILER_DRIVER", "docker")
    assert invoke("validate", "-f", "-").exit_code == 0


def test_the_docker_driver_is_made_only_by_the_factory() -> None:
    options = Options(
        "inst", "unix:///nowhere", Mode.CONTAINER_IN_SANDBOX, "pause", "runc", None, None
    )
    assert options.build.driver is DOCKER
    driver = engines.make_driver(options)
    try:
        assert driver.capabilities is DOCKER
        assert type(driver).__module__ == "reconciler.drivers.docker.driver"
    finally:
        driver.close()


def test_validate_needs_neither_a_daemon_nor_the_docker_sdk(tmp_path: Path) -> None:
    path = _write(tmp_path, WEB)
    script = (
        "import sys\n"
        "from reconciler.cli import main\n"
        "try:\n"
        f"    main(['validate', '-f', {str(path)!r}])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "loaded = sorted(m for m in sys.modules if m == 'docker' or m.startswith('docker.'))\n"
        "assert not loaded, loaded\n"
        "assert 'reconciler.drivers.docker.driver' not in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RECONCILER_CONFIG"}
    env["DOCKER_HOST"] = "unix:///nowhere"
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--rollback"], "--rollback and --min-ready need --wait"),
        (["--min-ready", "1"], "--rollback and --min-ready need --wait"),
        (["--wait", "30", "--once"], "--wait needs the loop"),
        (["--notify", "ftp://example.com/"], "give an http:// or https:// URL"),
    ],
)
def test_the_health_gate_and_notify_options_are_checked_before_anything_runs(
    driver: FakeDriver, tmp_path: Path, flags: list[str], message: str
) -> None:
    done = invoke("sync", "--repo", "file:///nowhere", "--state-dir", str(tmp_path), *flags)
    assert done.exit_code == 2, done.output
    assert message in done.output
    assert driver.calls == []
