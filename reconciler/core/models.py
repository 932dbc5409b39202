"""Pydantic models of the manifest kinds: fields, defaults and validation. No I/O.

Field names mirror the Kubernetes Pod spec wherever the concept is the same,
so Pod YAML reads as a Sandbox. Every model forbids unknown fields: a field we
do not support is an error that names it, never silently dropped.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from reconciler.core.quantity import cpu_limit_millis, cpu_request_millis, memory_to_bytes

API_VERSION = "reconciler/v1"
DEFAULT_NAMESPACE = "default"
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def dns_label(value: str) -> str:
    """``value`` if it is a DNS-1123 label; ValueError saying why not."""
    if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label "
            "(lower-case letters, digits and '-', starting and ending alphanumeric, at most 63)"
        )
    return value


def _no_nul(value: str) -> str:
    # Docker and the kernel read NUL as the end of a string: what follows would vanish.
    if "\x00" in value:
        raise ValueError("a NUL character is not allowed")
    return value


def _sub_path(value: str) -> str:
    """subPath: relative, no `..` (the API server's rule: it must stay inside the volume)."""
    if value and (value.startswith("/") or ".." in value.split("/")):
        raise ValueError(f"{value!r} must be a relative path that stays inside the volume")
    return value


def _absolute_path(value: str) -> str:
    """A path Docker can take in a mount: absolute, no '..', no ':' (bind syntax splits on it)."""
    _no_nul(value)
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path")
    if ":" in value or "," in value:
        raise ValueError(
            f"{value!r}: ':' and ',' are not allowed (Docker's mount syntax splits on them)"
        )
    if ".." in value.split("/"):
        raise ValueError(f"{value!r}: '..' is not allowed (write the path it means)")
    return value


_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _label_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        raise ValueError(f"label key {key!r}: the prefix must be a DNS subdomain")
    if not _LABEL_NAME.fullmatch(name):
        raise ValueError(
            f"label key {key!r}: the name must be at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending alphanumeric"
        )


def _labels(value: dict[str, str]) -> dict[str, str]:
    """Kubernetes label syntax: keys and values that no label store can misread."""
    for key, text in value.items():
        _label_key(key)
        if text and not _LABEL_NAME.fullmatch(text):
            raise ValueError(
                f"label {key}: value {text!r} must be at most 63 letters, digits, '-', '_' or "
                "'.', starting and ending alphanumeric"
            )
    return value


def _annotations(value: dict[str, str]) -> dict[str, str]:
    for key, text in value.items():
        _label_key(key)
        _no_nul(text)
    return value


_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]*")
_RUNTIME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _image(value: str) -> str:
    if len(value) > 512 or not _IMAGE.fullmatch(value):
        raise ValueError(f"{value!r} is not an image reference")
    return value


def _runtime(value: str) -> str:
    if len(value) > 64 or not _RUNTIME.fullmatch(value):
        raise ValueError(f"{value!r} is not a runtime name (letters, digits, '_', '.', '-')")
    return value


def _ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None
    return value


DnsLabel = Annotated[
    str,
    AfterValidator(dns_label),
    WithJsonSchema({"type": "string", "pattern": f"^{_DNS_LABEL.pattern}$", "maxLength": 63}),
]
NonEmpty = Annotated[str, Field(min_length=1), AfterValidator(_no_nul)]
Text = Annotated[str, AfterValidator(_no_nul)]
AbsolutePath = Annotated[str, AfterValidator(_absolute_path)]
ImageRef = Annotated[str, AfterValidator(_image)]
RuntimeName = Annotated[str, AfterValidator(_runtime)]
PortNumber = Annotated[int, Field(ge=1, le=65535)]


class Kind(StrEnum):
    SANDBOX = "Sandbox"
    CONTAINER = "Container"


class Mode(StrEnum):
    CONTAINER_IN_SANDBOX = "container-in-sandbox"
    STANDALONE = "standalone"


class Namespace(StrEnum):
    """Linux namespaces a sandbox's workloads can join."""

    NETWORK = "network"
    IPC = "ipc"
    PID = "pid"


RestartPolicy = Literal["Always", "OnFailure", "Never"]
PullPolicy = Literal["Always", "IfNotPresent", "Never"]


