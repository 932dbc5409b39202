"""seccompProfile type Localhost: the operator's profile directory, the profile's text in
the spec and its hash, what each engine is given, and the refusals naming the field."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from textwrap import dedent

import pytest
from click.testing import CliRunner

from reconciler import cli
from reconciler.cli.profiles import MAX_BYTES, read_profiles
from reconciler.core.admission import compile_and_admit
from reconciler.core.compile import BuildConfig
from reconciler.core.manifests import load_text
from reconciler.core.policy import BASELINE, RESTRICTED, Policy
from reconciler.core.seccomp import SeccompProfiles
from reconciler.core.spec import Desired, Seccomp
from reconciler.drivers.cri.client import pb
from reconciler.drivers.cri.spec import container_config
from reconciler.drivers.docker.capabilities import DOCKER
from reconciler.drivers.docker.spec import member_body

DENY_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
}
COMPACT = json.dumps(DENY_MKDIR, separators=(",", ":"))


def profiles(directory: str = "/etc/reconciler/seccomp", **texts: str) -> SeccompProfiles:
    return SeccompProfiles(directory, tuple(texts.items()))


PROFILES = profiles(**{"profiles/deny-mkdir.json": json.dumps(DENY_MKDIR, indent=2)})


def pod(container: str = "", pod_level: str = "") -> str:
    return f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: web}}
        spec:
          securityContext: {{{pod_level}}}
          initContainers: [{{name: init, image: x}}]
          containers:
            - name: app
              image: x
              securityContext: {{{container}}}
        """


LOCALHOST = "seccompProfile: {type: Localhost, localhostProfile: profiles/deny-mkdir.json}"


def desired(text: str, found: SeccompProfiles = PROFILES, policy: Policy = BASELINE) -> Desired:
    loaded = load_text(dedent(text), "web.yaml")
    assert loaded.ok, [str(p) for p in loaded.errors]
    config = BuildConfig("i", driver=DOCKER, seccomp=found, policy=policy)
    return compile_and_admit(loaded.manifests, config)


def test_a_containers_localhost_profile_is_its_text_for_docker_and_its_path_for_cri() -> None:
    (unit,) = desired(pod(container=LOCALHOST)).units
    (init,), (app,) = unit.init, unit.workloads
    assert init.spec.seccomp is Seccomp.RUNTIME_DEFAULT
    assert app.spec.seccomp is Seccomp.LOCALHOST
    profile = app.spec.seccomp_localhost
    assert profile is not None and profile.content == COMPACT
    assert profile.path == "/etc/reconciler/seccomp/profiles/deny-mkdir.json"
    assert member_body(app, "ab" * 32)["HostConfig"]["SecurityOpt"] == [f"seccomp={COMPACT}"]
    security = container_config(app, 0, ("network",), "/v").linux.security_context
    assert security.seccomp.profile_type == pb.SecurityProfile.Localhost
    assert security.seccomp.localhost_ref == profile.path


def test_the_pods_profile_is_every_members_that_names_none() -> None:
    own = "seccompProfile: {type: RuntimeDefault}"
    (unit,) = desired(pod(container=own, pod_level=LOCALHOST)).units
    assert unit.init[0].spec.seccomp is Seccomp.LOCALHOST
    assert unit.workloads[0].spec.seccomp is Seccomp.RUNTIME_DEFAULT


def test_the_hash_takes_the_profiles_content_not_where_it_is_read_from() -> None:
    (first,) = desired(pod(container=LOCALHOST)).units
    moved = profiles("/srv/profiles", **{"profiles/deny-mkdir.json": COMPACT})
    (same,) = desired(pod(container=LOCALHOST), moved).units
    assert same.workloads[0].hash == first.workloads[0].hash  # reformatted, moved: the same
    changed = {**DENY_MKDIR, "defaultAction": "SCMP_ACT_LOG"}
    edited = profiles(**{"profiles/deny-mkdir.json": json.dumps(changed)})
    (other,) = desired(pod(container=LOCALHOST), edited).units
    assert other.workloads[0].hash != first.workloads[0].hash
    assert other.init[0].hash == first.init[0].hash  # only who uses it is recreated
    (default,) = desired(pod()).units
    assert default.workloads[0].hash != first.workloads[0].hash


