"""The Kubernetes Pod subset on a real daemon: the documentation's Pods run with their meaning."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.core import labels as L

from .conftest import Harness

# "Configure a Security Context for a Pod or Container" (kubernetes.io), with the
# pod-level fields the issue names, a memory emptyDir and a container that overrides.
SECURITY_DEMO = """
    apiVersion: v1
    kind: Pod
    metadata: {name: security-context-demo}
    spec:
      terminationGracePeriodSeconds: 1
      securityContext:
        runAsUser: 1000
        runAsGroup: 3000
        fsGroup: 2000
        supplementalGroups: [4000]
        runAsNonRoot: true
        seccompProfile: {type: RuntimeDefault}
        sysctls:
          - {name: kernel.shm_rmid_forced, value: "1"}
          - {name: net.core.somaxconn, value: "1024"}
      volumes:
        - {name: sec-ctx-vol, emptyDir: {}}
        - {name: mem, emptyDir: {medium: Memory, sizeLimit: 1Mi}}
      containers:
        - name: sec-ctx-demo
          image: local/busybox:test
          command: [sh, -c, sleep 1h]
          volumeMounts:
            - {name: sec-ctx-vol, mountPath: /data/demo}
            - {name: mem, mountPath: /mem}
          securityContext: {allowPrivilegeEscalation: false}
        - name: override
          image: local/busybox:test
          command: [sh, -c, sleep 1h]
          volumeMounts: [{name: sec-ctx-vol, mountPath: /data/demo}]
          securityContext: {runAsUser: 2000}
    """


@pytest.fixture(autouse=True)
def _policy(h: Harness, tmp_path: Path) -> None:
    """What these Pods use beyond the baseline policy, allowed as an operator would."""
    config = tmp_path / "operator.yaml"
    config.write_text(
        f"policy: {{allowedHostPaths: [{tmp_path}], allowedUnsafeSysctls: [net.core.somaxconn]}}\n"
    )
    h.env["RECONCILER_CONFIG"] = str(config)


def run(h: Harness, container_id: str, script: str) -> str:
    code, out = h.exec(container_id, "sh", "-c", script)
    assert code == 0, out
    return out.strip()


def test_pod_security_context_with_fs_group_owning_the_empty_dirs(h: Harness) -> None:
    h.write("demo.yaml", SECURITY_DEMO)
    h.apply()
    demo = h.member("security-context-demo", "sec-ctx-demo")
    override = h.member("security-context-demo", "override")
    assert run(h, demo["Id"], "id") == "uid=1000 gid=3000 groups=2000,3000,4000"
    assert run(h, override["Id"], "id") == "uid=2000 gid=3000 groups=2000,3000,4000"
    # fsGroup owns the emptyDirs: group 2000, setgid, so new files are group 2000.
    for path in ("/data/demo", "/mem"):
        assert run(h, demo["Id"], f"stat -c '%A %u %g' {path}") == "drwxrwsrwx 0 2000"
        out = run(h, demo["Id"], f"echo hello > {path}/testfile && stat -c '%u %g' {path}/testfile")
        assert out == "1000 2000"
    # The other member (another user, same fsGroup) writes in the shared volume too.
    assert run(h, override["Id"], "cat /data/demo/testfile && touch /data/demo/b") == "hello"
    # Namespaced sysctls are set on the infra and seen by its members.
    assert run(h, demo["Id"], "cat /proc/sys/net/core/somaxconn") == "1024"
    assert run(h, demo["Id"], "cat /proc/sys/kernel/shm_rmid_forced") == "1"
    assert h.member("security-context-demo")["HostConfig"]["Sysctls"] == {
        "kernel.shm_rmid_forced": "1",
        "net.core.somaxconn": "1024",
    }
    assert h.cli("diff", "-f", str(h.root)).returncode == 0


def test_run_as_non_root_refuses_an_image_that_runs_as_root(h: Harness) -> None:
    h.write(
        "root.yaml",
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: rooty}
        spec:
          terminationGracePeriodSeconds: 1
          securityContext: {runAsNonRoot: true}
          containers:
            - {name: app, image: local/busybox:test, command: [sleep, "3600"]}
        """,
    )
    done = h.apply(expect=1)
    assert "container app has runAsNonRoot and its image runs as root" in done.stdout + done.stderr
    assert h.containers(**{L.ROLE: L.ROLE_WORKLOAD}) == []


