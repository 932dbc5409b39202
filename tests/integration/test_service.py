"""contrib/systemd/reconciler.service drops every capability (CapabilityBoundingSet=)
and sets NoNewPrivileges: reconciler must still converge through the Docker socket."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from .conftest import PAUSE, Harness

CACHE = """
    apiVersion: reconciler/v1
    kind: Container
    metadata: {name: cache}
    spec: {image: local/busybox:test, command: [sleep, "3600"], terminationGracePeriodSeconds: 1}
"""


def test_reconciler_needs_no_capability(h: Harness) -> None:
    setpriv = shutil.which("setpriv")  # util-linux: essential on Debian
    if setpriv is None:
        pytest.fail("setpriv (util-linux) is missing", pytrace=False)
    h.write("cache.yaml", CACHE)
    env = os.environ | {"RECONCILER_INSTANCE": h.instance, "RECONCILER_INFRA_IMAGE": PAUSE}
    done = subprocess.run(
        [
            setpriv,
            "--bounding-set=-all",
            "--inh-caps=-all",
            "--no-new-privs",
            "--",
            sys.executable,
            "-c",
            "import sys; from reconciler.cli import main;"
            "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0]);"
            "main(sys.argv[1:])",
            "apply",
            "-f",
            str(h.root),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "0000000000000000"  # no effective capability
    assert "container/cache configured" in done.stdout
    assert [c["State"] for c in h.containers()] == ["running"]
