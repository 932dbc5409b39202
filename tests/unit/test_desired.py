"""From manifests to desired units: names, labels, effective specs and their hashes."""

from __future__ import annotations

import hashlib
import json
from textwrap import dedent

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core import hashing
from reconciler.core import labels as L
from reconciler.core.admission import compile_and_admit
from reconciler.core.compile import BuildConfig
from reconciler.core.hashing import hash_matches, spec_hash
from reconciler.core.manifests import load_text
from reconciler.core.models import Kind, Mode
from reconciler.core.naming import container_name, name_of, volume_name
from reconciler.core.policy import PRIVILEGED
from reconciler.core.spec import (
    Desired,
    DesiredUnit,
    EnvVar,
    HostAlias,
    InfraSpec,
    MemberSpec,
    MountSpec,
    NetSpec,
    PortSpec,
    UnitKey,
    User,
)
from reconciler.drivers.docker.capabilities import DOCKER

INSTANCE = "inst"
CIS = Mode.CONTAINER_IN_SANDBOX
STANDALONE = Mode.STANDALONE


def build(text: str, mode: Mode = CIS, source: str = "dir/web.yaml") -> Desired:
    loaded = load_text(dedent(text), "web.yaml", source=source)
    assert loaded.ok, [str(p) for p in loaded.errors]
    return compile_and_admit(
        loaded.manifests,
        BuildConfig(INSTANCE, mode, "pause:test", policy=PRIVILEGED, driver=DOCKER),
        values=loaded.values,
    )


def one(text: str, mode: Mode = CIS) -> DesiredUnit:
    desired = build(text, mode)
    assert desired.refused == ()
    (unit,) = desired.units
    return unit


def sandbox(
    app: str = "{name: app, image: busybox:1}",
    spec: str = "",
    namespace: str = "prod",
) -> str:
    return f"""
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {{name: web, namespace: {namespace}}}
        spec:
          {spec or "runtime: runc"}
          initContainers:
            - {{name: setup, image: busybox:1, command: [sh, -c, "true"]}}
          containers:
            - {app}
            - {{name: sidecar, image: busybox:1}}
        """


def container(spec: str = "image: redis:7") -> str:
    return f"""
        apiVersion: reconciler/v1
        kind: Container
        metadata: {{name: cache, namespace: prod}}
        spec:
          {spec}
        """


def hashes(unit: DesiredUnit) -> dict[str, str]:
    result = {m.name: m.hash for m in unit.members}
    if unit.infra is not None:
        result["<infra>"] = unit.infra.hash
    return result


def changed(before: DesiredUnit, after: DesiredUnit) -> set[str]:
    old, new = hashes(before), hashes(after)
    assert old.keys() == new.keys()
    return {name for name in old if old[name] != new[name]}


# --- names ------------------------------------------------------------------


def test_docker_names_of_a_sandbox() -> None:
    unit = one(sandbox())
    assert unit.key == UnitKey(Kind.SANDBOX, "prod", "web")
    assert unit.infra is not None
    assert name_of(unit.infra.labels) == "inst_prod_web_infra"
    assert [name_of(m.labels) for m in unit.init] == ["inst_prod_web.setup"]
    assert [name_of(m.labels) for m in unit.workloads] == [
        "inst_prod_web.app",
        "inst_prod_web.sidecar",
    ]
    assert [m.name for m in unit.members] == ["setup", "app", "sidecar"]


def test_docker_name_of_a_container() -> None:
    unit = one(container())
    assert unit.key == UnitKey(Kind.CONTAINER, "prod", "cache")
    (workload,) = unit.workloads
    assert workload.name == "cache"
    assert name_of(workload.labels) == "inst_prod_cache"


def test_docker_name_function() -> None:
    web = UnitKey(Kind.SANDBOX, "default", "web")
    cache = UnitKey(Kind.CONTAINER, "ns", "cache")
    assert container_name("i", web, None) == "i_default_web_infra"
    assert container_name("i", web, "app") == "i_default_web.app"
    assert container_name("i", cache, "cache") == "i_ns_cache"
    assert container_name("i", cache, None) == "i_ns_cache"


