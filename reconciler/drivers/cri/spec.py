"""CRI request bodies from effective specs: what ``RunPodSandbox`` and ``CreateContainer``
are sent. No I/O (the CRI driver, drivers/cri.py, sends them).

A Sandbox's infra becomes the pod sandbox (its namespaces, ports, DNS, sysctls,
labels); each member a container in it. A ``kind: Container`` becomes a
one-container pod made from its one member. What CRI cannot express is declared
in capabilities.py (``CRI.lacks``), so admission refuses such a unit before any
pod is made; should one reach here anyway, it is refused by the same reason
(``UntranslatableSpec``), never dropped in silence.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from reconciler.core import labels as L
from reconciler.core.errors import UntranslatableSpec
from reconciler.core.models import Namespace
from reconciler.core.spec import (
    DesiredInfra,
    DesiredMember,
    Feature,
    MemberSpec,
    MountSpec,
    NetSpec,
    PortSpec,
    Seccomp,
    Sysctl,
)
from reconciler.drivers.cri.capabilities import LACKS
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
    sysctls: tuple[Sysctl, ...]
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
    if net.host_aliases:
        _lacking(Feature.HOST_ALIASES, shape.name)
    if net.domainname:
        _lacking(Feature.SUBDOMAIN, shape.name)
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
            sysctls={s.name: s.value for s in shape.sysctls},
        ),
    )
    if net.nameservers or net.searches or net.options:
        options = [o.name if o.value is None else f"{o.name}:{o.value}" for o in net.options]
        config.dns_config.CopyFrom(
            pb.DNSConfig(
                servers=list(net.nameservers), searches=list(net.searches), options=options
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


def _lacking(feature: Feature, what: str) -> NoReturn:
    """A spec asks what CRI cannot give: admission refuses it first (CRI.lacks)."""
    raise UntranslatableSpec(
        f"{what}: {feature} is not supported by the cri driver: {LACKS[feature]}"
    )


def _mount(mount: MountSpec, volumes: str) -> pb.Mount:
    # A subPath is part of the host directory: containerd makes a missing one a directory.
    sub_path = f"/{mount.sub_path}" if mount.sub_path else ""
    if mount.type == "bind":
        return pb.Mount(
            container_path=mount.target,
            host_path=mount.source + sub_path,
            readonly=mount.read_only,
        )
    if mount.type == "volume":
        return pb.Mount(
            container_path=mount.target,
            host_path=f"{volumes}/{mount.source}/data{sub_path}",
            readonly=mount.read_only,
        )
    _lacking(Feature.MEMORY_VOLUME, f"the mount at {mount.target}")


def _seccomp(spec: MemberSpec) -> pb.SecurityProfile:
    if spec.seccomp is Seccomp.UNCONFINED:
        return pb.SecurityProfile(profile_type=pb.SecurityProfile.Unconfined)
    if spec.seccomp is Seccomp.LOCALHOST:
        # containerd reads the file when it creates the container (kubelet's way).
        if spec.seccomp_localhost is None:
            raise UntranslatableSpec("a Localhost seccomp profile without its path")
        return pb.SecurityProfile(
            profile_type=pb.SecurityProfile.Localhost, localhost_ref=spec.seccomp_localhost.path
        )
    return pb.SecurityProfile(profile_type=pb.SecurityProfile.RuntimeDefault)


def container_config(
    member: DesiredMember,
    attempt: int,
    share: tuple[str, ...],
    volumes: str,
    infra_id: str = "",
) -> pb.ContainerConfig:
    """The ``CreateContainer`` config of ``member`` (its ``attempt``) in a pod sharing
    ``share``; ``volumes`` is the host directory of the unit's volumes. Raises
    UntranslatableSpec for what CRI cannot give a container."""
    spec = member.spec
    if spec.sysctls:
        _lacking(Feature.MEMBER_SYSCTLS, f"container {member.name}")
    if spec.storage_limit is not None:
        _lacking(Feature.STORAGE_LIMIT, f"container {member.name}")
    if spec.stop_signal:
        _lacking(Feature.STOP_SIGNAL, f"container {member.name}")
    security = pb.LinuxContainerSecurityContext(
        capabilities=pb.Capability(
            add_capabilities=list(spec.cap_add), drop_capabilities=list(spec.cap_drop)
        ),
        privileged=spec.privileged,
        namespace_options=namespaces(share),
        readonly_rootfs=spec.read_only_root,
        supplemental_groups=list(spec.group_add),
        no_new_privs=spec.no_new_privileges,
        seccomp=_seccomp(spec),
    )
    if spec.user.uid is not None:
        security.run_as_user.value = spec.user.uid
    if spec.user.gid is not None:
        security.run_as_group.value = spec.user.gid
    resources = pb.LinuxContainerResources()
    if spec.cpu_limit is not None:  # kubelet's milliCPUToQuota
        resources.cpu_period = CPU_PERIOD
        resources.cpu_quota = spec.cpu_limit * CPU_PERIOD // 1000
    # kubelet's milliCPUToShares of the request (a limit alone is the request too, as the
    # API server defaults it), else its minimum, 2 (a BestEffort container).
    request = spec.cpu_request if spec.cpu_request is not None else spec.cpu_limit
    resources.cpu_shares = max(2, request * 1024 // 1000) if request is not None else 2
    if spec.memory_limit is not None:
        resources.memory_limit_in_bytes = spec.memory_limit
    labels = dict(member.labels)
    if infra_id:
        labels[L.INFRA_ID] = infra_id
    return pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=member.name, attempt=attempt),
        image=pb.ImageSpec(image=spec.image),
        command=list(spec.command),
        args=list(spec.args),
        working_dir=spec.working_dir,
        envs=[pb.KeyValue(key=e.name, value=e.value.encode()) for e in spec.env],
        mounts=[_mount(m, volumes) for m in spec.mounts],
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