class Model(BaseModel):
    """Base: camelCase aliases, unknown fields forbidden, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        # Attribute docstrings become descriptions in `reconciler schema`, which
        # reads them itself (formats/schema.py): pydantic's use_attribute_docstrings
        # would parse this module's source at every import.
        # Validators are built on first use, not at import: a command pays only
        # for the kinds it reads (measured in docs/benchmarks.md).
        defer_build=True,
    )


class Metadata(Model):
    name: DnsLabel
    """Unique per kind and namespace; a DNS-1123 label."""
    namespace: DnsLabel = DEFAULT_NAMESPACE
    """Identity is namespace/name."""
    labels: Annotated[dict[str, str], AfterValidator(_labels)] = {}
    """Free-form labels for people and tools."""
    annotations: Annotated[dict[str, str], AfterValidator(_annotations)] = {}


_ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"


class KeySelector(Model):
    """One key of a ConfigMap or Secret in the same source (configMapKeyRef, secretKeyRef)."""

    name: NonEmpty
    key: NonEmpty
    optional: bool = False


# The pod fields env's fieldRef may name (the downward API), as kubelet gives them.
FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)
_LABEL_OR_ANNOTATION = re.compile(r"metadata\.(labels|annotations)\['([^'\]]+)'\]")


def _field_path(path: str) -> str:
    if path in FIELD_PATHS or _LABEL_OR_ANNOTATION.fullmatch(path):
        return path
    raise ValueError(
        f"fieldPath {path!r} is not one Kubernetes gives an env var "
        f"(supported: {', '.join(FIELD_PATHS)}, metadata.labels['KEY'], "
        "metadata.annotations['KEY'])"
    )


class ObjectFieldSelector(Model):
    field_path: Annotated[str, AfterValidator(_field_path)]
    api_version: Literal["v1"] = "v1"


class ResourceFieldSelector(Model):
    container_name: str = ""  # "" (in env): the container itself
    resource: Literal[
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
    ]
    divisor: str | int | float = "1"


class EnvVarSource(Model):
    config_map_key_ref: KeySelector | None = None
    secret_key_ref: KeySelector | None = None
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None

    @model_validator(mode="after")
    def _one_source(self) -> EnvVarSource:
        given = [
            s
            for s in (
                self.config_map_key_ref,
                self.secret_key_ref,
                self.field_ref,
                self.resource_field_ref,
            )
            if s is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "valueFrom needs exactly one of configMapKeyRef, secretKeyRef, fieldRef, "
                "resourceFieldRef"
            )
        return self


class EnvVar(Model):
    name: Annotated[str, Field(pattern=_ENV_NAME)]
    value: Text = ""
    """The variable's value (the empty string when absent)."""
    value_from: EnvVarSource | None = None
    """Where the value comes from instead: a ConfigMap's or Secret's key in the same
    source, a field of the pod, a resource of a container (compile.py resolves it)."""

    @model_validator(mode="after")
    def _value_or_source(self) -> EnvVar:
        if self.value and self.value_from is not None:
            raise ValueError("value and valueFrom are exclusive (Kubernetes refuses both)")
        return self


class ValuesRef(Model):
    name: NonEmpty
    optional: bool = False


class LocalObjectReference(Model):
    """A Secret of the same source and namespace, by name (imagePullSecrets)."""

    name: NonEmpty


class EnvFromSource(Model):
    """Every key of a ConfigMap or Secret defined in the same file, as variables."""

    prefix: str = ""
    config_map_ref: ValuesRef | None = None
    secret_ref: ValuesRef | None = None

    @model_validator(mode="after")
    def _one_source(self) -> EnvFromSource:
        if (self.config_map_ref is None) == (self.secret_ref is None):
            raise ValueError("an envFrom entry needs exactly one of configMapRef, secretRef")
        return self

    @property
    def ref(self) -> tuple[str, ValuesRef]:
        if self.config_map_ref is not None:
            return "ConfigMap", self.config_map_ref
        assert self.secret_ref is not None
        return "Secret", self.secret_ref


class ContainerPort(Model):
    container_port: PortNumber
    """The port inside the network namespace."""
    host_port: PortNumber | None = None
    """Publish on this host port (on the infra for a sandbox)."""
    host_ip: Annotated[str, AfterValidator(_ip)] | None = Field(default=None, alias="hostIP")
    """The host address to bind (default: all)."""
    protocol: Literal["TCP", "UDP"] = "TCP"
    name: str | None = None

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol(cls, value: Any) -> Any:
        # As the API server: names compare exactly, so 'tcp' is refused, never read as TCP.
        if value == "SCTP":
            raise ValueError(
                "not supported by reconciler: protocol: SCTP, because ports are published "
                "for TCP and UDP only"
            )
        if isinstance(value, str) and value not in ("TCP", "UDP"):
            raise ValueError(
                f"Kubernetes accepts TCP, UDP or SCTP; the API server refuses {value!r}"
            )
        return value


class VolumeMount(Model):
    name: DnsLabel
    mount_path: AbsolutePath
    """Absolute path inside the container."""
    read_only: bool = False
    sub_path: Annotated[str, AfterValidator(_sub_path)] = ""
    """A path inside the volume mounted instead of its root."""
    sub_path_expr: Annotated[str, AfterValidator(_sub_path)] = ""
    """sub_path with the container's $(VAR) expanded."""

    @model_validator(mode="after")
    def _one_sub_path(self) -> VolumeMount:
        if self.sub_path and self.sub_path_expr:
            raise ValueError("subPath and subPathExpr are exclusive")
        return self