def test_volume_names() -> None:
    assert volume_name("i", UnitKey(Kind.SANDBOX, "ns", "web"), "data") == "i_ns_web.data"
    assert volume_name("i", UnitKey(Kind.CONTAINER, "ns", "c"), "data") == "i_ns_c_data"


def test_unit_key_text_leaves_out_the_default_namespace() -> None:
    assert str(UnitKey(Kind.SANDBOX, "default", "web")) == "sandbox/web"
    assert str(UnitKey(Kind.CONTAINER, "prod", "cache")) == "container/prod/cache"


def test_default_namespace_in_names() -> None:
    unit = one(sandbox(namespace="default"))
    assert unit.infra is not None
    assert name_of(unit.infra.labels) == "inst_default_web_infra"
    assert name_of(unit.workloads[0].labels) == "inst_default_web.app"


# --- labels -----------------------------------------------------------------


def test_labels_of_infra_and_members() -> None:
    unit = one(sandbox(spec="runtime: crun\n          terminationGracePeriodSeconds: 7"))
    base = {
        L.MANAGED_BY: INSTANCE,
        L.KIND: "Sandbox",
        L.NAMESPACE: "prod",
        L.SANDBOX: "web",
        L.SOURCE: "dir/web.yaml",
        L.MODE: "container-in-sandbox",
        L.RUNTIME: "crun",
        L.GRACE: "7",
        L.OWNER: "apply",  # the owner BuildConfig names (ownership.ONE_SHOT by default)
    }
    assert unit.infra is not None
    assert unit.infra.labels == base | {
        L.ROLE: L.ROLE_INFRA,
        L.CONTAINER: "",
        L.SPEC_HASH: unit.infra.hash,
    }
    (setup,) = unit.init
    assert setup.labels == base | {
        L.ROLE: L.ROLE_INIT,
        L.CONTAINER: "setup",
        L.SPEC_HASH: setup.hash,
        L.POSITION: "0",
    }
    for position, member in enumerate(unit.workloads, start=1):
        assert member.labels == base | {
            L.ROLE: L.ROLE_WORKLOAD,
            L.CONTAINER: member.name,
            L.SPEC_HASH: member.hash,
            L.POSITION: str(position),  # where get lists it: manifest order
        }
    # The infra id is known only when the member is created (docker_spec adds it).
    assert all(L.INFRA_ID not in m.labels for m in unit.members)


def test_labels_of_a_container() -> None:
    unit = one(container())
    (workload,) = unit.workloads
    assert workload.labels == {
        L.MANAGED_BY: INSTANCE,
        L.KIND: "Container",
        L.NAMESPACE: "prod",
        L.SANDBOX: "cache",
        L.SOURCE: "dir/web.yaml",
        L.MODE: "standalone",
        L.RUNTIME: "runc",
        L.GRACE: "30",
        L.OWNER: "apply",
        L.ROLE: L.ROLE_WORKLOAD,
        L.CONTAINER: "cache",
        L.SPEC_HASH: workload.hash,
    }


def test_every_label_key_has_the_prefix() -> None:
    unit = one(sandbox())
    assert unit.infra is not None
    for labels in [unit.infra.labels, *(m.labels for m in unit.members)]:
        assert all(key.startswith(L.PREFIX) for key in labels)


def test_labels_of_volumes() -> None:
    unit = one(
        sandbox(
            app="{name: app, image: x, volumeMounts: [{name: data, mountPath: /d}]}",
            spec="volumes:\n"
            "            - {name: data, emptyDir: {}}\n"
            "            - {name: shm, emptyDir: {medium: Memory}}\n"
            "            - {name: host, hostPath: {path: /srv}}",
        )
    )
    # Only a disk emptyDir is a Docker volume; tmpfs and binds are not.
    (volume,) = unit.volumes
    assert volume.name == "inst_prod_web.data"
    assert volume.labels == {
        L.MANAGED_BY: INSTANCE,
        L.KIND: "Sandbox",
        L.NAMESPACE: "prod",
        L.SANDBOX: "web",
        L.SOURCE: "dir/web.yaml",
        L.MODE: "container-in-sandbox",
        L.VOLUME: "data",
        L.OWNER: "apply",
    }


# --- effective specs --------------------------------------------------------


