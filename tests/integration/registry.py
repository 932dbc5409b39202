"""A private image registry for tests: Debian's docker-registry (distribution 2.8) behind
htpasswd, on 127.0.0.1, started by the test and stopped by its pid.

``registry(tmp_dir)`` starts one with its storage, config and bcrypt password file
under ``tmp_dir`` on a free port (dockerd lets a 127.0.0.1 registry be plain
HTTP), and stops it when the context ends. ``Registry.push`` puts an image of
the test daemon there: ``docker login`` with a client config of its own (never
``~/.docker``), ``docker push``, ``docker logout``, then the pushed name is
untagged, so the daemon holds neither credentials nor the image afterwards and
a pull of it must go to the registry. Where the package is missing the tests
are skipped saying so, except under CI (which installs it: scripts/lib.sh
TEST_PACKAGES), where they fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REGISTRY = "/usr/bin/docker-registry"  # Debian's docker-registry package
USER = "tester"


def _missing() -> str | None:
    if not os.access(REGISTRY, os.X_OK):
        return f"{REGISTRY} is missing (apt-get install docker-registry)"
    if shutil.which("htpasswd") is None:
        return "htpasswd is missing (apt-get install apache2-utils)"
    if shutil.which("docker") is None:
        return "the docker CLI is missing (apt-get install docker.io)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT
    user: str
    password: str
    client_config: Path  # the docker CLI's --config for login and push

    def push(self, local: str, name: str) -> str:
        """Push the daemon's image ``local`` as ``HOST/name`` and untag it again; returns
        the pushed reference. Logs in and out around the push."""
        remote = f"{self.host}/{name}"
        self._docker("tag", local, remote)
        try:
            self._docker(
                "login", "-u", self.user, "--password-stdin", self.host, stdin=self.password
            )
            try:
                self._docker("push", remote)
            finally:
                self._docker("logout", self.host)
        finally:
            self._docker("rmi", remote)
        return remote

    def _docker(self, *args: str, stdin: str | None = None) -> None:
        command = ["docker", "--config", str(self.client_config)]
        if os.environ.get("DOCKER_HOST"):
            command += ["--host", os.environ["DOCKER_HOST"]]
        done = subprocess.run(
            [*command, *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, f"docker {args[0]}: {done.stdout}{done.stderr}"


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.HTTPError as exc:
        return exc.code == 401  # up, and asking for credentials
    except OSError:
        return False
    return True


@contextlib.contextmanager
def registry(tmp_dir: Path, password: str = "s3cret-registry-pass") -> Iterator[Registry]:
    """A registry with one user (``USER``, ``password``), stopped when the context ends."""
    problem = _missing()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"the registry tests need {problem}", pytrace=False)
        pytest.skip(problem)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    htpasswd = subprocess.run(
        ["htpasswd", "-Bbn", USER, password], capture_output=True, text=True, check=True
    )
    (tmp_dir / "htpasswd").write_text(htpasswd.stdout)
    port = _free_port()
    (tmp_dir / "config.yml").write_text(
        f"""version: 0.1
log: {{level: warn}}
storage:
  filesystem: {{rootdirectory: {tmp_dir / "data"}}}
http:
  addr: 127.0.0.1:{port}
  secret: test-only
auth:
  htpasswd: {{realm: reconciler-test, path: {tmp_dir / "htpasswd"}}}
"""
    )
    (tmp_dir / "client").mkdir(exist_ok=True)
    with (tmp_dir / "registry.log").open("w") as log:
        process = subprocess.Popen(
            [REGISTRY, "serve", str(tmp_dir / "config.yml")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 20
        while not _answers(f"http://127.0.0.1:{port}/v2/"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    "the registry did not start: " + (tmp_dir / "registry.log").read_text()
                )
            time.sleep(0.1)
        yield Registry(f"127.0.0.1:{port}", USER, password, tmp_dir / "client")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
