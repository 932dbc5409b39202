"""Times the CRI engine's primitives on a real containerd, through reconciler's CRI client.

For each runtime handler (runc, and runsc when containerd offers it), per round:
a pod with 2 containers from RunPodSandbox to both started; ExecSync of
`true` (median of 5); StopPodSandbox + RemovePodSandbox. Prints the median of
the rounds. Handlers alternate within a round so a busy moment hits both.

    CONTAINER_RUNTIME_ENDPOINT=unix:///tmp/rc/containerd.sock \\
        .venv/bin/python bench/cri_pod.py --rounds 5

Needs scripts/containerd.sh's daemon and scripts/cri-images.sh's images.
Every pod it makes carries a label of its own and is removed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from reconciler.drivers.cri.client import CriClient, pb

BUSYBOX = "docker.io/local/busybox:test"
OWNER = "io.reconciler-bench.owner"


def pod(cri: CriClient, handler: str, owner: str, logs: Path) -> tuple[str, list[str], float]:
    """A running pod of 2 containers: (sandbox id, container ids, seconds to get there)."""
    name = f"bench-{handler}-{uuid.uuid4().hex[:8]}"
    namespaces = pb.NamespaceOption(network=pb.POD, ipc=pb.POD, pid=pb.POD)
    (logs / name).mkdir()
    config = pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=name, uid=uuid.uuid4().hex, namespace="bench"),
        hostname=name,
        log_directory=str(logs / name),
        labels={OWNER: owner},
        linux=pb.LinuxPodSandboxConfig(
            security_context=pb.LinuxSandboxSecurityContext(namespace_options=namespaces)
        ),
    )
    began = time.perf_counter()
    sandbox = cri.run_pod_sandbox(config, handler)
    containers = []
    for member in ("a", "b"):
        container = cri.create_container(
            sandbox,
            pb.ContainerConfig(
                metadata=pb.ContainerMetadata(name=member),
                image=pb.ImageSpec(image=BUSYBOX),
                command=["sleep", "3600"],
                log_path=f"{member}.log",
                labels={OWNER: owner},
                linux=pb.LinuxContainerConfig(
                    security_context=pb.LinuxContainerSecurityContext(namespace_options=namespaces)
                ),
            ),
            config,
        )
        cri.start_container(container)
        containers.append(container)
    return sandbox, containers, time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    endpoint = os.environ.get("CONTAINER_RUNTIME_ENDPOINT")
    if not endpoint:
        print(
            "CONTAINER_RUNTIME_ENDPOINT is not set (scripts/containerd.sh start DIR)",
            file=sys.stderr,
        )
        return 2
    cri = CriClient(endpoint)
    handlers = [h for h in ("runc", "runsc") if h in cri.runtime_handlers()]
    owner = uuid.uuid4().hex[:12]
    figures: dict[str, dict[str, list[float]]] = {
        h: {"start": [], "exec": [], "remove": []} for h in handlers
    }
    try:
        with tempfile.TemporaryDirectory() as logs:
            for _ in range(args.rounds):
                for handler in handlers:
                    sandbox, containers, started = pod(cri, handler, owner, Path(logs))
                    figures[handler]["start"].append(started)
                    execs = []
                    for _ in range(5):
                        began = time.perf_counter()
                        result = cri.exec_sync(containers[0], ["true"], timeout=30)
                        execs.append(time.perf_counter() - began)
                        assert result.exit_code == 0
                    figures[handler]["exec"].append(statistics.median(execs))
                    began = time.perf_counter()
                    cri.stop_pod_sandbox(sandbox)
                    cri.remove_pod_sandbox(sandbox)
                    figures[handler]["remove"].append(time.perf_counter() - began)
    finally:
        for sandbox in cri.list_pod_sandbox({OWNER: owner}):
            cri.stop_pod_sandbox(sandbox.id)
            cri.remove_pod_sandbox(sandbox.id)
        cri.close()
    print(f"medians of {args.rounds} rounds, seconds")
    print(f"{'handler':8} {'pod of 2 up':>12} {'ExecSync':>10} {'stop+remove':>12}")
    for handler, f in figures.items():
        print(
            f"{handler:8} {statistics.median(f['start']):12.3f} "
            f"{statistics.median(f['exec']):10.3f} {statistics.median(f['remove']):12.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