def test_infra_spec_and_image() -> None:
    unit = one(sandbox(spec="runtime: crun\n          share: [pid, network, ipc]"))
    assert unit.infra is not None
    assert unit.infra.image == "pause:test"
    assert unit.infra.spec == InfraSpec(
        runtime="crun", share=("network", "ipc", "pid"), ports=(), hostname="web"
    )
    assert unit.infra.hash == spec_hash(unit.infra.spec)


def test_members_join_the_shared_namespaces_and_have_no_hostname_or_ports() -> None:
    unit = one(
        sandbox(
            app="{name: app, image: x, ports: [{containerPort: 80, hostPort: 8080}]}",
            spec="share: [network]",
        )
    )
    for member in unit.members:
        assert member.spec.joins == ("network",)
        assert member.spec.hostname == ""
        assert member.spec.ports == ()
        assert member.hash == spec_hash(member.spec)
    assert [m.spec.role for m in unit.members] == ["init", "workload", "workload"]


def test_a_container_host_port_is_lifted_onto_the_infra() -> None:
    unit = one(
        sandbox(
            app="{name: app, image: x, ports: ["
            "{containerPort: 53, hostPort: 5353, protocol: UDP}, {containerPort: 9090}]}",
            spec="ports: [{containerPort: 80, hostPort: 8080, hostIP: 127.0.0.1}]",
        )
    )
    assert unit.infra is not None
    assert unit.infra.spec.ports == (
        PortSpec(container_port=80, protocol="tcp", host_port=8080, host_ip="127.0.0.1"),
        PortSpec(container_port=53, protocol="udp", host_port=5353, host_ip=""),
    )
    assert all(m.spec.ports == () for m in unit.members)


def test_a_member_spec_carries_what_the_container_is_created_from() -> None:
    unit = one(
        sandbox(
            app="""
              name: app
              image: nginx:1.25
              command: [nginx]
              args: [-g, daemon off;]
              workingDir: /srv
              tty: true
              env: [{name: B, value: "2"}, {name: A, value: "1"}, {name: EMPTY}]
              resources:
                limits: {cpu: 500m, memory: 128Mi}
                requests: {cpu: 250m, memory: 64Mi}
              securityContext:
                runAsUser: 1000
                runAsGroup: 2000
                privileged: true
                readOnlyRootFilesystem: true
                allowPrivilegeEscalation: false
                capabilities: {add: [NET_ADMIN], drop: [ALL]}
              volumeMounts:
                - {name: data, mountPath: /data}
                - {name: shm, mountPath: /shm, readOnly: true}
                - {name: host, mountPath: /host}
                - {name: etc, mountPath: /etc/x, readOnly: true}""",
            spec="""runtime: crun
          volumes:
            - {name: data, emptyDir: {}}
            - {name: shm, emptyDir: {medium: Memory, sizeLimit: 64Mi}}
            - {name: host, hostPath: {path: /srv, type: DirectoryOrCreate}}
            - {name: etc, hostPath: {path: /etc/x, type: File}}""",
        )
    )
    app = unit.workloads[0]
    assert app.pull_policy == "IfNotPresent"
    assert app.spec == MemberSpec(
        role="workload",
        image="nginx:1.25",
        runtime="crun",
        joins=("network", "ipc"),
        command=("nginx",),
        args=("-g", "daemon off;"),
        working_dir="/srv",
        env=(EnvVar("B", "2"), EnvVar("A", "1"), EnvVar("EMPTY", "")),
        mounts=(
            MountSpec(type="volume", source="inst_prod_web.data", target="/data"),
            MountSpec(type="tmpfs", target="/shm", read_only=True, size=64 * 2**20),
            MountSpec(type="bind", source="/srv", target="/host"),
            MountSpec(
                type="bind", source="/etc/x", target="/etc/x", read_only=True, must_exist=True
            ),
        ),
        cpu_limit=500,
        memory_limit=128 * 2**20,
        cpu_request=250,
        memory_request=64 * 2**20,
        user=User(1000, 2000),
        privileged=True,
        read_only_root=True,
        cap_add=("NET_ADMIN",),
        cap_drop=("ALL",),
        no_new_privileges=True,
        tty=True,
    )


