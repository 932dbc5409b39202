"""`--driver cri` on a real containerd: pods converge, share what they say, restart as CRI does.

A runc pod's containers share the pod's net, IPC and PID namespaces (inodes);
a runsc pod is one gVisor kernel (one sandbox process; `ps` in one container
lists the other's); a killed workload comes back as a new container (its next
attempt), a killed sandbox as a rebuilt pod; an edited container is the only
one replaced; delete leaves nothing (pods, containers, CNI addresses, logs);
kata is refused by name where containerd has no Kata handler; the `run` loop
sees an exit through its relisting events.

Needs the private containerd of scripts/containerd.sh (CONTAINER_RUNTIME_ENDPOINT)
with the images of scripts/cri-images.sh. Without it the tests are skipped,
except under CI, where they fail; the runsc tests are skipped only where runsc
is not installed, and fail under CI even then (.ci/run installs it).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from reconciler.core import labels as L
from reconciler.core.errors import DriverError
from reconciler.drivers.cri.client import CriClient, pb

pytestmark = [pytest.mark.integration, pytest.mark.cri]

BUSYBOX = "docker.io/local/busybox:test"
PAUSE = "docker.io/local/pause:test"
RUNSC_INSTALLED = Path("/usr/bin/runsc").exists()


def need_runsc() -> None:
    if RUNSC_INSTALLED:
        return
    if os.environ.get("CI"):
        pytest.fail("runsc is not installed: .ci/run installs it", pytrace=False)
    pytest.skip("runsc is not installed")


def pod_yaml(
    name: str = "web",
    runtime: str = "runc",
    share: str = "[network, ipc, pid]",
    app: str = "sleep 3600",
    restart: str = "Always",
) -> str:
    return f"""
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {{name: {name}}}
        spec:
          runtime: {runtime}
          share: {share}
          restartPolicy: {restart}
          terminationGracePeriodSeconds: 1
          initContainers:
            - {{name: setup, image: local/busybox:test, command: [sh, -c, "echo set up"]}}
          containers:
            - {{name: app, image: local/busybox:test, command: [sh, -c, "echo hello; {app}"]}}
            - {{name: side, image: local/busybox:test, command: [sleep, "3601"]}}
        """


class Cri:
    """One test's instance under --driver cri: manifests, the CLI, and the runtime."""

    def __init__(self, cri: CriClient, root: Path) -> None:
        self.cri = cri
        self.instance = f"it-{uuid.uuid4().hex[:10]}"
        self.root = root / "manifests"
        self.root.mkdir()
        self.state = root / "cri-state"
        self.env = {
            "RECONCILER_INSTANCE": self.instance,
            "RECONCILER_DRIVER": "cri",
            "RECONCILER_CRI_STATE_DIR": str(self.state),
        }

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(dedent(text))
        return path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            capture_output=True,
            text=True,
            env=os.environ | self.env,
            timeout=300,
            check=False,
        )

    def apply(self, expect: int = 0) -> str:
        done = self.cli("apply", "-f", str(self.root))
        assert done.returncode == expect, done.stdout + done.stderr
        return done.stdout + done.stderr

    def pods(self) -> list[pb.PodSandbox]:
        return self.cri.list_pod_sandbox({L.MANAGED_BY: self.instance})

    def pod(self) -> pb.PodSandbox:
        (pod,) = [p for p in self.pods() if p.state == pb.SANDBOX_READY]
        return pod

    def containers(self, name: str | None = None) -> list[pb.Container]:
        selector = {L.MANAGED_BY: self.instance} | ({L.CONTAINER: name} if name else {})
        return self.cri.list_containers(selector)

    def running(self, name: str) -> pb.Container:
        (found,) = [c for c in self.containers(name) if c.state == pb.CONTAINER_RUNNING]
        return found

    def pid(self, container_id: str) -> int:
        info = self.cri.container_status(container_id, verbose=True).info["info"]
        return int(json.loads(info)["pid"])

    def sandbox_pid(self, sandbox_id: str) -> int:
        info = self.cri.pod_sandbox_status(sandbox_id, verbose=True).info["info"]
        return int(json.loads(info)["pid"])

    def exec(self, container_id: str, *command: str) -> str:
        result = self.cri.exec_sync(container_id, list(command), 30)
        assert result.exit_code == 0, result.stderr
        return result.stdout.decode()

    def cleanup(self) -> None:
        for pod in self.pods():
            with contextlib.suppress(DriverError):
                self.cri.stop_pod_sandbox(pod.id)
                self.cri.remove_pod_sandbox(pod.id)


