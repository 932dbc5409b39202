"""Runtimes and modes on a real daemon with runsc registered (--network=host).

Each fact the runtime profiles rely on is shown here: what really shares,
what Docker accepts but does not share (the reason for a refusal), and that
a refusal creates nothing.
"""

from __future__ import annotations

import json

import pytest

from reconciler.core import labels as L

from .conftest import BUSYBOX, PAUSE, TEST_OWNER, Harness, fetch


@pytest.fixture
def runsc(h: Harness) -> None:
    if "runsc" not in (h.api.info().get("Runtimes") or {}):
        pytest.fail("the test daemon must register runsc (scripts/dockerd.sh does when installed)")


HTTPD = '[httpd, -f, -p, "8080", -h, /www]'


def sandbox(runtime: str, share: str, member_runtime: str = "", mode: str = "") -> str:
    override = f", runtime: {member_runtime}" if member_runtime else ""
    return f"""
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {{name: s}}
        spec:
          runtime: {runtime}
          share: {share}
          terminationGracePeriodSeconds: 1
          containers:
            - {{name: server, image: {BUSYBOX}, command: {HTTPD}{override}}}
            - {{name: client, image: {BUSYBOX}, command: [sleep, "3600"]}}
        """


def get_via_nc(h: Harness, container_id: str, port: int) -> str:
    # busybox wget segfaults under this gVisor; nc does the job. The server
    # may still be starting: try for a while.
    result: list[str] = []

    def answered() -> bool:
        code, out = h.exec(
            container_id, "sh", "-c", f'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc 127.0.0.1 {port}'
        )
        result[:] = [out]
        return code == 0 and "200 OK" in out

    h.wait_until(answered)
    return result[0]


def addresses(h: Harness, container_id: str) -> str:
    code, out = h.exec(container_id, "ip", "-4", "-o", "addr")
    assert code == 0, out
    return "\n".join(sorted(line.split()[3] for line in out.splitlines()))


@pytest.mark.usefixtures("runsc")
def test_a_runsc_sandbox_shares_its_network_for_real(h: Harness) -> None:
    h.write("s.yaml", sandbox("runsc", "[network]"))
    h.apply()
    infra, server, client = (h.member("s", c) for c in ("", "server", "client"))
    assert {c["HostConfig"]["Runtime"] for c in (infra, server, client)} == {"runsc"}
    assert addresses(h, server["Id"]) == addresses(h, client["Id"])
    assert "hello from reconciler" in get_via_nc(h, client["Id"], 8080)
    table = h.cli("get", "-o", "json")
    runtimes = {c["name"]: c["runtime"] for c in json.loads(table.stdout)["units"][0]["containers"]}
    assert runtimes == {"infra": "runsc", "server": "runsc", "client": "runsc"}


@pytest.mark.usefixtures("runsc")
@pytest.mark.parametrize("namespace", ["ipc", "pid"])
def test_runsc_sharing_ipc_or_pid_is_refused_and_nothing_is_created(
    h: Harness, namespace: str
) -> None:
    h.write("s.yaml", sandbox("runsc", f"[network, {namespace}]"))
    done = h.apply(expect=1)
    assert f"cannot lend its {namespace} namespace" in done.stderr + done.stdout
    assert "gVisor kernel" in done.stderr + done.stdout
    assert not h.containers()
    assert h.cli("validate", "-f", str(h.root)).returncode == 1


@pytest.mark.usefixtures("runsc")
def test_why_runsc_pid_sharing_is_refused_docker_accepts_it_and_shares_nothing(
    h: Harness,
) -> None:
    """Evidence, with plain Docker: two runsc containers 'sharing' a PID namespace."""
    infra = h.api.create_container(
        PAUSE,
        labels={TEST_OWNER: h.instance},
        host_config=h.api.create_host_config(runtime="runsc", ipc_mode="shareable"),
    )["Id"]
    h.api.start(infra)
    joined = h.api.create_container(
        BUSYBOX,
        ["sleep", "3601"],
        labels={TEST_OWNER: h.instance},
        host_config=h.api.create_host_config(
            runtime="runsc",
            network_mode=f"container:{infra}",
            pid_mode=f"container:{infra}",
            ipc_mode=f"container:{infra}",
        ),
    )["Id"]
    h.api.start(joined)
    code, out = h.exec(joined, "ps")
    assert code == 0
    assert "sleep 3601" in out
    assert "pause" not in out and "sleep 3600" not in out, "the infra's processes are invisible"


