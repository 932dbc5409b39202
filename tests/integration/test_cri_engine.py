"""The CRI engine's ground truth, through reconciler's CRI client on a real containerd.

What a CRI driver will rely on: a runc pod's containers share the pod's
namespaces; a runsc pod runs all its containers in one gVisor kernel; ExecSync
works; a container's exit is seen with its code; stopping and removing a pod
leaves nothing behind (sandboxes, containers, CNI addresses, gVisor processes).

Needs the private containerd of scripts/containerd.sh (scripts/test.sh and
.ci/run start it and export CONTAINER_RUNTIME_ENDPOINT) with the images of
scripts/cri-images.sh. Without it the tests are skipped, except under CI, where
they fail. The runsc tests are skipped only where runsc is not installed.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reconciler.drivers.cri.client import CriClient, pb

pytestmark = [pytest.mark.integration, pytest.mark.cri]

BUSYBOX = "docker.io/local/busybox:test"
PAUSE = "docker.io/local/pause:test"
TEST_OWNER = "io.reconciler-test.owner"
RUNSC_INSTALLED = Path("/usr/bin/runsc").exists()


@dataclass
class Pod:
    sandbox_id: str
    config: pb.PodSandboxConfig
    containers: dict[str, str] = field(default_factory=dict)  # name -> id


class Pods:
    """One test's pods, all labelled with its owner; teardown removes exactly those."""

    def __init__(self, cri: CriClient, root: Path) -> None:
        self.cri = cri
        self.root = root
        self.owner = uuid.uuid4().hex[:12]

    def run(self, handler: str, containers: dict[str, list[str]], pid: int = pb.POD) -> Pod:
        """A pod sharing network and IPC (and PID unless ``pid`` says otherwise),
        with one started container per entry of ``containers`` (name -> command)."""
        name = f"t{self.owner}-{handler}-{len(self.list())}"
        namespaces = pb.NamespaceOption(network=pb.POD, ipc=pb.POD, pid=pid)
        log_dir = self.root / name
        log_dir.mkdir()
        config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=uuid.uuid4().hex, namespace="test"),
            hostname=name,
            log_directory=str(log_dir),
            labels={TEST_OWNER: self.owner},
            linux=pb.LinuxPodSandboxConfig(
                security_context=pb.LinuxSandboxSecurityContext(namespace_options=namespaces)
            ),
        )
        pod = Pod(self.cri.run_pod_sandbox(config, handler), config)
        for container, command in containers.items():
            container_config = pb.ContainerConfig(
                metadata=pb.ContainerMetadata(name=container),
                image=pb.ImageSpec(image=BUSYBOX),
                command=command,
                log_path=f"{container}.log",
                labels={TEST_OWNER: self.owner},
                linux=pb.LinuxContainerConfig(
                    security_context=pb.LinuxContainerSecurityContext(namespace_options=namespaces)
                ),
            )
            container_id = self.cri.create_container(pod.sandbox_id, container_config, config)
            self.cri.start_container(container_id)
            pod.containers[container] = container_id
        return pod

    def list(self) -> list[pb.PodSandbox]:
        return self.cri.list_pod_sandbox({TEST_OWNER: self.owner})

    def remove(self, pod: Pod) -> None:
        """As a driver would: stop the sandbox (it stops every container), remove it."""
        self.cri.stop_pod_sandbox(pod.sandbox_id)
        self.cri.remove_pod_sandbox(pod.sandbox_id)

    def remove_all(self) -> None:
        for sandbox in self.list():
            self.cri.stop_pod_sandbox(sandbox.id)
            self.cri.remove_pod_sandbox(sandbox.id)


@pytest.fixture
def pods(cri: CriClient, tmp_path: Path) -> Iterator[Pods]:
    made = Pods(cri, tmp_path)
    yield made
    made.remove_all()


def sh(cri: CriClient, container_id: str, script: str) -> str:
    result = cri.exec_sync(container_id, ["sh", "-c", script], timeout=30)
    assert result.exit_code == 0, result.stderr.decode()
    return result.stdout.decode().strip()