EPHEMERAL_STORAGE = "ephemeral-storage"


def _check_quantities(value: dict[str, str | int | float]) -> dict[str, str | int | float]:
    for key, amount in value.items():
        if key == "cpu":
            cpu_request_millis(amount)
        elif key in ("memory", EPHEMERAL_STORAGE):
            memory_to_bytes(amount)
        else:
            raise ValueError(
                f"unsupported resource {key!r} (supported: cpu, memory, ephemeral-storage)"
            )
    return value


# Strict: YAML's `true` must not read as 1 core or 1 byte.
Quantity = StrictStr | StrictInt | StrictFloat
Quantities = Annotated[dict[str, Quantity], AfterValidator(_check_quantities)]


class Resources(Model):
    limits: Quantities = {}
    """cpu (cores or millicores: 500m, at least 10m), memory (128Mi), ephemeral-storage."""
    requests: Quantities = {}
    """cpu (the container's CPU weight), memory (a soft reservation)."""

    @field_validator("requests")
    @classmethod
    def _no_storage_request(cls, requests: dict[str, Quantity]) -> dict[str, Quantity]:
        if EPHEMERAL_STORAGE in requests:
            raise ValueError(
                "an ephemeral-storage request only steers a cluster scheduler; "
                "set limits.ephemeral-storage for a size limit"
            )
        return requests

    @field_validator("limits")
    @classmethod
    def _cpu_limit(cls, limits: dict[str, Quantity]) -> dict[str, Quantity]:
        if "cpu" in limits:
            cpu_limit_millis(limits["cpu"])
        return limits

    def storage_limit(self) -> int | None:
        """limits.ephemeral-storage: bytes of the container's writable layer."""
        limit = self.limits.get(EPHEMERAL_STORAGE)
        return memory_to_bytes(limit) if limit is not None else None

    def cpu_limit(self) -> int | None:
        """Millicores."""
        return cpu_limit_millis(self.limits["cpu"]) if "cpu" in self.limits else None

    def memory_limit(self) -> int | None:
        return memory_to_bytes(self.limits["memory"]) if "memory" in self.limits else None

    def cpu_request(self) -> int | None:
        """Millicores."""
        return cpu_request_millis(self.requests["cpu"]) if "cpu" in self.requests else None

    def memory_request(self) -> int | None:
        return memory_to_bytes(self.requests["memory"]) if "memory" in self.requests else None


class Capabilities(Model):
    add: list[str] = []
    drop: list[str] = []


def _local_descending(path: str) -> str:
    """A localhostProfile: relative, inside the operator's profile directory (the API
    server's validateLocalDescendingPath)."""
    _no_nul(path)
    if path.startswith("/"):
        raise ValueError(
            f"{path!r} must be a relative path, inside the operator's seccomp profile "
            "directory (--seccomp-profile-dir)"
        )
    if ".." in path.split("/"):
        raise ValueError(f"{path!r} must not contain '..': it stays inside the profile directory")
    return path


class SeccompProfile(Model):
    type: Literal["RuntimeDefault", "Unconfined", "Localhost"]
    localhost_profile: Annotated[NonEmpty, AfterValidator(_local_descending)] | None = None
    """With type Localhost: the profile's file, relative to the operator's profile directory."""

    @model_validator(mode="after")
    def _localhost(self) -> SeccompProfile:
        if self.type == "Localhost" and self.localhost_profile is None:
            raise ValueError(
                "type Localhost needs localhostProfile: a file in the operator's seccomp "
                "profile directory (--seccomp-profile-dir)"
            )
        if self.type != "Localhost" and self.localhost_profile is not None:
            raise ValueError("localhostProfile goes only with type Localhost")
        return self


# What Docker lets a container set: the sysctls of the namespaces it owns.
_NAMESPACED_SYSCTL = re.compile(
    r"net\.[a-z0-9_./-]+|fs\.mqueue\.[a-z0-9_]+|kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|"
    r"shmmni|shm_rmid_forced)"
)
_IPC_SYSCTL = re.compile(r"fs\.mqueue\..*|kernel\..*")


class Sysctl(Model):
    name: str
    value: str

    @field_validator("name")
    @classmethod
    def _namespaced(cls, name: str) -> str:
        if not _NAMESPACED_SYSCTL.fullmatch(name):
            raise ValueError(
                f"sysctl {name!r} is not namespaced: setting it would change the host's kernel "
                "(Docker accepts net.*, fs.mqueue.* and the IPC kernel.msg*/sem/shm* sysctls)"
            )
        return name

    @property
    def ipc(self) -> bool:
        """An IPC-namespace sysctl (else a network one)."""
        return bool(_IPC_SYSCTL.fullmatch(self.name))


