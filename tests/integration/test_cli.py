"""The command line against a real daemon: diff, get, delete, validate, Pods."""

from __future__ import annotations

import json

import yaml

from reconciler.core import labels as L

from .conftest import Harness, fetch

POD = """
    apiVersion: v1
    kind: Pod
    metadata: {name: hello, namespace: demo}
    spec:
      nodeSelector: {disk: ssd}
      terminationGracePeriodSeconds: 1
      volumes: [{name: content, emptyDir: {}}]
      initContainers:
        - name: render
          image: local/busybox:test
          command: [sh, -c, "echo rendered > /content/index.html"]
          volumeMounts: [{name: content, mountPath: /content}]
      containers:
        - name: server
          image: local/busybox:test
          command: [httpd, -f, -p, "PORT", -h, /content]
          ports: [{containerPort: PORT, hostPort: PORT, hostIP: 127.0.0.1}]
          volumeMounts: [{name: content, mountPath: /content, readOnly: true}]
"""

CACHE = """
    apiVersion: reconciler/v1
    kind: Container
    metadata: {name: cache}
    spec:
      image: local/busybox:test
      command: [sleep, "3600"]
      terminationGracePeriodSeconds: 1
"""


def test_pod_with_init_container_and_empty_dir(h: Harness, free_port: int) -> None:
    h.write("pod.yaml", POD.replace("PORT", str(free_port)))
    done = h.apply()
    assert "spec.nodeSelector: ignored" in done.stderr
    render = h.member("hello", "render")
    server = h.member("hello", "server")
    assert render["State"]["Status"] == "exited" and render["State"]["ExitCode"] == 0
    assert server["State"]["StartedAt"] > render["State"]["FinishedAt"], "init ran first"
    assert fetch(f"http://127.0.0.1:{free_port}/") == b"rendered\n"
    assert h.cli("diff", "-f", str(h.root)).returncode == 0, "a finished init is not rerun"


def test_diff_exit_codes_follow_kubectl(h: Harness) -> None:
    h.write("cache.yaml", CACHE)
    first = h.cli("diff", "-f", str(h.root))
    assert first.returncode == 1 and "+ create cache" in first.stdout
    assert not h.containers(), "diff changes nothing"
    h.apply()
    assert h.cli("diff", "-f", str(h.root)).returncode == 0
    h.write("broken.yaml", "apiVersion: reconciler/v1\nkind: Container\nmetadata: {name: x}\n")
    broken = h.cli("diff", "-f", str(h.root))
    assert broken.returncode == 2 and "broken.yaml:4" not in broken.stderr
    assert "spec: required field is missing" in broken.stderr


def test_get_reports_units_in_table_json_and_yaml(h: Harness) -> None:
    h.write("cache.yaml", CACHE)
    h.write(
        "pod.yaml", POD.replace("PORT", "8099").replace(", hostPort: 8099, hostIP: 127.0.0.1", "")
    )
    h.apply()
    table = h.cli("get")
    assert table.returncode == 0
    assert (
        "Container" in table.stdout and "demo/hello" in table.stdout and "Running" in table.stdout
    )
    data = json.loads(h.cli("get", "-o", "json").stdout)
    assert data["kind"] == "Status" and data["fileErrors"] == {}
    by_name = {u["name"]: u for u in data["units"]}
    assert by_name["cache"]["kind"] == "Container" and by_name["cache"]["mode"] == "standalone"
    hello = by_name["hello"]
    assert hello["namespace"] == "demo" and hello["phase"] == "Running"
    assert [c["name"] for c in hello["containers"]] == ["infra", "render", "server"]
    assert all(c["runtime"] == "runc" and len(c["id"]) == 12 for c in hello["containers"])
    assert "restarts" in hello["containers"][0]
    assert yaml.safe_load(h.cli("get", "-o", "yaml", "cache").stdout)["units"][0]["name"] == "cache"
    nosuch = h.cli("get", "nosuch")
    assert nosuch.returncode == 1
    assert "error: nosuch not found" in nosuch.stderr


def test_delete_by_name_and_by_file(h: Harness) -> None:
    h.write("cache.yaml", CACHE)
    h.write(
        "pod.yaml", POD.replace("PORT", "8099").replace(", hostPort: 8099, hostIP: 127.0.0.1", "")
    )
    h.apply()
    done = h.cli("delete", "container/cache")
    assert done.returncode == 0, done.stderr
    assert "container/cache deleted" in done.stdout
    assert ": deleted (" in done.stdout  # each removal's reason
    assert "configured" not in done.stdout and "no longer defined" not in done.stdout
    assert not h.containers(**{L.KIND: "Container"})
    assert h.containers(**{L.SANDBOX: "hello"})
    done = h.cli("delete", "-f", str(h.root / "pod.yaml"))
    assert done.returncode == 0, done.stderr
    assert not h.containers()
    assert not h.api.volumes(filters={"label": f"{L.MANAGED_BY}={h.instance}"})["Volumes"]
    missing = h.cli("delete", "nothing-here")
    assert missing.returncode == 1
    assert "nothing-here: no sandbox or container of that name" in missing.stderr


def test_delete_of_something_missing_exits_1_and_names_it(h: Harness) -> None:
    h.write("cache.yaml", CACHE)
    h.apply()
    done = h.cli("delete", "container/cache", "sandbox/nosuch")
    assert done.returncode == 1
    assert "error: sandbox/nosuch not found" in done.stderr
    assert "container/cache deleted" in done.stdout  # what was found is still deleted
    assert not h.containers()


def test_apply_reads_stdin_and_dry_run_changes_nothing(h: Harness) -> None:
    dry = h.cli("apply", "-f", "-", "--dry-run", stdin=CACHE)
    assert dry.returncode == 0 and "+ create cache" in dry.stdout
    assert not h.containers()
    done = h.cli("apply", "-f", "-", stdin=CACHE)
    assert done.returncode == 0, done.stderr
    (cache,) = h.containers()
    assert cache["Labels"][L.SOURCE] == "-"


def test_validate_needs_no_daemon_and_names_file_line_and_field(h: Harness) -> None:
    path = h.write("v.yaml", CACHE.replace("command:", "comand:"))
    done = h.cli("--docker-host", "unix:///nonexistent.sock", "validate", "-f", str(path))
    assert done.returncode == 1
    assert f"{path}:7:3: spec.comand: unknown field" in done.stderr
    ok = h.write("ok.yaml", CACHE)
    assert h.cli("validate", "-f", str(ok)).returncode == 0


def test_unreachable_daemon_is_a_clear_error(h: Harness) -> None:
    h.write("cache.yaml", CACHE)
    done = h.cli("--docker-host", "unix:///nonexistent.sock", "apply", "-f", str(h.root))
    assert done.returncode == 1
    assert "does not answer" in done.stderr or "not answer" in done.stderr, done.stderr
