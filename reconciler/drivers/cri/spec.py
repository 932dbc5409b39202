"""CRI request bodies from effective specs: what ``RunPodSandbox`` and ``CreateContainer``
are sent. No I/O (the CRI driver, drivers/cri.py, sends them).

A Sandbox's infra becomes the pod sandbox (its namespaces, ports, DNS, sysctls,
labels); each member a container in it. A ``kind: Container`` becomes a
one-container pod made from its one member. What CRI cannot express is refused
here by name (``InvalidSpec``), never dropped in silence.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.core import labels as L
from reconciler.core.effective import DesiredInfra, DesiredMember, NetSpec, PortSpec
from reconciler.core.errors import InvalidSpec
from reconciler.core.models import Namespace
from reconciler.drivers.cri.client import pb

# Annotations the driver writes on a pod sandbox and reads back.
PORTS = L.PREFIX + "cri-ports"  # the host ports it publishes, JSON [[ip, port, proto], ...]
LOG_DIRECTORY = L.PREFIX + "cri-log-directory"  # where its containers' logs are
IMPLICIT = L.PREFIX + "cri-pod-of"  # on the one-container pod of a kind: Container: its name
CPU_PERIOD = 100_000  # microseconds, as kubelet sets it


@dataclass(frozen=True, slots=True)
class PodShape:
    """What a pod sandbox is made of, from an infra or from a bare container."""

    name: str  # metadata.name
    namespace: str  # metadata.namespace
    hostname: str
    ports: tuple[PortSpec, ...]
    net: NetSpec
    share: tuple[str, ...]  # network always; ipc, pid as the sandbox says
    sysctls: tuple[str, ...]
    labels: Mapping[str, str]
    runtime: str
    privileged: bool = False  # containerd runs a privileged container only in such a pod


def infra_shape(infra: DesiredInfra) -> PodShape:
    """The pod a Sandbox's infra stands for."""
    labels = infra.labels
    return PodShape(
        name=labels[L.SANDBOX],
        namespace=labels[L.NAMESPACE],
        hostname=infra.spec.hostname,
        ports=infra.spec.ports,
        net=infra.spec.net,
        share=infra.spec.share,
        sysctls=infra.spec.sysctls,
        labels=infra.labels,
        runtime=infra.spec.runtime,
    )


def bare_shape(member: DesiredMember) -> PodShape:
    """The one-container pod a ``kind: Container`` runs in: its network, its ports, its
    hostname; nothing else is shared (there is nobody to share with)."""
    keep = (L.MANAGED_BY, L.KIND, L.NAMESPACE, L.SANDBOX, L.SOURCE, L.MODE, L.OWNER, L.APPLY_SET)
    labels = {k: v for k, v in member.labels.items() if k in keep}
    return PodShape(
        name=member.labels[L.SANDBOX],
        namespace=member.labels[L.NAMESPACE],
        hostname=member.spec.hostname,
        ports=member.spec.ports,
        net=member.spec.net,
        share=(Namespace.NETWORK.value,),
        sysctls=member.spec.sysctls,
        labels=labels | {IMPLICIT: member.name},
        runtime=member.spec.runtime,
        privileged=member.spec.privileged,
    )


def _mode(namespace: Namespace, share: tuple[str, ...]) -> pb.NamespaceMode.ValueType:
    return pb.POD if namespace.value in share else pb.CONTAINER


def namespaces(share: tuple[str, ...]) -> pb.NamespaceOption:
    """The pod's namespaces: network always the pod's; IPC and PID as ``share`` says."""
    return pb.NamespaceOption(
        network=pb.POD,
        ipc=_mode(Namespace.IPC, share),
        pid=_mode(Namespace.PID, share),
    )


def sandbox_config(shape: PodShape, uid: str, log_directory: str) -> pb.PodSandboxConfig:
    """The ``RunPodSandbox`` config of ``shape``. Raises InvalidSpec for what CRI lacks."""
    net = shape.net
    if net.extra_hosts:
        raise InvalidSpec(
            f"{shape.name}: hostAliases are not supported by the cri driver (CRI has no "
            "field for them; kubelet writes /etc/hosts itself)"
        )
    if net.domainname:
        raise InvalidSpec(
            f"{shape.name}: subdomain is not supported by the cri driver (CRI has no "
            "domain name field)"
        )
    ports = [(p.host_ip, p.host_port, p.protocol) for p in shape.ports if p.host_port]
    config = pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(
            name=shape.name, namespace=shape.namespace, uid=uid, attempt=0
        ),
        hostname=shape.hostname,
        log_directory=log_directory,
        port_mappings=[
            pb.PortMapping(
                protocol=pb.UDP if p.protocol == "udp" else pb.TCP,
                container_port=p.container_port,
                host_port=p.host_port or 0,
                host_ip=p.host_ip,
            )
            for p in shape.ports
            if p.host_port
        ],
        labels=dict(shape.labels),
        annotations={PORTS: json.dumps(ports), LOG_DIRECTORY: log_directory},
        linux=pb.LinuxPodSandboxConfig(
            security_context=pb.LinuxSandboxSecurityContext(
                namespace_options=namespaces(shape.share), privileged=shape.privileged
            ),
            sysctls=dict(s.split("=", 1) for s in shape.sysctls),
        ),
    )
    if net.dns or net.dns_search or net.dns_options:
        config.dns_config.CopyFrom(
            pb.DNSConfig(
                servers=list(net.dns), searches=list(net.dns_search), options=list(net.dns_options)
            )
        )
    return config


