"""What a unit is made of, in no engine's words: the effective specs. Pure values, no I/O.

A *unit* is what the planner converges as a whole: a Sandbox (an infra plus
init and workload members) or a standalone Container. Its specs are exactly
what each container is created from, typed (an environment variable is a
name and a value, a CPU limit is millicores, a user is a uid and a gid), so
every engine's driver translates them into its own request without parsing
anything back. What only steers reconciler (pull policy, probes, restart
policy, grace period) stays beside the specs, outside the spec hash
(hashing.py), so changing it recreates nothing.

The compiler (compile.py) makes these from manifests; admission.py decides
whether they may run; each driver turns them into its engine's requests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

from reconciler.core import labels as L
from reconciler.core.models import DEFAULT_NAMESPACE, Kind, Mode, Probe, PullPolicy, RestartPolicy


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


@dataclass(frozen=True, slots=True)
class PortSpec:
    container_port: int
    protocol: Literal["tcp", "udp"] = "tcp"
    host_port: int | None = None
    host_ip: str = ""  # "" binds every address


@dataclass(frozen=True, slots=True)
class MountSpec:
    type: Literal["volume", "bind", "tmpfs"]
    target: str
    source: str = ""  # the unit's volume (naming.volume_name), a host path, "" for tmpfs
    read_only: bool = False
    must_exist: bool = False  # hostPath types other than DirectoryOrCreate
    size: int | None = None  # tmpfs only: bytes
    group: int | None = None  # emptyDir only: fsGroup owns it (setgid, group-writable)
    sub_path: str = ""  # a path inside the volume (or host path) mounted instead of its root
    content: str = ""  # a volume of files: the digest of what it holds (projection.py)


@dataclass(frozen=True, slots=True)
class HostAlias:
    """hostAliases: names that resolve to ``ip`` inside the unit."""

    ip: str
    hostnames: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DnsOption:
    name: str
    value: str | None = None


@dataclass(frozen=True, slots=True)
class NetSpec:
    """What the owner of a network namespace gets: the infra, or a container without one."""

    domainname: str = ""  # from subdomain
    host_aliases: tuple[HostAlias, ...] = ()
    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[DnsOption, ...] = ()


@dataclass(frozen=True, slots=True)
class Sysctl:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class EnvVar:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class User:
    """Who the process runs as; None: the image's (Kubernetes' runAsUser / runAsGroup)."""

    uid: int | None = None
    gid: int | None = None


class Seccomp(StrEnum):
    RUNTIME_DEFAULT = ""  # the runtime's default profile
    UNCONFINED = "unconfined"
    LOCALHOST = "localhost"  # the operator's profile: MemberSpec.seccomp_localhost


@dataclass(frozen=True, slots=True)
class LocalhostProfile:
    """A profile of the operator's directory (seccomp.py), as the shell read it."""

    name: str  # the localhostProfile, relative to the directory
    path: str  # absolute, on the host (what CRI's localhost_ref names)
    content: str  # its JSON, compact (what Docker's seccomp= takes); only this is hashed


@dataclass(frozen=True, slots=True)
class InfraSpec:
    """What holds a sandbox's shared namespaces (its image is the operator's, unhashed)."""

    runtime: str
    share: tuple[str, ...]  # network always; ipc and pid as the sandbox says
    ports: tuple[PortSpec, ...] = ()
    hostname: str = ""
    net: NetSpec = NetSpec()
    sysctls: tuple[Sysctl, ...] = ()  # the pod's sysctls of the namespaces it owns


@dataclass(frozen=True, slots=True)
class MemberSpec:
    """What a workload, init or standalone container is created from."""

    role: L.MemberRole
    image: str
    runtime: str
    joins: tuple[str, ...] = ()  # namespaces of the infra it joins; () when standalone
    hostname: str = ""  # only without an infra: a joined network namespace has its own
    command: tuple[str, ...] = ()  # replaces the image's entrypoint
    args: tuple[str, ...] = ()  # replaces the image's command
    working_dir: str = ""
    env: tuple[EnvVar, ...] = ()  # in manifest order
    ports: tuple[PortSpec, ...] = ()  # only without an infra: otherwise ports are the infra's
    mounts: tuple[MountSpec, ...] = ()
    cpu_limit: int | None = None  # millicores
    memory_limit: int | None = None  # bytes
    cpu_request: int | None = None  # millicores
    memory_request: int | None = None  # bytes
    storage_limit: int | None = None  # bytes of its writable layer: limits.ephemeral-storage
    user: User = User()
    privileged: bool = False
    read_only_root: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    no_new_privileges: bool = False
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False
    group_add: tuple[int, ...] = ()  # supplementalGroups and fsGroup
    seccomp: Seccomp = Seccomp.RUNTIME_DEFAULT
    seccomp_localhost: LocalhostProfile | None = None  # with Seccomp.LOCALHOST
    sysctls: tuple[Sysctl, ...] = ()  # those of namespaces it owns
    net: NetSpec = NetSpec()  # only without an infra
    # Lifecycle hooks, run by reconciler through the engine's exec. Hashed, because
    # the container carries them in labels: a unit deleted along with its manifest
    # still gets the preStop hook its containers were created with.
    post_start: tuple[str, ...] = ()
    pre_stop: tuple[str, ...] = ()
    stop_signal: str = ""  # "" for the image's STOPSIGNAL (SIGTERM when it has none)


