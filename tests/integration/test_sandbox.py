"""Sandboxes on a real daemon: shared namespaces, recreate, rejoin, ports."""

from __future__ import annotations

from reconciler.core import labels as L

from .conftest import Harness, fetch


def web(h: Harness, port: int | None = None, app_image_tag: str = "", env: str = "x") -> None:
    ports = f"[{{containerPort: 80, hostPort: {port}, hostIP: 127.0.0.1}}]" if port else "[]"
    h.write(
        "web.yaml",
        f"""
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {{name: web}}
        spec:
          share: [network, ipc]
          ports: {ports}
          terminationGracePeriodSeconds: 1
          containers:
            - name: app
              image: local/busybox:test{app_image_tag}
              command: [httpd, -f, -p, "80", -h, /www]
              env: [{{name: FLAVOUR, value: {env}}}]
            - name: sidecar
              image: local/busybox:test
              command: [sleep, "3600"]
        """,
    )


def test_workloads_share_the_infras_network_and_ipc_but_not_pid(h: Harness) -> None:
    web(h)
    h.apply()
    infra, app, sidecar = (h.member("web", c) for c in ("", "app", "sidecar"))
    assert infra["HostConfig"]["IpcMode"] == "shareable"
    assert infra["HostConfig"]["RestartPolicy"]["Name"] == "no"
    for member in (app, sidecar):
        assert member["HostConfig"]["NetworkMode"] == f"container:{infra['Id']}"
        assert member["Config"]["Labels"][L.INFRA_ID] == infra["Id"]
        assert member["HostConfig"]["RestartPolicy"]["Name"] == "no"
        for ns in ("net", "ipc"):
            assert h.ns_inode(member, ns) == h.ns_inode(infra, ns), ns
        assert h.ns_inode(member, "pid") != h.ns_inode(infra, "pid")

    # The sidecar reaches the app on loopback: one network namespace.
    def served() -> bool:
        code, out = h.exec(sidecar["Id"], "wget", "-q", "-O", "-", "http://127.0.0.1/")
        return code == 0 and "hello from reconciler" in out

    h.wait_until(served)  # httpd may still be starting


def test_changed_container_is_recreated_and_the_others_keep_their_ids(h: Harness) -> None:
    web(h)
    h.apply()
    before = {c: h.member("web", c)["Id"] for c in ("", "app", "sidecar")}
    web(h, env="y")
    diff = h.cli("diff", "-f", str(h.root))
    assert diff.returncode == 1 and "recreate app" in diff.stdout and "spec changed" in diff.stdout
    h.apply()
    after = {c: h.member("web", c)["Id"] for c in ("", "app", "sidecar")}
    assert after[""] == before[""] and after["sidecar"] == before["sidecar"]
    assert after["app"] != before["app"]
    assert "FLAVOUR=y" in h.member("web", "app")["Config"]["Env"]
    assert h.cli("diff", "-f", str(h.root)).returncode == 0


def test_infra_restarted_in_place_gets_its_workloads_back_with_the_same_ids(h: Harness) -> None:
    web(h)
    h.apply()
    infra = h.member("web")
    ids = {c: h.member("web", c)["Id"] for c in ("app", "sidecar")}
    old_net = h.ns_inode(infra, "net")
    h.api.restart(infra["Id"], timeout=1)
    infra = h.member("web")
    new_net = h.ns_inode(infra, "net")
    assert new_net != old_net, "docker gives a restarted container a new network namespace"
    assert h.ns_inode(h.member("web", "app"), "net") == old_net, "the workload is stranded"
    done = h.apply()
    assert "rejoin" in done.stdout
    for name, cid in ids.items():
        member = h.member("web", name)
        assert member["Id"] == cid, "rejoined by restarting, not recreating"
        assert h.ns_inode(member, "net") == new_net
        assert h.ns_inode(member, "ipc") == h.ns_inode(infra, "ipc")
    assert h.cli("diff", "-f", str(h.root)).returncode == 0


def test_removed_infra_is_recreated_and_workloads_recreated_into_it(h: Harness) -> None:
    web(h)
    h.apply()
    old = {c: h.member("web", c)["Id"] for c in ("", "app", "sidecar")}
    h.api.remove_container(old[""], force=True)
    h.apply()
    infra = h.member("web")
    assert infra["Id"] != old[""]
    for name in ("app", "sidecar"):
        member = h.member("web", name)
        assert member["Id"] != old[name]
        assert member["State"]["Running"]
        assert member["Config"]["Labels"][L.INFRA_ID] == infra["Id"]
        assert h.ns_inode(member, "net") == h.ns_inode(infra, "net")


def test_a_port_published_on_the_infra_reaches_the_workload(h: Harness, free_port: int) -> None:
    web(h, port=free_port)
    h.apply()
    bindings = h.member("web")["HostConfig"]["PortBindings"]
    assert bindings == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(free_port)}]}
    assert b"hello from reconciler" in fetch(f"http://127.0.0.1:{free_port}/")


def test_exited_workload_is_started_again_by_apply(h: Harness) -> None:
    web(h)
    h.apply()
    app = h.member("web", "app")
    h.api.kill(app["Id"])
    h.wait_until(lambda: not h.member("web", "app")["State"]["Running"])
    h.apply()
    again = h.member("web", "app")
    assert again["Id"] == app["Id"] and again["State"]["Running"]
    assert h.ns_inode(again, "net") == h.ns_inode(h.member("web"), "net")


def test_shared_pid_namespace_lets_one_workload_see_the_other(h: Harness) -> None:
    h.write(
        "pid.yaml",
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: pids}
        spec:
          shareProcessNamespace: true
          terminationGracePeriodSeconds: 1
          containers:
            - {name: a, image: local/busybox:test, command: [sleep, "3601"]}
            - {name: b, image: local/busybox:test, command: [sleep, "3602"]}
        """,
    )
    h.apply()
    a, b = h.member("pids", "a"), h.member("pids", "b")
    assert h.ns_inode(a, "pid") == h.ns_inode(b, "pid") == h.ns_inode(h.member("pids"), "pid")
    code, out = h.exec(a["Id"], "ps")
    assert code == 0 and "sleep 3602" in out
