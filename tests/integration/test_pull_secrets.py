"""imagePullSecrets against a real registry that asks for credentials: a Pod whose image
is there runs with its Secret, and without it the pull fails saying why; the
credentials are written nowhere (labels, inspect data, output)."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from .conftest import BUSYBOX, Harness
from .registry import Registry, registry

WRONG = "not-the-pass-word"


@pytest.fixture(scope="module")
def private(api: docker.APIClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with registry(tmp_path_factory.mktemp("registry")) as found:
        found.push(BUSYBOX, "private/busybox:test")
        yield found


def _secret(reg: Registry, password: str, name: str = "regcred") -> str:
    auth = base64.b64encode(f"{reg.user}:{password}".encode()).decode()
    config = json.dumps({"auths": {reg.host: {"auth": auth}}})
    return f"""
        apiVersion: v1
        kind: Secret
        metadata: {{name: {name}}}
        type: kubernetes.io/dockerconfigjson
        data: {{.dockerconfigjson: {base64.b64encode(config.encode()).decode()}}}
        """


def _pod(name: str, image: str, secrets: str, more: str = "") -> str:
    return f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: {name}}}
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


@pytest.fixture
def hp(h: Harness, tmp_path: Path) -> Harness:
    # A docker client config of no one: the SDK sends no docker login of the host's.
    (tmp_path / "docker-config").mkdir()
    h.env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
    return h


def _untag(h: Harness, image: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        h.api.remove_image(image)


def test_a_pod_pulls_with_its_secret_and_the_credentials_show_nowhere(
    hp: Harness, private: Registry
) -> None:
    image = f"{private.host}/private/busybox:test"
    _untag(hp, image)
    hp.write("values/regcred.yaml", _secret(private, private.password))
    hp.write("web.yaml", _pod("web", image, "[{name: regcred}]"))
    try:
        said = hp.apply("-R")
        app = hp.member("web", "app")
        assert app["State"]["Running"] and app["Config"]["Image"] == image
        again = hp.cli("apply", "-f", str(hp.root), "-R", "-o", "json")  # Always: pulls again
        assert again.returncode == 0, again.stdout + again.stderr
        diff = hp.cli("diff", "-f", str(hp.root), "-R")
        assert diff.returncode == 0, diff.stdout + diff.stderr
        shown = json.dumps([hp.api.inspect_container(c["Id"]) for c in hp.containers()])
        for text in (shown, said.stdout + said.stderr, again.stdout + again.stderr, diff.stdout):
            assert private.password not in text
            assert (
                base64.b64encode(f"{private.user}:{private.password}".encode()).decode() not in text
            )
    finally:
        _untag(hp, image)


def test_without_the_secret_or_with_a_wrong_one_the_pull_fails_saying_why(
    hp: Harness, private: Registry
) -> None:
    image = f"{private.host}/private/busybox:test"
    _untag(hp, image)
    hp.write("bare.yaml", _pod("bare", image, "[]"))
    done = hp.apply(expect=1)
    said = done.stdout + done.stderr
    print(said)
    assert "could not be pulled" in said and "no basic auth credentials" in said
    assert not hp.containers(**{"io.reconciler.sandbox": "bare", "io.reconciler.container": "app"})

    (hp.root / "bare.yaml").unlink()
    hp.write("values/wrong.yaml", _secret(private, WRONG, name="wrong"))
    hp.write("wrong.yaml", _pod("wrong", image, "[{name: wrong}]"))
    done = hp.apply("-R", expect=1)
    said = done.stdout + done.stderr
    print(said)
    assert f"with the credentials for {private.host}" in said
    assert WRONG not in said


def test_a_missing_secret_refuses_the_unit_and_creates_nothing(
    hp: Harness, private: Registry
) -> None:
    hp.write("web.yaml", _pod("web", f"{private.host}/private/busybox:test", "[{name: absent}]"))
    done = hp.apply(expect=1)
    said = done.stdout + done.stderr
    assert "spec.imagePullSecrets[0].name: Secret default/absent is not defined" in said
    assert hp.containers() == []


def test_the_run_as_non_root_check_pulls_with_the_secret_too(
    hp: Harness, private: Registry
) -> None:
    # The facts step pulls the image to read its user: with the Secret it can, so the
    # refusal is the image's root user, not a pull that failed.
    image = f"{private.host}/private/busybox:test"
    _untag(hp, image)
    hp.write("values/regcred.yaml", _secret(private, private.password))
    more = "securityContext: {runAsNonRoot: true}"
    hp.write("web.yaml", _pod("web", image, "[{name: regcred}]", more))
    try:
        done = hp.apply("-R", expect=1)
        said = done.stdout + done.stderr
        assert "its image runs as root (no USER set)" in said, said
        assert hp.containers() == []
    finally:
        _untag(hp, image)
