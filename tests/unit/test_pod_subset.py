"""The Kubernetes Pod subset: pod-level securityContext, sidecars, hooks, DNS and the
refusals, from manifest to effective spec to Docker create body, without a daemon."""

from __future__ import annotations

import json
from textwrap import dedent
from typing import Any

import pytest
from pydantic import ValidationError

from reconciler.core import labels as L
from reconciler.core import spec
from reconciler.core.actions import Ref
from reconciler.core.admission import compile_and_admit, non_root_problem
from reconciler.core.compile import BuildConfig
from reconciler.core.hashing import spec_hash
from reconciler.core.manifests import load_text
from reconciler.core.models import (
    PodSecurityContext,
    SecurityContext,
    Sysctl,
    effective_security,
)
from reconciler.core.observed import ContainerId, ObservedContainer, State
from reconciler.core.policy import PRIVILEGED
from reconciler.core.spec import DesiredUnit, InfraSpec, MemberSpec, Seccomp, User
from reconciler.drivers.docker.capabilities import DOCKER
from reconciler.drivers.docker.images import storage_problem
from reconciler.drivers.docker.spec import infra_body, member_body

from .test_manifests import at

INFRA_ID = "ab" * 32

# The Pod of "Configure a Security Context for a Pod or Container" (kubernetes.io).
SECURITY_DEMO = """
    apiVersion: v1
    kind: Pod
    metadata: {name: security-context-demo}
    spec:
      securityContext:
        runAsUser: 1000
        runAsGroup: 3000
        fsGroup: 2000
        supplementalGroups: [4000]
        runAsNonRoot: true
        seccompProfile: {type: RuntimeDefault}
        sysctls:
          - {name: kernel.shm_rmid_forced, value: "1"}
          - {name: net.core.somaxconn, value: "1024"}
      volumes:
        - {name: sec-ctx-vol, emptyDir: {}}
        - {name: mem, emptyDir: {medium: Memory, sizeLimit: 1Mi}}
      containers:
        - name: sec-ctx-demo
          image: busybox:1.28
          command: [sh, -c, sleep 1h]
          volumeMounts:
            - {name: sec-ctx-vol, mountPath: /data/demo}
            - {name: mem, mountPath: /mem}
          securityContext: {allowPrivilegeEscalation: false}
        - name: override
          image: busybox:1.28
          securityContext: {runAsUser: 2000, seccompProfile: {type: Unconfined}}
    """


def unit_of(text: str, share_ipc: bool = True) -> DesiredUnit:
    loaded = load_text(dedent(text), "pod.yaml")
    assert loaded.ok, [str(p) for p in loaded.errors]
    desired = compile_and_admit(
        loaded.manifests,
        BuildConfig("inst", infra_image="p:1", policy=PRIVILEGED, driver=DOCKER),
        values=loaded.values,
    )
    assert desired.refused == ()
    (unit,) = desired.units
    return unit


def errors(text: str) -> list[str]:
    loaded = load_text(dedent(text), "pod.yaml")
    return [str(p) for p in loaded.errors]