class Feature(StrEnum):
    """What a unit may ask for that not every engine can give (``DriverCapabilities.lacks``)."""

    HOST_ALIASES = "hostAliases"
    SUBDOMAIN = "subdomain"
    MEMORY_VOLUME = "emptyDir medium: Memory"
    MEMBER_SYSCTLS = "sysctls of a namespace the members do not share"
    STORAGE_LIMIT = "limits.ephemeral-storage"
    PRIVILEGED_IN_SANDBOX = "a privileged container in a sandbox"
    MIXED_RUNTIMES = "a runtime per container"
    PRIVATE_IPC = "share without ipc"
    STOP_SIGNAL = "lifecycle.stopSignal"
    MEMORY_SUB_PATH = "subPath of an emptyDir of medium: Memory"


@dataclass(frozen=True, slots=True)
class Use:
    """One field of the manifest that asks for ``feature``, for a refusal to name."""

    feature: Feature
    field: str  # e.g. spec.volumes[1].emptyDir.medium


@dataclass(frozen=True, slots=True)
class DesiredInfra:
    image: str  # the operator's infra image; not hashed (changing it recreates nothing)
    spec: InfraSpec
    hash: str
    labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class PullAuth:
    """Credentials for one registry, from an imagePullSecrets Secret: handed to the engine's
    pull and nothing else. Neither hashed nor labeled; the repr shows only the registry."""

    server: str  # the Secret's key the image matched, e.g. registry.example:5000
    username: str = field(repr=False)
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"PullAuth(server={self.server!r}, credentials hidden)"


@dataclass(frozen=True, slots=True)
class DesiredMember:
    name: str  # the container's name in the manifest
    spec: MemberSpec
    hash: str
    pull_policy: PullPolicy
    labels: dict[str, str]
    # Probes steer the control loop, not the container: not in the spec hash.
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None  # until it succeeds, the other probes wait
    # runAsNonRoot is a check, not a setting: admission refuses the unit when the
    # container's user (or, unset, its image's) is root or not numeric.
    run_as_non_root: bool = False
    # imagePullSecrets' credentials whose registry the image matches, tried in order
    # (kubelet's); () pulls as the engine would anyway. Never hashed, labeled or shown.
    pull_auth: tuple[PullAuth, ...] = field(default=(), repr=False)
    # reconciler.io/image-update: registry: the loop follows the tag's image, and a
    # container on an older one is made again (loop/imagewatch.py).
    follow_image: bool = False


@dataclass(frozen=True, slots=True)
class DesiredVolume:
    name: str  # on the host: naming.volume_name
    labels: dict[str, str]
    # fsGroup: the volume's root is made root:group, mode 2777 (setgid), as kubelet does.
    group: int | None = None
    helper_image: str = ""  # an image the engine may use to set that (Docker)
    # A volume of files (configMap, secret, downwardAPI, projected): what the driver
    # writes into it before its containers are created; None for an emptyDir.
    files: tuple[ProjectedFile, ...] | None = field(default=None, repr=False)
    # emptyDir.sizeLimit on disk, bytes: the loop measures the volume and evicts the
    # unit when its usage exceeds this (core/eviction.py). Not hashed: steers the loop.
    size_limit: int | None = None

    @property
    def volume(self) -> str:
        """Its name in the manifest."""
        return self.labels.get(L.VOLUME, self.name)


@dataclass(frozen=True, slots=True)
class ProjectedFile:
    """One file of a volume of files: its path inside the volume, content and mode."""

    path: str
    content: str = field(repr=False)  # a Secret's value, maybe: never shown
    mode: int = 0o644


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
    uses: tuple[Use, ...] = ()  # what it asks that some engine may lack

    @property
    def members(self) -> tuple[DesiredMember, ...]:
        return (*self.init, *self.workloads)

    @property
    def running(self) -> tuple[DesiredMember, ...]:
        """The members that keep running: native sidecars, then workloads."""
        return (*(m for m in self.init if m.spec.role == L.ROLE_SIDECAR), *self.workloads)

    @property
    def runtimes(self) -> frozenset[str]:
        infra = {self.infra.spec.runtime} if self.infra is not None else set()
        return frozenset({m.spec.runtime for m in self.members} | infra)

    def with_members(self, change: Callable[[DesiredMember], DesiredMember]) -> DesiredUnit:
        """The unit with ``change`` made to each of its members (init and workloads)."""
        return replace(
            self, init=tuple(map(change, self.init)), workloads=tuple(map(change, self.workloads))
        )


@dataclass(frozen=True, slots=True)
class Desired:
    """What admission (admission.py) made of the compiled units: the planner's input.

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
