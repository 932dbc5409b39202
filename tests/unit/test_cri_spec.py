"""The CRI request bodies (drivers/cri/spec.py): what RunPodSandbox and CreateContainer are
sent for every runtime x share, and what CRI cannot express refused by name."""

from __future__ import annotations

from textwrap import dedent

import pytest

pytest.importorskip("grpc")

from reconciler.core import labels as L
from reconciler.core.admission import compile_and_admit
from reconciler.core.compile import BuildConfig, compile_units
from reconciler.core.errors import UntranslatableSpec
from reconciler.core.manifests import load_text
from reconciler.core.policy import PRIVILEGED
from reconciler.core.spec import DesiredUnit
from reconciler.drivers.cri.capabilities import CRI
from reconciler.drivers.cri.client import pb
from reconciler.drivers.cri.spec import (
    IMPLICIT,
    LOG_DIRECTORY,
    bare_shape,
    container_config,
    infra_shape,
    ports_of,
    sandbox_config,
    sandbox_config_of,
)

SHARES = {  # what admission lets through under CRI: IPC is always the pod's
    "[network, ipc]": (pb.POD, pb.CONTAINER),
    "[network, ipc, pid]": (pb.POD, pb.POD),
}


def _unit(text: str, admitted: bool = True) -> DesiredUnit:
    """The unit as admitted under CRI, or (``admitted`` False) as compiled only: what
    the spec module makes of what admission would have refused."""
    loaded = load_text(dedent(text), "ns/web.yaml")
    assert loaded.ok, [str(p) for p in loaded.errors]
    config = BuildConfig("i", driver=CRI, policy=PRIVILEGED)
    if not admitted:
        ((unit, _),) = (
            (c.unit, c) for c in compile_units(loaded.manifests, config, values=loaded.values)
        )
        return unit
    want = compile_and_admit(loaded.manifests, config, values=loaded.values)
    assert not want.refused, want.refused
    (unit,) = want.units
    return unit


def _sandbox(
    runtime: str = "runc", share: str = "[network, ipc]", more: str = "", admitted: bool = True
) -> DesiredUnit:
    return _unit(
        f"""
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {{name: web, namespace: shop}}
        spec:
          runtime: {runtime}
          share: {share}
          hostname: front
          ports:
            - {{containerPort: 80, hostPort: 8080}}
            - {{containerPort: 53, hostPort: 5353, protocol: UDP, hostIP: 127.0.0.1}}
          dnsConfig:
            nameservers: [10.0.0.10]
            searches: [shop.svc]
            options: [{{name: ndots, value: "2"}}]{more}
          containers:
            - name: app
              image: busybox:1
              command: [sh, -c]
              args: [echo hi]
              workingDir: /srv
              env: [{{name: MODE, value: prod}}, {{name: EMPTY, value: ""}}]
              resources: {{limits: {{cpu: 500m, memory: 64Mi}}, requests: {{cpu: 250m}}}}
              securityContext:
                runAsUser: 1000
                runAsGroup: 2000
                readOnlyRootFilesystem: true
                allowPrivilegeEscalation: false
                capabilities: {{add: [NET_BIND_SERVICE], drop: [ALL]}}
            - {{name: side, image: busybox:1}}
        """,
        admitted,
    )


@pytest.mark.parametrize("runtime", ["runc", "runsc", "kata"])
@pytest.mark.parametrize("share", sorted(SHARES))
def test_the_pod_sandbox_and_its_containers_share_what_the_sandbox_says(
    runtime: str, share: str
) -> None:
    unit = _sandbox(runtime, share)
    assert unit.infra is not None
    shape = infra_shape(unit.infra)
    assert shape.runtime == runtime
    config = sandbox_config(shape, "uid1", "/logs/shop_web_uid1")
    ipc, pid = SHARES[share]
    options = config.linux.security_context.namespace_options
    assert (options.network, options.ipc, options.pid) == (pb.POD, ipc, pid)
    for member in unit.members:
        body = container_config(member, 0, shape.share, "/vol", infra_id="pod1")
        mine = body.linux.security_context.namespace_options
        assert (mine.network, mine.ipc, mine.pid) == (pb.POD, ipc, pid)


