"""The compiler: loaded manifests into units of effective specs (spec.py). No I/O.

``compile_units`` is the one step between reading manifests and admitting
them, used by the CLI, the watched directory and git alike. It refuses
nothing: it records, with the field that asks for it, what some engine may
lack (``DesiredUnit.uses``), and admission (admission.py) decides. A field
added to the manifest reaches the engines through here: the model
(models.py), its value in a spec (spec.py) and, where an engine cannot give
it, a ``Use`` of its ``Feature``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypedDict

from reconciler.core import labels as L
from reconciler.core.errors import Problem
from reconciler.core.expansion import expand, expand_env
from reconciler.core.hashing import spec_hash
from reconciler.core.manifests import LoadedManifest
from reconciler.core.models import (
    ContainerFields,
    ContainerManifest,
    ContainerPort,
    Kind,
    Manifest,
    Mode,
    Namespace,
    PodSecurityContext,
    Probe,
    SandboxContainer,
    SandboxManifest,
    SeccompProfile,
    UnitSpec,
    Volume,
    VolumeMount,
    effective_security,
)
from reconciler.core.naming import volume_name
from reconciler.core.ownership import ONE_SHOT, Owner
from reconciler.core.policy import BASELINE, Policy
from reconciler.core.projection import digest as files_digest
from reconciler.core.projection import project_volumes
from reconciler.core.pullsecrets import keyring, with_credentials
from reconciler.core.quantity import memory_to_bytes
from reconciler.core.runtimes import DriverCapabilities
from reconciler.core.seccomp import NONE_READ, SeccompProfiles
from reconciler.core.seccomp import problems as seccomp_problems
from reconciler.core.spec import (
    DesiredInfra,
    DesiredMember,
    DesiredUnit,
    DesiredVolume,
    DnsOption,
    EnvVar,
    Feature,
    HostAlias,
    InfraSpec,
    LocalhostProfile,
    MemberSpec,
    MountSpec,
    NetSpec,
    PortSpec,
    ProjectedFile,
    Seccomp,
    Sysctl,
    UnitKey,
    Use,
    User,
)
from reconciler.core.values import (
    LOCALHOST,
    LoadedValues,
    Node,
    ValueStore,
    resolve,
    waits_for_pod,
)
from reconciler.core.values import Path as ValuesPath

DEFAULT_INFRA_IMAGE = "registry.k8s.io/pause:3.9"
CLUSTER_DOMAIN = "svc.cluster.local"  # what a subdomain's FQDN ends in, as in a cluster


@dataclass(frozen=True, slots=True)
class BuildConfig:
    """The operator's settings: what units are compiled with (instance, mode, images,
    default runtime, owner) and what admission holds them to (the rest, with the
    driver's declared capabilities)."""

    instance: str
    mode: Mode = Mode.CONTAINER_IN_SANDBOX
    infra_image: str = DEFAULT_INFRA_IMAGE
    default_runtime: str = "runc"
    allowed_runtimes: frozenset[str] | None = None  # None: any the engine offers
    allowed_modes: frozenset[Mode] | None = None  # modes spec.mode may pick; None: only `mode`
    owner: Owner = ONE_SHOT  # the source whose manifests these are (written on every container)
    policy: Policy = BASELINE  # the security policy (policy.py): on unless switched off
    node: Node = LOCALHOST  # what the host tells a pod of itself (env's fieldRef, resourceFieldRef)
    seccomp: SeccompProfiles = NONE_READ  # the operator's Localhost profiles, as the CLI read them
    driver: DriverCapabilities = field(kw_only=True)  # what the engine's driver declares


@dataclass(frozen=True, slots=True)
class Compiled:
    """One manifest compiled into its unit, not yet admitted (admission.py decides that).

    ``manifest`` stays beside the effective specs for what admission reads of
    it alone: the fields the security policy names, and the mode it asked for.
    """

    unit: DesiredUnit
    manifest: SandboxManifest | ContainerManifest
    # What it reads that the source does not hold (a ConfigMap, Secret or key): admission
    # refuses the unit with these, so nothing of it is created.
    problems: tuple[Problem, ...] = ()
    notes: tuple[Problem, ...] = ()  # what resolving env skipped (a key no variable name)

    @property
    def asked_mode(self) -> Mode | None:
        """The mode ``spec.mode`` asks for (None: the operator's default, or a Container)."""
        return self.manifest.spec.mode if isinstance(self.manifest, SandboxManifest) else None


def compile_units(
    manifests: Iterable[LoadedManifest],
    config: BuildConfig,
    values: Iterable[LoadedValues] = (),
) -> tuple[Compiled, ...]:
    """Every loaded manifest compiled into its unit's effective specs; ``values`` are the
    source's ConfigMaps and Secrets, which env and envFrom read (values.py), and
    imagePullSecrets (pullsecrets.py).

    Nothing is refused here: a unit runs only once admission.admit has let it.
    """
    store = ValueStore(values)
    compiled: list[Compiled] = []
    for loaded in manifests:
        resolved = resolve(loaded.manifest, store, config.node)
        manifest, source = resolved.manifest, loaded.source
        files = project_volumes(manifest, store, config.node, resolved)
        key = UnitKey(Kind(manifest.kind), manifest.metadata.namespace, manifest.metadata.name)
        if isinstance(manifest, ContainerManifest):
            unit = _standalone(key, manifest, source, config, files)
        else:
            mode = manifest.spec.mode or config.mode
            unit = _Sandbox(key, manifest, source, replace(config, mode=mode), files).unit()
        ring, ring_errors = keyring(manifest, store)
        if ring:  # credentials for the engine's pulls only: never in the specs or labels
            unit = with_credentials(unit, ring)
        follow, follow_errors = _image_update(manifest)
        if follow:
            unit = _following(unit)
        errors = [
            *resolved.errors,
            *ring_errors,
            *follow_errors,
            *seccomp_problems(manifest, config.seccomp),
        ]
        problems = [Problem(loaded.at(path), loaded.field(path), why) for path, why in errors]
        if unit.infra is None and any(waits_for_pod(m.spec) for m in unit.members):
            problems.append(
                Problem(
                    loaded.location,
                    "env",
                    "status.podIP, status.podIPs and metadata.uid need a sandbox: a standalone "
                    "container has no pod whose address is known before it is created",
                )
            )
        notes = tuple(
            Problem(loaded.at(path), loaded.field(path), why) for path, why in resolved.warnings
        )
        compiled.append(Compiled(unit, loaded.manifest, tuple(problems), notes))
    return tuple(compiled)


IMAGE_UPDATE = "reconciler.io/image-update"


def _image_update(manifest: Manifest) -> tuple[bool, list[tuple[ValuesPath, str]]]:
    """Whether the unit asks the loop to follow its images' tags (``registry``)."""
    asked = manifest.metadata.annotations.get(IMAGE_UPDATE)
    if asked is None or asked == "registry":
        return asked == "registry", []
    where: ValuesPath = ("metadata", "annotations", IMAGE_UPDATE)
    return False, [(where, f"{asked!r}: the one value is registry (follow the tag's image)")]


def _following(unit: DesiredUnit) -> DesiredUnit:
    return unit.with_members(lambda m: replace(m, follow_image=True))


def _base_labels(config: BuildConfig, key: UnitKey, source: str, mode: Mode) -> dict[str, str]:
    return {
        L.MANAGED_BY: config.instance,
        L.KIND: key.kind.value,
        L.NAMESPACE: key.namespace,
        L.SANDBOX: key.name,
        L.SOURCE: source,
        L.MODE: mode.value,
    } | config.owner.labels()


@dataclass(frozen=True, slots=True)
class _Place:
    """Where a container sits in a sandbox: what it joins or owns, and what it inherits."""

    runtime: str
    joins: tuple[str, ...] = ()
    ports: tuple[PortSpec, ...] = ()  # only a container that owns its network namespace
    hostname: str = ""
    net: NetSpec = field(default_factory=NetSpec)
    pod: PodSecurityContext | None = None
    sysctls: tuple[Sysctl, ...] = ()


class _Sandbox:
    """One Sandbox (or Pod) manifest compiled: the infra, its members, its volumes."""

    def __init__(
        self,
        key: UnitKey,
        manifest: SandboxManifest,
        source: str,
        config: BuildConfig,
        files: _Files,
    ) -> None:
        self.key, self.manifest, self.source, self.config = key, manifest, source, config
        self.files = files
        spec = manifest.spec
        self.spec = spec
        self.runtime = spec.runtime or config.default_runtime
        self.base = _base_labels(config, key, source, config.mode) | {
            L.GRACE: str(spec.termination_grace_period_seconds),
        }
        self.volumes = {v.name: v for v in spec.volumes}
        self.uses: list[Use] = _net_uses(spec)
        sysctls = spec.security_context.sysctls if spec.security_context else []
        # The infra owns the network namespace, and the IPC one when it is shared:
        # their sysctls are set there (kubelet sets them on the pod sandbox).
        self.owned = [s for s in sysctls if not s.ipc or Namespace.IPC in spec.share]
        self.all_sysctls = tuple(Sysctl(s.name, s.value) for s in sysctls)

    def unit(self) -> DesiredUnit:
        spec = self.spec
        infra, place = self._infra()
        fields = [
            *((c, f"spec.initContainers[{i}]") for i, c in enumerate(spec.init_containers)),
            *((c, f"spec.containers[{i}]") for i, c in enumerate(spec.containers)),
        ]
        members = [self._member(c, at, i, place) for i, (c, at) in enumerate(fields)]
        init, workloads = members[: len(spec.init_containers)], members[len(spec.init_containers) :]
        fs_group = spec.security_context.fs_group if spec.security_context else None
        helper = self.config.infra_image if infra is not None else spec.containers[0].image
        return DesiredUnit(
            key=self.key,
            mode=self.config.mode,
            infra=infra,
            init=tuple(init),
            workloads=tuple(workloads),
            volumes=_volumes(
                spec.volumes,
                self.config,
                self.key,
                self.source,
                self.config.mode,
                self.files,
                fs_group,
                helper,
            ),
            restart_policy=spec.restart_policy,
            grace_period=spec.termination_grace_period_seconds,
            source=self.source,
            uses=tuple(self.uses),
        )

    def _infra(self) -> tuple[DesiredInfra | None, _Place]:
        """The infra (none in standalone mode) and where the members sit beside it."""
        spec, key, security = self.spec, self.key, self.spec.security_context
        members = [*spec.init_containers, *spec.containers]
        # Ports belong to the network namespace: a container's hostPort is published
        # by whoever owns that namespace, as kubelet does for a pod.
        ports = _ports([*spec.ports, *(p for c in members for p in c.ports if p.host_port)])
        net = _net(spec, key)
        if self.config.mode is not Mode.CONTAINER_IN_SANDBOX:
            hostname = spec.hostname or key.name
            return None, _Place(self.runtime, (), ports, hostname, net, security, self.all_sysctls)
        share = tuple(s.value for s in spec.share)
        if Namespace.IPC not in spec.share:
            self.uses.append(Use(Feature.PRIVATE_IPC, "spec.share"))
        unowned = [(i, s) for i, s in enumerate(security.sysctls if security else [])
                   if s not in self.owned]  # fmt: skip
        member_sysctls = tuple(Sysctl(s.name, s.value) for _, s in unowned)
        self.uses += [Use(Feature.MEMBER_SYSCTLS, f"spec.securityContext.sysctls[{i}]")
                      for i, _ in unowned]  # fmt: skip
        infra_spec = InfraSpec(
            runtime=self.runtime,
            share=share,
            ports=ports,
            hostname=spec.hostname or key.name,
            net=net,
            sysctls=tuple(Sysctl(s.name, s.value) for s in self.owned),
        )
        digest = spec_hash(infra_spec)
        labels = self.base | {
            L.ROLE: L.ROLE_INFRA,
            L.CONTAINER: "",
            L.SPEC_HASH: digest,
            L.RUNTIME: self.runtime,
        }
        infra = DesiredInfra(self.config.infra_image, infra_spec, digest, labels)
        return infra, _Place(self.runtime, share, pod=security, sysctls=member_sysctls)

    def _member(
        self, container: SandboxContainer, at: str, position: int, place: _Place
    ) -> DesiredMember:
        role: L.MemberRole = L.ROLE_WORKLOAD
        if at.startswith("spec.initContainers"):
            role = L.ROLE_SIDECAR if container.restart_policy == "Always" else L.ROLE_INIT
        runtime = container.runtime or place.runtime
        if container.runtime and container.runtime != place.runtime and place.joins:
            self.uses.append(Use(Feature.MIXED_RUNTIMES, f"{at}.runtime"))
        if place.joins and container.security_context and container.security_context.privileged:
            self.uses.append(Use(Feature.PRIVILEGED_IN_SANDBOX, f"{at}.securityContext.privileged"))
        self.uses.extend(_member_uses(container, at, self.volumes, self.spec.volumes))
        spec = _member_spec(
            container,
            role,
            runtime,
            place,
            self.volumes,
            self.config,
            self.key,
            self.files,
        )
        digest = spec_hash(spec)
        security = effective_security(place.pod, container.security_context)
        labels = (
            self.base
            | {
                L.ROLE: role,
                L.CONTAINER: container.name,
                L.SPEC_HASH: digest,
                L.RUNTIME: runtime,
                L.POSITION: str(position),
            }
            | _hook_labels(spec)
        )
        return DesiredMember(
            name=container.name,
            spec=spec,
            hash=digest,
            pull_policy=container.image_pull_policy,
            labels=labels,
            **_probes(container),
            run_as_non_root=bool(security.run_as_non_root),
        )


def _standalone(
    key: UnitKey, manifest: ContainerManifest, source: str, config: BuildConfig, files: _Files
) -> DesiredUnit:
    spec = manifest.spec
    name = manifest.metadata.name
    runtime = spec.runtime or config.default_runtime
    volumes = {v.name: v for v in spec.volumes}
    place = _Place(runtime, (), _ports(spec.ports), spec.hostname or name, _net(spec, key))
    member_spec = _member_spec(spec, L.ROLE_WORKLOAD, runtime, place, volumes, config, key, files)
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
        spec=member_spec,
        hash=digest,
        pull_policy=spec.image_pull_policy,
        **_probes(spec),
        run_as_non_root=bool(spec.security_context and spec.security_context.run_as_non_root),
        labels=labels,
    )
    uses = [*_net_uses(spec), *_member_uses(spec, "spec", volumes, spec.volumes)]
    return DesiredUnit(
        key=key,
        mode=Mode.STANDALONE,
        infra=None,
        init=(),
        workloads=(workload,),
        volumes=_volumes(spec.volumes, config, key, source, Mode.STANDALONE, files),
        restart_policy=spec.restart_policy,
        grace_period=spec.termination_grace_period_seconds,
        source=source,
        uses=tuple(uses),
    )