@pytest.mark.parametrize(
    ("security", "user", "no_new_privileges"),
    [
        ("{runAsUser: 0}", User(0), False),
        ("{runAsUser: 5}", User(5), False),
        ("{runAsGroup: 7}", User(0, 7), False),
        ("{allowPrivilegeEscalation: true}", User(), False),
        ("{allowPrivilegeEscalation: false}", User(), True),
        ("{}", User(), False),
    ],
)
def test_security_context_user_and_privilege_escalation(
    security: str, user: User, no_new_privileges: bool
) -> None:
    unit = one(sandbox(app=f"{{name: app, image: x, securityContext: {security}}}"))
    spec = unit.workloads[0].spec
    assert spec.user == user
    assert spec.no_new_privileges is no_new_privileges


@pytest.mark.parametrize(
    ("host_type", "must_exist"),
    [
        ("", False),
        ("DirectoryOrCreate", False),
        ("Directory", True),
        ("File", True),
        ("Socket", True),
    ],
)
def test_host_path_types_that_must_exist(host_type: str, must_exist: bool) -> None:
    unit = one(
        sandbox(
            app="{name: app, image: x, volumeMounts: [{name: h, mountPath: /h}]}",
            spec=f'volumes: [{{name: h, hostPath: {{path: /srv, type: "{host_type}"}}}}]',
        )
    )
    (mount,) = unit.workloads[0].spec.mounts
    assert mount.type == "bind"
    assert mount.must_exist is must_exist


def test_unit_carries_restart_policy_grace_and_source() -> None:
    unit = one(sandbox(spec="restartPolicy: OnFailure\n          terminationGracePeriodSeconds: 3"))
    assert unit.mode is CIS
    assert unit.restart_policy == "OnFailure"
    assert unit.grace_period == 3
    assert unit.source == "dir/web.yaml"


# --- spec hashes ------------------------------------------------------------


def test_spec_hash_is_versioned_sha256() -> None:
    unit = one(sandbox())
    for digest in hashes(unit).values():
        version, hexdigest = digest.split(":")
        assert version == hashing.CURRENT_VERSION == "1"
        assert len(hexdigest) == 64
        assert int(hexdigest, 16) >= 0


def test_spec_hash_v1_meaning_is_pinned() -> None:
    # Changing what v1 means would recreate every container on upgrade: it needs a new version.
    spec = MemberSpec(role="workload", image="busybox:1", runtime="runc")
    canonical = b'{"image":"busybox:1","role":"workload","runtime":"runc"}'
    assert spec_hash(spec) == "1:" + hashlib.sha256(canonical).hexdigest()


def test_spec_hash_leaves_defaults_out() -> None:
    plain = MemberSpec(role="workload", image="x", runtime="runc")
    explicit = MemberSpec(
        role="workload",
        image="x",
        runtime="runc",
        joins=(),
        env=(),
        privileged=False,
        memory_limit=None,
    )
    assert spec_hash(plain) == spec_hash(explicit)


def test_spec_hash_is_the_canonical_json_of_the_spec() -> None:
    spec = InfraSpec(runtime="runc", share=("network",), hostname="web")
    data = {"runtime": "runc", "share": ["network"], "hostname": "web"}
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    assert spec_hash(spec) == "1:" + hashlib.sha256(canonical.encode()).hexdigest()


def test_version_1_keeps_the_encodings_it_was_defined_with() -> None:
    """Typed fields hash as the strings version 1 was defined over (tests/unit/
    test_hash_golden.py pins 227 containers): NAME=value, nanocores, cgroup shares."""
    spec = MemberSpec(
        role="workload",
        image="x",
        runtime="runc",
        env=(EnvVar("A", "1"),),
        cpu_limit=500,
        cpu_request=250,
        user=User(0, 7),
        net=NetSpec(host_aliases=(HostAlias("10.0.0.1", ("a", "b")),)),
    )
    data = {
        "role": "workload",
        "image": "x",
        "runtime": "runc",
        "env": ["A=1"],
        "nano_cpus": 500_000_000,
        "cpu_shares": 256,
        "user": "0:7",
        "net": {"extra_hosts": ["a:10.0.0.1", "b:10.0.0.1"]},
    }
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    assert spec_hash(spec) == "1:" + hashlib.sha256(canonical.encode()).hexdigest()