def test_the_pod_sandbox_config() -> None:
    unit = _sandbox()
    assert unit.infra is not None
    config = sandbox_config(infra_shape(unit.infra), "uid1", "/logs/shop_web_uid1")
    assert (config.metadata.name, config.metadata.namespace, config.metadata.uid) == (
        "web",
        "shop",
        "uid1",
    )
    assert config.metadata.attempt == 0
    assert config.hostname == "front"
    assert config.log_directory == "/logs/shop_web_uid1"
    assert [
        (p.protocol, p.container_port, p.host_port, p.host_ip) for p in config.port_mappings
    ] == [
        (pb.TCP, 80, 8080, ""),
        (pb.UDP, 53, 5353, "127.0.0.1"),
    ]
    assert list(config.dns_config.servers) == ["10.0.0.10"]
    assert list(config.dns_config.searches) == ["shop.svc"]
    assert list(config.dns_config.options) == ["ndots:2"]
    labels = dict(config.labels)
    assert labels[L.MANAGED_BY] == "i" and labels[L.ROLE] == L.ROLE_INFRA
    assert labels[L.SPEC_HASH] == unit.infra.hash and labels[L.SOURCE] == "ns/web.yaml"
    assert ports_of(config.annotations) == (("", 8080, "tcp"), ("127.0.0.1", 5353, "udp"))
    assert config.annotations[LOG_DIRECTORY] == "/logs/shop_web_uid1"


def test_the_container_config() -> None:
    unit = _sandbox()
    app = unit.workloads[0]
    body = container_config(app, 3, ("network", "ipc"), "/vol", infra_id="pod1")
    assert (body.metadata.name, body.metadata.attempt) == ("app", 3)
    assert body.image.image == "busybox:1"
    assert (list(body.command), list(body.args), body.working_dir) == (
        ["sh", "-c"],
        ["echo hi"],
        "/srv",
    )
    assert [(e.key, e.value) for e in body.envs] == [("MODE", b"prod"), ("EMPTY", b"")]
    assert body.log_path == "app/3.log"
    labels = dict(body.labels)
    assert labels[L.CONTAINER] == "app" and labels[L.SPEC_HASH] == app.hash
    assert labels[L.INFRA_ID] == "pod1" and labels[L.ROLE] == L.ROLE_WORKLOAD
    resources = body.linux.resources
    assert (resources.cpu_period, resources.cpu_quota) == (100_000, 50_000)
    assert resources.memory_limit_in_bytes == 64 * 1024 * 1024
    assert resources.cpu_shares == 256
    security = body.linux.security_context
    assert (security.run_as_user.value, security.run_as_group.value) == (1000, 2000)
    assert security.readonly_rootfs and security.no_new_privs and not security.privileged
    assert list(security.capabilities.add_capabilities) == ["NET_BIND_SERVICE"]
    assert list(security.capabilities.drop_capabilities) == ["ALL"]
    assert security.seccomp.profile_type == pb.SecurityProfile.RuntimeDefault


def test_volumes_are_host_directories_of_the_driver() -> None:
    unit = _unit(
        """
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: web}
        spec:
          volumes: [{name: data, emptyDir: {}}, {name: host, hostPath: {path: /srv/x}}]
          containers:
            - name: app
              image: busybox:1
              volumeMounts:
                - {name: data, mountPath: /data}
                - {name: host, mountPath: /x, readOnly: true}
        """
    )
    body = container_config(unit.workloads[0], 0, ("network",), "/state/volumes")
    assert [(m.container_path, m.host_path, m.readonly) for m in body.mounts] == [
        ("/data", f"/state/volumes/{unit.volumes[0].name}/data", False),
        ("/x", "/srv/x", True),
    ]