class _Probes(TypedDict):
    liveness_probe: Probe | None
    readiness_probe: Probe | None
    startup_probe: Probe | None


def _probes(container: ContainerFields) -> _Probes:
    """The container's probes as kubelet runs them: an exec probe's command with its
    ``$(VAR)`` expanded against the ``env`` values as written, not expanded themselves,
    nor envFrom's (kubelet's ExpandContainerCommandOnlyStatic; see
    models.resolve_env_from for a container that had envFrom)."""
    written = {e.name: e.value for e in container.env}

    def expanded(probe: Probe | None) -> Probe | None:
        if probe is None or probe.exec is None:
            return probe
        command = [expand(c, written) for c in probe.exec.command]
        return probe.model_copy(update={"exec": probe.exec.model_copy(update={"command": command})})

    return {
        "liveness_probe": expanded(container.liveness_probe),
        "readiness_probe": expanded(container.readiness_probe),
        "startup_probe": expanded(container.startup_probe),
    }


def _net_uses(spec: UnitSpec) -> list[Use]:
    uses = []
    if spec.host_aliases:
        uses.append(Use(Feature.HOST_ALIASES, "spec.hostAliases"))
    if spec.subdomain:
        uses.append(Use(Feature.SUBDOMAIN, "spec.subdomain"))
    return uses


