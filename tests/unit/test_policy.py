"""The security policy: each rule, each level, the allowances, and refusal in admission."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli, main
from reconciler.cli.config import load_config
from reconciler.core.admission import compile_and_admit
from reconciler.core.compile import BuildConfig
from reconciler.core.errors import ManifestError
from reconciler.core.manifests import load_text
from reconciler.core.models import ContainerManifest, SandboxManifest
from reconciler.core.policy import (
    BASELINE,
    PRIVILEGED,
    RESTRICTED,
    Level,
    Policy,
    PortRange,
    check,
)
from reconciler.drivers.docker.capabilities import DOCKER

HARDENED = (
    "securityContext: {runAsUser: 1000, allowPrivilegeEscalation: false, "
    "capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}"
)


def manifest(text: str) -> SandboxManifest | ContainerManifest:
    loaded = load_text(text, "m.yaml")
    assert loaded.ok, [str(p) for p in loaded.errors]
    return loaded.manifests[0].manifest


def container(spec: str = "", security: str = "") -> SandboxManifest | ContainerManifest:
    security = f", securityContext: {security}" if security else ""
    return manifest(
        "apiVersion: reconciler/v1\nkind: Container\nmetadata: {name: c}\n"
        f"spec: {{image: busybox{security}{spec}}}\n"
    )


def sandbox(member: str = "", spec: str = "") -> SandboxManifest | ContainerManifest:
    return manifest(
        "apiVersion: reconciler/v1\nkind: Sandbox\nmetadata: {name: s}\n"
        f"spec:\n{spec}  containers:\n    - {{name: ok, image: busybox}}\n"
        f"    - {{name: app, image: busybox{member}}}\n"
    )


def rules(m: SandboxManifest | ContainerManifest, policy: Policy = BASELINE) -> list[str]:
    return [f"{v.rule} {v.field}" for v in check(m, policy)]


# --- baseline -----------------------------------------------------------------


def test_a_plain_container_passes_baseline() -> None:
    assert rules(container()) == []
    assert rules(sandbox()) == []


def test_privileged_is_refused_unless_allowed() -> None:
    m = sandbox(", securityContext: {privileged: true}")
    assert rules(m) == ["privileged spec.containers[1].securityContext.privileged"]
    assert rules(m, replace(BASELINE, allow_privileged=True)) == []
    assert rules(m, PRIVILEGED) == []


def test_capabilities_beyond_the_baseline_set_are_refused() -> None:
    m = container(security="{capabilities: {add: [CHOWN, CAP_NET_BIND_SERVICE, SYS_ADMIN]}}")
    assert rules(m) == ["capabilities spec.securityContext.capabilities.add[2]"]
    allowed = replace(BASELINE, allowed_capabilities=frozenset({"SYS_ADMIN"}))
    assert rules(m, allowed) == []


def test_host_path_is_refused_outside_the_allowed_prefixes() -> None:
    volumes = "  volumes: [{name: h, hostPath: {path: /srv/data/x}}]\n"
    m = sandbox(spec=volumes)
    assert rules(m) == ["hostPath spec.volumes[0].hostPath.path"]
    assert rules(m, replace(BASELINE, allowed_host_paths=("/srv/data",))) == []
    assert rules(m, replace(BASELINE, allowed_host_paths=("/srv/dat",))) != []  # not a prefix dir
    assert rules(m, replace(BASELINE, allowed_host_paths=("/srv/data/",))) == []


def test_a_host_path_cannot_climb_out_of_its_prefix() -> None:
    # '..' never loads (test_hostile_input); a doubled or dotted path is normalised first.
    loaded = load_text(
        "apiVersion: reconciler/v1\nkind: Container\nmetadata: {name: c}\n"
        "spec: {image: x, volumes: [{name: h, hostPath: {path: //srv//data/./x}}]}\n",
        "m.yaml",
    )
    allowed = replace(BASELINE, allowed_host_paths=("/srv",))
    assert rules(loaded.manifests[0].manifest, allowed) == []
    assert rules(loaded.manifests[0].manifest) == ["hostPath spec.volumes[0].hostPath.path"]


def test_host_ports_are_allowed_by_default_and_restrictable() -> None:
    m = sandbox(
        ", ports: [{containerPort: 80, hostPort: 9090}]",
        "  ports: [{containerPort: 81, hostPort: 8080, hostIP: 127.0.0.1}]\n",
    )
    assert rules(m) == []
    ranges = replace(BASELINE, host_ports=(PortRange(8000, 8999),))
    assert rules(m, ranges) == ["hostPorts spec.containers[1].ports[0].hostPort"]
    local = replace(BASELINE, host_ips=frozenset({"127.0.0.1"}))
    assert rules(m, local) == ["hostPorts spec.containers[1].ports[0].hostIP"]  # 0.0.0.0


# --- restricted ---------------------------------------------------------------------


def test_restricted_wants_non_root_drop_all_and_no_escalation() -> None:
    assert sorted(rules(container(), RESTRICTED)) == [
        "dropAll spec.securityContext.capabilities.drop",
        "noPrivilegeEscalation spec.securityContext.allowPrivilegeEscalation",
        "runAsNonRoot spec.securityContext.runAsNonRoot",
        "seccompProfile spec.securityContext.seccompProfile",
    ]
    assert rules(container(security=HARDENED.split(": ", 1)[1]), RESTRICTED) == []


def test_restricted_refuses_root_by_uid() -> None:
    hardened = HARDENED.split(": ", 1)[1].replace("1000", "0")
    assert rules(container(security=hardened), RESTRICTED) == [
        "runAsNonRoot spec.securityContext.runAsUser"
    ]


def test_restricted_allows_only_net_bind_service_back() -> None:
    security = HARDENED.split(": ", 1)[1].replace("drop: [ALL]", "drop: [ALL], add: [CHOWN]")
    assert rules(container(security=security), RESTRICTED) == [
        "capabilities spec.securityContext.capabilities.add[0]"
    ]


def test_restricted_includes_baseline() -> None:
    security = HARDENED.split(": ", 1)[1].replace("runAsUser", "privileged: true, runAsUser")
    assert rules(container(security=security), RESTRICTED) == [
        "privileged spec.securityContext.privileged"
    ]


def test_run_as_non_root_without_a_uid_passes_restricted() -> None:
    hardened = HARDENED.split(": ", 1)[1].replace("runAsUser: 1000", "runAsNonRoot: true")
    assert rules(container(security=hardened), RESTRICTED) == []


# --- pod-level securityContext: seccomp, sysctls, what members inherit -------------


def pod_sandbox(pod: str, member: str = "") -> SandboxManifest | ContainerManifest:
    return sandbox(member, f"  securityContext: {pod}\n")


def test_unconfined_seccomp_is_refused_where_it_is_set() -> None:
    m = container(security="{seccompProfile: {type: Unconfined}}")
    assert rules(m) == ["seccomp spec.securityContext.seccompProfile.type"]
    pod = pod_sandbox("{seccompProfile: {type: Unconfined}}")
    assert rules(pod) == ["seccomp spec.securityContext.seccompProfile.type"] * 2
    own = pod_sandbox(
        "{seccompProfile: {type: RuntimeDefault}}",
        ", securityContext: {seccompProfile: {type: Unconfined}}",
    )
    assert rules(own) == ["seccomp spec.containers[1].securityContext.seccompProfile.type"]
    assert rules(m, PRIVILEGED) == []
    assert rules(m, replace(BASELINE, allow_unconfined_seccomp=True)) == []


def test_only_safe_sysctls_unless_allowed() -> None:
    m = pod_sandbox(
        "{sysctls: [{name: net.ipv4.tcp_syncookies, value: '1'},"
        " {name: net.core.somaxconn, value: '1024'}, {name: kernel.msgmax, value: '65536'}]}"
    )
    assert rules(m) == [
        "sysctls spec.securityContext.sysctls[1].name",
        "sysctls spec.securityContext.sysctls[2].name",
    ]
    allowed = replace(BASELINE, allowed_unsafe_sysctls=("net.core.*", "kernel.msgmax"))
    assert rules(m, allowed) == []


def test_members_inherit_the_pods_restricted_settings() -> None:
    pod = "{runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}"
    member = ", securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}"
    m = pod_sandbox(pod, member)
    # Only the first member ("ok") lacks what a container must set itself.
    assert sorted(rules(m, RESTRICTED)) == [
        "dropAll spec.containers[0].securityContext.capabilities.drop",
        "noPrivilegeEscalation spec.containers[0].securityContext.allowPrivilegeEscalation",
    ]
    root = pod_sandbox(pod.replace("runAsNonRoot: true, runAsUser: 1000", "runAsUser: 0"), member)
    assert "runAsNonRoot spec.securityContext.runAsUser" in rules(root, RESTRICTED)


def test_host_namespaces_and_proc_mount_never_load() -> None:
    for text in (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
        "spec: {hostNetwork: true, containers: [{name: c, image: x}]}\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
        "spec: {containers: [{name: c, image: x, securityContext: {procMount: Unmasked}}]}\n",
    ):
        assert not load_text(text, "m.yaml").ok


# --- refusal in admission ----------------------------------------------------------


def test_a_refused_unit_names_file_field_rule_and_level() -> None:
    loaded = load_text(
        "apiVersion: reconciler/v1\nkind: Container\nmetadata: {name: ok}\nspec: {image: x}\n"
        "---\napiVersion: reconciler/v1\nkind: Container\nmetadata: {name: bad}\n"
        "spec: {image: x, securityContext: {privileged: true}}\n",
        "m.yaml",
        source="dir/m.yaml",
    )
    desired = compile_and_admit(
        loaded.manifests, BuildConfig("i", driver=DOCKER), values=loaded.values
    )
    assert [u.key.name for u in desired.units] == ["ok"]
    ((key, reason),) = desired.refused
    assert key.name == "bad"
    assert "policy baseline" in reason and "dir/m.yaml" in reason
    assert "spec.securityContext.privileged" in reason and "rule privileged" in reason


def test_admission_is_baseline_by_default() -> None:
    assert BuildConfig("i", driver=DOCKER).policy == BASELINE


# --- configuration and the CLI --------------------------------------------------------


def test_the_config_file_sets_the_policy(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "policy:\n  level: restricted\n  allowPrivileged: true\n"
        "  allowedHostPaths: [/srv]\n  allowedCapabilities: [cap_net_admin]\n"
        "  hostPorts: [8080, '9000-9100']\n  hostIPs: [127.0.0.1]\n"
        "  allowedUnsafeSysctls: [net.core.*]\n  allowUnconfinedSeccomp: true\n"
        "input: {maxFileBytes: 100, allowExternalSymlinks: true}\n"
    )
    config = load_config(path)
    policy = config.policy.to_policy()
    assert policy == Policy(
        Level.RESTRICTED,
        True,
        ("/srv",),
        frozenset({"NET_ADMIN"}),
        (PortRange(8080, 8080), PortRange(9000, 9100)),
        frozenset({"127.0.0.1"}),
        ("net.core.*",),
        True,
    )
    limits = config.input.to_limits()
    assert limits.max_bytes == 100 and limits.allow_external_symlinks


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("policy: {level: lax}", "policy.level"),
        ("policy: {hostPorts: ['9-1']}", "policy.hostPorts"),
        ("policy: {hostIPs: [localhost]}", "policy.hostIPs[0]"),
        ("policy: {allowedHostPaths: [relative]}", "policy.allowedHostPaths[0]"),
        ("policy: {allowHostNetwork: true}", "policy.allowHostNetwork"),
    ],
)
def test_a_bad_policy_is_an_error_naming_the_key(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ManifestError) as caught:
        load_config(path)
    assert caught.value.problems[0].field == field


def test_reconciler_policy_prints_the_effective_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("policy: {allowedHostPaths: [/srv]}\n")
    with pytest.raises(SystemExit) as done:
        main(["--config", str(path), "--policy", "restricted", "policy"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "level: restricted" in out and "- /srv" in out and "rule: runAsNonRoot" in out


def test_validate_reports_policy_violations(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: Container\nmetadata: {name: bad}\n"
        "spec: {image: x, volumes: [{name: h, hostPath: {path: /etc}}]}\n"
    )
    runner = CliRunner()
    done = runner.invoke(cli, ["validate", "-f", str(tmp_path)])
    assert done.exit_code == 1
    assert "spec.volumes[0].hostPath.path" in done.output and "rule hostPath" in done.output
    off = runner.invoke(cli, ["--policy", "privileged", "validate", "-f", str(tmp_path)])
    assert off.exit_code == 0, off.output
