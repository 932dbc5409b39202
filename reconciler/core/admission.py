"""Admission: whether each compiled unit may run at all, decided before planning. No I/O.

Every refusal that needs no observed container is made here, in this order,
the first that applies naming the unit's reason:

1. the security policy (policy.py), over the manifest's own fields;
2. the mode: what the driver runs, and what ``spec.mode`` may pick;
3. the runtime profiles against the shared namespaces the driver vouches for (runtimes.py);
4. the operator's ``allowedRuntimes``;
5. a host port another manifest, admitted before it, publishes;
6. the runtimes the engine offers, when they are known.

A runtime the engine lacks comes after the port check: which unit holds a
host port depends on the manifests, never on what the engine has installed.
What needs observed containers (owners, names taken by unmanaged containers,
host ports published by a running container) stays with the planner.
``admit`` is the one entry; `validate`, `apply`, `diff`, `sync` and the
control loop all call it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.core.effective import (
    BuildConfig,
    Compiled,
    Desired,
    DesiredUnit,
    PortSpec,
    UnitKey,
    build_units,
    ports_overlap,
    published,
)
from reconciler.core.models import ContainerManifest, Mode, Namespace, SandboxManifest
from reconciler.core.policy import check as policy_check
from reconciler.core.policy import refusal as policy_refusal
from reconciler.core.runtimes import (
    SandboxKind,
    sharing_notes,
    sharing_problems,
    unavailable,
)


@dataclass(frozen=True, slots=True)
class _Verdict:
    refusal: str | None = None
    notes: tuple[str, ...] = ()


def admit(
    compiled: Sequence[Compiled], config: BuildConfig, offered: frozenset[str] | None
) -> Desired:
    """The units that may run, the refused ones with why, and notes on what admitted ones give up.

    ``config.driver`` is the driver's declared capabilities; ``offered`` the
    runtimes the engine offers (None: not known, e.g. `validate` without a
    daemon, or only runc asked for); ``config.policy`` the security policy.
    """
    admitted: list[DesiredUnit] = []
    refused: list[tuple[UnitKey, str]] = []
    notes: list[tuple[UnitKey, str]] = []
    for candidate in compiled:
        unit = candidate.unit
        verdict = _static(candidate, config)
        refusal = verdict.refusal
        if refusal is None:
            refusal = next((c for u in admitted if (c := port_clash(unit, u)) is not None), None)
        if refusal is None:
            admitted.append(unit)
            notes.extend((unit.key, n) for n in verdict.notes)
        else:
            refused.append((unit.key, refusal))
    # What the engine lacks refuses last: those units still hold their host ports.
    missing = {
        u.key: problems
        for u in admitted
        if offered is not None and (problems := unavailable(u.runtimes, offered, config.driver))
    }
    refused += [(key, "; ".join(problems)) for key, problems in missing.items()]
    order = {c.unit.key: i for i, c in enumerate(compiled)}
    return Desired(
        tuple(u for u in admitted if u.key not in missing),
        tuple(sorted(refused, key=lambda r: order[r[0]])),
        tuple((key, note) for key, note in notes if key not in missing),
        offered,
    )


def compile_and_admit(
    manifests: Sequence[tuple[SandboxManifest | ContainerManifest, str]],
    config: BuildConfig,
    offered: frozenset[str] | None = None,
) -> Desired:
    """Compile and admit in one step: for callers that have no engine to ask (tests, tools)."""
    return admit(build_units(manifests, config), config, offered)


def _static(candidate: Compiled, config: BuildConfig) -> _Verdict:
    """Why the unit may not run whatever the engine holds (policy, mode, sharing, runtimes)."""
    unit, manifest = candidate.unit, candidate.manifest
    violations = policy_check(manifest, config.policy)
    if violations:
        return _Verdict(policy_refusal(violations, unit.source, config.policy))
    verdict = _Verdict()
    if isinstance(manifest, SandboxManifest):
        problem = _mode(unit.mode, candidate.asked_mode, config)
        verdict = _Verdict(problem) if problem is not None else _capable(unit, config)
        if verdict.refusal is not None:
            return verdict
    allowed = config.allowed_runtimes
    if allowed is not None and unit.runtimes - allowed:
        return _Verdict(
            f"runtime(s) {', '.join(sorted(unit.runtimes - allowed))} "
            f"not allowed by the operator (allowedRuntimes: {', '.join(sorted(allowed)) or 'none'})"
        )
    return verdict


def _mode(mode: Mode, asked: Mode | None, config: BuildConfig) -> str | None:
    """Why a sandbox may not run in ``mode`` (``asked`` by its spec.mode, or the default)."""
    if mode not in config.driver.modes:
        return f"the {config.driver.name} driver cannot run mode {mode}"
    if asked is None:
        return None
    allowed = config.allowed_modes if config.allowed_modes is not None else {config.mode}
    if asked not in allowed:
        return (
            f"spec.mode {asked} is not allowed by the operator (allowedModes: "
            f"{', '.join(sorted(m.value for m in allowed))})"
        )
    return None


def _capable(unit: DesiredUnit, config: BuildConfig) -> _Verdict:
    """Why a sandbox cannot run as compiled (or None), and notes on what it gives up."""
    if unit.mode is Mode.STANDALONE or unit.infra is None:  # its one container owns them all
        if len(unit.members) != 1:
            return _Verdict(
                f"standalone mode runs a Sandbox with exactly one container, this one has "
                f"{len(unit.members)}: without an infra there is nothing for them to share "
                "(use --mode container-in-sandbox)"
            )
        return _Verdict()
    runtime = unit.infra.spec.runtime
    share = [Namespace(s) for s in unit.infra.spec.share]
    runtimes = [(m.name, m.spec.runtime) for m in unit.members]
    if config.driver.sandbox is SandboxKind.ENGINE_POD:
        privileged = [m.name for m in unit.members if m.spec.privileged]
        problem = _one_pod(runtime, runtimes, share, privileged, config.driver.name)
        if problem is not None:
            return _Verdict(problem)
    problems = sharing_problems(runtime, runtimes, share, config.driver.profiles)
    if problems:
        return _Verdict(
            "; ".join(problems) + "; what would work: share only what every runtime lends "
            "and joins (e.g. share: [network] with runsc), or run it standalone"
        )
    return _Verdict(notes=tuple(sharing_notes(runtime, runtimes, share, config.driver.profiles)))


def _one_pod(
    runtime: str,
    members: Sequence[tuple[str, str]],
    share: Sequence[Namespace],
    privileged: Sequence[str],
    driver: str,
) -> str | None:
    """Why a sandbox cannot be one engine pod: the engine runs one runtime handler per
    pod (a CRI pod cannot mix them), puts every container in the pod's IPC
    namespace (containerd 1.6 has no per-container IPC namespace: measured), and
    runs a privileged container only in a privileged pod, which this driver does
    not make."""
    mixed = [f"container {name} asks for {r}" for name, r in members if r != runtime]
    if mixed:
        return (
            f"the {driver} driver runs one runtime handler per pod and this pod's is "
            f"{runtime}: {', '.join(mixed)} (a CRI pod cannot mix runtimes; drop the "
            "per-container runtime, or run it as a pod of its own)"
        )
    if Namespace.IPC not in share:
        return (
            f"the {driver} driver puts every container of a pod in the pod's IPC namespace "
            "(CRI has no container-level IPC namespace): add ipc to share, or run the "
            "containers as pods of their own"
        )
    if privileged:
        return (
            f"the {driver} driver does not run privileged containers ({', '.join(privileged)}): "
            'containerd runs one only in a privileged pod sandbox ("no privileged container '
            'allowed in sandbox")'
        )
    return None


def port_clash(unit: DesiredUnit, other: DesiredUnit) -> str | None:
    """Why ``unit`` cannot publish its ports beside ``other`` (admitted before it), or None."""
    for mine in published(unit):
        for theirs in published(other):
            assert theirs.host_port is not None
            if ports_overlap(mine, theirs.host_ip, theirs.host_port, theirs.protocol):
                return (
                    f"host port {_binding(mine)} ({unit.source}) is also published by "
                    f"{other.key} ({other.source}); one host port takes one unit"
                )
    return None


def _binding(port: PortSpec) -> str:
    return f"{port.host_ip or '0.0.0.0'}:{port.host_port}/{port.protocol}"


__all__ = ["admit", "compile_and_admit", "port_clash"]