@pytest.mark.parametrize(
    ("found", "reason"),
    [
        (profiles(), "there is no such file"),
        (
            SeccompProfiles("/nowhere", problem="/nowhere: the directory does not exist"),
            "there is no such file (/nowhere: the directory does not exist)",
        ),
        (
            SeccompProfiles(unreadable=(("profiles/deny-mkdir.json", "cannot read it: EACCES"),)),
            "cannot read it: EACCES",
        ),
        (profiles(**{"profiles/deny-mkdir.json": "{not json"}), "it is not JSON"),
        (profiles(**{"profiles/deny-mkdir.json": "[]"}), "it is not a JSON object"),
        (profiles(**{"profiles/deny-mkdir.json": "{}"}), "it has no defaultAction"),
    ],
)
def test_a_profile_that_cannot_be_used_refuses_the_unit_naming_the_field(
    found: SeccompProfiles, reason: str
) -> None:
    for text, field in (
        (pod(container=LOCALHOST), "spec.containers[0].securityContext.seccompProfile"),
        (pod(pod_level=LOCALHOST), "spec.securityContext.seccompProfile"),
    ):
        result = desired(text, found)
        assert not result.units
        ((_, why),) = result.refused
        assert f"{field}.localhostProfile: seccomp profile " in why, why
        assert "profiles/deny-mkdir.json cannot be used: " + reason in why, why
        assert why.startswith("web.yaml:")


def test_a_pods_profile_no_member_inherits_is_not_read() -> None:
    own = "seccompProfile: {type: RuntimeDefault}"
    text = pod(container=own, pod_level=LOCALHOST).replace(
        "{name: init, image: x}", f"{{name: init, image: x, securityContext: {{{own}}}}}"
    )
    assert desired(text, profiles()).units


def test_localhost_passes_baseline_and_restricted_as_in_the_pod_security_standards() -> None:
    hardened = (
        "runAsNonRoot: true, runAsUser: 1000, allowPrivilegeEscalation: false, "
        f"capabilities: {{drop: [ALL]}}, {LOCALHOST}"
    )
    text = pod(container=hardened).replace("initContainers: [{name: init, image: x}]", "")
    assert not desired(text, policy=RESTRICTED).refused
    assert not desired(pod(container=LOCALHOST), policy=BASELINE).refused


def test_a_path_is_read_as_kubelet_joins_it() -> None:
    profile, _ = PROFILES.profile("./profiles//deny-mkdir.json")
    assert profile is not None and profile.name == "profiles/deny-mkdir.json"


# --- the shell reads the directory --------------------------------------------------


def test_the_directory_is_read_whole_with_what_could_not_be(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "deny-mkdir.json").write_text(json.dumps(DENY_MKDIR))
    (tmp_path / "big.json").write_text(" " * (MAX_BYTES + 1))
    read = read_profiles(str(tmp_path))
    assert read.directory == str(tmp_path)
    assert dict(read.texts) == {"profiles/deny-mkdir.json": json.dumps(DENY_MKDIR)}
    assert "not a regular file of at most" in dict(read.unreadable)["big.json"]
    missing = read_profiles(str(tmp_path / "absent"))
    assert missing.texts == () and "the directory does not exist" in missing.problem
    monkeypatch.chdir(tmp_path / "profiles")
    relative = read_profiles(".")
    assert relative.directory == str(tmp_path / "profiles")
    assert dict(relative.texts) == {"deny-mkdir.json": json.dumps(DENY_MKDIR)}


def _validate(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(dedent(pod(container=LOCALHOST)))
    done = CliRunner().invoke(
        cli.cli, [*args, "validate", "-f", str(manifest)], env=env, catch_exceptions=False
    )
    return f"{done.exit_code}: {done.output}"


def test_the_directory_comes_from_the_flag_the_environment_or_the_config(tmp_path: Path) -> None:
    store = tmp_path / "seccomp"
    (store / "profiles").mkdir(parents=True)
    (store / "profiles" / "deny-mkdir.json").write_text(json.dumps(DENY_MKDIR))
    assert _validate(tmp_path, "--seccomp-profile-dir", str(store)).startswith("0: ")
    env = {"RECONCILER_SECCOMP_PROFILE_DIR": str(store)}
    assert _validate(tmp_path, env=env).startswith("0: ")
    config = tmp_path / "config.yaml"
    config.write_text(f"seccompProfileDir: {store}\n")
    assert _validate(tmp_path, "--config", str(config)).startswith("0: ")
    refused = _validate(tmp_path, "--seccomp-profile-dir", str(tmp_path / "none"))
    assert refused.startswith("1: ") and "the directory does not exist" in refused
    assert "spec.containers[0].securityContext.seccompProfile.localhostProfile" in refused


def test_unconfined_and_runtime_default_are_as_before() -> None:
    (unit,) = desired(
        pod(container="seccompProfile: {type: Unconfined}"),
        policy=replace(BASELINE, allow_unconfined_seccomp=True),
    ).units
    body = member_body(unit.workloads[0], "ab" * 32)
    assert body["HostConfig"]["SecurityOpt"] == ["seccomp=unconfined"]
    assert unit.workloads[0].spec.seccomp_localhost is None
