"""seccompProfile type Localhost on real containers: a profile of the operator's directory
that denies mkdir confines the container (the same Pod with RuntimeDefault may), Docker
holds the profile's text, a changed profile recreates the container, and a missing one
refuses the unit with nothing created."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Harness

DENY_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
}


def _pod(profile: str) -> str:
    return f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: confined}}
        spec:
          terminationGracePeriodSeconds: 1
          containers:
            - name: app
              image: local/busybox:test
              command: [sleep, "3600"]
              securityContext: {{seccompProfile: {profile}}}
        """


LOCALHOST = "{type: Localhost, localhostProfile: profiles/deny-mkdir.json}"


@pytest.fixture
def profiles(h: Harness, tmp_path: Path) -> Path:
    directory = tmp_path / "seccomp"
    (directory / "profiles").mkdir(parents=True)
    (directory / "profiles" / "deny-mkdir.json").write_text(json.dumps(DENY_MKDIR, indent=2))
    h.env["RECONCILER_SECCOMP_PROFILE_DIR"] = str(directory)
    return directory


def test_a_localhost_profile_confines_the_container_as_runtime_default_does_not(
    h: Harness, profiles: Path
) -> None:
    h.write("pod.yaml", _pod(LOCALHOST))
    h.apply()
    app = h.member("confined", "app")
    compact = json.dumps(DENY_MKDIR, separators=(",", ":"))
    assert app["HostConfig"]["SecurityOpt"] == [f"seccomp={compact}"]
    code, out = h.exec(app["Id"], "mkdir", "/made")
    assert code != 0 and "Operation not permitted" in out, out

    h.write("pod.yaml", _pod("{type: RuntimeDefault}"))
    said = h.apply()
    assert "recreate" in said.stdout, said.stdout
    app = h.member("confined", "app")
    assert not app["HostConfig"]["SecurityOpt"]
    code, out = h.exec(app["Id"], "mkdir", "/made")
    assert code == 0, out


def test_a_changed_profile_recreates_the_container_that_uses_it(h: Harness, profiles: Path) -> None:
    h.write("pod.yaml", _pod(LOCALHOST))
    h.apply()
    before = h.member("confined", "app")["Id"]
    unchanged = h.apply()
    assert h.member("confined", "app")["Id"] == before, unchanged.stdout
    allowing = {**DENY_MKDIR, "syscalls": []}
    (profiles / "profiles" / "deny-mkdir.json").write_text(json.dumps(allowing))
    said = h.apply()
    app = h.member("confined", "app")
    assert app["Id"] != before and "recreate" in said.stdout, said.stdout
    code, out = h.exec(app["Id"], "mkdir", "/made")
    assert code == 0, out


def test_a_missing_profile_refuses_the_unit_and_creates_nothing(h: Harness, profiles: Path) -> None:
    h.write("pod.yaml", _pod("{type: Localhost, localhostProfile: profiles/absent.json}"))
    done = h.apply(expect=1)
    said = done.stdout + done.stderr
    assert "spec.containers[0].securityContext.seccompProfile.localhostProfile" in said, said
    assert f"seccomp profile {profiles}/profiles/absent.json cannot be used" in said
    assert h.containers() == []