# "Sidecar containers" (kubernetes.io): a log shipper as an init container with
# restartPolicy Always, plus an init container after it that must find it running.
SIDECAR_DEMO = """
    apiVersion: v1
    kind: Pod
    metadata: {name: myapp}
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      shareProcessNamespace: true
      initContainers:
        - name: logshipper
          image: local/busybox:test
          restartPolicy: Always
          command: [tail, -F, /opt/logs.txt]
          volumeMounts: [{name: data, mountPath: /opt}]
        - name: after
          image: local/busybox:test
          command: [sh, -c, "ps | grep -v grep | grep -q 'tail -F'"]
      containers:
        - name: myapp
          image: local/busybox:test
          command: [sh, -c, 'while true; do echo "logging" >> /opt/logs.txt; sleep 1; done']
          volumeMounts: [{name: data, mountPath: /opt}]
      volumes:
        - {name: data, emptyDir: {}}
    """


def started(info: dict[str, Any]) -> str:
    return str(info["State"]["StartedAt"])


def test_native_sidecar_runs_before_and_beside_the_app_and_stops_after_it(h: Harness) -> None:
    h.write("myapp.yaml", SIDECAR_DEMO)
    h.apply()
    shipper = h.member("myapp", "logshipper")
    after = h.member("myapp", "after")
    app = h.member("myapp", "myapp")
    assert shipper["Config"]["Labels"][L.ROLE] == L.ROLE_SIDECAR
    # `after` ran once the sidecar was running (it found its process) and exited 0.
    assert after["State"]["Status"] == "exited" and after["State"]["ExitCode"] == 0
    assert started(shipper) < started(after) < started(app)
    assert shipper["State"]["Running"] and app["State"]["Running"]

    def shipped() -> bool:
        logs = h.api.logs(shipper["Id"]).decode(errors="replace")
        return "logging" in logs

    h.wait_until(shipped)

    # Restarted like a workload, even though the pod's restartPolicy is Never.
    h.api.kill(shipper["Id"])
    h.wait_until(lambda: not h.member("myapp", "logshipper")["State"]["Running"])
    h.apply()
    again = h.member("myapp", "logshipper")
    assert again["Id"] == shipper["Id"] and again["State"]["Running"]
    assert h.member("myapp", "myapp")["Id"] == app["Id"]

    # Stopped after the app.
    began = time.time_ns()
    done = h.cli("delete", "-f", str(h.root))
    assert done.returncode == 0, done.stdout + done.stderr
    events = h.api.events(
        since=began // 10**9 - 1,
        until=int(time.time()) + 1,
        decode=True,
        filters={
            "type": ["container"],
            "event": ["die"],
            "label": [f"{L.MANAGED_BY}={h.instance}"],
        },
    )
    died = [
        e["Actor"]["Attributes"].get(L.CONTAINER) or "infra"
        for e in events
        if e["timeNano"] >= began  # not the kill above
    ]
    assert died.index("myapp") < died.index("logshipper") < died.index("infra"), died


