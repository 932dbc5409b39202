"""What the Docker driver can give: both modes, the runtime profiles measured under it. No I/O.

Facts measured on Docker 20.10 with Debian's runsc (docs/isolation.md,
tests/integration/test_runtimes.py): runsc runs only with ``--network=host``
here, so a runsc container does share a network namespace (gVisor's own
network stack is then bypassed), but every runsc container has its own gVisor
kernel, so IPC and PID "sharing" is accepted by Docker and shares nothing
(``ps`` in one shows only its own processes). Kata under Docker is a VM per
container: ``--net=container:`` is unsupported, ``--pid=container:`` shows
nothing and ``--ipc=container:`` is silently ignored.

Docker lacks one feature outright: a subPath of a memory emptyDir (a tmpfs
is mounted whole). Whether it can limit a container's writable layer
(limits.ephemeral-storage) depends on its storage driver, which only the
daemon knows: the driver's ``facts`` tell admission.
"""

from __future__ import annotations

from reconciler.core.models import Mode, Namespace
from reconciler.core.runtimes import ALIASES, DriverCapabilities, RuntimeProfile, SandboxKind
from reconciler.core.spec import Feature

NET, IPC, PID = Namespace.NETWORK, Namespace.IPC, Namespace.PID

PROFILES: tuple[RuntimeProfile, ...] = (
    RuntimeProfile(
        name="runc",
        aliases=ALIASES["runc"],
        boundary="namespaces and cgroups on the shared host kernel",
        lends=frozenset({NET, IPC, PID}),
        joins=frozenset({NET, IPC, PID}),
        why_not={},
    ),
    RuntimeProfile(
        name="runsc",
        aliases=ALIASES["runsc"],
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
        aliases=ALIASES["kata"],
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

DOCKER = DriverCapabilities(
    "docker",
    frozenset(Mode),
    PROFILES,
    SandboxKind.INFRA_CONTAINER,
    lacks={
        Feature.MEMORY_SUB_PATH: "Docker mounts a tmpfs whole: mount the emptyDir without "
        "subPath, or use one on disk",
    },
    missing={"kata": "Kata Containers is not installed on this Docker host"},
)