def pod(containers: str, spec: str = "", init: str = "") -> str:
    return f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: p}}
        spec:
          {spec or "restartPolicy: Always"}
          initContainers: {init or "[]"}
          containers: {containers}
        """


# --- securityContext: the pod's values are defaults the container's override --


def test_container_values_override_the_pods() -> None:
    pod_level = PodSecurityContext(run_as_user=1, run_as_group=2, run_as_non_root=True)
    own = SecurityContext(run_as_user=5, privileged=True)
    merged = effective_security(pod_level, own)
    assert (merged.run_as_user, merged.run_as_group, merged.run_as_non_root) == (5, 2, True)
    assert merged.privileged
    assert effective_security(None, None) == SecurityContext()
    assert effective_security(pod_level, None).run_as_user == 1


def test_the_security_demo_pods_effective_specs() -> None:
    unit = unit_of(SECURITY_DEMO)
    demo, override = unit.workloads
    assert demo.spec.user == User(1000, 3000)
    assert demo.spec.group_add == (2000, 4000)
    assert demo.spec.no_new_privileges
    assert demo.spec.seccomp is Seccomp.RUNTIME_DEFAULT
    assert demo.run_as_non_root
    assert [(m.type, m.group) for m in demo.spec.mounts] == [("volume", 2000), ("tmpfs", 2000)]
    assert override.spec.user == User(2000, 3000)
    assert override.spec.seccomp == "unconfined"
    (volume,) = unit.volumes  # the disk emptyDir; the memory one is a tmpfs
    assert (volume.group, volume.helper_image) == (2000, "p:1")
    # Namespaced sysctls go to the infra, which owns the network and IPC namespaces.
    assert unit.infra is not None
    assert unit.infra.spec.sysctls == (
        spec.Sysctl("kernel.shm_rmid_forced", "1"),
        spec.Sysctl("net.core.somaxconn", "1024"),
    )
    assert demo.spec.sysctls == ()


def test_ipc_sysctls_go_to_members_when_ipc_is_not_shared() -> None:
    unit = unit_of(
        """
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: p}
        spec:
          share: [network]
          securityContext:
            sysctls:
              - {name: kernel.msgmax, value: "9"}
              - {name: net.ipv4.tcp_syncookies, value: "1"}
          containers: [{name: a, image: x}]
        """
    )
    assert unit.infra is not None
    assert unit.infra.spec.sysctls == (spec.Sysctl("net.ipv4.tcp_syncookies", "1"),)
    assert unit.workloads[0].spec.sysctls == (spec.Sysctl("kernel.msgmax", "9"),)


def test_create_bodies_of_the_security_demo() -> None:
    unit = unit_of(SECURITY_DEMO)
    assert unit.infra is not None
    infra = infra_body(unit.infra)["HostConfig"]
    assert infra["Sysctls"] == {"kernel.shm_rmid_forced": "1", "net.core.somaxconn": "1024"}
    demo = member_body(unit.workloads[0], INFRA_ID)
    host = demo["HostConfig"]
    assert demo["User"] == "1000:3000"
    assert host["GroupAdd"] == ["2000", "4000"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Tmpfs"] == {"/mem": "rw,size=1048576,mode=2777,gid=2000"}
    assert [m["Target"] for m in host["Mounts"]] == ["/data/demo"]
    assert "Sysctls" not in host
    override = member_body(unit.workloads[1], INFRA_ID)["HostConfig"]
    assert override["SecurityOpt"] == ["seccomp=unconfined"]


@pytest.mark.parametrize(
    ("name", "fine"),
    [
        ("net.core.somaxconn", True),
        ("net.ipv4.ip_local_port_range", True),
        ("kernel.shm_rmid_forced", True),
        ("kernel.msgmax", True),
        ("fs.mqueue.msg_max", True),
        ("kernel.pid_max", False),
        ("vm.swappiness", False),
        ("kernel.hostname", False),
    ],
)
def test_only_namespaced_sysctls(name: str, fine: bool) -> None:
    if fine:
        assert Sysctl(name=name, value="1").name == name
    else:
        with pytest.raises(ValidationError, match="not namespaced"):
            Sysctl(name=name, value="1")


def test_run_as_non_root_with_root_user_is_refused_at_load() -> None:
    problems = errors(
        pod(
            "[{name: a, image: x, securityContext: {runAsUser: 0}}]",
            spec="securityContext: {runAsNonRoot: true}",
        )
    )
    assert len(problems) == 1
    assert "container 'a' has runAsNonRoot but runAsUser 0" in problems[0]
    (problem,) = errors(
        """
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: c}
        spec: {image: x, securityContext: {runAsNonRoot: true, runAsUser: 0}}
        """
    )
    assert "spec: the container has runAsNonRoot but runAsUser 0 (root)" in problem


@pytest.mark.parametrize(
    ("user", "image_user", "refused"),
    [
        (User(1000), "", None),
        (User(1000, 3000), "root", None),
        (User(), "1000", None),
        (User(), "1000:0", None),
        (User(), "", "runs as root"),
        (User(), "0", "is root"),
        (User(), "0:1000", "is root"),
        (User(), "nobody", "not numeric"),
        (User(0, 7), "1000", "is root"),
    ],
)
def test_run_as_non_root_against_the_image_user(
    user: User, image_user: str, refused: str | None
) -> None:
    problem = non_root_problem("app", user, image_user)
    if refused is None:
        assert problem is None
    else:
        assert problem is not None and refused in problem and "runAsNonRoot" in problem


@pytest.mark.parametrize(
    ("profile", "reason"),
    [
        ("{type: Localhost}", "type Localhost needs localhostProfile"),
        ("{type: Localhost, localhostProfile: /etc/x.json}", "must be a relative path"),
        ("{type: Localhost, localhostProfile: a/../../x.json}", "must not contain '..'"),
        ("{type: RuntimeDefault, localhostProfile: x.json}", "goes only with type Localhost"),
    ],
)
def test_a_localhost_profile_outside_the_profile_directory_is_refused(
    profile: str, reason: str
) -> None:
    (problem,) = errors(
        pod("[{name: a, image: x}]", spec=f"securityContext: {{seccompProfile: {profile}}}")
    )
    assert "spec.securityContext.seccompProfile" in problem and reason in problem


# --- defaults keep existing hashes -------------------------------------------


def test_new_fields_at_their_defaults_do_not_change_hashes() -> None:
    member = MemberSpec(role="workload", image="x", runtime="runc")
    infra = InfraSpec(runtime="runc", share=("network",))
    assert spec_hash(member) == "1:" + _v1({"role": "workload", "image": "x", "runtime": "runc"})
    assert spec_hash(infra) == "1:" + _v1({"runtime": "runc", "share": ["network"]})


def _v1(data: dict[str, Any]) -> str:
    import hashlib

    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_plain_pod_has_the_same_hash_as_before() -> None:
    unit = unit_of(pod("[{name: a, image: x}]"))
    assert unit.workloads[0].hash == spec_hash(
        MemberSpec(role="workload", image="x", runtime="runc", joins=("network", "ipc"))
    )


# --- native sidecars ------------------------------------------------------------


def test_an_init_container_with_restart_policy_always_is_a_sidecar() -> None:
    unit = unit_of(
        pod(
            "[{name: app, image: x}]",
            init="[{name: setup, image: x}, {name: log, image: x, restartPolicy: Always}]",
        )
    )
    assert [(m.name, m.spec.role) for m in unit.init] == [("setup", "init"), ("log", "sidecar")]
    assert unit.init[1].labels[L.ROLE] == L.ROLE_SIDECAR
    assert [m.name for m in unit.running] == ["log", "app"]


def test_restart_policy_on_a_container_is_refused() -> None:
    (problem,) = errors(pod("[{name: app, image: x, restartPolicy: Always}]"))
    assert "restartPolicy belongs to initContainers only" in problem


# --- lifecycle hooks ------------------------------------------------------------


def test_hooks_are_in_the_spec_and_on_the_container() -> None:
    unit = unit_of(
        pod(
            """
            - name: app
              image: x
              lifecycle:
                postStart: {exec: {command: [sh, -c, "echo hi"]}}
                preStop: {exec: {command: [sleep, "1"]}}"""
        )
    )
    app = unit.workloads[0]
    assert app.spec.post_start == ("sh", "-c", "echo hi")
    assert app.spec.pre_stop == ("sleep", "1")
    body = member_body(app, INFRA_ID)
    assert json.loads(body["Labels"][L.PRE_STOP]) == ["sleep", "1"]
    observed = ObservedContainer(ContainerId("c1"), "n", body["Labels"], State.RUNNING, 1.0)
    ref = Ref.of(observed)
    assert (ref.post_start, ref.pre_stop) == (("sh", "-c", "echo hi"), ("sleep", "1"))


def test_stop_signal_is_the_containers_and_left_out_of_the_hash_when_unset() -> None:
    def app(lifecycle: str) -> DesiredUnit:
        return unit_of(pod(f"[{{name: app, image: x{lifecycle}}}]"))

    signalled = app(", lifecycle: {stopSignal: SIGUSR1}").workloads[0]
    assert signalled.spec.stop_signal == "SIGUSR1"
    assert member_body(signalled, INFRA_ID)["StopSignal"] == "SIGUSR1"
    plain = app("").workloads[0]
    assert "StopSignal" not in member_body(plain, INFRA_ID)
    # Unset, the hash is the one version 1 gave: no container is recreated by the field.
    assert app(", lifecycle: {}").workloads[0].hash == plain.hash != signalled.hash


def test_a_stop_signal_that_is_no_linux_signal_is_refused_by_name() -> None:
    (problem,) = errors(pod("[{name: app, image: x, lifecycle: {stopSignal: SIGSTAHP}}]"))
    assert "lifecycle.stopSignal" in problem and "'SIGSTAHP' is not a Linux signal" in problem


@pytest.mark.parametrize("label", ["", "not json", '"a string"', "[]", "[1]"])
def test_a_broken_hook_label_is_no_hook(label: str) -> None:
    observed = ObservedContainer(ContainerId("c1"), "n", {L.PRE_STOP: label}, State.RUNNING, 1.0)
    assert Ref.of(observed).pre_stop == ()


def test_hooks_on_a_plain_init_container_are_refused() -> None:
    (problem,) = errors(
        pod(
            "[{name: app, image: x}]",
            init="[{name: setup, image: x, lifecycle: {preStop: {exec: {command: [x]}}}}]",
        )
    )
    assert "lifecycle hooks are for containers and native sidecars" in problem


# --- hostname, subdomain, hostAliases, dnsConfig, stdin -------------------------


def test_network_identity_goes_to_the_infra() -> None:
    unit = unit_of(
        pod(
            "[{name: app, image: x, stdin: true, stdinOnce: true}]",
            spec="""hostname: web-0
          subdomain: web
          hostAliases: [{ip: 10.1.2.3, hostnames: [foo.local, bar.local]}]
          dnsConfig:
            nameservers: [192.0.2.1]
            searches: [ns1.svc.cluster-domain.example]
            options: [{name: ndots, value: "2"}, {name: edns0}]""",
        )
    )
    assert unit.infra is not None
    body = infra_body(unit.infra)
    assert body["Hostname"] == "web-0"
    assert body["Domainname"] == "web.default.svc.cluster.local"
    assert body["HostConfig"]["ExtraHosts"] == ["foo.local:10.1.2.3", "bar.local:10.1.2.3"]
    assert body["HostConfig"]["Dns"] == ["192.0.2.1"]
    assert body["HostConfig"]["DnsSearch"] == ["ns1.svc.cluster-domain.example"]
    assert body["HostConfig"]["DnsOptions"] == ["ndots:2", "edns0"]
    app = member_body(unit.workloads[0], INFRA_ID)
    assert (app["OpenStdin"], app["StdinOnce"]) == (True, True)
    assert "ExtraHosts" not in app["HostConfig"]  # Docker refuses them on a joined member


def test_a_standalone_container_owns_its_network_identity() -> None:
    loaded = load_text(
        dedent(
            """
            apiVersion: reconciler/v1
            kind: Container
            metadata: {name: c}
            spec:
              image: x
              hostname: cache-0
              hostAliases: [{ip: 10.0.0.1, hostnames: [db]}]
            """
        ),
        "c.yaml",
    )
    assert loaded.ok, loaded.errors
    desired = compile_and_admit(
        loaded.manifests, BuildConfig("i", policy=PRIVILEGED, driver=DOCKER), values=loaded.values
    )
    body = member_body(desired.units[0].workloads[0], None)
    assert body["Hostname"] == "cache-0"
    assert body["HostConfig"]["ExtraHosts"] == ["db:10.0.0.1"]


# --- what is refused, by name and with the reason ---------------------------------


@pytest.mark.parametrize(
    ("field", "line", "reason"),
    [
        ("spec.hostPID: true", "spec.hostPID: true", "share the infra's namespaces"),
        ("spec.hostIPC: true", "spec.hostIPC: true", "share the infra's namespaces"),
        ("spec.activeDeadlineSeconds: 5", "spec.activeDeadlineSeconds", "keeps a unit running"),
        ("spec.ephemeralContainers: [{name: d}]", "spec.ephemeralContainers", "kubectl debug"),
    ],
)
def test_pod_fields_outside_the_subset_are_refused_with_the_reason(
    field: str, line: str, reason: str
) -> None:
    key, value = field.removeprefix("spec.").split(": ", 1)
    (problem,) = errors(pod("[{name: a, image: x}]", spec=f"{key}: {value}"))
    shown = line.removeprefix("spec.")
    assert f"spec.{key}: not supported by reconciler: {shown}, because " in problem
    assert reason in problem


@pytest.mark.parametrize(
    ("container", "field", "reason"),
    [
        ("securityContext: {seLinuxOptions: {level: s0}}", "seLinuxOptions", "SELinux"),
    ],
)
def test_container_fields_outside_the_subset_are_refused_with_the_reason(
    container: str, field: str, reason: str
) -> None:
    problems = errors(pod(f"[{{name: a, image: x, {container}}}]"))
    assert any(field in p and reason in p for p in problems), problems


def test_termination_message_fields_are_read() -> None:
    loaded = load_text(
        dedent(
            pod(
                "[{name: a, image: x, terminationMessagePath: /tmp/message,"
                " terminationMessagePolicy: FallbackToLogsOnError}]"
            )
        ),
        "pod.yaml",
    )
    assert loaded.ok
    assert [at(w) for w in loaded.warnings] == [
        (8, 36, "spec.containers[0].terminationMessagePath"),
        (8, 74, "spec.containers[0].terminationMessagePolicy"),
    ]
    assert "does not collect termination messages" in loaded.warnings[0].message
    # Kubernetes' defaults, written out as kubectl prints them, mean what their absence means.
    defaults = pod(
        "[{name: a, image: x, terminationMessagePath: /dev/termination-log,"
        " terminationMessagePolicy: File}]"
    )
    assert load_text(dedent(defaults), "pod.yaml").warnings == []


# --- resources.limits.ephemeral-storage ----------------------------------------------


def test_ephemeral_storage_limit_is_a_storage_opt() -> None:
    unit = unit_of(pod("[{name: a, image: x, resources: {limits: {ephemeral-storage: 2Gi}}}]"))
    assert unit.workloads[0].spec.storage_limit == 2 * 2**30
    body = member_body(unit.workloads[0], INFRA_ID)
    assert body["HostConfig"]["StorageOpt"] == {"size": str(2 * 2**30)}


@pytest.mark.parametrize(
    ("driver", "backing", "fine"),
    [
        ("overlay2", "xfs", True),
        ("overlay2", "extfs", False),
        ("btrfs", "btrfs", True),
        ("zfs", "zfs", True),
        ("vfs", "extfs", False),
        ("", "", False),
    ],
)
def test_ephemeral_storage_needs_a_storage_driver_that_can_limit(
    driver: str, backing: str, fine: bool
) -> None:
    problem = storage_problem(driver, backing)
    assert (problem is None) is fine
    if problem is not None:
        assert f"its storage driver is {driver or 'unknown'}" in problem and "pquota" in problem


# --- envFrom: ConfigMaps and Secrets given in the same file ----------------------------

VALUES = """
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: app.config}
    data: {MODE: prod, LEVEL: info, "bad-name!": x}
    ---
    apiVersion: v1
    kind: Secret
    metadata: {name: creds}
    data: {PASSWORD: czNjcjN0}
    stringData: {USER: admin}
    ---
    """


def test_env_from_reads_config_maps_and_secrets_of_the_source() -> None:
    text = dedent(VALUES) + dedent(
        pod(
            """
            - name: app
              image: x
              envFrom:
                - configMapRef: {name: app.config}
                - {prefix: DB_, secretRef: {name: creds}}
                - configMapRef: {name: absent, optional: true}
              env: [{name: LEVEL, value: debug}]"""
        )
    )
    loaded = load_text(dedent(text), "pod.yaml")
    assert loaded.ok, [str(p) for p in loaded.errors]
    assert [(v.kind, v.name) for v in loaded.values] == [
        ("ConfigMap", "app.config"),
        ("Secret", "creds"),
    ]
    assert loaded.values[1].data == {"PASSWORD": "s3cr3t", "USER": "admin"}
    desired = compile_and_admit(
        loaded.manifests, BuildConfig("i", policy=PRIVILEGED, driver=DOCKER), values=loaded.values
    )
    env = desired.units[0].workloads[0].spec.env
    assert [f"{e.name}={e.value}" for e in env] == [
        "MODE=prod",
        "DB_PASSWORD=s3cr3t",
        "DB_USER=admin",
        "LEVEL=debug",  # env wins over envFrom
    ]
    (note,) = [n for _, n in desired.notes if "skipped" in n]
    assert "pod.yaml:" in note and "spec.containers[0].envFrom[0].configMapRef" in note
    assert "skipped 'bad-name!': not a valid variable name" in note


def test_env_from_a_missing_config_map_refuses_that_unit_only() -> None:
    text = pod("[{name: app, image: x, envFrom: [{configMapRef: {name: elsewhere}}]}]")
    loaded = load_text(
        dedent(text)
        + "---\n"
        + dedent(pod("[{name: b, image: x}]")).replace("name: p}", "name: q}"),
        "pod.yaml",
    )
    assert loaded.ok
    desired = compile_and_admit(
        loaded.manifests, BuildConfig("i", policy=PRIVILEGED, driver=DOCKER), values=loaded.values
    )
    assert [u.key.name for u in desired.units] == ["q"]
    ((key, why),) = desired.refused
    assert key.name == "p"
    assert why.startswith("pod.yaml:8:64: ")  # the name of the reference
    assert (
        "spec.containers[0].envFrom[0].configMapRef.name: ConfigMap default/elsewhere is "
        "not defined in the source" in why
    )


def test_a_secret_with_data_that_is_not_base64_is_an_error() -> None:
    (problem,) = errors(
        """
        apiVersion: v1
        kind: Secret
        metadata: {name: s}
        data: {A: "not base64!"}
        """
    )
    assert "data.A is not base64" in problem
