"""From manifests to units: the effective spec of every container. No I/O.

A *unit* is what the planner converges as a whole: a Sandbox (an infra plus
init and workload members) or a standalone Container. The effective specs
here are exactly what a container is created from, and what its spec hash
covers: things that only steer reconciler (pull policy, probes, restart
policy, grace period) stay out, so changing them recreates nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from pydantic import BaseModel, ConfigDict

from reconciler.core import labels as L
from reconciler.core.hashing import spec_hash
from reconciler.core.models import (
    DEFAULT_NAMESPACE,
    ContainerFields,
    ContainerManifest,
    ContainerPort,
    Kind,
    Mode,
    Namespace,
    PodSecurityContext,
    Probe,
    PullPolicy,
    RestartPolicy,
    SandboxContainer,
    SandboxManifest,
    UnitSpec,
    Volume,
    effective_security,
)
from reconciler.core.ownership import ONE_SHOT, Owner
from reconciler.core.policy import BASELINE, Policy
from reconciler.core.quantity import memory_to_bytes
from reconciler.core.runtimes import DOCKER, DriverCapabilities

DEFAULT_INFRA_IMAGE = "registry.k8s.io/pause:3.9"
CLUSTER_DOMAIN = "svc.cluster.local"  # what a subdomain's FQDN ends in, as in a cluster


@dataclass(frozen=True, slots=True, order=True)
class UnitKey:
    """The identity of a unit: kind, namespace and name."""

    kind: Kind
    namespace: str
    name: str

    def __str__(self) -> str:
        if self.namespace == DEFAULT_NAMESPACE:
            return f"{self.kind.lower()}/{self.name}"
        return f"{self.kind.lower()}/{self.namespace}/{self.name}"


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PortSpec(Spec):
    container_port: int
    protocol: Literal["tcp", "udp"] = "tcp"
    host_port: int | None = None
    host_ip: str = ""


class MountSpec(Spec):
    type: Literal["volume", "bind", "tmpfs"]
    source: str = ""  # a volume name, a host path, or nothing for tmpfs
    target: str
    read_only: bool = False
    must_exist: bool = False  # hostPath types other than DirectoryOrCreate
    size: int | None = None  # tmpfs only
    group: int | None = None  # emptyDir only: fsGroup owns it (setgid, group-writable)


class NetSpec(Spec):
    """What the owner of a network namespace gets: the infra, or a container without one."""

    domainname: str = ""  # from subdomain
    extra_hosts: tuple[str, ...] = ()  # hostAliases, "name:ip"
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()


class InfraSpec(Spec):
    """What the infra container is created from (its image is set by the operator, unhashed)."""

    runtime: str
    share: tuple[str, ...]
    ports: tuple[PortSpec, ...] = ()
    hostname: str = ""
    net: NetSpec = NetSpec()
    sysctls: tuple[str, ...] = ()  # NAME=value: the pod's sysctls of the namespaces it owns


class MemberSpec(Spec):
    """What a workload, init or standalone container is created from."""

    role: L.MemberRole
    image: str
    runtime: str
    joins: tuple[str, ...] = ()  # namespaces of the infra it joins; () when standalone
    hostname: str = ""  # only without an infra: a joined network namespace has its own
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    working_dir: str = ""
    env: tuple[str, ...] = ()  # NAME=value, in manifest order
    ports: tuple[PortSpec, ...] = ()  # only without an infra: otherwise ports are the infra's
    mounts: tuple[MountSpec, ...] = ()
    nano_cpus: int | None = None
    memory: int | None = None
    cpu_shares: int | None = None
    memory_reservation: int | None = None
    storage_size: int | None = None  # limits.ephemeral-storage, where the storage driver can
    user: str = ""
    privileged: bool = False
    read_only_root: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    no_new_privileges: bool = False
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False
    group_add: tuple[int, ...] = ()  # supplementalGroups and fsGroup
    seccomp: str = ""  # "unconfined", or "" for the runtime's default profile
    sysctls: tuple[str, ...] = ()  # NAME=value, those of namespaces it owns
    net: NetSpec = NetSpec()  # only without an infra
    # Lifecycle hooks run by reconciler through Docker exec. Hashed, because the
    # container carries them in labels: a unit deleted along with its manifest
    # still gets the preStop hook its containers were created with.
    post_start: tuple[str, ...] = ()
    pre_stop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DesiredInfra:
    docker_name: str
    image: str  # the operator's infra image; not hashed (changing it recreates nothing)
    spec: InfraSpec
    hash: str
    labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class DesiredMember:
    name: str  # the container's name in the manifest
    docker_name: str
    spec: MemberSpec
    hash: str
    pull_policy: PullPolicy
    labels: dict[str, str]
    # Probes steer the control loop, not the container: not in the spec hash.
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None  # until it succeeds, the other probes wait
    # runAsNonRoot is a check, not a setting: the driver refuses to create the
    # container when its user (or, unset, its image's) is root or not numeric.
    run_as_non_root: bool = False


@dataclass(frozen=True, slots=True)
class DesiredVolume:
    docker_name: str
    labels: dict[str, str]
    # fsGroup: the volume's root is made root:group, mode 2777 (setgid), as kubelet
    # does, through a throwaway container of ``helper_image`` that never starts.
    group: int | None = None
    helper_image: str = ""


@dataclass(frozen=True, slots=True)
class DesiredUnit:
    key: UnitKey
    mode: Mode
    infra: DesiredInfra | None
    init: tuple[DesiredMember, ...]
    workloads: tuple[DesiredMember, ...]
    volumes: tuple[DesiredVolume, ...]
    restart_policy: RestartPolicy
    grace_period: int
    source: str

    @property
    def members(self) -> tuple[DesiredMember, ...]:
        return (*self.init, *self.workloads)

    @property
    def running(self) -> tuple[DesiredMember, ...]:
        """The members that keep running: native sidecars, then workloads."""
        return (*(m for m in self.init if m.spec.role == L.ROLE_SIDECAR), *self.workloads)

    @property
    def container_names(self) -> tuple[str, ...]:
        """The engine's names of its containers (members, then the infra): what the
        driver is asked about before planning (which of them others hold)."""
        infra = (self.infra.docker_name,) if self.infra is not None else ()
        return (*(m.docker_name for m in self.members), *infra)

    @property
    def runtimes(self) -> frozenset[str]:
        infra = {self.infra.spec.runtime} if self.infra is not None else set()
        return frozenset({m.spec.runtime for m in self.members} | infra)


@dataclass(frozen=True, slots=True)
class Desired:
    """What admission (admission.py) made of the manifests: the planner's input.

    ``units`` are admitted; ``refused`` units are left exactly as they are;
    ``notes`` say what an admitted combination gives up (e.g. mixed runtimes);
    ``offered`` is the engine's runtimes they were checked against (None: unknown).
    """

    units: tuple[DesiredUnit, ...] = ()
    refused: tuple[tuple[UnitKey, str], ...] = ()
    notes: tuple[tuple[UnitKey, str], ...] = ()
    offered: frozenset[str] | None = None

    @property
    def keys(self) -> frozenset[UnitKey]:
        return frozenset(u.key for u in self.units) | {key for key, _ in self.refused}

    def unit(self, key: UnitKey) -> DesiredUnit | None:
        return next((u for u in self.units if u.key == key), None)


@dataclass(frozen=True, slots=True)
class BuildConfig:
    """The operator's settings: what units are compiled with (instance, mode, images,
    default runtime, owner) and what admission holds them to (the rest)."""

    instance: str
    mode: Mode = Mode.CONTAINER_IN_SANDBOX
    infra_image: str = DEFAULT_INFRA_IMAGE
    default_runtime: str = "runc"
    allowed_runtimes: frozenset[str] | None = None  # None: any the daemon offers
    allowed_modes: frozenset[Mode] | None = None  # modes spec.mode may pick; None: only `mode`
    driver: DriverCapabilities = DOCKER
    owner: Owner = ONE_SHOT  # the source whose manifests these are (written on every container)
    policy: Policy = BASELINE  # the security policy (policy.py): on unless switched off


def non_root_problem(name: str, user: str, image_user: str) -> str | None:
    """Why a runAsNonRoot container must not start (kubelet's rule), or None.

    ``user`` is the container's own (runAsUser[:runAsGroup], "" when unset);
    ``image_user`` the image's Config.User, used when ``user`` is unset. Root,
    an unset user and a user name (which could map to uid 0) are refused.
    """
    effective = user or image_user
    uid = effective.split(":", 1)[0]
    source = "its runAsUser" if user else f"its image's user ({image_user or 'unset: root'})"
    if not uid:
        return f"container {name} has runAsNonRoot and its image runs as root (no USER set)"
    if not uid.isdigit():
        return (
            f"container {name} has runAsNonRoot and {source} is not numeric, so it cannot be "
            "verified to be non-root (set runAsUser)"
        )
    if int(uid) == 0:
        return f"container {name} has runAsNonRoot and {source} is root (uid 0)"
    return None


# Storage drivers whose StorageOpt size limits a container's writable layer
# (Docker 20.10); overlay2 only on xfs, and only when it is mounted with pquota,
# which `docker info` does not show: the daemon refuses then, by name.
_SIZED_STORAGE = {"overlay2": "xfs", "btrfs": "", "zfs": ""}


def storage_problem(name: str, driver: str, backing: str) -> str | None:
    """Why ``limits.ephemeral-storage`` cannot be enforced by this daemon, or None."""
    if driver in _SIZED_STORAGE and _SIZED_STORAGE[driver] in ("", backing):
        return None
    return (
        f"container {name} sets limits.ephemeral-storage, which this Docker daemon cannot "
        f"enforce: its storage driver is {driver or 'unknown'} on {backing or 'unknown'}, and "
        "a size limit needs overlay2 on xfs mounted with pquota (or btrfs, zfs)"
    )


def docker_name(instance: str, key: UnitKey, container: str | None) -> str:
    """A container's Docker name (for people; labels are the truth).

    Parts are DNS labels, so '_' and '.' cannot occur inside them:
    ``i_ns_web_infra`` (infra), ``i_ns_web.app`` (member), ``i_ns_cache`` (Container).
    """
    base = f"{instance}_{key.namespace}_{key.name}"
    if key.kind is Kind.CONTAINER:
        return base
    return f"{base}_infra" if container is None else f"{base}.{container}"


def volume_name(instance: str, key: UnitKey, volume: str) -> str:
    sep = "." if key.kind is Kind.SANDBOX else "_"
    return f"{instance}_{key.namespace}_{key.name}{sep}{volume}"


@dataclass(frozen=True, slots=True)
class Compiled:
    """One manifest compiled into its unit, not yet admitted (admission.py decides that).

    ``manifest`` stays beside the effective specs for what admission reads of
    it alone: the fields the security policy names, and the mode it asked for.
    """

    unit: DesiredUnit
    manifest: SandboxManifest | ContainerManifest

    @property
    def asked_mode(self) -> Mode | None:
        """The mode ``spec.mode`` asks for (None: the operator's default, or a Container)."""
        return self.manifest.spec.mode if isinstance(self.manifest, SandboxManifest) else None


def build_units(
    manifests: Sequence[tuple[SandboxManifest | ContainerManifest, str]],
    config: BuildConfig,
) -> tuple[Compiled, ...]:
    """Every (manifest, source) pair compiled into its unit's effective specs.

    Nothing is refused here: a unit runs only once admission.admit has let it.
    """
    compiled: list[Compiled] = []
    for manifest, source in manifests:
        key = UnitKey(Kind(manifest.kind), manifest.metadata.namespace, manifest.metadata.name)
        if isinstance(manifest, ContainerManifest):
            unit = _standalone(key, manifest, source, config)
        else:
            mode = manifest.spec.mode or config.mode
            unit = _sandbox(key, manifest, source, replace(config, mode=mode))
        compiled.append(Compiled(unit, manifest))
    return tuple(compiled)


_ANY_ADDRESS = ("", "0.0.0.0", "::")


def published(unit: DesiredUnit) -> tuple[PortSpec, ...]:
    """The host ports a unit publishes: on its infra, or on its one bare container."""
    ports = unit.infra.spec.ports if unit.infra is not None else unit.members[0].spec.ports
    return tuple(p for p in ports if p.host_port)


def ports_overlap(a: PortSpec, b_ip: str, b_port: int, b_protocol: str) -> bool:
    """Whether two host bindings take the same socket (any address takes them all)."""
    if a.host_port != b_port or a.protocol != b_protocol:
        return False
    return a.host_ip == b_ip or a.host_ip in _ANY_ADDRESS or b_ip in _ANY_ADDRESS


def _base_labels(config: BuildConfig, key: UnitKey, source: str, mode: Mode) -> dict[str, str]:
    return {
        L.MANAGED_BY: config.instance,
        L.KIND: key.kind.value,
        L.NAMESPACE: key.namespace,
        L.SANDBOX: key.name,
        L.SOURCE: source,
        L.MODE: mode.value,
    } | config.owner.labels()


def _sandbox(
    key: UnitKey, manifest: SandboxManifest, source: str, config: BuildConfig
) -> DesiredUnit:
    spec = manifest.spec
    mode = config.mode
    runtime = spec.runtime or config.default_runtime
    base = _base_labels(config, key, source, mode) | {
        L.GRACE: str(spec.termination_grace_period_seconds),
    }
    members = [*spec.init_containers, *spec.containers]
    # Ports belong to the network namespace: a container's hostPort is published
    # by whoever owns that namespace, as kubelet does for a pod.
    ports = _ports([*spec.ports, *(p for c in members for p in c.ports if p.host_port)])
    volumes = {v.name: v for v in spec.volumes}
    infra: DesiredInfra | None = None
    joins: tuple[str, ...] = ()
    member_ports: tuple[PortSpec, ...] = ()
    hostname = ""
    net = _net(spec, key)
    security = spec.security_context
    sysctls = security.sysctls if security else []
    # The infra owns the network namespace, and the IPC one when it is shared:
    # their sysctls are set there (kubelet sets them on the pod sandbox).
    owned = [s for s in sysctls if not s.ipc or Namespace.IPC in spec.share]
    member_sysctls = tuple(f"{s.name}={s.value}" for s in sysctls)
    if mode is Mode.CONTAINER_IN_SANDBOX:
        share = tuple(s.value for s in spec.share)
        member_sysctls = tuple(f"{s.name}={s.value}" for s in sysctls if s not in owned)
        infra_spec = InfraSpec(
            runtime=runtime,
            share=share,
            ports=ports,
            hostname=spec.hostname or key.name,
            net=net,
            sysctls=tuple(f"{s.name}={s.value}" for s in owned),
        )
        infra_hash = spec_hash(infra_spec)
        infra = DesiredInfra(
            docker_name=docker_name(config.instance, key, None),
            image=config.infra_image,
            spec=infra_spec,
            hash=infra_hash,
            labels=base
            | {L.ROLE: L.ROLE_INFRA, L.CONTAINER: "", L.SPEC_HASH: infra_hash, L.RUNTIME: runtime},
        )
        joins = share
        net = NetSpec()
    else:
        member_ports, hostname = ports, spec.hostname or key.name

    def member(
        container: SandboxContainer, name: str, role: L.MemberRole, position: int
    ) -> DesiredMember:
        member_runtime = container.runtime or runtime
        member_spec = _member_spec(
            container,
            role,
            member_runtime,
            joins,
            member_ports,
            hostname,
            volumes,
            config.instance,
            key,
            pod=security,
            sysctls=member_sysctls,
            net=net,
        )
        digest = spec_hash(member_spec)
        return DesiredMember(
            name=name,
            docker_name=docker_name(config.instance, key, name),
            spec=member_spec,
            hash=digest,
            pull_policy=container.image_pull_policy,
            liveness_probe=container.liveness_probe,
            readiness_probe=container.readiness_probe,
            startup_probe=container.startup_probe,
            run_as_non_root=bool(
                effective_security(security, container.security_context).run_as_non_root
            ),
            labels=base
            | {
                L.ROLE: role,
                L.CONTAINER: name,
                L.SPEC_HASH: digest,
                L.RUNTIME: member_runtime,
                L.POSITION: str(position),
            }
            | _hook_labels(member_spec),
        )

    fs_group = security.fs_group if security else None
    helper = config.infra_image if infra is not None else spec.containers[0].image

    return DesiredUnit(
        key=key,
        mode=mode,
        infra=infra,
        init=tuple(
            member(c, c.name, L.ROLE_SIDECAR if c.restart_policy == "Always" else L.ROLE_INIT, i)
            for i, c in enumerate(spec.init_containers)
        ),
        workloads=tuple(
            member(c, c.name, L.ROLE_WORKLOAD, len(spec.init_containers) + i)
            for i, c in enumerate(spec.containers)
        ),
        volumes=_volumes(spec.volumes, config, key, source, mode, fs_group, helper),
        restart_policy=spec.restart_policy,
        grace_period=spec.termination_grace_period_seconds,
        source=source,
    )


def _standalone(
    key: UnitKey, manifest: ContainerManifest, source: str, config: BuildConfig
) -> DesiredUnit:
    spec = manifest.spec
    name = manifest.metadata.name
    runtime = spec.runtime or config.default_runtime
    member_spec = _member_spec(
        spec,
        L.ROLE_WORKLOAD,
        runtime,
        (),
        _ports(spec.ports),
        spec.hostname or name,
        {v.name: v for v in spec.volumes},
        config.instance,
        key,
        net=_net(spec, key),
    )
    digest = spec_hash(member_spec)
    labels = (
        _base_labels(config, key, source, Mode.STANDALONE)
        | {
            L.RUNTIME: runtime,
            L.GRACE: str(spec.termination_grace_period_seconds),
            L.ROLE: L.ROLE_WORKLOAD,
            L.CONTAINER: name,
            L.SPEC_HASH: digest,
        }
        | _hook_labels(member_spec)
    )
    workload = DesiredMember(
        name=name,
        docker_name=docker_name(config.instance, key, name),
        spec=member_spec,
        hash=digest,
        pull_policy=spec.image_pull_policy,
        liveness_probe=spec.liveness_probe,
        readiness_probe=spec.readiness_probe,
        startup_probe=spec.startup_probe,
        run_as_non_root=bool(spec.security_context and spec.security_context.run_as_non_root),
        labels=labels,
    )
    return DesiredUnit(
        key=key,
        mode=Mode.STANDALONE,
        infra=None,
        init=(),
        workloads=(workload,),
        volumes=_volumes(spec.volumes, config, key, source, Mode.STANDALONE),
        restart_policy=spec.restart_policy,
        grace_period=spec.termination_grace_period_seconds,
        source=source,
    )


def _hook_labels(spec: MemberSpec) -> dict[str, str]:
    """The hooks, on the container itself: its preStop runs even when its manifest is gone."""
    labels = {}
    if spec.post_start:
        labels[L.POST_START] = json.dumps(list(spec.post_start))
    if spec.pre_stop:
        labels[L.PRE_STOP] = json.dumps(list(spec.pre_stop))
    return labels


def _ports(ports: Sequence[ContainerPort]) -> tuple[PortSpec, ...]:
    return tuple(
        PortSpec(
            container_port=p.container_port,
            protocol="udp" if p.protocol == "UDP" else "tcp",
            host_port=p.host_port,
            host_ip=p.host_ip or "",
        )
        for p in ports
    )


def _net(spec: UnitSpec, key: UnitKey) -> NetSpec:
    dns = spec.dns_config
    return NetSpec(
        domainname=f"{spec.subdomain}.{key.namespace}.{CLUSTER_DOMAIN}" if spec.subdomain else "",
        extra_hosts=tuple(f"{name}:{a.ip}" for a in spec.host_aliases for name in a.hostnames),
        dns=tuple(dns.nameservers) if dns else (),
        dns_search=tuple(dns.searches) if dns else (),
        dns_options=tuple(
            o.name if o.value is None else f"{o.name}:{o.value}"
            for o in (dns.options if dns else [])
        ),
    )


def _member_spec(
    container: ContainerFields,
    role: L.MemberRole,
    runtime: str,
    joins: tuple[str, ...],
    ports: tuple[PortSpec, ...],
    hostname: str,
    volumes: dict[str, Volume],
    instance: str,
    key: UnitKey,
    pod: PodSecurityContext | None = None,
    sysctls: tuple[str, ...] = (),
    net: NetSpec | None = None,
) -> MemberSpec:
    security = effective_security(pod, container.security_context)
    fs_group = pod.fs_group if pod else None
    groups = sorted(
        {*(pod.supplemental_groups if pod else ()), *(() if fs_group is None else (fs_group,))}
    )
    lifecycle = container.lifecycle
    user = ""
    if security and security.run_as_user is not None:
        user = str(security.run_as_user)
        if security.run_as_group is not None:
            user += f":{security.run_as_group}"
    elif security and security.run_as_group is not None:
        user = f"0:{security.run_as_group}"
    resources = container.resources
    return MemberSpec(
        role=role,
        image=container.image,
        runtime=runtime,
        joins=joins,
        hostname=hostname,
        command=tuple(container.command),
        args=tuple(container.args),
        working_dir=container.working_dir or "",
        env=tuple(f"{e.name}={e.value}" for e in container.env),
        ports=ports,
        mounts=tuple(
            _mount(volumes[m.name], m.mount_path, m.read_only, instance, key, fs_group)
            for m in container.volume_mounts
        ),
        nano_cpus=resources.nano_cpus(),
        memory=resources.memory(),
        cpu_shares=resources.cpu_shares(),
        memory_reservation=resources.memory_reservation(),
        storage_size=resources.storage_size(),
        user=user,
        privileged=bool(security and security.privileged),
        read_only_root=bool(security and security.read_only_root_filesystem),
        cap_add=tuple(security.capabilities.add) if security else (),
        cap_drop=tuple(security.capabilities.drop) if security else (),
        no_new_privileges=bool(security and security.allow_privilege_escalation is False),
        tty=container.tty,
        stdin=container.stdin,
        stdin_once=container.stdin_once,
        group_add=tuple(groups),
        seccomp="unconfined"
        if security.seccomp_profile and security.seccomp_profile.type == "Unconfined"
        else "",
        sysctls=sysctls,
        net=net or NetSpec(),
        post_start=tuple(lifecycle.post_start.exec.command)
        if lifecycle and lifecycle.post_start
        else (),
        pre_stop=tuple(lifecycle.pre_stop.exec.command) if lifecycle and lifecycle.pre_stop else (),
    )


def _mount(
    volume: Volume, target: str, read_only: bool, instance: str, key: UnitKey, group: int | None
) -> MountSpec:
    if volume.host_path is not None:
        return MountSpec(
            type="bind",
            source=volume.host_path.path,
            target=target,
            read_only=read_only,
            must_exist=volume.host_path.type not in ("", "DirectoryOrCreate"),
        )
    assert volume.empty_dir is not None
    if volume.empty_dir.medium == "Memory":
        size = memory_to_bytes(volume.empty_dir.size_limit) if volume.empty_dir.size_limit else None
        return MountSpec(type="tmpfs", target=target, read_only=read_only, size=size, group=group)
    return MountSpec(
        type="volume",
        source=volume_name(instance, key, volume.name),
        target=target,
        read_only=read_only,
        group=group,
    )


def _volumes(
    volumes: Sequence[Volume],
    config: BuildConfig,
    key: UnitKey,
    source: str,
    mode: Mode,
    group: int | None = None,
    helper_image: str = "",
) -> tuple[DesiredVolume, ...]:
    return tuple(
        DesiredVolume(
            docker_name=volume_name(config.instance, key, v.name),
            labels=_base_labels(config, key, source, mode) | {L.VOLUME: v.name},
            group=group,
            helper_image=helper_image if group is not None else "",
        )
        for v in volumes
        if v.empty_dir is not None and v.empty_dir.medium != "Memory"
    )