def namespaces(cri: CriClient, container_id: str) -> dict[str, str]:
    text = sh(cri, container_id, "for n in net ipc pid uts; do readlink /proc/self/ns/$n; done")
    return {line.split(":")[0]: line for line in text.splitlines()}


def poll(check: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:.0f} s: {what}")
        time.sleep(0.1)


def gvisor_sandboxes() -> dict[int, str]:
    """gVisor sandboxes on the host (argv[0] is runsc-sandbox; comm is exe): pid -> cmdline."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0] == b"runsc-sandbox":
            found[int(entry.name)] = b" ".join(argv).decode(errors="replace")
    return found


def ipam_dir(cri: CriClient) -> Path:
    """host-local's allocations of scripts/containerd.sh's network: DIR/cni/ipam/NETWORK."""
    sock = Path(cri.endpoint.removeprefix("unix://"))
    dirs = [d for d in (sock.parent / "cni" / "ipam").iterdir() if d.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def needs_runsc(cri: CriClient) -> None:
    if not RUNSC_INSTALLED:
        pytest.skip("runsc is not installed")
    assert "runsc" in cri.runtime_handlers(), "runsc is installed but containerd offers no handler"


LONG = ["sleep", "3600"]


def test_a_runc_pods_containers_share_its_namespaces(cri: CriClient, pods: Pods) -> None:
    pod = pods.run("runc", {"a": ["sleep", "3601"], "b": ["sleep", "3602"]})
    a, b = (namespaces(cri, pod.containers[n]) for n in ("a", "b"))
    assert a["net"] == b["net"]
    assert a["ipc"] == b["ipc"]
    assert a["pid"] == b["pid"]
    # ... and they are the pod's: the sandbox (pause) process holds the same ones.
    sandbox_pid = _sandbox_pid(cri, pod.sandbox_id)
    assert os.readlink(f"/proc/{sandbox_pid}/ns/net") == a["net"]
    assert os.readlink(f"/proc/{sandbox_pid}/ns/ipc") == a["ipc"]
    assert os.readlink("/proc/self/ns/net") != a["net"]
    assert "sleep 3602" in sh(cri, pod.containers["a"], "ps")
    # the pod's address is on its network interface, seen from both
    ip = cri.pod_sandbox_status(pod.sandbox_id).status.network.ip
    assert ip
    assert ip in sh(cri, pod.containers["b"], "ip -4 addr show eth0")


def test_runc_keeps_pid_namespaces_apart_when_asked(cri: CriClient, pods: Pods) -> None:
    pod = pods.run("runc", {"a": ["sleep", "3601"], "b": ["sleep", "3602"]}, pid=pb.CONTAINER)
    a, b = (namespaces(cri, pod.containers[n]) for n in ("a", "b"))
    assert a["net"] == b["net"]
    assert a["pid"] != b["pid"]
    assert "sleep 3602" not in sh(cri, pod.containers["a"], "ps")


def test_a_runsc_pod_runs_its_containers_in_one_gvisor_kernel(cri: CriClient, pods: Pods) -> None:
    needs_runsc(cri)
    pod = pods.run("runsc", {"a": ["sleep", "3601"], "b": ["sleep", "3602"]})
    # one sandbox process on the host for the whole pod, and none for its containers
    assert len(_sandboxes_of(pod.sandbox_id)) == 1
    assert not any(_sandboxes_of(c) for c in pod.containers.values())
    # one kernel: each container sees the other's processes
    assert "sleep 3602" in sh(cri, pod.containers["a"], "ps")
    assert "sleep 3601" in sh(cri, pod.containers["b"], "ps")
    # that kernel is not the host's
    assert "gVisor" in sh(cri, pod.containers["a"], "dmesg")
    # the pod's network: its CNI address is on the interface both see (--network=host
    # inside the pod's namespace, see scripts/runsc-cri-adapter)
    ip = cri.pod_sandbox_status(pod.sandbox_id).status.network.ip
    assert ip in sh(cri, pod.containers["b"], "ip -4 addr")
    # stopping the pod stops its containers and its sandbox
    pods.remove(pod)
    poll(lambda: not _sandboxes_of(pod.sandbox_id), "the gVisor sandbox exits")


@pytest.mark.parametrize("handler", ["runc", "runsc"])
def test_exec_sync_returns_output_and_exit_code(cri: CriClient, pods: Pods, handler: str) -> None:
    if handler == "runsc":
        needs_runsc(cri)
    pod = pods.run(handler, {"a": LONG})
    result = cri.exec_sync(
        pod.containers["a"], ["sh", "-c", "echo out; echo err >&2; exit 7"], timeout=30
    )
    assert (result.exit_code, result.stdout, result.stderr) == (7, b"out\n", b"err\n")


@pytest.mark.parametrize("handler", ["runc", "runsc"])
def test_a_containers_exit_is_seen_with_its_code(cri: CriClient, pods: Pods, handler: str) -> None:
    if handler == "runsc":
        needs_runsc(cri)
    pod = pods.run(handler, {"a": LONG, "quits": ["sh", "-c", "sleep 0.2; exit 3"]})
    quits = pod.containers["quits"]

    def exited() -> bool:
        return cri.container_status(quits).status.state == pb.CONTAINER_EXITED

    poll(exited, "the container exits")
    assert cri.container_status(quits).status.exit_code == 3
    # its sibling lives on, and a stopped one is removed without a fuss
    assert cri.container_status(pod.containers["a"]).status.state == pb.CONTAINER_RUNNING
    cri.stop_container(quits, 1)
    cri.remove_container(quits)
    assert [c.metadata.name for c in cri.list_containers(sandbox_id=pod.sandbox_id)] == ["a"]


@pytest.mark.parametrize("handler", ["runc", "runsc"])
def test_the_pause_is_pid_1_so_stopping_one_container_spares_the_others(
    cri: CriClient, pods: Pods, handler: str
) -> None:
    """Under runsc only thanks to the adapter's part 5 (scripts/runsc-cri-adapter)."""
    if handler == "runsc":
        needs_runsc(cri)
    pod = pods.run(handler, {"a": ["sleep", "3601"], "b": ["sleep", "3602"]})
    first = sh(cri, pod.containers["b"], "ps").splitlines()[1].split()
    assert first[0] == "1"
    assert "/pause" in first
    cri.stop_container(pod.containers["a"], 1)
    assert cri.container_status(pod.containers["b"]).status.state == pb.CONTAINER_RUNNING
    assert "sleep 3602" in sh(cri, pod.containers["b"], "ps")


@pytest.mark.parametrize("handler", ["runc", "runsc"])
def test_stop_and_remove_leave_nothing(cri: CriClient, pods: Pods, handler: str) -> None:
    if handler == "runsc":
        needs_runsc(cri)
    pod = pods.run(handler, {"a": LONG, "b": LONG})
    ip = cri.pod_sandbox_status(pod.sandbox_id).status.network.ip
    allocations = ipam_dir(cri)
    assert (allocations / ip).exists()
    for container_id in pod.containers.values():  # one by one, as a driver replaces one
        cri.stop_container(container_id, 1)
        cri.remove_container(container_id)
    pods.remove(pod)
    assert pods.list() == []
    assert cri.list_containers({TEST_OWNER: pods.owner}) == []
    assert not (allocations / ip).exists()
    # removing again is success: it is gone
    pods.remove(pod)
    cri.remove_container(pod.containers["a"])


def _sandboxes_of(container_id: str) -> list[int]:
    return [pid for pid, argv in gvisor_sandboxes().items() if container_id in argv]


def _sandbox_pid(cri: CriClient, sandbox_id: str) -> int:
    info = json.loads(cri.pod_sandbox_status(sandbox_id, verbose=True).info["info"])
    return int(info["pid"])