def test_hash_is_stable_for_equal_specs() -> None:
    first, second = one(sandbox()), one(sandbox())
    assert hashes(first) == hashes(second)
    assert changed(first, second) == set()


def test_hash_ignores_the_infra_image() -> None:
    text = dedent(sandbox())
    loaded = load_text(text, "w.yaml").manifests
    a = compile_and_admit(loaded, BuildConfig(INSTANCE, CIS, "pause:1", driver=DOCKER)).units[0]
    b = compile_and_admit(loaded, BuildConfig(INSTANCE, CIS, "pause:2", driver=DOCKER)).units[0]
    assert a.infra is not None
    assert b.infra is not None
    assert a.infra.image != b.infra.image
    assert hashes(a) == hashes(b)


@pytest.mark.parametrize(
    "app",
    [
        "{name: app, image: busybox:2}",
        "{name: app, image: busybox:1, env: [{name: A, value: b}]}",
        "{name: app, image: busybox:1, command: [sleep]}",
        "{name: app, image: busybox:1, args: ['1']}",
        "{name: app, image: busybox:1, workingDir: /tmp}",
        "{name: app, image: busybox:1, tty: true}",
        "{name: app, image: busybox:1, resources: {limits: {memory: 1Gi}}}",
        "{name: app, image: busybox:1, resources: {requests: {cpu: '1'}}}",
        "{name: app, image: busybox:1, securityContext: {privileged: true}}",
        "{name: app, image: busybox:1, securityContext: {runAsUser: 1}}",
    ],
)
def test_hash_changes_for_that_member_only_when_its_spec_changes(app: str) -> None:
    assert changed(one(sandbox()), one(sandbox(app=app))) == {"app"}


def test_hash_changes_when_an_env_value_changes() -> None:
    before = one(sandbox(app="{name: app, image: busybox:1, env: [{name: A, value: '1'}]}"))
    after = one(sandbox(app="{name: app, image: busybox:1, env: [{name: A, value: '2'}]}"))
    assert changed(before, after) == {"app"}


@pytest.mark.parametrize(
    "app",
    [
        "{name: app, image: busybox:1, imagePullPolicy: Always}",
        "{name: app, image: busybox:1, imagePullPolicy: Never}",
        "{name: app, image: busybox:1, livenessProbe: {exec: {command: ['true']}}}",
        "{name: app, image: busybox:1, readinessProbe: {httpGet: {port: 80}}}",
        "{name: app, image: busybox:1, startupProbe: {tcpSocket: {port: 80}, periodSeconds: 2}}",
        "{name: app, image: busybox:1, livenessProbe: {grpc: {port: 9090, service: app}}}",
        "{name: app, image: busybox:1, readinessProbe: "
        "{httpGet: {port: 80, httpHeaders: [{name: X-A, value: b}]}}}",
    ],
)
def test_hash_ignores_what_only_steers_reconciler(app: str) -> None:
    before, after = one(sandbox()), one(sandbox(app=app))
    assert changed(before, after) == set()


def test_pull_policy_is_kept_beside_the_hash() -> None:
    unit = one(sandbox(app="{name: app, image: busybox:1, imagePullPolicy: Always}"))
    assert unit.workloads[0].pull_policy == "Always"


@pytest.mark.parametrize(
    "spec", ["restartPolicy: Never", "terminationGracePeriodSeconds: 0", "restartPolicy: OnFailure"]
)
def test_hash_ignores_restart_policy_and_grace_period(spec: str) -> None:
    before, after = one(sandbox()), one(sandbox(spec=spec))
    assert changed(before, after) == set()
    assert (before.restart_policy, before.grace_period) != (
        after.restart_policy,
        after.grace_period,
    )


def test_container_hash_ignores_restart_policy_grace_and_probes() -> None:
    before = one(container())
    after = one(
        container(
            "image: redis:7\n          restartPolicy: Never\n"
            "          terminationGracePeriodSeconds: 1\n          imagePullPolicy: Always\n"
            "          livenessProbe: {tcpSocket: {port: 6379}}"
        )
    )
    assert changed(before, after) == set()
    assert changed(before, one(container("image: redis:8"))) == {"cache"}