UserId = Annotated[int, Field(ge=0)]


class SecurityContext(Model):
    """A container's securityContext; its user, group, runAsNonRoot and seccompProfile
    override the pod-level ones (PodSecurityContext)."""

    run_as_user: UserId | None = None
    run_as_group: UserId | None = None
    run_as_non_root: bool | None = None
    privileged: bool = False
    read_only_root_filesystem: bool = False
    allow_privilege_escalation: bool | None = None
    """false sets no-new-privileges."""
    # model_construct: the default needs no validator, so none is built at import.
    capabilities: Capabilities = Capabilities.model_construct()
    seccomp_profile: SeccompProfile | None = None


class PodSecurityContext(Model):
    """A pod-level securityContext: defaults for every member, plus what only a pod has."""

    run_as_user: UserId | None = None
    run_as_group: UserId | None = None
    run_as_non_root: bool | None = None
    fs_group: UserId | None = None  # owns the emptyDir volumes; a supplemental group of all
    supplemental_groups: list[UserId] = []
    seccomp_profile: SeccompProfile | None = None
    sysctls: list[Sysctl] = []

    @field_validator("sysctls")
    @classmethod
    def _unique_sysctls(cls, sysctls: list[Sysctl]) -> list[Sysctl]:
        _unique([s.name for s in sysctls], "sysctl")
        return sysctls


def effective_security(
    pod: PodSecurityContext | None, container: SecurityContext | None
) -> SecurityContext:
    """Kubernetes' merge: the container's values win; the pod's fill what it leaves unset."""
    own = container or SecurityContext()
    if pod is None:
        return own
    inherited = {
        name: getattr(pod, name)
        for name in ("run_as_user", "run_as_group", "run_as_non_root", "seccomp_profile")
        if getattr(own, name) is None and getattr(pod, name) is not None
    }
    return own.model_copy(update=inherited) if inherited else own


def _check_non_root(name: str | None, security: SecurityContext) -> None:
    """A root runAsUser with runAsNonRoot is known wrong before any image is read."""
    if security.run_as_non_root and security.run_as_user == 0:
        who = "the container" if name is None else f"container {name!r}"
        raise ValueError(
            f"{who} has runAsNonRoot but runAsUser 0 (root): it would be refused at every start"
        )


class ExecAction(Model):
    command: Annotated[list[Text], Field(min_length=1)]


# What Kubernetes accepts as a header name (validation.IsHTTPHeaderName).
_HEADER_NAME = r"^[-A-Za-z0-9]+$"
_HEADER_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _header_value(value: str) -> str:
    # The API server takes any text, but Go's HTTP client refuses a control character
    # in a header at every request: a probe that could only ever fail is refused here.
    if _HEADER_CONTROL.search(value):
        raise ValueError("a control character is not allowed in a header value")
    return value


class HTTPHeader(Model):
    name: Annotated[str, Field(pattern=_HEADER_NAME)]
    value: Annotated[str, AfterValidator(_header_value)]


class HTTPGetAction(Model):
    path: str = "/"
    port: PortNumber
    host: str | None = None
    scheme: Literal["HTTP", "HTTPS"] = "HTTP"
    http_headers: list[HTTPHeader] = []
    """Sent with the request: one replaces kubelet's User-Agent or Accept; Host sets the Host."""


class TCPSocketAction(Model):
    port: PortNumber
    host: str | None = None


class GRPCAction(Model):
    port: PortNumber
    service: str | None = None
    """The service named in grpc.health.v1 Health/Check (default: the empty name, the server)."""


class Probe(Model):
    exec: ExecAction | None = None
    """Run a command in the container (docker exec); exit 0 is success."""
    http_get: HTTPGetAction | None = None
    """GET against the sandbox's address; 2xx/3xx is success."""
    tcp_socket: TCPSocketAction | None = None
    """A TCP connect to the sandbox's address."""
    grpc: GRPCAction | None = None
    """grpc.health.v1 Health/Check against the sandbox's address; SERVING is success."""
    initial_delay_seconds: Annotated[int, Field(ge=0)] = 0
    period_seconds: Annotated[int, Field(ge=1)] = 10
    timeout_seconds: Annotated[int, Field(ge=1)] = 1
    failure_threshold: Annotated[int, Field(ge=1)] = 3
    success_threshold: Annotated[int, Field(ge=1)] = 1
    termination_grace_period_seconds: Annotated[int, Field(ge=1)] | None = None
    """Liveness and startup only: the grace period of the kill after this probe fails."""

    @model_validator(mode="after")
    def _one_handler(self) -> Probe:
        handlers = [self.exec, self.http_get, self.tcp_socket, self.grpc]
        if sum(h is not None for h in handlers) != 1:
            raise ValueError("a probe needs exactly one of exec, httpGet, tcpSocket, grpc")
        return self