@pytest.fixture
def c(cri: CriClient, tmp_path: Path) -> Iterator[Cri]:
    harness = Cri(cri, tmp_path)
    yield harness
    harness.cleanup()


def poll(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        # KeyError: a status record the loop has not written yet (it writes within 0.2 s).
        with contextlib.suppress(AssertionError, KeyError, ValueError, DriverError):
            found = check()
            if found:
                return found
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def said_hello(c: Cri) -> bool:
    """Whether `logs` shows web's app said hello, and nothing else. A poll: apply returns
    once the app has started, and containerd writes its output to the log after."""
    return c.cli("logs", "web", "-c", "app").stdout == "hello\n"


def inode(pid: int, namespace: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{namespace}")


def test_a_runc_pods_containers_share_its_namespaces(c: Cri) -> None:
    c.write("web.yaml", pod_yaml())
    c.write("apart.yaml", pod_yaml(name="apart", share="[network, ipc]"))
    c.apply()
    pods = {p.metadata.name: p for p in c.pods()}
    assert set(pods) == {"web", "apart"} and all(p.runtime_handler == "runc" for p in pods.values())
    rows = c.containers()
    assert len(rows) == 6  # setup, app, side in each pod
    web, apart = pods["web"].id, pods["apart"].id
    for pod_id, shared in ((web, {"net", "ipc", "pid"}), (apart, {"net", "ipc"})):
        sandbox = c.sandbox_pid(pod_id)
        for row in rows:
            if row.pod_sandbox_id != pod_id or row.state != pb.CONTAINER_RUNNING:
                continue
            pid = c.pid(row.id)
            for namespace in ("net", "ipc", "pid"):
                same = inode(pid, namespace) == inode(sandbox, namespace)
                assert same is (namespace in shared), (row.metadata.name, namespace)
    in_web = c.exec(
        next(r.id for r in rows if r.pod_sandbox_id == web and r.metadata.name == "app"), "ps"
    )
    assert "sleep 3601" in in_web  # app sees side's process: one PID namespace
    in_apart = c.exec(
        next(r.id for r in rows if r.pod_sandbox_id == apart and r.metadata.name == "app"), "ps"
    )
    assert "sleep 3601" not in in_apart
    poll(lambda: said_hello(c))
    assert c.cli("logs", "web", "-c", "setup").stdout == "set up\n"
    assert "unchanged" in c.apply() and "configured" not in c.apply()


def test_a_runsc_pod_is_one_gvisor_kernel(c: Cri) -> None:
    need_runsc()
    c.write("web.yaml", pod_yaml(runtime="runsc"))
    c.apply()
    pod = c.pod()
    assert pod.runtime_handler == "runsc"
    sandboxes = [
        pid
        for pid in os.listdir("/proc")
        if pid.isdigit() and _argv0(pid) == "runsc-sandbox" and pod.id in _cmdline(pid)
    ]
    assert len(sandboxes) == 1, sandboxes  # one gVisor kernel for the whole pod
    app, side = c.running("app"), c.running("side")
    assert "sleep 3601" in c.exec(app.id, "ps")  # side's process, seen from app
    c.exec(app.id, "sh", "-c", "echo shared > /dev/shm/note")
    assert c.exec(side.id, "cat", "/dev/shm/note") == "shared\n"  # one IPC namespace's shm
    poll(lambda: said_hello(c))


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _argv0(pid: str) -> str:
    return _cmdline(pid).split(" ", 1)[0]


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_a_killed_workload_comes_back_as_its_next_attempt(c: Cri, runtime: str) -> None:
    if runtime == "runsc":
        need_runsc()
    c.write("web.yaml", pod_yaml(runtime=runtime))
    c.apply()
    pod, app, side = c.pod(), c.running("app"), c.running("side")
    assert app.metadata.attempt == 0
    c.cri.stop_container(app.id, 0)  # the workload dies (SIGKILL)
    out = c.apply()
    assert "a new one, its next attempt" in out, out
    again = c.running("app")
    assert again.id != app.id and again.metadata.attempt == 1
    assert [r.id for r in c.containers("app")] == [again.id]  # the old one is removed
    assert c.pod().id == pod.id and c.running("side").id == side.id  # nothing else moved
    get = c.cli("get", "web", "-o", "json")
    (unit,) = json.loads(get.stdout)["units"]
    restarts = {x["name"]: x["restarts"] for x in unit["containers"]}
    assert restarts["app"] == 1 and restarts["side"] == 0


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_a_killed_sandbox_is_rebuilt_with_new_containers(c: Cri, runtime: str) -> None:
    if runtime == "runsc":
        need_runsc()
    c.write("web.yaml", pod_yaml(runtime=runtime))
    c.apply()
    pod, app = c.pod(), c.running("app")
    os.kill(c.sandbox_pid(pod.id), signal.SIGKILL)
    poll(lambda: c.pods()[0].state == pb.SANDBOX_NOTREADY)
    out = c.apply()
    assert "no rejoin" in out, out
    new = c.pod()
    assert new.id != pod.id and [p.id for p in c.pods()] == [new.id]
    assert c.running("app").id != app.id
    assert {r.pod_sandbox_id for r in c.containers()} == {new.id}
    assert [r.metadata.name for r in c.containers("setup")] == ["setup"]  # init ran again


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_an_edited_container_is_the_only_one_replaced(c: Cri, runtime: str) -> None:
    """Under runsc too: the pause is PID 1 of the pod's shared PID namespace (the
    adapter sees to it), so replacing one container leaves its siblings running."""
    if runtime == "runsc":
        need_runsc()
    c.write("web.yaml", pod_yaml(runtime=runtime))
    c.apply()
    pod, app, side = c.pod(), c.running("app"), c.running("side")
    c.write("web.yaml", pod_yaml(runtime=runtime, app="sleep 3700"))
    out = c.apply()
    assert "recreate app" in out and "side" not in out, out
    assert c.pod().id == pod.id and c.running("side").id == side.id
    new = c.running("app")
    assert new.id != app.id and new.metadata.attempt == 1


SOLO = """
    apiVersion: reconciler/v1
    kind: Container
    metadata: {name: solo}
    spec:
      image: local/busybox:test
      command: [sleep, "3600"]
      terminationGracePeriodSeconds: 1
"""


def test_delete_leaves_nothing_behind(c: Cri, cri: CriClient) -> None:
    c.write("web.yaml", pod_yaml())
    c.write("solo.yaml", SOLO)
    c.write(
        "data.yaml",
        """
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: data}
        spec:
          terminationGracePeriodSeconds: 1
          volumes: [{name: scratch, emptyDir: {}}]
          containers:
            - name: writer
              image: local/busybox:test
              command: [sh, -c, "echo written > /scratch/note; sleep 3600"]
              volumeMounts: [{name: scratch, mountPath: /scratch}]
            - name: reader
              image: local/busybox:test
              command: [sleep, "3600"]
              volumeMounts: [{name: scratch, mountPath: /scratch, readOnly: true}]
        """,
    )
    c.apply()
    note = poll(lambda: c.exec(c.running("reader").id, "cat", "/scratch/note"))
    assert note == "written\n"  # one emptyDir, two containers
    assert len(list((c.state / "volumes").iterdir())) == 1
    assert len(c.pods()) == 3  # two pods, and the one-container pod of kind: Container
    get = c.cli("get")
    assert "solo" in get.stdout and "web" in get.stdout
    addresses = {cri.pod_sandbox_status(p.id).status.network.ip for p in c.pods()}
    assert len(addresses) == 3 and addresses <= _allocated(cri.endpoint)
    done = c.cli("delete", "-f", str(c.root))
    assert done.returncode == 0, done.stderr
    assert c.pods() == [] and c.containers() == []
    assert not (_allocated(cri.endpoint) & addresses)  # CNI addresses released
    assert list((c.state / "logs").iterdir()) == []
    assert list((c.state / "volumes").iterdir()) == []
    assert "no units" in c.cli("get").stdout


def _allocated(endpoint: str) -> set[str]:
    """host-local's address files of the private containerd (scripts/containerd.sh)."""
    root = Path(endpoint.removeprefix("unix://")).parent / "cni" / "ipam"
    return {
        p.name for p in root.glob("*/*") if p.name[0].isdigit() and not p.name.startswith("last")
    }


def test_kata_is_refused_by_name(c: Cri) -> None:
    c.write("web.yaml", pod_yaml(runtime="kata"))
    out = c.apply(expect=1)
    assert "runtime 'kata' is not offered by the CRI runtime" in out, out
    assert c.pods() == []


def test_standalone_mode_is_refused_with_the_reason(c: Cri) -> None:
    c.write("web.yaml", pod_yaml())
    done = c.cli("--mode", "standalone", "apply", "-f", str(c.root))
    assert done.returncode == 1
    assert "the cri driver cannot run mode standalone" in done.stdout + done.stderr
    assert c.pods() == []


def test_a_per_container_runtime_is_refused(c: Cri) -> None:
    text = pod_yaml().replace(
        'command: [sleep, "3601"]}', 'command: [sleep, "3601"], runtime: runsc}'
    )
    c.write("web.yaml", text)
    out = c.apply(expect=1)
    assert "spec.containers[1].runtime: a runtime per container is not supported" in out, out
    assert c.pods() == []


MEMORY_ON_THE_SECOND = """
    apiVersion: reconciler/v1
    kind: Sandbox
    metadata: {name: web}
    spec:
      terminationGracePeriodSeconds: 1
      volumes: [{name: data, emptyDir: {}}, {name: fast, emptyDir: {medium: Memory}}]
      containers:
        - name: app
          image: local/busybox:test
          command: [sleep, "3600"]
          volumeMounts: [{name: data, mountPath: /data}]
        - name: side
          image: local/busybox:test
          command: [sleep, "3601"]
          volumeMounts: [{name: fast, mountPath: /fast}]
    """


def test_what_cri_cannot_give_a_later_member_is_refused_before_any_pod_exists(c: Cri) -> None:
    """Before, the pod and its first member were made and the second failed: a half-made
    pod `get` showed Running. Now validate, diff and apply refuse it, naming the field."""
    c.write("web.yaml", MEMORY_ON_THE_SECOND)
    why = (
        "spec.containers[1].volumeMounts[0] (spec.volumes[1].emptyDir.medium): emptyDir "
        "medium: Memory is not supported by the cri driver: CRI mounts host paths only"
    )
    for command in (["validate"], ["diff"], ["apply"]):
        done = c.cli(*command, "-f", str(c.root))
        out = done.stdout + done.stderr
        assert done.returncode in (1, 2) and why in out, (command, out)
    assert c.pods() == [] and c.containers() == []
    assert not (c.state / "volumes").exists() or not any((c.state / "volumes").iterdir())
    assert "no units" in c.cli("get").stdout


PROBED = """
    apiVersion: reconciler/v1
    kind: Sandbox
    metadata: {name: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: app
          image: local/busybox:test
          command: [httpd, -f, -p, "8080", -h, /www]
          readinessProbe:
            httpGet: {path: /index.html, port: 8080}
            periodSeconds: 1
        - name: live
          image: local/busybox:test
          command: [sh, -c, "touch /tmp/ok; sleep 3; rm /tmp/ok; sleep 3600"]
          livenessProbe:
            exec: {command: [test, -f, /tmp/ok]}
            periodSeconds: 1
            failureThreshold: 2
        - {name: side, image: local/busybox:test, command: [sleep, "3601"]}
    """


def test_the_loop_relists_probes_and_replaces_what_exits_or_fails(c: Cri) -> None:
    """The run loop under CRI: events by relisting, an HTTP probe to the pod's address,
    an exec probe through ExecSync; an exit and a liveness failure each bring the
    container back as its next attempt, its siblings untouched."""
    c.write("web.yaml", PROBED)
    state = c.root.parent / "loop"
    state.mkdir()
    log = (state / "loop.log").open("w")
    loop = subprocess.Popen(
        [
            *(sys.executable, "-m", "reconciler", "run", str(c.root)),
            *("--state-dir", str(state), "--resync", "3600", "--backoff-initial", "1"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ | c.env,
    )

    def unit() -> dict[str, Any]:
        files = list(state.glob(f"{c.instance}.*.status.json"))
        record = json.loads(files[0].read_text()) if files else {}
        return dict((record.get("units") or {}).get("sandbox/web") or {})

    try:
        side = poll(lambda: c.running("side"))
        poll(lambda: unit()["containers"]["app"]["ready"] is True)  # HTTP to the pod's IP
        # `live` never exits: an attempt past 0 is a liveness replacement (>= 1: each
        # attempt fails its probe a few seconds on, and a slow poll may miss attempt 1).
        # The pass logs why once its actions are done, after the new attempt runs: poll
        # for the line too.
        poll(lambda: c.running("live").metadata.attempt >= 1)
        poll(lambda: "liveness probe failed" in (state / "loop.log").read_text())
        assert 0 not in [r.metadata.attempt for r in c.containers("live")]  # replaced, removed
        c.cri.stop_container(side.id, 0)  # an exit, seen by relisting
        again = poll(lambda: c.running("side").metadata.attempt == 1 and c.running("side"))
        assert again.id != side.id
        assert poll(lambda: unit()["containers"]["side"]["restarts"] >= 1)
    finally:
        loop.send_signal(signal.SIGTERM)
        loop.wait(timeout=60)
        log.close()
    assert loop.returncode == 0, (state / "loop.log").read_text()


def test_an_image_that_cannot_be_pulled_is_a_clear_error(c: Cri) -> None:
    c.write(
        "web.yaml",
        """
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: web}
        spec:
          terminationGracePeriodSeconds: 1
          containers: [{name: app, image: registry.invalid/nothing:1}]
        """,
    )
    out = c.apply(expect=1)
    assert (
        "image registry.invalid/nothing:1 of container app is not present and could not be "
        "pulled (imagePullPolicy IfNotPresent)"
    ) in out, out
    assert c.containers() == []


def _view(c: Cri, env: dict[str, str]) -> list[dict[str, Any]]:
    """`get -o json` without what differs by nature: ids and start times."""
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "get", "-o", "json"],
        capture_output=True,
        text=True,
        env=os.environ | env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    units = json.loads(done.stdout)["units"]
    for unit in units:
        for container in unit["containers"]:
            assert container.pop("id") and container.pop("started_at")
    return list(units)


def test_the_same_manifests_give_the_same_get_view_under_both_drivers(c: Cri) -> None:
    if not os.environ.get("DOCKER_HOST"):
        if os.environ.get("CI"):
            pytest.fail("DOCKER_HOST is not set", pytrace=False)
        pytest.skip("DOCKER_HOST is not set (scripts/test.sh starts a private dockerd)")
    c.write("web.yaml", pod_yaml())
    c.write("db.yaml", pod_yaml(name="db", share="[network, ipc]", restart="OnFailure"))
    c.write("solo.yaml", SOLO)
    docker = {
        "RECONCILER_INSTANCE": c.instance,
        "RECONCILER_DRIVER": "docker",
        "RECONCILER_INFRA_IMAGE": "local/pause:test",
    }
    applied = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "-f", str(c.root)],
        capture_output=True,
        text=True,
        env=os.environ | docker,
        timeout=300,
        check=False,
    )
    try:
        assert applied.returncode == 0, applied.stderr
        c.apply()
        under_docker, under_cri = _view(c, docker), _view(c, c.env)
        solo = next(u for u in under_cri if u["name"] == "solo")
        assert solo["mode"] == "one-container-pod"  # what a kind: Container runs as here
        assert next(u for u in under_docker if u["name"] == "solo")["mode"] == "standalone"
        solo["mode"] = "standalone"
        assert under_cri == under_docker
    finally:
        subprocess.run(
            [sys.executable, "-m", "reconciler", "delete", "-f", str(c.root)],
            capture_output=True,
            env=os.environ | docker,
            timeout=300,
            check=False,
        )


def test_a_one_container_pod_left_without_its_container_is_reported_for_removal(
    c: Cri, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between removing a kind: Container's container and its pod leaves the pod:
    observe reports it without a role (the planner removes such a member), and remove
    takes the pod away."""
    from reconciler.drivers.cri import driver as cri_driver
    from reconciler.drivers.cri import observe as cri_observe

    c.write("solo.yaml", SOLO)
    c.apply()
    (solo,) = c.containers("solo")
    c.cri.stop_container(solo.id, 0)
    c.cri.remove_container(solo.id)  # the crash: the pod stays
    driver = cri_driver.CriDriver(c.instance, c.cri.endpoint, str(c.state))
    try:
        assert driver.observe().containers == ()  # a young pod may be being filled
        monkeypatch.setattr(cri_observe, "ORPHAN_SECONDS", 0.0)
        (orphan,) = driver.observe().containers
        assert orphan.role is None and orphan.unit_key is not None
        assert orphan.unit_key.name == "solo"
    finally:
        driver.close()
    assert "container/solo configured" in c.apply()  # a new pod for it; the orphan is young
    driver = cri_driver.CriDriver(c.instance, c.cri.endpoint, str(c.state))
    try:
        driver.remove(orphan.id, 0)
    finally:
        driver.close()
    assert [p.id for p in c.pods()] == [c.pod().id] and c.pod().id != orphan.id
