"""What each OCI runtime can really share, and the check that refuses the rest. No I/O.

A sandbox is only as real as the namespaces its members truly share. Each
runtime has a profile: where its isolation boundary is, which namespaces a
container of it can lend to others (as an infra) and join (as a member).
Facts measured on Docker 20.10 with Debian's runsc (see docs/isolation.md and
tests/integration/test_runtimes.py): runsc runs only with ``--network=host``
here, so a runsc container does share a network namespace (gVisor's own
network stack is then bypassed), but every runsc container has its own gVisor
kernel, so IPC and PID "sharing" is accepted by Docker and shares nothing
(``ps`` in one shows only its own processes). Kata under Docker is a VM per
container: ``--net=container:`` is unsupported, ``--pid=container:`` shows
nothing and ``--ipc=container:`` is silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from reconciler.core.models import Mode, Namespace

NET, IPC, PID = Namespace.NETWORK, Namespace.IPC, Namespace.PID


@dataclass(frozen=True, slots=True)
class RuntimeProfile:
    name: str
    aliases: tuple[str, ...]
    boundary: str  # where the isolation boundary is, for people
    lends: frozenset[Namespace]  # what an infra of this runtime can really lend
    joins: frozenset[Namespace]  # what a member of this runtime can really join
    why_not: dict[Namespace, str]  # why a namespace cannot be shared
    network_note: str = ""  # what sharing the network costs in isolation


PROFILES: tuple[RuntimeProfile, ...] = (
    RuntimeProfile(
        name="runc",
        aliases=("runc", "io.containerd.runc.v2", "crun"),
        boundary="namespaces and cgroups on the shared host kernel",
        lends=frozenset({NET, IPC, PID}),
        joins=frozenset({NET, IPC, PID}),
        why_not={},
    ),
    RuntimeProfile(
        name="runsc",
        aliases=("runsc", "gvisor", "io.containerd.runsc.v1"),
        boundary="a gVisor user-space kernel per container",
        lends=frozenset({NET}),
        joins=frozenset({NET}),
        why_not={
            IPC: "every runsc container runs its own gVisor kernel, which keeps its own IPC "
            "objects: Docker accepts --ipc=container: and nothing is shared",
            PID: "every runsc container runs its own gVisor kernel with its own process "
            "table: Docker accepts --pid=container: and `ps` shows only its own processes",
        },
        network_note="runsc shares a network namespace only with --network=host: gVisor's own "
        "network stack is bypassed and packets go through the host kernel's",
    ),
    RuntimeProfile(
        name="kata",
        aliases=(
            "kata",
            "kata-runtime",
            "kata-qemu",
            "kata-fc",
            "kata-clh",
            "io.containerd.kata.v2",
        ),
        boundary="a lightweight VM per container",
        lends=frozenset(),
        joins=frozenset(),
        why_not={
            NET: "under Docker every Kata container is its own VM: --net=container: is "
            "unsupported (Kata would take over the other container's interfaces)",
            IPC: "under Docker every Kata container is its own VM: --ipc=container: is "
            "silently ignored",
            PID: "under Docker every Kata container is its own VM: --pid=container: shows "
            "no other process",
        },
    ),
)


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


# The Docker driver (drivers/docker.py) runs both modes; the profiles above are
# measured, or documented, under Docker: Kata and gVisor behave otherwise under
# a CRI runtime that can group containers into one sandbox.
DOCKER = DriverCapabilities("docker", frozenset(Mode), PROFILES, SandboxKind.INFRA_CONTAINER)

# Under CRI the runtime handler makes the pod sandbox the isolation boundary:
# runc a pod of namespaces, runsc one gVisor kernel for the pod, Kata one VM
# for the pod, so every namespace a pod shares is really shared (measured for
# runc and runsc in tests/integration/test_cri_driver.py; Kata documented).
CRI_PROFILES: tuple[RuntimeProfile, ...] = (
    RuntimeProfile(
        name="runc",
        aliases=PROFILES[0].aliases,
        boundary="a pod of namespaces and cgroups on the shared host kernel",
        lends=frozenset({NET, IPC, PID}),
        joins=frozenset({NET, IPC, PID}),
        why_not={},
    ),
    RuntimeProfile(
        name="runsc",
        aliases=PROFILES[1].aliases,
        boundary="one gVisor user-space kernel for the whole pod",
        lends=frozenset({NET, IPC, PID}),
        joins=frozenset({NET, IPC, PID}),
        why_not={},
        network_note="runsc pods run with --network=host inside the pod's network namespace "
        "(scripts/runsc-cri-adapter, where gVisor's own shim is not installed): gVisor's own "
        "network stack is bypassed",
    ),
    RuntimeProfile(
        name="kata",
        aliases=PROFILES[2].aliases,
        boundary="one lightweight VM for the whole pod",
        lends=frozenset({NET, IPC, PID}),
        joins=frozenset({NET, IPC, PID}),
        why_not={},
    ),
)

# The CRI driver (drivers/cri.py): a Sandbox is the engine's pod sandbox, with one
# runtime handler for the whole pod; a kind: Container runs as a one-container pod.
CRI = DriverCapabilities(
    "cri",
    frozenset({Mode.CONTAINER_IN_SANDBOX}),
    CRI_PROFILES,
    SandboxKind.ENGINE_POD,
    in_place=False,
    engine="the CRI runtime",
)


def profile(runtime: str, profiles: tuple[RuntimeProfile, ...] = PROFILES) -> RuntimeProfile | None:
    return next((p for p in profiles if runtime in p.aliases), None)


def sharing_problems(
    infra_runtime: str,
    members: Iterable[tuple[str, str]],
    share: Iterable[Namespace],
    profiles: tuple[RuntimeProfile, ...] = PROFILES,
) -> list[str]:
    """Why members (name, runtime) cannot really share ``share`` with the infra; [] if they can."""
    problems: list[str] = []
    infra = profile(infra_runtime, profiles)
    if infra is None:
        return [_unknown(infra_runtime, "infra")]
    for namespace in share:
        if namespace not in infra.lends:
            problems.append(
                f"a {infra_runtime} infra cannot lend its {namespace} namespace: "
                f"{infra.why_not[namespace]}"
            )
    for name, runtime in members:
        member = profile(runtime, profiles)
        if member is None:
            problems.append(_unknown(runtime, f"container {name}"))
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
    profiles: tuple[RuntimeProfile, ...] = PROFILES,
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


def _unknown(runtime: str, what: str) -> str:
    known = ", ".join(p.name for p in PROFILES)
    return (
        f"{what}: no capability profile for runtime {runtime!r} (known: {known}), so whether "
        "sharing namespaces with it is real cannot be told; run it standalone"
    )


def unavailable(
    runtimes: Iterable[str], offered: frozenset[str], driver: DriverCapabilities = DOCKER
) -> list[str]:
    """Runtimes the engine does not offer, each with what would work."""
    problems = []
    where = "this Docker host" if driver.sandbox is SandboxKind.INFRA_CONTAINER else None
    for runtime in sorted(set(runtimes)):
        if runtime in offered:
            continue
        hint = ""
        p = profile(runtime)
        if p is not None and p.name == "kata":
            hint = (
                f" (Kata Containers is not installed on {where})"
                if where
                else " (no Kata runtime handler, containerd-shim-kata-v2, is configured here)"
            )
        problems.append(
            f"runtime {runtime!r} is not offered by {driver.engine}{hint}; "
            f"it offers: {', '.join(sorted(offered)) or 'none'}"
        )
    return problems