def test_sandbox_ports_change_only_the_infra() -> None:
    before = one(sandbox())
    after = one(sandbox(spec="ports: [{containerPort: 80, hostPort: 8080}]"))
    assert changed(before, after) == {"<infra>"}


def test_a_member_host_port_changes_the_infra() -> None:
    before = one(sandbox())
    after = one(
        sandbox(app="{name: app, image: busybox:1, ports: [{containerPort: 80, hostPort: 81}]}")
    )
    assert "<infra>" in changed(before, after)


def test_a_member_port_without_host_port_changes_nothing() -> None:
    before = one(sandbox())
    after = one(sandbox(app="{name: app, image: busybox:1, ports: [{containerPort: 80}]}"))
    assert changed(before, after) == set()


def test_share_changes_the_infra_and_every_member_that_joins() -> None:
    before = one(sandbox())
    after = one(sandbox(spec="share: [network, ipc, pid]"))
    assert changed(before, after) == {"<infra>", "setup", "app", "sidecar"}
    assert all(m.spec.joins == ("network", "ipc", "pid") for m in after.members)


def test_share_written_in_another_order_changes_nothing() -> None:
    assert changed(one(sandbox()), one(sandbox(spec="share: [ipc, network]"))) == set()


def test_runtime_changes_the_infra_and_every_member() -> None:
    before = one(sandbox())
    after = one(sandbox(spec="runtime: crun"))
    assert changed(before, after) == {"<infra>", "setup", "app", "sidecar"}
    assert all(m.spec.runtime == "crun" for m in after.members)


def test_default_runtime_written_out_changes_nothing() -> None:
    assert changed(one(sandbox(spec="share: [network, ipc]")), one(sandbox())) == set()


KEYS = ["name", "image", "command", "args", "env", "workingDir", "tty"]
VALUES = {
    "name": "app",
    "image": "busybox:1",
    "command": "[sh, -c]",
    "args": "[sleep 1]",
    "env": "[{value: '1', name: A}, {name: B, value: '2'}]",
    "workingDir": "/w",
    "tty": "true",
}


@given(order=st.permutations(KEYS), spec_first=st.booleans())
def test_hash_does_not_depend_on_key_order(order: list[str], spec_first: bool) -> None:
    app = "{" + ", ".join(f"{key}: {VALUES[key]}" for key in order) + "}"
    canonical = "{" + ", ".join(f"{key}: {VALUES[key]}" for key in KEYS) + "}"
    head = "share: [ipc, network]" if spec_first else "share: [network, ipc]"
    assert hashes(one(sandbox(app=app, spec=head))) == hashes(one(sandbox(app=canonical)))


@given(
    image=st.sampled_from(["busybox:1", "busybox:2", "nginx"]),
    env=st.lists(st.sampled_from(["A", "B", "C"]), unique=True, max_size=3),
)
def test_hash_is_a_function_of_the_spec(image: str, env: list[str]) -> None:
    env_text = "[" + ", ".join(f"{{name: {n}, value: v}}" for n in env) + "]"
    app = f"{{name: app, image: '{image}', env: {env_text}}}"
    a, b = one(sandbox(app=app)), one(sandbox(app=app))
    assert hashes(a) == hashes(b)
    assert (a.workloads[0].hash == one(sandbox()).workloads[0].hash) == (
        image == "busybox:1" and not env
    )


# --- standalone mode and Container units ------------------------------------


def test_standalone_mode_runs_a_one_container_sandbox_without_infra() -> None:
    text = """
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: web}
        spec:
          share: [network, ipc, pid]
          ports: [{containerPort: 80, hostPort: 8080}]
          containers:
            - {name: app, image: x, ports: [{containerPort: 81, hostPort: 8081}]}
        """
    unit = one(text, STANDALONE)
    assert unit.mode is STANDALONE
    assert unit.infra is None
    assert unit.init == ()
    (app,) = unit.workloads
    assert name_of(app.labels) == "inst_default_web.app"
    assert app.spec.joins == ()
    assert app.spec.hostname == "web"
    assert app.spec.ports == (
        PortSpec(container_port=80, host_port=8080),
        PortSpec(container_port=81, host_port=8081),
    )
    assert app.labels[L.MODE] == "standalone"
    assert app.labels[L.ROLE] == L.ROLE_WORKLOAD
    # The same manifest in container-in-sandbox mode is another effective spec.
    assert app.hash != one(text).workloads[0].hash


