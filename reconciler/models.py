"""Pydantic models of the manifest kinds: fields, defaults and validation. No I/O.

Field names mirror the Kubernetes Pod spec wherever the concept is the same,
so Pod YAML reads as a Sandbox. Every model forbids unknown fields: a field we
do not support is an error that names it, never silently dropped.
"""

from __future__ import annotations

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
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from reconciler.quantity import cpu_to_nano, cpu_to_shares, memory_to_bytes

API_VERSION = "reconciler/v1"
DEFAULT_NAMESPACE = "default"
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _dns_label(value: str) -> str:
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


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
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
    )


class Metadata(Model):
    name: DnsLabel
    namespace: DnsLabel = DEFAULT_NAMESPACE
    labels: Annotated[dict[str, str], AfterValidator(_labels)] = {}
    annotations: Annotated[dict[str, str], AfterValidator(_annotations)] = {}


class EnvVar(Model):
    name: Annotated[str, Field(pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")]
    value: Text = ""


class ContainerPort(Model):
    container_port: PortNumber
    host_port: PortNumber | None = None
    host_ip: Annotated[str, AfterValidator(_ip)] | None = Field(default=None, alias="hostIP")
    protocol: Literal["TCP", "UDP"] = "TCP"
    name: str | None = None


class VolumeMount(Model):
    name: DnsLabel
    mount_path: AbsolutePath
    read_only: bool = False


def _check_quantities(value: dict[str, str | int | float]) -> dict[str, str | int | float]:
    for key, amount in value.items():
        if key == "cpu":
            cpu_to_nano(amount)
        elif key == "memory":
            memory_to_bytes(amount)
        else:
            raise ValueError(f"unsupported resource {key!r} (supported: cpu, memory)")
    return value


# Strict: YAML's `true` must not read as 1 core or 1 byte.
Quantity = StrictStr | StrictInt | StrictFloat
Quantities = Annotated[dict[str, Quantity], AfterValidator(_check_quantities)]


class Resources(Model):
    limits: Quantities = {}
    requests: Quantities = {}

    def nano_cpus(self) -> int | None:
        return cpu_to_nano(self.limits["cpu"]) if "cpu" in self.limits else None

    def memory(self) -> int | None:
        return memory_to_bytes(self.limits["memory"]) if "memory" in self.limits else None

    def cpu_shares(self) -> int | None:
        return cpu_to_shares(self.requests["cpu"]) if "cpu" in self.requests else None

    def memory_reservation(self) -> int | None:
        return memory_to_bytes(self.requests["memory"]) if "memory" in self.requests else None


class Capabilities(Model):
    add: list[str] = []
    drop: list[str] = []


class SecurityContext(Model):
    run_as_user: Annotated[int, Field(ge=0)] | None = None
    run_as_group: Annotated[int, Field(ge=0)] | None = None
    privileged: bool = False
    read_only_root_filesystem: bool = False
    allow_privilege_escalation: bool | None = None
    capabilities: Capabilities = Capabilities()


class ExecAction(Model):
    command: Annotated[list[Text], Field(min_length=1)]


class HTTPGetAction(Model):
    path: str = "/"
    port: PortNumber
    host: str | None = None
    scheme: Literal["HTTP", "HTTPS"] = "HTTP"


class TCPSocketAction(Model):
    port: PortNumber
    host: str | None = None


class Probe(Model):
    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    initial_delay_seconds: Annotated[int, Field(ge=0)] = 0
    period_seconds: Annotated[int, Field(ge=1)] = 10
    timeout_seconds: Annotated[int, Field(ge=1)] = 1
    failure_threshold: Annotated[int, Field(ge=1)] = 3
    success_threshold: Annotated[int, Field(ge=1)] = 1

    @model_validator(mode="after")
    def _one_handler(self) -> Probe:
        handlers = [h for h in (self.exec, self.http_get, self.tcp_socket) if h is not None]
        if len(handlers) != 1:
            raise ValueError("a probe needs exactly one of exec, httpGet, tcpSocket")
        return self


class EmptyDirVolume(Model):
    medium: Literal["", "Memory"] = ""
    size_limit: str | int | None = None

    @model_validator(mode="after")
    def _size(self) -> EmptyDirVolume:
        if self.size_limit is not None:
            memory_to_bytes(self.size_limit)
            if self.medium != "Memory":
                raise ValueError(
                    "sizeLimit needs medium: Memory (a Docker volume cannot be size-limited)"
                )
        return self


class HostPathVolume(Model):
    path: AbsolutePath
    # "" and DirectoryOrCreate create a missing directory; the others must exist.
    type: Literal["", "DirectoryOrCreate", "Directory", "File", "Socket"] = ""


class Volume(Model):
    name: DnsLabel
    empty_dir: EmptyDirVolume | None = None
    host_path: HostPathVolume | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Volume:
        if (self.empty_dir is None) == (self.host_path is None):
            raise ValueError("a volume needs exactly one of emptyDir, hostPath")
        return self


class ContainerFields(Model):
    """What a container is, shared by sandbox members and standalone containers."""

    image: ImageRef
    image_pull_policy: PullPolicy = "IfNotPresent"
    command: list[Text] = []
    args: list[Text] = []
    working_dir: AbsolutePath | None = None
    env: list[EnvVar] = []
    ports: list[ContainerPort] = []
    volume_mounts: list[VolumeMount] = []
    resources: Resources = Resources()
    security_context: SecurityContext | None = None
    tty: bool = False
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None

    @field_validator("env")
    @classmethod
    def _unique_env(cls, env: list[EnvVar]) -> list[EnvVar]:
        _unique([e.name for e in env], "env name")
        return env


class Container(ContainerFields):
    """A member of a Pod (`containers[]` / `initContainers[]`)."""

    name: DnsLabel


class SandboxContainer(Container):
    """A member of a Sandbox: may run under another runtime than its infra, where
    the runtime profiles say the sharing stays real (see runtimes.py)."""

    runtime: RuntimeName | None = None


class UnitSpec(Model):
    """Fields every kind has: how it runs and for how long it may stop."""

    runtime: RuntimeName | None = None  # None: the operator's default runtime
    restart_policy: RestartPolicy = "Always"
    termination_grace_period_seconds: Annotated[int, Field(ge=0)] = 30
    volumes: list[Volume] = []

    @field_validator("volumes")
    @classmethod
    def _unique_volumes(cls, volumes: list[Volume]) -> list[Volume]:
        _unique([v.name for v in volumes], "volume name")
        return volumes


class SandboxSpec(UnitSpec):
    mode: Mode | None = None  # None: the operator's mode; otherwise only where allowed
    share: list[Namespace] = [Namespace.NETWORK, Namespace.IPC]
    ports: list[ContainerPort] = []
    init_containers: list[SandboxContainer] = []
    containers: Annotated[list[SandboxContainer], Field(min_length=1)]

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
        _check_members(self.init_containers, self.containers, self.volumes, self.ports)
        return self


class ContainerSpec(ContainerFields, UnitSpec):
    """A standalone container: no infra, its own namespaces."""

    @model_validator(mode="after")
    def _mounts(self) -> ContainerSpec:
        _check_mounts([self], self.volumes)
        _unique_host_ports(self.ports)
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


# Pod fields that only matter to a cluster scheduler: accepted with a warning.
SCHEDULER_ONLY_FIELDS = (
    "nodeSelector",
    "affinity",
    "tolerations",
    "schedulingGates",
    "serviceAccountName",
    "dnsPolicy",
)


class PodSpec(Model):
    """The subset of a Kubernetes PodSpec that maps onto a Sandbox."""

    containers: Annotated[list[Container], Field(min_length=1)]
    init_containers: list[Container] = []
    volumes: list[Volume] = []
    restart_policy: RestartPolicy = "Always"
    termination_grace_period_seconds: Annotated[int, Field(ge=0)] = 30
    share_process_namespace: bool = False
    runtime_class_name: RuntimeName | None = None
    node_selector: Any = None
    affinity: Any = None
    tolerations: Any = None
    scheduling_gates: Any = None
    service_account_name: Any = None
    dns_policy: Any = None

    @model_validator(mode="after")
    def _members(self) -> PodSpec:
        _check_members(self.init_containers, self.containers, self.volumes, [])
        return self


class PodManifest(Model):
    api_version: Literal["v1"]
    kind: Literal["Pod"]
    metadata: Metadata
    spec: PodSpec
    status: Any = None

    def scheduler_only_fields(self) -> list[str]:
        return [
            name for name in SCHEDULER_ONLY_FIELDS if getattr(self.spec, _snake(name)) is not None
        ]

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
                init_containers=[
                    SandboxContainer.model_validate(c.model_dump()) for c in spec.init_containers
                ],
                containers=[
                    SandboxContainer.model_validate(c.model_dump()) for c in spec.containers
                ],
            ),
        )


Manifest = SandboxManifest | ContainerManifest


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


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
) -> None:
    """The rules of a sandbox's members, for Sandbox and Pod alike."""
    members = [*init, *containers]
    _unique([c.name for c in members], "container name")
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