class LifecycleHandler(Model):
    """A lifecycle hook: exec only (run through Docker exec by reconciler)."""

    exec: ExecAction


# The names Kubernetes accepts for lifecycle.stopSignal (core/v1 Signal): Linux's.
_SIGNALS = """ABRT ALRM BUS CHLD CLD CONT FPE HUP ILL INT IO IOT KILL PIPE POLL PROF PWR QUIT
SEGV STKFLT STOP SYS TERM TRAP TSTP TTIN TTOU URG USR1 USR2 VTALRM WINCH XCPU XFSZ RTMIN RTMAX"""
STOP_SIGNALS = frozenset(
    [f"SIG{name}" for name in _SIGNALS.split()]
    + [f"SIGRTMIN+{n}" for n in range(1, 16)]
    + [f"SIGRTMAX-{n}" for n in range(1, 15)]
)


def _stop_signal(name: str) -> str:
    if name not in STOP_SIGNALS:
        raise ValueError(
            f"{name!r} is not a Linux signal name Kubernetes accepts "
            "(e.g. SIGTERM, SIGINT, SIGQUIT, SIGUSR1)"
        )
    return name


class Lifecycle(Model):
    post_start: LifecycleHandler | None = None  # right after the container starts
    pre_stop: LifecycleHandler | None = None  # before it is stopped, within the grace period
    # What stopping the container sends first (the image's STOPSIGNAL, else SIGTERM, when unset).
    stop_signal: Annotated[str, AfterValidator(_stop_signal)] | None = None


class HostAlias(Model):
    ip: NonEmpty
    hostnames: Annotated[list[NonEmpty], Field(min_length=1)]


class DNSOption(Model):
    name: NonEmpty
    value: str | None = None


class PodDNSConfig(Model):
    nameservers: list[NonEmpty] = []
    searches: list[NonEmpty] = []
    options: list[DNSOption] = []


class EmptyDirVolume(Model):
    medium: Literal["", "Memory"] = ""
    """'' for a Docker volume the unit owns; Memory for a tmpfs."""
    size_limit: str | int | None = None
    """Memory: the tmpfs's size. On disk: enforced by `reconciler run` as kubelet does
    (its usage is measured, and the unit is evicted when it exceeds the limit)."""

    @model_validator(mode="after")
    def _size(self) -> EmptyDirVolume:
        if self.size_limit is not None:
            memory_to_bytes(self.size_limit)
        return self


class HostPathVolume(Model):
    path: AbsolutePath
    # "" and DirectoryOrCreate create a missing directory; the others must exist.
    type: Literal["", "DirectoryOrCreate", "Directory", "File", "Socket"] = ""


def _relative_path(path: str) -> str:
    """A file's path inside a volume, as the API server allows it: relative, no `..`."""
    parts = path.split("/")
    if not path or path.startswith("/") or ".." in parts:
        raise ValueError(f"{path!r} must be a relative path without '..'")
    return path


RelativePath = Annotated[str, AfterValidator(_relative_path)]
FileMode = Annotated[int, Field(ge=0, le=0o777)]


class KeyToPath(Model):
    key: NonEmpty
    path: RelativePath
    mode: FileMode | None = None


class ConfigMapVolume(Model):
    """Files of a ConfigMap of the source: one per key, or those ``items`` name."""

    name: NonEmpty
    items: list[KeyToPath] = []
    default_mode: FileMode = 0o644
    optional: bool = False


class SecretVolume(Model):
    secret_name: NonEmpty
    items: list[KeyToPath] = []
    default_mode: FileMode = 0o644
    optional: bool = False


class VolumeFieldSelector(Model):
    field_path: NonEmpty
    api_version: Literal["v1"] = "v1"


class DownwardAPIFile(Model):
    path: RelativePath
    field_ref: VolumeFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None
    mode: FileMode | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DownwardAPIFile:
        if (self.field_ref is None) == (self.resource_field_ref is None):
            raise ValueError("a downwardAPI item needs exactly one of fieldRef, resourceFieldRef")
        if self.resource_field_ref is not None and not self.resource_field_ref.container_name:
            raise ValueError("resourceFieldRef in a volume needs containerName")
        return self


class DownwardAPIVolume(Model):
    items: list[DownwardAPIFile] = []
    default_mode: FileMode = 0o644


class ProjectedConfigMap(Model):
    name: NonEmpty
    items: list[KeyToPath] = []
    optional: bool = False


class ProjectedSecret(Model):
    name: NonEmpty
    items: list[KeyToPath] = []
    optional: bool = False


class ProjectedDownwardAPI(Model):
    items: list[DownwardAPIFile] = []


