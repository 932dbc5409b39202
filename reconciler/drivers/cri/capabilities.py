"""What the CRI driver can give: pods, the runtime profiles of a pod, and what CRI lacks. No I/O.

Under CRI the runtime handler makes the pod sandbox the isolation boundary:
runc a pod of namespaces, runsc one gVisor kernel for the pod, Kata one VM
for the pod, so every namespace a pod shares is really shared (measured for
runc and runsc in tests/integration/test_cri_driver.py; Kata documented). A
Sandbox is the engine's pod sandbox, with one runtime handler for the whole
pod; a kind: Container runs as a one-container pod. Mode
container-in-sandbox only.

``lacks`` lists what a unit may ask that this driver cannot express through
containerd 1.6's CRI, each with the fact that forces it; admission refuses
such a unit, naming the field, before any pod is made.
"""

from __future__ import annotations

from reconciler.core.models import Mode, Namespace
from reconciler.core.runtimes import ALIASES, DriverCapabilities, RuntimeProfile, SandboxKind
from reconciler.core.spec import Feature

NET, IPC, PID = Namespace.NETWORK, Namespace.IPC, Namespace.PID

CRI_PROFILES: tuple[RuntimeProfile, ...] = (
    RuntimeProfile(
        name="runc",
        aliases=ALIASES["runc"],
        boundary="a pod of namespaces and cgroups on the shared host kernel",
        lends=frozenset({NET, IPC, PID}),
        joins=frozenset({NET, IPC, PID}),
        why_not={},
    ),
    RuntimeProfile(
        name="runsc",
        aliases=ALIASES["runsc"],
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
        aliases=ALIASES["kata"],
        boundary="one lightweight VM for the whole pod",
        lends=frozenset({NET, IPC, PID}),
        joins=frozenset({NET, IPC, PID}),
        why_not={},
    ),
)

LACKS: dict[Feature, str] = {
    Feature.HOST_ALIASES: "CRI has no field for them (kubelet writes /etc/hosts itself)",
    Feature.SUBDOMAIN: "CRI has no domain name field",
    Feature.MEMORY_VOLUME: "CRI mounts host paths only; use an emptyDir without medium: Memory",
    Feature.MEMBER_SYSCTLS: "sysctls are the pod's under CRI, and this one is of a namespace "
    "the members do not share: add ipc to share, or drop the sysctl",
    Feature.STORAGE_LIMIT: "the CRI runtime does not size a container's writable layer",
    Feature.MIXED_RUNTIMES: "a CRI pod runs one runtime handler (spec.runtime) for all its "
    "containers: drop the per-container runtime, or run it as a pod of its own",
    Feature.PRIVATE_IPC: "containerd 1.6 puts every container of a pod in the pod's IPC "
    "namespace (CRI has no container-level IPC namespace; measured): add ipc to share, or run "
    "the containers as pods of their own",
    Feature.STOP_SIGNAL: "this containerd's CRI API has no stop signal (StopContainer sends the "
    "image's STOPSIGNAL): set STOPSIGNAL in the image instead",
    Feature.PRIVILEGED_IN_SANDBOX: "containerd runs a privileged container only in a privileged "
    'pod sandbox ("no privileged container allowed in sandbox"), which this driver does not make',
}

CRI = DriverCapabilities(
    "cri",
    frozenset({Mode.CONTAINER_IN_SANDBOX}),
    CRI_PROFILES,
    SandboxKind.ENGINE_POD,
    in_place=False,
    engine="the CRI runtime",
    lacks=LACKS,
    names_clash=False,
    missing={"kata": "no Kata runtime handler, containerd-shim-kata-v2, is configured here"},
)
