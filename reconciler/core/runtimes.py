"""What a driver declares it can give, and the checks that refuse the rest. No I/O.

A sandbox is only as real as the namespaces its members truly share. Each
runtime has a profile under each engine: where its isolation boundary is,
which namespaces a container of it can lend to others (as an infra) and
join (as a member). The profiles are facts measured on each engine, so each
driver declares its own (drivers/docker/capabilities.py,
drivers/cri/capabilities.py) in its ``DriverCapabilities``, with the
features of a unit (spec.Feature) its engine cannot give and why. This
module holds the types and the checks admission runs against them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from reconciler.core.models import Mode, Namespace
from reconciler.core.spec import Feature

NET, IPC, PID = Namespace.NETWORK, Namespace.IPC, Namespace.PID

# The names each runtime goes by: under Docker, in CRI handlers, in containerd shims.
ALIASES: dict[str, tuple[str, ...]] = {
    "runc": ("runc", "io.containerd.runc.v2", "crun"),
    "runsc": ("runsc", "gvisor", "io.containerd.runsc.v1"),
    "kata": ("kata", "kata-runtime", "kata-qemu", "kata-fc", "kata-clh", "io.containerd.kata.v2"),
}


@dataclass(frozen=True, slots=True)
class RuntimeProfile:
    name: str
    aliases: tuple[str, ...]
    boundary: str  # where the isolation boundary is, for people
    lends: frozenset[Namespace]  # what an infra of this runtime can really lend
    joins: frozenset[Namespace]  # what a member of this runtime can really join
    why_not: dict[Namespace, str]  # why a namespace cannot be shared
    network_note: str = ""  # what sharing the network costs in isolation


class SandboxKind(StrEnum):
    """What holds a sandbox's shared namespaces under a driver."""

    # A container of the driver's own (the infra image) that the members join
    # with --net/--ipc/--pid=container: (Docker).
    INFRA_CONTAINER = "infra-container"
    # The engine's own pod sandbox, made and removed as one (CRI RunPodSandbox).
    ENGINE_POD = "engine-pod"


@dataclass(frozen=True, slots=True)
class DriverCapabilities:
    """What a driver can provide, known without connecting to its engine: the modes it
    runs, the runtime profiles it vouches for, and what a sandbox is for it."""

    name: str
    modes: frozenset[Mode]
    profiles: tuple[RuntimeProfile, ...]
    sandbox: SandboxKind = SandboxKind.INFRA_CONTAINER
    # Whether a stopped container can be started again in place, and an infra
    # restarted with its members rejoining it (Docker). Under CRI neither: a
    # restart is a new container (the next attempt), a dead pod is rebuilt.
    in_place: bool = True
    engine: str = "the Docker daemon"  # what offers the runtimes, for refusals
    # What units may ask that this engine cannot give, each with why: admission
    # refuses a unit that uses one, naming the field, before anything is created.
    lacks: Mapping[Feature, str] = field(default_factory=dict)
    # Whether it has one flat space of container names, which others may hold (Docker).
    names_clash: bool = True
    # What to say of a runtime (by profile name) the engine does not offer.
    missing: Mapping[str, str] = field(default_factory=dict)


def profile(runtime: str, profiles: tuple[RuntimeProfile, ...]) -> RuntimeProfile | None:
    return next((p for p in profiles if runtime in p.aliases), None)


def sharing_problems(
    infra_runtime: str,
    members: Iterable[tuple[str, str]],
    share: Iterable[Namespace],
    profiles: tuple[RuntimeProfile, ...],
) -> list[str]:
    """Why members (name, runtime) cannot really share ``share`` with the infra; [] if they can."""
    problems: list[str] = []
    infra = profile(infra_runtime, profiles)
    if infra is None:
        return [_unknown(infra_runtime, "infra", profiles)]
    for namespace in share:
        if namespace not in infra.lends:
            problems.append(
                f"a {infra_runtime} infra cannot lend its {namespace} namespace: "
                f"{infra.why_not[namespace]}"
            )
    for name, runtime in members:
        member = profile(runtime, profiles)
        if member is None:
            problems.append(_unknown(runtime, f"container {name}", profiles))
            continue
        for namespace in share:
            if namespace in infra.lends and namespace not in member.joins:
                problems.append(
                    f"container {name} ({runtime}) cannot join the {namespace} namespace: "
                    f"{member.why_not[namespace]}"
                )
    return problems


def sharing_notes(
    infra_runtime: str,
    members: Iterable[tuple[str, str]],
    share: Iterable[Namespace],
    profiles: tuple[RuntimeProfile, ...],
) -> list[str]:
    """What a combination that works gives up, for `validate` to say."""
    notes: list[str] = []
    runtimes = {infra_runtime, *(r for _, r in members)}
    shared = set(share)
    for runtime in sorted(runtimes):
        p = profile(runtime, profiles)
        if p is not None and p.network_note and NET in shared:
            notes.append(p.network_note)
    if len(runtimes) > 1:
        boundaries = ", ".join(
            f"{r}: {p.boundary}"
            for r in sorted(runtimes)
            if (p := profile(r, profiles)) is not None
        )
        notes.append(
            f"mixed runtimes share the {', '.join(sorted(str(n) for n in shared))} "
            f"namespace(s) across isolation boundaries ({boundaries}); a shared namespace "
            "is only as isolated as the weakest of them"
        )
    return notes


def _unknown(runtime: str, what: str, profiles: tuple[RuntimeProfile, ...]) -> str:
    known = ", ".join(p.name for p in profiles)
    return (
        f"{what}: no capability profile for runtime {runtime!r} (known: {known}), so whether "
        "sharing namespaces with it is real cannot be told; run it standalone"
    )


def unavailable(
    runtimes: Iterable[str], offered: frozenset[str], driver: DriverCapabilities
) -> list[str]:
    """Runtimes the engine does not offer, each with what would work."""
    problems = []
    for runtime in sorted(set(runtimes)):
        if runtime in offered:
            continue
        p = profile(runtime, driver.profiles)
        hint = f" ({driver.missing[p.name]})" if p is not None and p.name in driver.missing else ""
        problems.append(
            f"runtime {runtime!r} is not offered by {driver.engine}{hint}; "
            f"it offers: {', '.join(sorted(offered)) or 'none'}"
        )
    return problems
