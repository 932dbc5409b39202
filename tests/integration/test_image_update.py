"""reconciler.io/image-update: registry, on a real daemon and a real registry: when the
tag moves, `run` makes the unit's containers again from the new image."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.core import labels as L

from .conftest import BUSYBOX, PAUSE, Harness
from .registry import registry
from .test_loop import LoopProcess
from .test_pull_secrets import _secret

POD = """
    apiVersion: v1
    kind: Pod
    metadata:
      name: {name}
      annotations: {{{annotations}}}
    spec:
      terminationGracePeriodSeconds: 1
      imagePullSecrets: [{{name: regcred}}]
      containers:
        - name: app
          image: {image}
          imagePullPolicy: Always
          command: [sleep, "3600"]
    """


def _image(h: Harness, pod: str) -> tuple[str, str] | None:
    found = h.containers(**{L.SANDBOX: pod, L.CONTAINER: "app"})
    if len(found) != 1 or found[0]["State"] != "running":
        return None
    return found[0]["Id"], found[0]["ImageID"]


def test_a_moved_tag_recreates_the_followed_unit_and_only_it(h: Harness, tmp_path: Path) -> None:
    (tmp_path / "no-docker-login").mkdir()  # the Secret's credentials only, no docker login
    h.env["DOCKER_CONFIG"] = str(tmp_path / "no-docker-login")
    with registry(tmp_path / "registry") as reg:
        tag = reg.push(BUSYBOX, "follow/app:latest")
        h.write("regcred.yaml", _secret(reg, reg.password))
        follow = "reconciler.io/image-update: registry"
        h.write("web.yaml", POD.format(name="web", annotations=follow, image=tag))
        h.write("other.yaml", POD.format(name="other", annotations="", image=tag))
        loop = LoopProcess(h, tmp_path / "state", "--image-check", "1", env=h.env)
        try:
            h.wait_until(lambda: _image(h, "web") and _image(h, "other"), timeout=60)
            web, other = _image(h, "web"), _image(h, "other")
            assert web is not None and other is not None
            # The tag now names another image (the pause image stands in for a new build,
            # its command overridden all the same).
            reg.push(PAUSE, "follow/app:latest")
            h.wait_until(lambda: (now := _image(h, "web")) is not None and now[1] != web[1], 60)
            moved = _image(h, "web")
            assert moved is not None and moved[0] != web[0]
            assert _image(h, "other") == other, "not followed: left as it is"
            assert "its image moved: " in loop.log() and "now names" in loop.log()
            got = json.loads(h.cli("get", "-o", "json", "--state-dir", str(loop.state)).stdout)
            assert reg.password not in json.dumps(got) and reg.password not in loop.log()
        finally:
            loop.stop()
