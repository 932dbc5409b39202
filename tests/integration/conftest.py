"""Integration fixtures: a real Docker daemon (DOCKER_HOST), one instance per test.

Every container and volume a test makes carries its instance's label
(``io.reconciler.managed-by`` for what reconciler makes, ``io.reconciler-test.owner``
for what the test makes by hand), and the fixture removes exactly those.
In CI an unreachable daemon fails the run; elsewhere the tests are skipped
with the reason.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent
from typing import TYPE_CHECKING, Any

import docker
import docker.errors
import pytest

from reconciler.core import labels as L

if TYPE_CHECKING:
    from reconciler.drivers.cri.client import CriClient

BUSYBOX = "local/busybox:test"
PAUSE = "local/pause:test"
TEST_OWNER = "io.reconciler-test.owner"


def _client() -> docker.APIClient:
    return docker.APIClient(base_url=os.environ.get("DOCKER_HOST"), version="1.41", timeout=120)


@pytest.fixture(scope="session")
def api() -> Iterator[docker.APIClient]:
    problem = None
    if not os.environ.get("DOCKER_HOST"):
        problem = "DOCKER_HOST is not set (scripts/test.sh starts a private daemon)"
    else:
        try:
            client = _client()
            client.ping()
            client.inspect_image(BUSYBOX)
            client.inspect_image(PAUSE)
        except docker.errors.ImageNotFound:
            problem = "the test images are missing: run scripts/test-image.sh"
        except (docker.errors.DockerException, OSError) as exc:  # requests' errors are OSErrors
            problem = f"no Docker daemon at {os.environ['DOCKER_HOST']}: {exc}"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"integration tests need a daemon: {problem}", pytrace=False)
        pytest.skip(problem)
    yield client
    client.close()


class Harness:
    """One test's instance: manifests in a directory, the CLI, and the daemon."""

    def __init__(self, api: docker.APIClient, root: Path, instance: str) -> None:
        self.api = api
        self.root = root
        self.instance = instance
        self.env: dict[str, str] = {}  # more environment for every command (e.g. a config)

    # -- manifests and the CLI -------------------------------------------------

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text))
        return path

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = os.environ | {"RECONCILER_INSTANCE": self.instance, "RECONCILER_INFRA_IMAGE": PAUSE}
        env |= self.env
        return subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            capture_output=True,
            text=True,
            env=env,
            input=stdin,
            timeout=300,
            check=False,
        )

    def apply(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        done = self.cli("apply", "-f", str(self.root), *args)
        assert done.returncode == expect, done.stdout + done.stderr
        return done

    # -- the daemon ---------------------------------------------------------------

    def containers(self, **labels: str) -> list[dict[str, Any]]:
        wanted = [f"{L.MANAGED_BY}={self.instance}", *(f"{k}={v}" for k, v in labels.items())]
        return list(self.api.containers(all=True, filters={"label": wanted}))

    def member(self, sandbox: str, container: str = "") -> dict[str, Any]:
        """Inspect data of one container: ``container=""`` is the infra."""
        found = self.containers(**{L.SANDBOX: sandbox, L.CONTAINER: container})
        assert len(found) == 1, f"{sandbox}/{container or 'infra'}: {len(found)} containers"
        return dict(self.api.inspect_container(found[0]["Id"]))

    def sole(self, sandbox: str, container: str = "") -> dict[str, Any] | None:
        """Inspect data of one container, or None while there is not exactly one of it:
        for polls, as a recreate removes the old container before it makes the new."""
        found = self.containers(**{L.SANDBOX: sandbox, L.CONTAINER: container})
        if len(found) != 1:
            return None
        try:
            return dict(self.api.inspect_container(found[0]["Id"]))
        except docker.errors.NotFound:  # removed since the list
            return None

    def ns_inode(self, info: dict[str, Any], namespace: str) -> str:
        pid = info["State"]["Pid"]
        assert pid, f"{info['Name']} is not running"
        return os.readlink(f"/proc/{pid}/ns/{namespace}")

    def exec(self, container_id: str, *cmd: str) -> tuple[int, str]:
        run = self.api.exec_create(container_id, list(cmd))
        output = self.api.exec_start(run["Id"]).decode(errors="replace")
        return int(self.api.exec_inspect(run["Id"])["ExitCode"]), output

    def unmanaged(self, name: str, *cmd: str) -> str:
        """A container reconciler does not own (labeled for this test's cleanup)."""
        created = self.api.create_container(
            BUSYBOX,
            list(cmd) or ["sleep", "3600"],
            name=name,
            labels={TEST_OWNER: self.instance},
        )
        self.api.start(created["Id"])
        return str(created["Id"])

    def wait_until(self, check: Any, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, "condition not met in time"
            time.sleep(0.2)

    def cleanup(self) -> None:
        for label in (f"{L.MANAGED_BY}={self.instance}", f"{TEST_OWNER}={self.instance}"):
            for c in self.api.containers(all=True, filters={"label": label}):
                with contextlib.suppress(docker.errors.NotFound):
                    self.api.remove_container(c["Id"], force=True)
            for v in self.api.volumes(filters={"label": label}).get("Volumes") or []:
                with contextlib.suppress(docker.errors.NotFound):
                    self.api.remove_volume(v["Name"], force=True)


@pytest.fixture
def h(api: docker.APIClient, tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(api, tmp_path / "manifests", f"it-{uuid.uuid4().hex[:10]}")
    harness.root.mkdir()
    yield harness
    harness.cleanup()


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str, within: float = 15.0) -> bytes:
    """GET ``url``, retrying while the server inside the container is still starting."""
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return bytes(response.read())
        except (OSError, http.client.HTTPException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# The test images in the private containerd's k8s.io namespace (scripts/cri-images.sh).
CRI_IMAGES = ("docker.io/local/busybox:test", "docker.io/local/pause:test")


@pytest.fixture(scope="module")
def cri() -> Iterator[CriClient]:
    """A CRI client to the containerd at $CONTAINER_RUNTIME_ENDPOINT with the test images;
    under CI a missing one fails the tests instead of skipping them."""
    from reconciler.core.errors import DriverError
    from reconciler.drivers.cri.client import CriClient

    endpoint = os.environ.get("CONTAINER_RUNTIME_ENDPOINT")
    problem = None
    if not endpoint:
        problem = "CONTAINER_RUNTIME_ENDPOINT is not set (scripts/test.sh starts a containerd)"
    else:
        client = CriClient(endpoint, timeout=60)
        try:
            client.version()
            for image in CRI_IMAGES:
                if client.image_status(image) is None:
                    problem = f"{image} is missing: run scripts/cri-images.sh {endpoint}"
        except DriverError as exc:
            problem = f"no CRI runtime at {endpoint}: {exc}"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"the CRI tests need containerd: {problem}", pytrace=False)
        pytest.skip(problem)
    yield client
    client.close()
