"""`--driver cri` on a real containerd: imagePullSecrets reach PullImage (a registry that
asks for credentials serves the image only with them), and a Localhost seccomp profile
is the file containerd loads (mkdir denied inside the container).

Needs the private containerd of scripts/containerd.sh with the images of
scripts/cri-images.sh, and for the registry Debian's docker-registry and a Docker
daemon to push with (tests/integration/registry.py); skipped without them, except
under CI, where they fail.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from reconciler.drivers.cri.client import CriClient

from .conftest import BUSYBOX
from .registry import Registry, registry
from .test_cri_driver import Cri

pytestmark = [pytest.mark.integration, pytest.mark.cri]


@pytest.fixture
def c(cri: CriClient, tmp_path: Path) -> Iterator[Cri]:
    harness = Cri(cri, tmp_path)
    yield harness
    harness.cleanup()


@pytest.fixture(scope="module")
def private(api: docker.APIClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with registry(tmp_path_factory.mktemp("cri-registry")) as found:
        found.push(BUSYBOX, "private/busybox:cri")
        yield found


def _pod(image: str, more: str = "", secrets: str = "[]") -> str:
    return f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: web}}
        spec:
          terminationGracePeriodSeconds: 1
          imagePullSecrets: {secrets}
          containers:
            - name: app
              image: {image}
              imagePullPolicy: Always
              command: [sleep, "3600"]
              {more}
        """


def _secret(reg: Registry) -> str:
    auth = base64.b64encode(f"{reg.user}:{reg.password}".encode()).decode()
    config = base64.b64encode(json.dumps({"auths": {reg.host: {"auth": auth}}}).encode())
    return f"""
        apiVersion: v1
        kind: Secret
        metadata: {{name: regcred}}
        type: kubernetes.io/dockerconfigjson
        data: {{.dockerconfigjson: {config.decode()}}}
        """


def test_cri_pulls_with_the_pods_secret_and_fails_without_it(c: Cri, private: Registry) -> None:
    image = f"{private.host}/private/busybox:cri"
    c.write("web.yaml", _pod(image))
    said = c.apply(expect=1)
    assert "could not be pulled" in said and "401 Unauthorized" in said, said
    assert c.containers() == []

    c.write("regcred.yaml", _secret(private))
    c.write("web.yaml", _pod(image, secrets="[{name: regcred}]"))
    said = c.apply()
    assert c.running("app").image_ref
    assert c.cri.image_status(image) is not None  # pulled from the registry, into k8s.io
    assert private.password not in said


def test_a_localhost_profile_is_the_file_containerd_loads(c: Cri, tmp_path: Path) -> None:
    profiles = tmp_path / "seccomp"
    profiles.mkdir()
    deny = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }
    (profiles / "deny-mkdir.json").write_text(json.dumps(deny))
    c.env["RECONCILER_SECCOMP_PROFILE_DIR"] = str(profiles)
    profile = (
        "securityContext: {seccompProfile: {type: Localhost, localhostProfile: deny-mkdir.json}}"
    )
    c.write("web.yaml", _pod("local/busybox:test", profile).replace("Always", "IfNotPresent"))
    c.apply()
    app = c.running("app")
    result = c.cri.exec_sync(app.id, ["mkdir", "/made"], 30)
    assert result.exit_code != 0 and b"Operation not permitted" in result.stderr, result
    c.write("web.yaml", _pod("local/busybox:test").replace("Always", "IfNotPresent"))
    c.apply()
    assert c.exec(c.running("app").id, "mkdir", "/made") == ""