class VolumeProjection(Model):
    config_map: ProjectedConfigMap | None = None
    secret: ProjectedSecret | None = None
    downward_api: ProjectedDownwardAPI | None = Field(default=None, alias="downwardAPI")
    service_account_token: Any = None
    cluster_trust_bundle: Any = None

    @model_validator(mode="after")
    def _one_source(self) -> VolumeProjection:
        if self.service_account_token is not None or self.cluster_trust_bundle is not None:
            raise ValueError(
                "serviceAccountToken and clusterTrustBundle projections need a Kubernetes API "
                "server, which reconciler does not have"
            )
        given = [s for s in (self.config_map, self.secret, self.downward_api) if s is not None]
        if len(given) != 1:
            raise ValueError("a projection needs exactly one of configMap, secret, downwardAPI")
        return self


class ProjectedVolume(Model):
    sources: list[VolumeProjection] = []
    default_mode: FileMode = 0o644


class Volume(Model):
    name: DnsLabel
    empty_dir: EmptyDirVolume | None = None
    """A volume the unit owns, removed with it."""
    host_path: HostPathVolume | None = None
    """A directory or file of the host, bind-mounted."""
    config_map: ConfigMapVolume | None = None
    secret: SecretVolume | None = None
    downward_api: DownwardAPIVolume | None = Field(default=None, alias="downwardAPI")
    projected: ProjectedVolume | None = None
    """Files made from a ConfigMap, a Secret or the pod's fields (values.py), read-only."""

    @model_validator(mode="after")
    def _one_source(self) -> Volume:
        if len([s for s in self.sources() if s is not None]) != 1:
            raise ValueError(
                "a volume needs exactly one of emptyDir, hostPath, configMap, secret, "
                "downwardAPI, projected"
            )
        return self

    def sources(self) -> tuple[Any, ...]:
        return (
            self.empty_dir,
            self.host_path,
            self.config_map,
            self.secret,
            self.downward_api,
            self.projected,
        )

    @property
    def files(self) -> bool:
        """Made of files reconciler writes: configMap, secret, downwardAPI, projected."""
        return any(s is not None for s in self.sources()[2:])


class ContainerFields(Model):
    """What a container is, shared by sandbox members and standalone containers."""

    image: ImageRef
    """The image to run (pulled per imagePullPolicy)."""
    image_pull_policy: PullPolicy = "IfNotPresent"
    command: list[Text] = []
    """Replaces the image's ENTRYPOINT."""
    args: list[Text] = []
    """Replaces the image's CMD."""
    working_dir: AbsolutePath | None = None
    env: list[EnvVar] = []
    # Resolved when the file is read (manifests.py): the values of a ConfigMap or
    # Secret in the same file become `env` entries before `env`, which wins.
    env_from: list[EnvFromSource] = []
    ports: list[ContainerPort] = []
    """Ports; in a sandbox a hostPort is published by the infra."""
    volume_mounts: list[VolumeMount] = []
    resources: Resources = Resources.model_construct()  # as capabilities
    security_context: SecurityContext | None = None
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False
    lifecycle: Lifecycle | None = None
    liveness_probe: Probe | None = None
    """Restart the container after failureThreshold failures."""
    readiness_probe: Probe | None = None
    """Sets READY in `reconciler get`."""
    startup_probe: Probe | None = None
    """Holds liveness back until it succeeds once."""
    # Kubernetes fills these in; reconciler collects no termination message (warned).
    termination_message_path: str | None = None
    termination_message_policy: Literal["File", "FallbackToLogsOnError"] | None = None

    @field_validator("env")
    @classmethod
    def _unique_env(cls, env: list[EnvVar]) -> list[EnvVar]:
        _unique([e.name for e in env], "env name")
        return env

    @field_validator("liveness_probe", "startup_probe")
    @classmethod
    def _one_success(cls, probe: Probe | None) -> Probe | None:
        if probe is not None and probe.success_threshold != 1:
            raise ValueError(
                "successThreshold must be 1 for a liveness or startup probe "
                "(the API server refuses any other)"
            )
        return probe

    @field_validator("readiness_probe")
    @classmethod
    def _readiness_kills_nothing(cls, probe: Probe | None) -> Probe | None:
        if probe is not None and probe.termination_grace_period_seconds is not None:
            raise ValueError(
                "terminationGracePeriodSeconds must not be set for a readiness probe: it never "
                "kills the container (the API server refuses it too)"
            )
        return probe


class Container(ContainerFields):
    """A member of a Pod (`containers[]` / `initContainers[]`)."""

    name: DnsLabel
    """The container's name within its sandbox."""
    # Only on initContainers: Always makes it a native sidecar (Kubernetes 1.28+).
    restart_policy: Literal["Always"] | None = None


class SandboxContainer(Container):
    """A member of a Sandbox: may run under another runtime than its infra, where
    the runtime profiles say the sharing stays real (see runtimes.py)."""

    runtime: RuntimeName | None = None
    """Another runtime than the infra's, where the runtimes allow the mix."""