def _member_uses(
    container: ContainerFields, at: str, volumes: dict[str, Volume], declared: Sequence[Volume]
) -> list[Use]:
    """What one container asks that some engine may lack, with the field that asks it."""
    uses = []
    index = {v.name: i for i, v in enumerate(declared)}
    for i, mount in enumerate(container.volume_mounts):
        volume = volumes[mount.name]
        if volume.empty_dir is not None and volume.empty_dir.medium == "Memory":
            where = f"{at}.volumeMounts[{i}] (spec.volumes[{index[mount.name]}].emptyDir.medium)"
            uses.append(Use(Feature.MEMORY_VOLUME, where))
            if mount.sub_path or mount.sub_path_expr:
                uses.append(Use(Feature.MEMORY_SUB_PATH, f"{at}.volumeMounts[{i}].subPath"))
    if container.resources.storage_limit() is not None:
        uses.append(Use(Feature.STORAGE_LIMIT, f"{at}.resources.limits.ephemeral-storage"))
    if container.lifecycle is not None and container.lifecycle.stop_signal is not None:
        uses.append(Use(Feature.STOP_SIGNAL, f"{at}.lifecycle.stopSignal"))
    return uses


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
        host_aliases=tuple(HostAlias(a.ip, tuple(a.hostnames)) for a in spec.host_aliases),
        nameservers=tuple(dns.nameservers) if dns else (),
        searches=tuple(dns.searches) if dns else (),
        options=tuple(DnsOption(o.name, o.value) for o in (dns.options if dns else [])),
    )


