"""The security policy and hostile input on a real daemon: refused units make nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.core import labels as L

from .conftest import Harness
from .test_loop import LoopProcess, running

GOOD = """
    apiVersion: reconciler/v1
    kind: Container
    metadata: {name: good}
    spec: {image: local/busybox:test, command: [sleep, "3600"], terminationGracePeriodSeconds: 1}
"""


def container(name: str, extra: str) -> str:
    return f"""
    apiVersion: reconciler/v1
    kind: Container
    metadata: {{name: {name}}}
    spec:
      image: local/busybox:test
      command: [sleep, "3600"]
      terminationGracePeriodSeconds: 1
{extra}
"""


HOST_ETC = """\
      volumes: [{name: etc, hostPath: {path: /etc}}]
      volumeMounts: [{name: etc, mountPath: /host}]"""


def test_privileged_and_host_etc_are_refused_and_the_rest_converges(h: Harness) -> None:
    h.write("good.yaml", GOOD)
    h.write("priv.yaml", container("priv", "      securityContext: {privileged: true}"))
    h.write("etc.yaml", container("etc", HOST_ETC))
    done = h.apply(expect=1)
    out = done.stdout + done.stderr
    assert "refused by policy baseline in priv.yaml" in out
    assert "spec.securityContext.privileged" in out and "rule privileged" in out
    assert "refused by policy baseline in etc.yaml" in out
    assert "spec.volumes[0].hostPath.path" in out and "rule hostPath" in out
    assert h.member("good", "good")["State"]["Running"]
    assert not h.containers(**{L.SANDBOX: "priv"}) and not h.containers(**{L.SANDBOX: "etc"})


def test_an_allowed_host_path_prefix_is_mounted(h: Harness, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "hello").write_text("hi\n")
    mount = f"""\
      volumes: [{{name: d, hostPath: {{path: {shared}, type: Directory}}}}]
      volumeMounts: [{{name: d, mountPath: /shared, readOnly: true}}]"""
    h.write("d.yaml", container("d", mount))
    config = tmp_path / "config.yaml"
    config.write_text(f"policy: {{allowedHostPaths: [{tmp_path}]}}\n")
    assert h.apply(expect=1).returncode == 1  # baseline, no allowance
    done = h.cli("--config", str(config), "apply", "-f", str(h.root))
    assert done.returncode == 0, done.stdout + done.stderr
    code, out = h.exec(h.member("d", "d")["Id"], "cat", "/shared/hello")
    assert (code, out) == (0, "hi\n")


def test_restricted_runs_a_hardened_container_and_refuses_a_plain_one(h: Harness) -> None:
    hardened = (
        "      securityContext: {runAsUser: 1000, allowPrivilegeEscalation: false,"
        " capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}"
    )
    h.write("hard.yaml", container("hard", hardened))
    h.write("good.yaml", GOOD)
    done = h.cli("--policy", "restricted", "apply", "-f", str(h.root))
    assert done.returncode == 1
    assert "refused by policy restricted in good.yaml" in done.stdout + done.stderr
    info = h.member("hard", "hard")
    assert info["State"]["Running"] and info["Config"]["User"] == "1000"
    assert info["HostConfig"]["CapDrop"] == ["ALL"]
    assert not h.containers(**{L.SANDBOX: "good"})


def test_an_unconfined_seccomp_profile_and_an_unsafe_sysctl_are_refused(h: Harness) -> None:
    h.write("good.yaml", GOOD)
    h.write(
        "pod.yaml",
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: pod}
        spec:
          terminationGracePeriodSeconds: 1
          securityContext:
            seccompProfile: {type: Unconfined}
            sysctls: [{name: net.core.somaxconn, value: "1024"}]
          containers: [{name: c, image: local/busybox:test, command: [sleep, "3600"]}]
        """,
    )
    done = h.apply(expect=1)
    out = done.stdout + done.stderr
    assert "spec.securityContext.seccompProfile.type" in out and "rule seccomp)" in out
    assert "spec.securityContext.sysctls[0].name" in out and "rule sysctls" in out
    assert not h.containers(**{L.SANDBOX: "pod"})
    assert h.member("good", "good")["State"]["Running"]


def test_a_billion_laughs_file_is_refused_and_the_rest_converges(h: Harness) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, this = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{this}: &{this} [{','.join(['*' + prev] * 9)}]")
    h.write("laughs.yaml", "\n".join(lines) + "\n")
    h.write("good.yaml", GOOD)
    done = h.apply(expect=1)
    assert "laughs.yaml" in done.stderr and "aliases that expand out of proportion" in done.stderr
    assert h.member("good", "good")["State"]["Running"]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "evil.yaml"
    path.parent.mkdir()
    path.write_text(container("evil", ""))
    return path


def test_the_loop_refuses_a_symlink_out_and_a_fifo_and_converges_the_rest(
    h: Harness, tmp_path: Path, outside: Path
) -> None:
    h.write("web.yaml", GOOD)
    (h.root / "evil.yaml").symlink_to(outside)
    os.mkfifo(h.root / "pipe.yaml")
    loop = LoopProcess(h, tmp_path / "state")
    try:
        h.wait_until(lambda: running(h, "good", "good"), 60)
        h.wait_until(lambda: "pipe.yaml" in loop.log() and "evil.yaml" in loop.log(), 30)
        log = loop.log()
        assert "a symlink leading out of" in log and "a FIFO" in log
        assert not h.containers(**{L.SANDBOX: "evil"})
        assert loop.alive()
    finally:
        loop.stop()