class UnitSpec(Model):
    """Fields every kind has: how it runs and for how long it may stop."""

    runtime: RuntimeName | None = None  # None: the operator's default runtime
    """OCI runtime (runc, runsc, kata, ...); default: the operator's defaultRuntime."""
    restart_policy: RestartPolicy = "Always"
    """When the reconciler restarts an exited container (with crash-loop backoff)."""
    termination_grace_period_seconds: Annotated[int, Field(ge=0)] = 30
    """Seconds between SIGTERM and SIGKILL on stop."""
    volumes: list[Volume] = []
    """Volumes the containers mount by name."""
    hostname: DnsLabel | None = None  # default: metadata.name
    subdomain: DnsLabel | None = None  # the FQDN is hostname.subdomain.namespace.svc.cluster.local
    host_aliases: list[HostAlias] = []
    dns_config: PodDNSConfig | None = None
    image_pull_secrets: list[LocalObjectReference] = []
    """Secrets (kubernetes.io/dockerconfigjson) of the source whose credentials pull the images."""

    @field_validator("volumes")
    @classmethod
    def _unique_volumes(cls, volumes: list[Volume]) -> list[Volume]:
        _unique([v.name for v in volumes], "volume name")
        return volumes


class SandboxSpec(UnitSpec):
    mode: Mode | None = None  # None: the operator's mode; otherwise only where allowed
    """container-in-sandbox or standalone; only where the operator's allowedModes permit."""
    share: list[Namespace] = [Namespace.NETWORK, Namespace.IPC]
    """Namespaces the workloads join; network is required, pid optional."""
    ports: list[ContainerPort] = []
    """Published on the infra: ports belong to the network namespace."""
    init_containers: list[SandboxContainer] = []
    """Run in order, each to exit 0, before the workloads."""
    containers: Annotated[list[SandboxContainer], Field(min_length=1)]
    """The workloads; the first is the default of `logs` and `exec`."""
    security_context: PodSecurityContext | None = None
    service_account_name: Annotated[
        str, Field(pattern=f"^{_DNS_SUBDOMAIN.pattern}$", max_length=253)
    ] = "default"
    """Only what env's fieldRef spec.serviceAccountName gives: no API server, no token."""

    @field_validator("share")
    @classmethod
    def _share(cls, share: list[Namespace]) -> list[Namespace]:
        _unique([s.value for s in share], "shared namespace")
        if Namespace.NETWORK not in share:
            raise ValueError(
                "a sandbox always shares its network namespace: the infra holds the ports"
            )
        return sorted(share, key=list(Namespace).index)

    @model_validator(mode="after")
    def _members(self) -> SandboxSpec:
        _check_members(
            self.init_containers, self.containers, self.volumes, self.ports, self.security_context
        )
        return self


class ContainerSpec(ContainerFields, UnitSpec):
    """A standalone container: no infra, its own namespaces."""

    @model_validator(mode="after")
    def _mounts(self) -> ContainerSpec:
        _check_mounts([self], self.volumes)
        _unique_host_ports(self.ports)
        _check_non_root(None, effective_security(None, self.security_context))
        return self


class SandboxManifest(Model):
    api_version: Literal["reconciler/v1"]
    kind: Literal["Sandbox"]
    metadata: Metadata
    spec: SandboxSpec


class ContainerManifest(Model):
    api_version: Literal["reconciler/v1"]
    kind: Literal["Container"]
    metadata: Metadata
    spec: ContainerSpec


class PodSpec(Model):
    """The subset of a Kubernetes PodSpec that maps onto a Sandbox.

    Every other Kubernetes field of a Pod, and what reconciler does with it (an explicit
    default accepted, a scheduler's field ignored, the rest refused naming it and why),
    is in kubefields.py; kubeyaml.py reads a v1 document so before it is validated.
    """

    containers: Annotated[list[Container], Field(min_length=1)]
    init_containers: list[Container] = []
    volumes: list[Volume] = []
    restart_policy: RestartPolicy = "Always"
    termination_grace_period_seconds: Annotated[int, Field(ge=0)] = 30
    share_process_namespace: bool = False
    """true adds pid to the shared namespaces."""
    runtime_class_name: RuntimeName | None = None
    """The runtime of the sandbox."""
    security_context: PodSecurityContext | None = None
    hostname: DnsLabel | None = None
    subdomain: DnsLabel | None = None
    host_aliases: list[HostAlias] = []
    dns_config: PodDNSConfig | None = None
    image_pull_secrets: list[LocalObjectReference] = []
    service_account_name: str | None = None
    """What env's fieldRef spec.serviceAccountName gives (default: default); no token."""

    @model_validator(mode="after")
    def _members(self) -> PodSpec:
        _check_members(
            self.init_containers, self.containers, self.volumes, [], self.security_context
        )
        return self