def _user(run_as_user: int | None, run_as_group: int | None) -> User:
    # A group without a user runs as root with that group (uid 0), as ever here.
    if run_as_user is None and run_as_group is not None:
        return User(0, run_as_group)
    return User(run_as_user, run_as_group if run_as_user is not None else None)


def _member_spec(
    container: ContainerFields,
    role: L.MemberRole,
    runtime: str,
    place: _Place,
    volumes: dict[str, Volume],
    config: BuildConfig,
    key: UnitKey,
    files: _Files,
) -> MemberSpec:
    instance = config.instance
    pod = place.pod
    security = effective_security(pod, container.security_context)
    fs_group = pod.fs_group if pod else None
    groups = sorted(
        {*(pod.supplemental_groups if pod else ()), *(() if fs_group is None else (fs_group,))}
    )
    lifecycle = container.lifecycle
    resources = container.resources
    seccomp, localhost = _seccomp(security.seccomp_profile, config.seccomp)
    # What kubelet runs: each env value expanded against the entries above it,
    # command and args against all of them (the container's own, not its image's).
    env = expand_env((e.name, e.value) for e in container.env)
    return MemberSpec(
        role=role,
        image=container.image,
        runtime=runtime,
        joins=place.joins,
        hostname=place.hostname,
        command=tuple(expand(c, env) for c in container.command),
        args=tuple(expand(a, env) for a in container.args),
        working_dir=container.working_dir or "",
        env=tuple(EnvVar(name, value) for name, value in env.items()),
        ports=place.ports,
        mounts=tuple(
            _mount(volumes[m.name], m, instance, key, fs_group, files, env)
            for m in container.volume_mounts
        ),
        cpu_limit=resources.cpu_limit(),
        memory_limit=resources.memory_limit(),
        cpu_request=resources.cpu_request(),
        memory_request=resources.memory_request(),
        storage_limit=resources.storage_limit(),
        user=_user(security.run_as_user, security.run_as_group),
        privileged=security.privileged,
        read_only_root=security.read_only_root_filesystem,
        cap_add=tuple(security.capabilities.add),
        cap_drop=tuple(security.capabilities.drop),
        no_new_privileges=security.allow_privilege_escalation is False,
        tty=container.tty,
        stdin=container.stdin,
        stdin_once=container.stdin_once,
        group_add=tuple(groups),
        seccomp=seccomp,
        seccomp_localhost=localhost,
        sysctls=place.sysctls,
        net=place.net,
        post_start=tuple(lifecycle.post_start.exec.command)
        if lifecycle and lifecycle.post_start
        else (),
        pre_stop=tuple(lifecycle.pre_stop.exec.command) if lifecycle and lifecycle.pre_stop else (),
        stop_signal=lifecycle.stop_signal or "" if lifecycle else "",
    )