@pytest.mark.parametrize(
    ("spec", "count"),
    [
        (
            "containers: [{name: a, image: x}, {name: b, image: x}]",
            2,
        ),
        (
            "initContainers: [{name: i, image: x}]\n          containers: [{name: a, image: x}]",
            2,
        ),
    ],
)
def test_standalone_mode_refuses_a_multi_container_sandbox(spec: str, count: int) -> None:
    text = f"""
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {{name: web}}
        spec:
          {spec}
        ---
        apiVersion: reconciler/v1
        kind: Container
        metadata: {{name: cache}}
        spec: {{image: redis}}
        """
    desired = build(text, STANDALONE)
    ((key, reason),) = desired.refused
    assert key == UnitKey(Kind.SANDBOX, "default", "web")
    assert f"exactly one container, this one has {count}" in reason
    assert "--mode container-in-sandbox" in reason
    # The refusal is per unit: the others are built, and the refused key is still desired.
    assert [u.key.name for u in desired.units] == ["cache"]
    assert desired.keys == {key, UnitKey(Kind.CONTAINER, "default", "cache")}


def test_a_container_publishes_its_own_ports_in_any_mode() -> None:
    text = container(
        "image: redis:7\n          ports: "
        "[{containerPort: 6379, hostPort: 6379, hostIP: 127.0.0.1}, {containerPort: 9121}]"
    )
    for mode in Mode:
        unit = one(text, mode)
        assert unit.mode is STANDALONE
        assert unit.infra is None
        (workload,) = unit.workloads
        assert workload.spec.hostname == "cache"
        assert workload.spec.joins == ()
        assert workload.spec.ports == (
            PortSpec(container_port=6379, host_port=6379, host_ip="127.0.0.1"),
            PortSpec(container_port=9121),
        )


def test_a_container_volume_is_named_with_an_underscore() -> None:
    unit = one(
        container(
            "image: x\n          volumes: [{name: data, emptyDir: {}}]\n"
            "          volumeMounts: [{name: data, mountPath: /d}]"
        )
    )
    (volume,) = unit.volumes
    assert volume.name == "inst_prod_cache_data"
    assert unit.workloads[0].spec.mounts == (
        MountSpec(type="volume", source="inst_prod_cache_data", target="/d"),
    )


def test_empty_desired_state() -> None:
    desired = compile_and_admit([], BuildConfig(INSTANCE, driver=DOCKER))
    assert desired == Desired()
    assert desired.keys == frozenset()


# --- hash_matches -----------------------------------------------------------


def test_hash_matches() -> None:
    spec = MemberSpec(role="workload", image="busybox:1", runtime="runc")
    desired = spec_hash(spec)
    other = spec_hash(MemberSpec(role="workload", image="busybox:2", runtime="runc"))
    assert hash_matches(desired, desired, spec) is True
    assert hash_matches(other, desired, spec) is False
    assert hash_matches("1:" + "0" * 64, desired, spec) is False


@pytest.mark.parametrize("label", ["9:abc", "2:" + "0" * 64, "99:x"])
def test_hash_of_an_unknown_version_is_undecided(label: str) -> None:
    spec = MemberSpec(role="workload", image="x", runtime="runc")
    assert hash_matches(label, spec_hash(spec), spec) is None


@pytest.mark.parametrize("label", [None, "", "garbage", "0" * 64, ":abc", "foo:bar", "1.0:x"])
def test_a_missing_or_garbage_hash_label_is_a_change(label: str | None) -> None:
    spec = MemberSpec(role="workload", image="x", runtime="runc")
    assert hash_matches(label, spec_hash(spec), spec) is False


def test_an_older_hash_version_is_compared_with_its_own_hasher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(hashing._HASHERS, "0", lambda spec: f"old-{spec.image}")
    spec = MemberSpec(role="workload", image="x", runtime="runc")
    desired = spec_hash(spec)
    assert hash_matches("0:old-x", desired, spec) is True
    assert hash_matches("0:old-y", desired, spec) is False
