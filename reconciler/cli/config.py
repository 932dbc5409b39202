"""The operator's configuration file (``--config``, default /etc/reconciler/config.yaml).

Reads one YAML file; no Docker. Precedence is flags > environment > this
file > built-in defaults: the CLI hands the file's values to click as its
``default_map``, which click ranks below the command line and the environment.
Unknown keys are errors that name the file, the line and the key.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from reconciler.core.errors import Location, ManifestError, Problem
from reconciler.core.manifests import DEFAULT_LIMITS, InputLimits, parse_document, validate
from reconciler.core.models import AbsolutePath, DnsLabel, Mode, Model, NonEmpty
from reconciler.core.policy import Level, Policy, PortRange

DEFAULT_PATH = Path("/etc/reconciler/config.yaml")
Seconds = Annotated[float, Field(gt=0)]
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _port_range(value: int | str) -> PortRange:
    match = _RANGE.match(str(value).strip())
    low, high = (int(match[1]), int(match[2] or match[1])) if match else (0, 0)
    if not match or not 1 <= low <= high <= 65535:
        raise ValueError(f"{value!r} is not a port or a range of ports (e.g. 8080, 8000-8999)")
    return PortRange(low, high)


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


class PolicyConfig(Model):
    """``policy:`` — the security policy (docs/safety.md). Unset keys keep the defaults."""

    level: Level = Level.BASELINE
    allow_privileged: bool = False
    allowed_host_paths: list[AbsolutePath] = Field(default_factory=list)
    allowed_capabilities: list[Annotated[str, Field(pattern=r"^[A-Za-z_]+$")]] = Field(
        default_factory=list
    )
    host_ports: list[int | str] | None = None  # None: any
    host_ips: list[Annotated[str, AfterValidator(_ip)]] | None = Field(
        default=None, alias="hostIPs"
    )

    allowed_unsafe_sysctls: list[Annotated[str, Field(pattern=r"^[a-z0-9_.]+\*?$")]] = Field(
        default_factory=list
    )

    allow_unconfined_seccomp: bool = False

    @field_validator("host_ports")
    @classmethod
    def _ranges(cls, value: list[int | str] | None) -> list[int | str] | None:
        for item in value or []:
            _port_range(item)
        return value

    def to_policy(self) -> Policy:
        return Policy(
            level=self.level,
            allow_privileged=self.allow_privileged,
            allowed_host_paths=tuple(self.allowed_host_paths),
            allowed_capabilities=frozenset(
                c.upper().removeprefix("CAP_") for c in self.allowed_capabilities
            ),
            host_ports=None
            if self.host_ports is None
            else tuple(sorted(_port_range(p) for p in self.host_ports)),
            host_ips=None if self.host_ips is None else frozenset(self.host_ips),
            allowed_unsafe_sysctls=tuple(self.allowed_unsafe_sysctls),
            allow_unconfined_seccomp=self.allow_unconfined_seccomp,
        )


class InputConfig(Model):
    """``input:`` — what reading one manifest file may cost (manifests.InputLimits)."""

    max_file_bytes: Annotated[int, Field(ge=1)] = DEFAULT_LIMITS.max_bytes
    max_documents: Annotated[int, Field(ge=1)] = DEFAULT_LIMITS.max_documents
    max_depth: Annotated[int, Field(ge=1, le=1000)] = DEFAULT_LIMITS.max_depth
    max_nodes: Annotated[int, Field(ge=1)] = DEFAULT_LIMITS.max_nodes
    allow_external_symlinks: bool = False

    def to_limits(self) -> InputLimits:
        return InputLimits(
            self.max_file_bytes,
            self.max_documents,
            self.max_depth,
            self.max_nodes,
            self.allow_external_symlinks,
        )


class OperatorConfig(Model):
    """What an operator may set for every command (and for `run`)."""

    instance: DnsLabel | None = None
    docker_host: NonEmpty | None = None
    mode: Mode | None = None
    allowed_modes: list[Mode] | None = None  # what a manifest's spec.mode may choose
    default_runtime: NonEmpty | None = None  # for manifests that name no runtime
    allowed_runtimes: list[NonEmpty] | None = None  # None: any the daemon offers
    infra_image: NonEmpty | None = None
    seccomp_profile_dir: AbsolutePath | None = None  # Localhost seccomp profiles
    state_dir: NonEmpty | None = None
    resync: Seconds | None = None
    backoff_initial: Seconds | None = None
    backoff_max: Seconds | None = None
    eviction_interval: Annotated[float, Field(ge=0)] | None = None  # 0: sizeLimit not enforced
    policy: PolicyConfig = PolicyConfig()
    input: InputConfig = InputConfig()

    def default_map(self) -> dict[str, Any]:
        """click's default_map: global options at the top, `run`'s under "run"."""
        top = {
            "instance": self.instance,
            "docker_host": self.docker_host,
            "mode": self.mode.value if self.mode else None,
            "allowed_modes": ",".join(m.value for m in self.allowed_modes)
            if self.allowed_modes is not None
            else None,
            "default_runtime": self.default_runtime,
            "allowed_runtimes": ",".join(self.allowed_runtimes)
            if self.allowed_runtimes is not None
            else None,
            "infra_image": self.infra_image,
            "seccomp_profile_dir": self.seccomp_profile_dir,
        }
        run = {
            "state_dir": self.state_dir,
            "resync": self.resync,
            "backoff_initial": self.backoff_initial,
            "backoff_max": self.backoff_max,
            "eviction_interval": self.eviction_interval,
        }
        result: dict[str, Any] = {k: v for k, v in top.items() if v is not None}
        run = {k: v for k, v in run.items() if v is not None}
        if run:
            result["run"] = run
        return result


def load_config(path: Path) -> OperatorConfig:
    """Read and validate the file; raise ManifestError naming each problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError([Problem(Location(str(path)), "", f"cannot read: {exc}")]) from exc
    parsed, problems = parse_document(text, str(path))
    if parsed is None:
        if problems:
            raise ManifestError(problems)
        return OperatorConfig()
    if not isinstance(parsed.data, dict):
        raise ManifestError([Problem(parsed.start, "", "the configuration must be a mapping")])
    config, problems = validate(OperatorConfig, parsed, "unknown configuration key")
    if config is None:
        raise ManifestError(problems)
    return config