def _seccomp(
    profile: SeccompProfile | None, profiles: SeccompProfiles
) -> tuple[Seccomp, LocalhostProfile | None]:
    """The container's seccomp, with a Localhost profile's text (None when it cannot be
    read: compile_units has the problem, which refuses the unit)."""
    if profile is None or profile.type == "RuntimeDefault":
        return Seccomp.RUNTIME_DEFAULT, None
    if profile.type == "Unconfined":
        return Seccomp.UNCONFINED, None
    assert profile.localhost_profile is not None
    return Seccomp.LOCALHOST, profiles.profile(profile.localhost_profile)[0]


def _mount(
    volume: Volume,
    mount: VolumeMount,
    instance: str,
    key: UnitKey,
    group: int | None,
    files: _Files,
    env: Mapping[str, str],
) -> MountSpec:
    target, read_only = mount.mount_path, mount.read_only
    # subPathExpr: the container's variables expanded, as kubelet does before mounting.
    sub_path = mount.sub_path or expand(mount.sub_path_expr, env)
    if volume.host_path is not None:
        return MountSpec(
            type="bind",
            source=volume.host_path.path,
            target=target,
            read_only=read_only,
            must_exist=volume.host_path.type not in ("", "DirectoryOrCreate"),
            sub_path=sub_path,
        )
    if volume.files:
        # Always read-only, as kubelet mounts them; the content is hashed, so a changed
        # ConfigMap or Secret recreates the containers that mount it.
        return MountSpec(
            type="volume",
            source=volume_name(instance, key, volume.name),
            target=target,
            read_only=True,
            sub_path=sub_path,
            content=files_digest(files.get(volume.name, ())),
        )
    assert volume.empty_dir is not None
    if volume.empty_dir.medium == "Memory":
        size = memory_to_bytes(volume.empty_dir.size_limit) if volume.empty_dir.size_limit else None
        return MountSpec(
            type="tmpfs",
            target=target,
            read_only=read_only,
            size=size,
            group=group,
            sub_path=sub_path,
        )
    return MountSpec(
        type="volume",
        source=volume_name(instance, key, volume.name),
        target=target,
        read_only=read_only,
        group=group,
        sub_path=sub_path,
    )


def _volumes(
    volumes: Sequence[Volume],
    config: BuildConfig,
    key: UnitKey,
    source: str,
    mode: Mode,
    files: _Files,
    group: int | None = None,
    helper_image: str = "",
) -> tuple[DesiredVolume, ...]:
    """The volumes the engine keeps for the unit: emptyDirs on disk, and volumes of files
    (written by the driver before the containers that mount them are created)."""
    return tuple(
        DesiredVolume(
            name=volume_name(config.instance, key, v.name),
            labels=_base_labels(config, key, source, mode) | {L.VOLUME: v.name},
            group=group,
            helper_image=helper_image if group is not None and not v.files else "",
            files=files.get(v.name, ()) if v.files else None,
            size_limit=memory_to_bytes(v.empty_dir.size_limit)
            if v.empty_dir is not None and v.empty_dir.size_limit is not None
            else None,
        )
        for v in volumes
        if v.files or (v.empty_dir is not None and v.empty_dir.medium != "Memory")
    )


_Files = Mapping[str, tuple[ProjectedFile, ...]]  # a volume of files' files, by volume name