def test_lifecycle_hooks_run_after_start_and_before_stop(h: Harness, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    h.write(
        "hooks.yaml",
        f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: hooks}}
        spec:
          terminationGracePeriodSeconds: 5
          volumes: [{{name: shared, hostPath: {{path: {shared}}}}}]
          containers:
            - name: app
              image: local/busybox:test
              command: [sleep, "3600"]
              volumeMounts: [{{name: shared, mountPath: /shared}}]
              lifecycle:
                postStart: {{exec: {{command: [sh, -c, "echo started > /shared/post-start"]}}}}
                preStop: {{exec: {{command: [sh, -c, "echo stopping > /shared/pre-stop"]}}}}
        """,
    )
    h.apply()
    assert (shared / "post-start").read_text() == "started\n"
    assert not (shared / "pre-stop").exists()
    # The manifest is gone, the container's own labels still carry its preStop.
    (h.root / "hooks.yaml").unlink()
    done = h.cli("delete", "sandbox/hooks")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (shared / "pre-stop").read_text() == "stopping\n"
    assert h.containers() == []


def test_stop_signal_is_what_stopping_the_container_sends(h: Harness, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    # PID 1 ignores a signal it has no handler for: only SIGINT, trapped, writes the file;
    # a SIGTERM would go unanswered until SIGKILL after the grace period.
    h.write(
        "sig.yaml",
        f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: sig}}
        spec:
          terminationGracePeriodSeconds: 20
          volumes: [{{name: shared, hostPath: {{path: {shared}}}}}]
          containers:
            - name: app
              image: local/busybox:test
              command:
                - sh
                - -c
                - 'trap "echo INT > /shared/got; exit 0" INT; while :; do sleep 1; done'
              volumeMounts: [{{name: shared, mountPath: /shared}}]
              lifecycle: {{stopSignal: SIGINT}}
        """,
    )
    h.apply()
    assert h.member("sig", "app")["Config"]["StopSignal"] == "SIGINT"
    began = time.monotonic()
    done = h.cli("delete", "-f", str(h.root / "sig.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (shared / "got").read_text() == "INT\n"
    assert time.monotonic() - began < 15  # answered, not killed at the end of the grace
    assert h.containers() == []


def test_a_failing_post_start_hook_stops_the_container(h: Harness) -> None:
    h.write(
        "bad.yaml",
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: bad}
        spec:
          terminationGracePeriodSeconds: 1
          containers:
            - name: app
              image: local/busybox:test
              command: [sleep, "3600"]
              lifecycle: {postStart: {exec: {command: [sh, -c, "exit 3"]}}}
        """,
    )
    done = h.apply(expect=1)
    assert "postStart hook of app failed (exited with code 3)" in done.stdout + done.stderr
    assert not h.member("bad", "app")["State"]["Running"]


def test_hostname_subdomain_host_aliases_dns_config_and_stdin(h: Harness) -> None:
    h.write(
        "net.yaml",
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: net, namespace: ns1}
        spec:
          terminationGracePeriodSeconds: 1
          hostname: web-0
          subdomain: web
          hostAliases: [{ip: 10.1.2.3, hostnames: [foo.local, bar.local]}]
          dnsConfig:
            nameservers: [192.0.2.1]
            searches: [ns1.svc.cluster-domain.example]
            options: [{name: ndots, value: "2"}]
          containers:
            - {name: app, image: local/busybox:test, command: [cat], stdin: true}
        """,
    )
    h.apply()
    app = h.member("net", "app")
    assert app["State"]["Running"], "cat keeps running on an open stdin"
    assert app["Config"]["OpenStdin"] is True
    assert run(h, app["Id"], "hostname") == "web-0"
    hosts = run(h, app["Id"], "cat /etc/hosts")
    assert "10.1.2.3\tfoo.local" in hosts and "10.1.2.3\tbar.local" in hosts
    assert "web-0.web.ns1.svc.cluster.local" in hosts
    resolv = run(h, app["Id"], "cat /etc/resolv.conf")
    assert "nameserver 192.0.2.1" in resolv
    assert "search ns1.svc.cluster-domain.example" in resolv
    assert "options ndots:2" in resolv


def test_ephemeral_storage_is_refused_with_the_reason_on_this_storage(h: Harness) -> None:
    info = h.api.info()
    backing = dict(info.get("DriverStatus") or []).get("Backing Filesystem", "")
    h.write(
        "disk.yaml",
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: disk}
        spec:
          terminationGracePeriodSeconds: 1
          containers:
            - name: app
              image: local/busybox:test
              command: [sleep, "3600"]
              resources: {limits: {ephemeral-storage: 64Mi}}
        """,
    )
    if info["Driver"] == "overlay2" and backing == "xfs":
        # Only the daemon knows whether xfs is mounted with pquota: it applies or says why.
        done = h.cli("apply", "-f", str(h.root))
        if done.returncode == 0:
            assert h.member("disk", "app")["HostConfig"]["StorageOpt"] == {"size": str(64 << 20)}
        else:
            assert "pquota" in done.stdout + done.stderr
        return
    done = h.apply(expect=1)
    out = done.stdout + done.stderr
    assert (
        "sandbox/disk failed: spec.containers[0].resources.limits.ephemeral-storage: "
        "limits.ephemeral-storage cannot be enforced by this Docker daemon: its storage driver"
    ) in out
    assert f"its storage driver is {info['Driver']} on {backing}" in out
    assert h.containers(**{L.ROLE: L.ROLE_WORKLOAD}) == []


def test_env_from_a_config_map_and_secret_in_the_same_file(h: Harness) -> None:
    h.write(
        "env.yaml",
        """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: settings}
        data: {MODE: prod}
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: creds}
        stringData: {PASSWORD: s3cr3t}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: envy}
        spec:
          terminationGracePeriodSeconds: 1
          containers:
            - name: app
              image: local/busybox:test
              command: [sleep, "3600"]
              envFrom:
                - configMapRef: {name: settings}
                - {prefix: DB_, secretRef: {name: creds}}
        """,
    )
    h.apply()
    app = h.member("envy", "app")
    assert run(h, app["Id"], 'echo "$MODE $DB_PASSWORD"') == "prod s3cr3t"
    # A changed value recreates the container: the values are part of its spec.
    (h.root / "env.yaml").write_text((h.root / "env.yaml").read_text().replace("prod", "dev"))
    h.apply()
    again = h.member("envy", "app")
    assert again["Id"] != app["Id"]
    assert run(h, again["Id"], "echo $MODE") == "dev"
