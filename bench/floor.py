"""The floor: a minimal script creating and starting N sandboxes with the docker SDK.

Each sandbox is an infra (local/pause:test, IpcMode shareable) and two
workloads (local/busybox:test ``sleep 3600``) joining its network and IPC
namespaces, created and started in that order; ``--parallel`` threads work
on sandboxes side by side. It does nothing else (no listing, no checks), so
its time, process start included, is what any tool on the same daemon must at
least spend. bench/apply.py runs it as a subprocess ("SDK script") and also
calls ``sandbox`` in-process ("SDK in-process", without the process start).

    DOCKER_HOST=unix:///... python bench/floor.py --sandboxes 20 --parallel 4 --label k=v
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import docker

BUSYBOX = "local/busybox:test"
PAUSE = "local/pause:test"
WORKLOADS = 2  # per sandbox


def create_started(
    client: docker.APIClient,
    image: str,
    command: list[str] | None,
    name: str,
    labels: dict[str, str],
    ipc_mode: str,
    network_mode: str | None = None,
) -> str:
    host_config = client.create_host_config(ipc_mode=ipc_mode, network_mode=network_mode)
    container = client.create_container(
        image, command=command, name=name, labels=labels, host_config=host_config
    )
    container_id: str = container["Id"]
    client.start(container_id)
    return container_id


def sandbox(client: docker.APIClient, prefix: str, labels: dict[str, str]) -> None:
    """One sandbox: the infra, then each workload joined to it."""
    infra = create_started(client, PAUSE, None, f"{prefix}-infra", labels, "shareable")
    joined = f"container:{infra}"
    for worker in range(WORKLOADS):
        name = f"{prefix}-w{worker}"
        create_started(client, BUSYBOX, ["sleep", "3600"], name, labels, joined, joined)


def run(client: docker.APIClient, sandboxes: int, workers: int, name: str, label: str) -> None:
    key, _, value = label.partition("=")

    def one(index: int) -> None:
        sandbox(client, f"{name}-s{index}", {key: value})

    if workers == 1:
        for index in range(sandboxes):
            one(index)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, range(sandboxes)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sandboxes", type=int, required=True)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--name", required=True, help="container names start with it")
    parser.add_argument("--label", required=True, help="key=value on every container")
    args = parser.parse_args(argv)
    client = docker.APIClient(base_url=os.environ["DOCKER_HOST"], version="1.41", timeout=120)
    run(client, args.sandboxes, args.parallel, args.name, args.label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
