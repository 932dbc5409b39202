"""The security policy: what a manifest may ask of the host. Pure, no I/O.

Modeled on the Kubernetes Pod Security Standards: ``baseline`` (the default)
refuses what breaks out of a container unless the operator allows it;
``restricted`` adds the hardening a workload should have anyway;
``privileged`` checks nothing. ``check`` takes one manifest and the policy and
returns its violations; ``admission.admit`` refuses a unit with any, so
nothing of it is created while the other units converge. Each rule is one
function over one field, listed in ``RULES`` with the levels it applies at
(docs/safety.md is the reference).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from reconciler.core.models import (
    ContainerFields,
    ContainerManifest,
    ContainerPort,
    PodSecurityContext,
    SandboxManifest,
    SecurityContext,
    Volume,
    effective_security,
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
# Pod Security Standards, baseline: the sysctls that are safe (isolated per pod,
# no effect on other pods or the host). The models only accept namespaced ones.
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ping_group_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)


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
    # Namespaced sysctls beyond the safe set; "net.core.*" allows a prefix.
    allowed_unsafe_sysctls: tuple[str, ...] = ()
    allow_unconfined_seccomp: bool = False

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
            "allowedUnsafeSysctls": list(self.allowed_unsafe_sysctls),
            "allowUnconfinedSeccomp": self.allow_unconfined_seccomp,
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
    security: SecurityContext  # effective: the pod's securityContext fills what it leaves

    def field(self, name: str, pod: PodSecurityContext | None) -> str:
        """Where ``name`` of the effective securityContext was set (container, else pod)."""
        own = self.fields.security_context
        if (own is None or getattr(own, name) is None) and pod and getattr(pod, name) is not None:
            return f"spec.securityContext.{_camel(name)}"
        return f"{self.at}.securityContext.{_camel(name)}"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True, slots=True)
class _Unit:
    """What the rules read of one manifest."""

    containers: tuple[_Container, ...]
    volumes: tuple[tuple[str, Volume], ...]
    ports: tuple[tuple[str, ContainerPort], ...]
    pod: PodSecurityContext | None = None  # a sandbox's pod-level securityContext


Found = Iterator[tuple[str, str]]  # (field, message)


def _privileged(unit: _Unit, policy: Policy) -> Found:
    if policy.allow_privileged:
        return
    for c in unit.containers:
        if c.security.privileged:
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
        for i, cap in enumerate(c.security.capabilities.add):
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


def _seccomp_unconfined(unit: _Unit, policy: Policy) -> Found:
    if policy.allow_unconfined_seccomp:
        return
    for c in unit.containers:
        profile = c.security.seccomp_profile
        if profile is not None and profile.type == "Unconfined":
            yield (
                c.field("seccomp_profile", unit.pod) + ".type",
                "an unconfined container may make every system call (use RuntimeDefault; "
                "allow: policy.allowUnconfinedSeccomp)",
            )


def _unsafe_sysctls(unit: _Unit, policy: Policy) -> Found:
    for i, sysctl in enumerate(unit.pod.sysctls if unit.pod else []):
        if sysctl.name in SAFE_SYSCTLS or any(
            sysctl.name == allowed
            or (allowed.endswith("*") and sysctl.name.startswith(allowed[:-1]))
            for allowed in policy.allowed_unsafe_sysctls
        ):
            continue
        yield (
            f"spec.securityContext.sysctls[{i}].name",
            f"sysctl {sysctl.name} is not in the safe set (allow: policy.allowedUnsafeSysctls)",
        )


def _seccomp_set(unit: _Unit, policy: Policy) -> Found:
    for c in unit.containers:
        if c.security.seccomp_profile is None:
            yield (
                f"{c.at}.securityContext.seccompProfile",
                "must name a seccomp profile (type: RuntimeDefault or Localhost), here or for "
                "the pod",
            )


def _non_root(unit: _Unit, policy: Policy) -> Found:
    for c in unit.containers:
        sc = c.security
        if sc.run_as_user == 0:
            yield (c.field("run_as_user", unit.pod), "must not run as uid 0 (root)")
        elif sc.run_as_user is None and not sc.run_as_non_root:
            yield (
                f"{c.at}.securityContext.runAsNonRoot",
                "must run as a non-root user: set runAsNonRoot: true or a runAsUser other than 0",
            )


def _drop_all(unit: _Unit, policy: Policy) -> Found:
    for c in unit.containers:
        if "ALL" not in {_capability(d) for d in c.security.capabilities.drop}:
            yield (f"{c.at}.securityContext.capabilities.drop", "must drop ALL capabilities")


def _no_escalation(unit: _Unit, policy: Policy) -> Found:
    for c in unit.containers:
        if c.security.allow_privilege_escalation is not False:
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
        "seccomp",
        "securityContext.seccompProfile.type",
        "no Unconfined seccomp profile",
        _SECURE,
        _seccomp_unconfined,
    ),
    Rule(
        "sysctls",
        "spec.securityContext.sysctls[].name",
        "only the safe sysctls (and policy.allowedUnsafeSysctls)",
        _SECURE,
        _unsafe_sysctls,
    ),
    Rule(
        "runAsNonRoot",
        "securityContext.runAsNonRoot, securityContext.runAsUser",
        "runAsNonRoot: true or a uid other than 0; never uid 0",
        _RESTRICTED,
        _non_root,
    ),
    Rule(
        "seccompProfile",
        "securityContext.seccompProfile",
        "name a seccomp profile (RuntimeDefault or Localhost)",
        _RESTRICTED,
        _seccomp_set,
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
    # Host namespaces (hostNetwork/PID/IPC), procMount, AppArmor profiles and
    # devices (volumeDevices) never load (kubefields.VERDICTS): refused
    # at every level before a policy is asked.
)


def _unit(manifest: SandboxManifest | ContainerManifest) -> _Unit:
    spec = manifest.spec
    if isinstance(manifest, ContainerManifest):
        assert isinstance(spec, ContainerFields)
        return _Unit(
            (_Container("spec", spec, effective_security(None, spec.security_context)),),
            tuple((f"spec.volumes[{i}]", v) for i, v in enumerate(spec.volumes)),
            tuple((f"spec.ports[{i}]", p) for i, p in enumerate(spec.ports)),
        )
    sandbox = manifest.spec
    pod = sandbox.security_context
    containers = [
        _Container(at, c, effective_security(pod, c.security_context))
        for at, c in [
            *((f"spec.initContainers[{i}]", c) for i, c in enumerate(sandbox.init_containers)),
            *((f"spec.containers[{i}]", c) for i, c in enumerate(sandbox.containers)),
        ]
    ]
    ports = [(f"spec.ports[{i}]", p) for i, p in enumerate(sandbox.ports)]
    ports += [(f"{c.at}.ports[{i}]", p) for c in containers for i, p in enumerate(c.fields.ports)]
    return _Unit(
        tuple(containers),
        tuple((f"spec.volumes[{i}]", v) for i, v in enumerate(sandbox.volumes)),
        tuple(ports),
        pod,
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