def sandbox_config_of(status: pb.PodSandboxStatus) -> pb.PodSandboxConfig:
    """The config ``CreateContainer`` is given, rebuilt from a pod's status (its metadata,
    labels, annotations, log directory and namespaces): a later process has no other."""
    config = pb.PodSandboxConfig(
        metadata=status.metadata,
        log_directory=status.annotations.get(LOG_DIRECTORY, ""),
        labels=dict(status.labels),
        annotations=dict(status.annotations),
    )
    config.linux.security_context.namespace_options.CopyFrom(status.linux.namespaces.options)
    return config


def _user(user: str) -> tuple[int | None, int | None, str]:
    """(uid, gid, user name) of a ``uid[:gid]`` or a name."""
    if not user:
        return None, None, ""
    uid, _, gid = user.partition(":")
    if not uid.isdigit():
        return None, int(gid) if gid.isdigit() else None, uid
    return int(uid), int(gid) if gid.isdigit() else None, ""


def _mount(mount_type: str, source: str, target: str, read_only: bool, volumes: str) -> pb.Mount:
    if mount_type == "bind":
        return pb.Mount(container_path=target, host_path=source, readonly=read_only)
    if mount_type == "volume":
        return pb.Mount(
            container_path=target, host_path=f"{volumes}/{source}/data", readonly=read_only
        )
    raise InvalidSpec(
        f"a {mount_type} mount at {target} is not supported by the cri driver (CRI mounts "
        "host paths only; use an emptyDir without medium: Memory)"
    )


def container_config(
    member: DesiredMember,
    attempt: int,
    share: tuple[str, ...],
    volumes: str,
    infra_id: str = "",
) -> pb.ContainerConfig:
    """The ``CreateContainer`` config of ``member`` (its ``attempt``) in a pod sharing
    ``share``; ``volumes`` is the host directory of the unit's volumes. Raises
    InvalidSpec for what CRI cannot give a container."""
    spec = member.spec
    if spec.sysctls:
        raise InvalidSpec(
            f"container {member.name}: sysctls of namespaces the pod does not share "
            f"({', '.join(spec.sysctls)}) cannot be set under CRI (sysctls are the pod's)"
        )
    if spec.storage_size is not None:
        raise InvalidSpec(
            f"container {member.name} sets limits.ephemeral-storage, which the cri driver "
            "does not enforce"
        )
    uid, gid, username = _user(spec.user)
    security = pb.LinuxContainerSecurityContext(
        capabilities=pb.Capability(
            add_capabilities=list(spec.cap_add), drop_capabilities=list(spec.cap_drop)
        ),
        privileged=spec.privileged,
        namespace_options=namespaces(share),
        run_as_username=username,
        readonly_rootfs=spec.read_only_root,
        supplemental_groups=list(spec.group_add),
        no_new_privs=spec.no_new_privileges,
        seccomp=pb.SecurityProfile(
            profile_type=pb.SecurityProfile.Unconfined
            if spec.seccomp == "unconfined"
            else pb.SecurityProfile.RuntimeDefault
        ),
    )
    if uid is not None:
        security.run_as_user.value = uid
    if gid is not None:
        security.run_as_group.value = gid
    resources = pb.LinuxContainerResources()
    if spec.nano_cpus is not None:
        resources.cpu_period = CPU_PERIOD
        resources.cpu_quota = spec.nano_cpus * CPU_PERIOD // 1_000_000_000
    if spec.cpu_shares is not None:
        resources.cpu_shares = spec.cpu_shares
    if spec.memory is not None:
        resources.memory_limit_in_bytes = spec.memory
    labels = dict(member.labels)
    if infra_id:
        labels[L.INFRA_ID] = infra_id
    return pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=member.name, attempt=attempt),
        image=pb.ImageSpec(image=spec.image),
        command=list(spec.command),
        args=list(spec.args),
        working_dir=spec.working_dir,
        envs=[
            pb.KeyValue(key=k, value=v.encode()) for k, _, v in (e.partition("=") for e in spec.env)
        ],
        mounts=[_mount(m.type, m.source, m.target, m.read_only, volumes) for m in spec.mounts],
        labels=labels,
        log_path=log_path(member.name, attempt),
        stdin=spec.stdin,
        stdin_once=spec.stdin_once,
        tty=spec.tty,
        linux=pb.LinuxContainerConfig(resources=resources, security_context=security),
    )


def log_path(name: str, attempt: int) -> str:
    """A container's log file, relative to its pod's log directory (kubelet's layout)."""
    return f"{name}/{attempt}.log"


def ports_of(annotations: Mapping[str, str]) -> tuple[tuple[str, int, str], ...]:
    """The host ports a pod publishes, from its annotation (what the planner checks)."""
    try:
        return tuple(
            (str(ip), int(port), str(proto))
            for ip, port, proto in json.loads(annotations.get(PORTS, "[]"))
        )
    except (ValueError, TypeError):
        return ()


__all__ = [
    "IMPLICIT",
    "LOG_DIRECTORY",
    "PodShape",
    "bare_shape",
    "container_config",
    "infra_shape",
    "log_path",
    "namespaces",
    "ports_of",
    "sandbox_config",
    "sandbox_config_of",
]
