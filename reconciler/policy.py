"""The security policy: what a manifest may ask of the host. Pure, no I/O.

Modeled on the Kubernetes Pod Security Standards: ``baseline`` (the default)
refuses what breaks out of a container unless the operator allows it;
``restricted`` adds the hardening a workload should have anyway;
``privileged`` checks nothing. ``check`` takes one manifest and the policy and
returns its violations; ``desired.build_units`` refuses a unit with any, so
nothing of it is created while the other units converge. Each rule is one
function over one field, listed in ``RULES`` with the levels it applies at
(docs/safety.md is the reference).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from reconciler.models import (
    ContainerFields,
    ContainerManifest,
    ContainerPort,
    SandboxManifest,
    Volume,
)


class Level(StrEnum):
    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"


# Pod Security Standards, baseline: capabilities a container may add unasked.
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
# ... and restricted: after dropping ALL, only this may come back.
RESTRICTED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})


@dataclass(frozen=True, slots=True, order=True)
class PortRange:
    low: int
    high: int

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.low <= port <= self.high

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


@dataclass(frozen=True, slots=True)
class Policy:
    """The effective policy (operator config ``policy:``, or ``--policy LEVEL``)."""

    level: Level = Level.BASELINE
    allow_privileged: bool = False
    allowed_host_paths: tuple[str, ...] = ()  # prefixes hostPath volumes may be under
    allowed_capabilities: frozenset[str] = frozenset()  # beyond the level's own set
    host_ports: tuple[PortRange, ...] | None = None  # None: any port
    host_ips: frozenset[str] | None = None  # None: any address (unset hostIP is 0.0.0.0)

    def describe(self) -> dict[str, object]:
        """What `reconciler policy` prints."""
        return {
            "level": self.level.value,
            "allowPrivileged": self.allow_privileged,
            "allowedHostPaths": list(self.allowed_host_paths),
            "allowedCapabilities": sorted(self.allowed_capabilities),
            "capabilitiesWithoutAsking": sorted(self._capabilities()),
            "hostPorts": "any" if self.host_ports is None else [str(r) for r in self.host_ports],
            "hostIPs": "any" if self.host_ips is None else sorted(self.host_ips),
            "rules": [
                {"rule": r.name, "field": r.field, "what": r.what}
                for r in RULES
                if self.level in r.levels or (r.always and self.level is not Level.PRIVILEGED)
            ],
        }

    def _capabilities(self) -> frozenset[str]:
        own = RESTRICTED_CAPABILITIES if self.level is Level.RESTRICTED else BASELINE_CAPABILITIES
        return own | self.allowed_capabilities


PRIVILEGED = Policy(Level.PRIVILEGED)
BASELINE = Policy(Level.BASELINE)
RESTRICTED = Policy(Level.RESTRICTED)


@dataclass(frozen=True, slots=True)
class Violation:
    field: str  # spec.containers[0].securityContext.privileged
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message} (rule {self.rule})"


@dataclass(frozen=True, slots=True)
class _Container:
    at: str  # the field path of the container: spec, spec.containers[1], ...
    fields: ContainerFields


@dataclass(frozen=True, slots=True)
class _Unit:
    """What the rules read of one manifest."""

    containers: tuple[_Container, ...]
    volumes: tuple[tuple[str, Volume], ...]
    ports: tuple[tuple[str, ContainerPort], ...]


Found = Iterator[tuple[str, str]]  # (field, message)


def _privileged(unit: _Unit, policy: Policy) -> Found:
    if policy.allow_privileged:
        return
    for c in unit.containers:
        if c.fields.security_context and c.fields.security_context.privileged:
            yield (
                f"{c.at}.securityContext.privileged",
                "a privileged container has every capability and the host's devices "
                "(allow: policy.allowPrivileged)",
            )


def _capability(name: str) -> str:
    return name.upper().removeprefix("CAP_")


def _capabilities(unit: _Unit, policy: Policy) -> Found:
    allowed = policy._capabilities()
    for c in unit.containers:
        sc = c.fields.security_context
        for i, cap in enumerate(sc.capabilities.add if sc else []):
            if _capability(cap) not in allowed:
                yield (
                    f"{c.at}.securityContext.capabilities.add[{i}]",
                    f"capability {cap} is beyond the {policy.level} set "
                    "(allow: policy.allowedCapabilities)",
                )


def _host_path(unit: _Unit, policy: Policy) -> Found:
    for at, volume in unit.volumes:
        if volume.host_path is None:
            continue
        path = _normal(volume.host_path.path)
        if not any(_under(path, prefix) for prefix in policy.allowed_host_paths):
            allowed = ", ".join(policy.allowed_host_paths) or "none"
            yield (
                f"{at}.hostPath.path",
                f"hostPath {volume.host_path.path} is outside the allowed prefixes ({allowed}) "
                "(allow: policy.allowedHostPaths)",
            )


def _normal(path: str) -> str:
    # normpath keeps a leading '//' (POSIX lets it mean something else); the kernel does not.
    return "/" + posixpath.normpath(path).lstrip("/")


def _under(path: str, prefix: str) -> bool:
    prefix = _normal(prefix)
    return prefix in ("/", path) or path.startswith(prefix + "/")


def _host_ports(unit: _Unit, policy: Policy) -> Found:
    for at, port in unit.ports:
        if port.host_port is None:
            continue
        if policy.host_ports is not None and not any(
            port.host_port in r for r in policy.host_ports
        ):
            ranges = ", ".join(str(r) for r in policy.host_ports) or "none"
            yield (
                f"{at}.hostPort",
                f"host port {port.host_port} is outside the allowed ranges ({ranges}) "
                "(allow: policy.hostPorts)",
            )
        address = port.host_ip or "0.0.0.0"
        if policy.host_ips is not None and address not in policy.host_ips:
            yield (
                f"{at}.hostIP",
                f"host address {address} is not allowed ({', '.join(sorted(policy.host_ips))}) "
                "(allow: policy.hostIPs)",
            )


def _non_root(unit: _Unit, policy: Policy) -> Found:
    for c in unit.containers:
        sc = c.fields.security_context
        if sc is None or sc.run_as_user is None or sc.run_as_user == 0:
            yield (
                f"{c.at}.securityContext.runAsUser",
                "must run as a non-root user: set runAsUser to a uid other than 0",
            )


def _drop_all(unit: _Unit, policy: Policy) -> Found:
    for c in unit.containers:
        sc = c.fields.security_context
        if sc is None or "ALL" not in {_capability(d) for d in sc.capabilities.drop}:
            yield (f"{c.at}.securityContext.capabilities.drop", "must drop ALL capabilities")


def _no_escalation(unit: _Unit, policy: Policy) -> Found:
    for c in unit.containers:
        sc = c.fields.security_context
        if sc is None or sc.allow_privilege_escalation is not False:
            yield (
                f"{c.at}.securityContext.allowPrivilegeEscalation",
                "must be false (no privilege escalation)",
            )


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    field: str  # the field it reads, for people
    what: str
    levels: frozenset[Level]
    check: Callable[[_Unit, Policy], Found]
    always: bool = False  # an operator's explicit restriction: every level but privileged


_SECURE = frozenset({Level.BASELINE, Level.RESTRICTED})
_RESTRICTED = frozenset({Level.RESTRICTED})

RULES: tuple[Rule, ...] = (
    Rule(
        "privileged", "securityContext.privileged", "no privileged containers", _SECURE, _privileged
    ),
    Rule(
        "capabilities",
        "securityContext.capabilities.add",
        "add only the level's capabilities (and policy.allowedCapabilities)",
        _SECURE,
        _capabilities,
    ),
    Rule(
        "hostPath",
        "volumes[].hostPath.path",
        "hostPath volumes only under policy.allowedHostPaths",
        _SECURE,
        _host_path,
    ),
    Rule(
        "hostPorts",
        "ports[].hostPort, ports[].hostIP",
        "host ports within policy.hostPorts and on policy.hostIPs (when set)",
        frozenset(),
        _host_ports,
        always=True,
    ),
    Rule(
        "runAsNonRoot",
        "securityContext.runAsUser",
        "run as a uid other than 0",
        _RESTRICTED,
        _non_root,
    ),
    Rule(
        "dropAll",
        "securityContext.capabilities.drop",
        "drop ALL capabilities",
        _RESTRICTED,
        _drop_all,
    ),
    Rule(
        "noPrivilegeEscalation",
        "securityContext.allowPrivilegeEscalation",
        "allowPrivilegeEscalation: false",
        _RESTRICTED,
        _no_escalation,
    ),
    # seccomp: Docker applies its default profile to every container this tool
    # creates, and no manifest field can turn it off yet: restricted's "a
    # seccomp profile" always holds. See docs/safety.md for the rules to come.
)


def _unit(manifest: SandboxManifest | ContainerManifest) -> _Unit:
    spec = manifest.spec
    if isinstance(manifest, ContainerManifest):
        assert isinstance(spec, ContainerFields)
        return _Unit(
            (_Container("spec", spec),),
            tuple((f"spec.volumes[{i}]", v) for i, v in enumerate(spec.volumes)),
            tuple((f"spec.ports[{i}]", p) for i, p in enumerate(spec.ports)),
        )
    sandbox = manifest.spec
    containers = [
        *(
            _Container(f"spec.initContainers[{i}]", c)
            for i, c in enumerate(sandbox.init_containers)
        ),
        *(_Container(f"spec.containers[{i}]", c) for i, c in enumerate(sandbox.containers)),
    ]
    ports = [(f"spec.ports[{i}]", p) for i, p in enumerate(sandbox.ports)]
    ports += [(f"{c.at}.ports[{i}]", p) for c in containers for i, p in enumerate(c.fields.ports)]
    return _Unit(
        tuple(containers),
        tuple((f"spec.volumes[{i}]", v) for i, v in enumerate(sandbox.volumes)),
        tuple(ports),
    )


def check(manifest: SandboxManifest | ContainerManifest, policy: Policy) -> list[Violation]:
    """Every way ``manifest`` breaks ``policy`` (none at level privileged)."""
    if policy.level is Level.PRIVILEGED:
        return []
    unit = _unit(manifest)
    return [
        Violation(field, rule.name, message)
        for rule in RULES
        if policy.level in rule.levels or rule.always
        for field, message in rule.check(unit, policy)
    ]


def refusal(violations: list[Violation], source: str, policy: Policy) -> str:
    """Why a unit is refused: the file, each field and rule, and the level."""
    listed = "; ".join(str(v) for v in violations)
    return f"refused by policy {policy.level} in {source}: {listed}"
