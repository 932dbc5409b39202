"""The README's two commands and CI install from one list of packages (scripts/lib.sh)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "scripts" / "lib.sh"


def _array(name: str) -> list[str]:
    done = subprocess.run(
        ["bash", "-c", f'source "{LIB}"; printf "%s\\n" "${{{name}[@]}}"'],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


def test_the_tests_list_holds_what_the_cri_and_runsc_tests_use() -> None:
    tests = _array("TEST_PACKAGES")
    for package in ("docker.io", "runsc", "containerd", "containernetworking-plugins"):
        assert package in tests
    assert set(_array("SETUP_PACKAGES")) | set(_array("DAEMON_PACKAGES")) <= set(tests)
    assert "runsc" in _array("DAEMON_PACKAGES")  # the daemon setup.sh starts offers gVisor


def test_no_script_installs_from_a_list_of_its_own() -> None:
    for script in ("scripts/setup.sh", "scripts/test.sh", ".ci/run"):
        text = (ROOT / script).read_text()
        calls = re.findall(r"^\s*need_packages (.*)$", text, re.M)
        assert calls, script
        for args in calls:
            assert args.startswith('"${') and args.endswith('_PACKAGES[@]}"'), (script, args)


def test_test_sh_checks_packages_before_it_runs_anything() -> None:
    text = (ROOT / "scripts" / "test.sh").read_text()
    assert text.index('need_packages "${TEST_PACKAGES[@]}"') < text.index("make_venv")


def test_without_root_a_missing_package_is_named_and_fails() -> None:
    # The library's text as the command, not its path: the checkout may be one nobody
    # can read (CI clones into a 0700 mktemp -d).
    done = subprocess.run(
        [
            "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash", "-c",
            LIB.read_text() + "\nneed_packages bash no-such-package-reconciler",
        ],
        cwd="/",
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "missing Debian packages: no-such-package-reconciler" in done.stderr
    assert "apt-get install no-such-package-reconciler" in done.stderr