class PodManifest(Model):
    api_version: Literal["v1"]
    kind: Literal["Pod"]
    metadata: Metadata
    spec: PodSpec

    def to_sandbox(self) -> SandboxManifest:
        spec = self.spec
        share = [Namespace.NETWORK, Namespace.IPC]
        if spec.share_process_namespace:
            share.append(Namespace.PID)
        return SandboxManifest(
            api_version=API_VERSION,
            kind="Sandbox",
            metadata=self.metadata,
            spec=SandboxSpec(
                runtime=spec.runtime_class_name,
                share=share,
                restart_policy=spec.restart_policy,
                termination_grace_period_seconds=spec.termination_grace_period_seconds,
                volumes=spec.volumes,
                security_context=spec.security_context,
                hostname=spec.hostname,
                subdomain=spec.subdomain,
                host_aliases=spec.host_aliases,
                dns_config=spec.dns_config,
                image_pull_secrets=spec.image_pull_secrets,
                service_account_name=spec.service_account_name or "default",
                init_containers=[
                    SandboxContainer.model_validate(c.model_dump()) for c in spec.init_containers
                ],
                containers=[
                    SandboxContainer.model_validate(c.model_dump()) for c in spec.containers
                ],
            ),
        )


Manifest = SandboxManifest | ContainerManifest


# ConfigMaps and Secrets are not units: they hold values that envFrom of a Pod,
# Sandbox or Container in the same file reads (there is no API server to ask).
class ValuesMetadata(Model):
    name: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)]
    namespace: DnsLabel = DEFAULT_NAMESPACE
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class ConfigMapManifest(Model):
    api_version: Literal["v1"]
    kind: Literal["ConfigMap"]
    metadata: ValuesMetadata
    data: dict[str, str] = {}
    immutable: bool | None = None

    def values(self) -> dict[str, str]:
        return dict(self.data)


class SecretManifest(Model):
    api_version: Literal["v1"]
    kind: Literal["Secret"]
    metadata: ValuesMetadata
    type: str = "Opaque"
    data: dict[str, str] = {}  # base64, as in Kubernetes
    string_data: dict[str, str] = {}
    immutable: bool | None = None

    @field_validator("data")
    @classmethod
    def _base64(cls, data: dict[str, str]) -> dict[str, str]:
        for key, value in data.items():
            try:
                base64.b64decode(value, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise ValueError(f"data.{key} is not base64 of UTF-8 text ({exc})") from None
        return data

    def values(self) -> dict[str, str]:
        decoded = {k: base64.b64decode(v).decode() for k, v in self.data.items()}
        return decoded | self.string_data  # stringData wins, as in Kubernetes


ValuesManifest = ConfigMapManifest | SecretManifest


def _unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"duplicate {what} {name!r}")
        seen.add(name)


def _check_members(
    init: Sequence[Container],
    containers: Sequence[Container],
    volumes: list[Volume],
    ports: list[ContainerPort],
    security: PodSecurityContext | None = None,
) -> None:
    """The rules of a sandbox's members, for Sandbox and Pod alike."""
    members = [*init, *containers]
    _unique([c.name for c in members], "container name")
    for c in containers:
        if c.restart_policy is not None:
            raise ValueError(
                f"container {c.name!r}: restartPolicy belongs to initContainers only "
                "(Always makes a native sidecar); the pod's restartPolicy governs containers"
            )
    for c in members:
        _check_non_root(c.name, effective_security(security, c.security_context))
    for c in init:
        if c.restart_policy is None and c.lifecycle is not None:
            raise ValueError(
                f"init container {c.name!r}: lifecycle hooks are for containers and native "
                "sidecars (restartPolicy: Always), not for init containers that run to completion"
            )
        probes = (c.liveness_probe, c.readiness_probe, c.startup_probe)
        if c.restart_policy is None and any(p is not None for p in probes):
            raise ValueError(
                f"init container {c.name!r}: probes are for containers and native sidecars "
                "(restartPolicy: Always), not for init containers that run to completion "
                "(the API server refuses them)"
            )
    _check_mounts(members, volumes)
    _unique_host_ports([*ports, *(p for c in members for p in c.ports)])


def _check_mounts(members: list[Any], volumes: list[Volume]) -> None:
    declared = {v.name for v in volumes}
    for member in members:
        for mount in member.volume_mounts:
            if mount.name not in declared:
                raise ValueError(
                    f"volumeMount {mount.name!r} names no volume in spec.volumes "
                    f"(declared: {sorted(declared) or 'none'})"
                )


def _unique_host_ports(ports: list[ContainerPort]) -> None:
    _unique(
        [f"{p.host_ip or '0.0.0.0'}:{p.host_port}/{p.protocol}" for p in ports if p.host_port],
        "host port",
    )