@pytest.mark.usefixtures("runsc")
def test_a_runsc_workload_joins_a_runc_infras_network(h: Harness) -> None:
    h.write("s.yaml", sandbox("runc", "[network]", member_runtime="runsc"))
    done = h.apply()
    infra, server, client = (h.member("s", c) for c in ("", "server", "client"))
    assert [c["HostConfig"]["Runtime"] for c in (infra, server, client)] == [
        "runc",
        "runsc",
        "runc",
    ]
    assert "hello from reconciler" in get_via_nc(h, client["Id"], 8080)
    validate = h.cli("validate", "-f", str(h.root))
    assert validate.returncode == 0 and "mixed runtimes" in validate.stderr
    assert "--network=host" in validate.stderr
    assert done.returncode == 0


def test_a_runtime_the_daemon_lacks_is_refused_by_name(h: Harness) -> None:
    h.write("k.yaml", sandbox("kata", "[network]").replace("share: [network]", "mode: standalone"))
    h.write(
        "c.yaml",
        f"""
        apiVersion: reconciler/v1
        kind: Container
        metadata: {{name: vm}}
        spec: {{image: {BUSYBOX}, runtime: kata, command: [sleep, "3600"]}}
        """,
    )
    done = h.apply(expect=1)
    assert "runtime 'kata' is not offered by the Docker daemon" in done.stdout + done.stderr
    assert not h.containers()


def one_container(port: int) -> str:
    """A one-container Sandbox serving HTTP on ``port`` of the host."""
    return f"""
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {{name: one}}
        spec:
          ports: [{{containerPort: 80, hostPort: {port}, hostIP: 127.0.0.1}}]
          terminationGracePeriodSeconds: 1
          containers:
            - {{name: web, image: {BUSYBOX}, command: [httpd, -f, -p, "80", -h, /www]}}
        """


def test_standalone_mode_runs_one_container_bare_and_refuses_three(
    h: Harness, free_port: int
) -> None:
    h.write("one.yaml", one_container(free_port))
    three = sandbox("runc", "[network]").replace("name: s}", "name: three}")
    three = three.replace(
        "- {name: client", f"- {{name: third, image: {BUSYBOX}}}\n            - {{name: client"
    )
    h.write("three.yaml", three)
    done = h.cli("--mode", "standalone", "apply", "-f", str(h.root))
    assert done.returncode == 1
    assert "exactly one container, this one has 3" in done.stderr + done.stdout
    (only,) = h.containers()
    assert only["Labels"][L.ROLE] == "workload" and only["Labels"][L.MODE] == "standalone"
    info = h.api.inspect_container(only["Id"])
    assert info["HostConfig"]["NetworkMode"] in ("default", "bridge")
    assert b"hello from reconciler" in fetch(f"http://127.0.0.1:{free_port}/")


def test_switching_mode_converges_in_order(h: Harness, free_port: int) -> None:
    h.write("one.yaml", one_container(free_port))
    h.apply()
    sandboxed = h.member("one", "web")
    assert sandboxed["HostConfig"]["NetworkMode"].startswith("container:")
    switched = h.cli("--mode", "standalone", "apply", "-f", str(h.root))
    assert switched.returncode == 0, switched.stdout + switched.stderr
    out = switched.stdout
    assert out.index("remove web") < out.index("remove infra") < out.index("create web")
    (bare,) = h.containers()
    assert bare["Id"] != sandboxed["Id"] and L.INFRA_ID not in bare["Labels"]
    assert b"hello" in fetch(f"http://127.0.0.1:{free_port}/")
    h.apply()
    assert len(h.containers()) == 2
    assert (
        h.member("one", "web")["HostConfig"]["NetworkMode"] == f"container:{h.member('one')['Id']}"
    )