def test_a_container_kind_is_a_one_container_pod() -> None:
    unit = _unit(
        """
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: solo}
        spec:
          image: busybox:1
          runtime: runsc
          ports: [{containerPort: 80, hostPort: 8081}]
        """
    )
    (member,) = unit.members
    shape = bare_shape(member)
    assert (shape.name, shape.runtime, shape.share) == ("solo", "runsc", ("network",))
    config = sandbox_config(shape, "u", "/logs/x")
    assert config.labels[IMPLICIT] == "solo" and L.ROLE not in config.labels
    assert config.hostname == "solo"
    assert [p.host_port for p in config.port_mappings] == [8081]
    body = container_config(member, 0, shape.share, "/vol")
    assert L.INFRA_ID not in body.labels  # the planner sees a container without an infra


def test_the_config_is_rebuilt_from_the_pods_status() -> None:
    unit = _sandbox(share="[network, ipc, pid]")
    assert unit.infra is not None
    sent = sandbox_config(infra_shape(unit.infra), "uid1", "/logs/d")
    status = pb.PodSandboxStatus(
        metadata=sent.metadata, labels=sent.labels, annotations=sent.annotations
    )
    status.linux.namespaces.options.CopyFrom(sent.linux.security_context.namespace_options)
    rebuilt = sandbox_config_of(status)
    assert rebuilt.metadata == sent.metadata and rebuilt.log_directory == "/logs/d"
    assert rebuilt.linux.security_context.namespace_options.pid == pb.POD
    assert dict(rebuilt.labels) == dict(sent.labels)


@pytest.mark.parametrize(
    ("more", "member_more", "refusal"),
    [
        (
            "\n          hostAliases: [{ip: 10.0.0.1, hostnames: [db]}]",
            "",
            "hostAliases is not supported by the cri driver",
        ),
        ("\n          subdomain: api", "", "subdomain is not supported by the cri driver"),
    ],
)
def test_what_a_pod_cannot_say_is_refused_by_name(
    more: str, member_more: str, refusal: str
) -> None:
    """Admission refuses it first (CRI.lacks); the spec refuses it alike if it comes."""
    del member_more
    unit = _sandbox(more=more, admitted=False)
    assert unit.infra is not None
    with pytest.raises(UntranslatableSpec, match=refusal):
        sandbox_config(infra_shape(unit.infra), "u", "/l")


def test_a_memory_volume_is_refused_by_name() -> None:
    unit = _unit(
        """
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: web}
        spec:
          volumes: [{name: fast, emptyDir: {medium: Memory}}]
          containers:
            - {name: app, image: busybox:1, volumeMounts: [{name: fast, mountPath: /fast}]}
        """,
        admitted=False,
    )
    with pytest.raises(UntranslatableSpec, match="the mount at /fast: emptyDir medium: Memory"):
        container_config(unit.workloads[0], 0, ("network",), "/vol")


def test_a_stop_signal_is_refused_by_admission_naming_the_field() -> None:
    text = """
        apiVersion: v1
        kind: Pod
        metadata: {name: web}
        spec:
          containers:
            - {name: app, image: busybox:1}
            - {name: side, image: busybox:1, lifecycle: {stopSignal: SIGINT}}
        """
    loaded = load_text(dedent(text), "ns/web.yaml")
    want = compile_and_admit(
        loaded.manifests, BuildConfig("i", driver=CRI, policy=PRIVILEGED), values=loaded.values
    )
    (refused,) = want.refused
    assert (
        "spec.containers[1].lifecycle.stopSignal: lifecycle.stopSignal is not supported by "
        "the cri driver" in str(refused)
    )
    unit = _unit(text, admitted=False)
    with pytest.raises(UntranslatableSpec, match=r"container side: lifecycle\.stopSignal"):
        container_config(unit.workloads[1], 0, ("network",), "/vol")


def test_a_privileged_container_kind_gets_a_privileged_pod() -> None:
    unit = _unit(
        """
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: solo}
        spec: {image: busybox:1, securityContext: {privileged: true}}
        """
    )
    config = sandbox_config(bare_shape(unit.members[0]), "u", "/l")
    assert config.linux.security_context.privileged
