"""What a user sees when things fail, on a real daemon: port clashes, refusals, get, logs."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from textwrap import dedent
from typing import Any

from reconciler.core import labels as L

from .conftest import Harness
from .test_loop import LoopProcess, running

WEB = """
    apiVersion: reconciler/v1
    kind: Sandbox
    metadata: {{name: {name}}}
    spec:
      terminationGracePeriodSeconds: {grace}
      ports: [{{containerPort: 80, hostPort: {port}, hostIP: 127.0.0.1}}]
      containers:
        - {{name: app, image: {image}, command: [sleep, "3600"]}}
        - {{name: side, image: local/busybox:test, command: [sleep, "3600"]}}
"""


def web(name: str, port: int, image: str = "local/busybox:test", grace: int = 1) -> str:
    return WEB.format(name=name, port=port, image=image, grace=grace)


def test_two_manifests_on_one_host_port_are_refused_before_anything_is_made(
    h: Harness, free_port: int
) -> None:
    a = h.write("a.yaml", web("a", free_port))
    b = h.write("b.yaml", web("b", free_port))
    checked = h.cli("validate", "-f", str(h.root))
    assert checked.returncode == 1
    assert f"127.0.0.1:{free_port}/tcp ({b.name}) is also published by sandbox/a ({a.name})" in (
        checked.stderr
    )
    done = h.cli("apply", "-f", str(h.root))
    assert done.returncode == 1
    assert "sandbox/b" in done.stdout + done.stderr
    assert h.containers(**{L.SANDBOX: "a"})
    assert not h.containers(**{L.SANDBOX: "b"}), "nothing of the refused unit is created"


def test_a_port_the_instance_already_publishes_refuses_the_newcomer(
    h: Harness, free_port: int, tmp_path: Path
) -> None:
    h.write("a.yaml", web("a", free_port))
    h.apply()
    other = tmp_path / "other"
    other.mkdir()
    (other / "b.yaml").write_text(dedent(web("b", free_port)))
    done = h.cli("apply", "-f", str(other))
    assert done.returncode == 1
    assert f"127.0.0.1:{free_port}/tcp is already published by sandbox/a" in done.stdout
    assert not h.containers(**{L.SANDBOX: "b"})


def test_a_start_the_daemon_refuses_leaves_nothing_half_made_and_backs_off(
    h: Harness, free_port: int, tmp_path: Path
) -> None:
    # Something outside this instance holds the port: only the daemon can tell.
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", free_port))
    holder.listen()
    h.write("web.yaml", web("web", free_port))
    loop = LoopProcess(h, tmp_path / "state", "--backoff-max", "4")
    try:
        h.wait_until(
            lambda: len(re.findall(r"sandbox/web: create infra .* failed", loop.log())) >= 3, 40
        )
        lines = [
            line for line in loop.log().splitlines() if "sandbox/web" in line and "ERROR" in line
        ]
        waits = [float(m) for m in re.findall(r"retrying in (\d+) s", "\n".join(lines))]
        assert len(lines) == len(waits), "one line per attempt, with its retry"
        assert waits[:3] == [1.0, 2.0, 4.0]
        assert not h.containers(), "the refused start left no Created container behind"
        got = h.cli("get", "--state-dir", str(loop.state), "-o", "json")
        (unit,) = json.loads(got.stdout)["units"]
        assert unit["phase"] == "Failed"
        assert "already" in unit["last_error"] or "address" in unit["last_error"]
        holder.close()
        h.wait_until(lambda: running(h, "web") and running(h, "web", "side"), 30)
    finally:
        holder.close()
        loop.stop()


def test_get_lists_failed_units_and_files_that_do_not_load(
    h: Harness, tmp_path: Path, free_port: int
) -> None:
    missing = web("missing", free_port, image="local/nothing:here")
    h.write("missing.yaml", missing.replace("command:", "imagePullPolicy: Never, command:", 1))
    h.write("broken.yaml", "apiVersion: reconciler/v1\nkind: Sandbox\nmetadata: {name: [\n")
    h.write(
        "kata.yaml", web("kata", free_port + 1).replace("spec:", "spec:\n      runtime: kata", 1)
    )
    h.write(
        "pod.yaml",
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: pod}
        spec:
          nodeSelector: {disk: ssd}
          terminationGracePeriodSeconds: 1
          containers: [{name: app, image: local/busybox:test, command: [sleep, "3600"]}]
        """,
    )
    loop = LoopProcess(h, tmp_path / "state")
    try:
        h.wait_until(lambda: running(h, "pod"), 30)

        data: dict[str, Any] = {}

        def failed() -> bool:
            # A pass records the phase, then the error; the status file may be written
            # in between (for another unit's pass): wait for both, for both units.
            got = h.cli("get", "--state-dir", str(loop.state), "-o", "json")
            data.clear()
            data.update(json.loads(got.stdout))
            units = {u["name"]: u for u in data["units"]}
            missing, kata = units.get("missing", {}), units.get("kata", {})
            return (
                missing.get("phase") == "Failed"
                and missing.get("last_error") is not None
                and kata.get("phase") == "Refused"
                and kata.get("last_error") is not None
            )

        h.wait_until(failed, 30)
        units = {u["name"]: u for u in data["units"]}
        assert "local/nothing:here" in units["missing"]["last_error"]
        assert units["kata"]["phase"] == "Refused" and units["kata"]["containers"] == []
        assert "kata" in units["kata"]["last_error"]
        assert list(data["fileErrors"]) == ["broken.yaml"]
        table = h.cli("get", "--state-dir", str(loop.state))
        assert re.search(r"Sandbox\s+kata\s+-\s+Refused", table.stdout), table.stdout
        assert re.search(r"Sandbox\s+missing\s+\S+\s+Failed", table.stdout), table.stdout
        assert "broken.yaml" in table.stderr and "local/nothing:here" in table.stderr
        # Each problem is logged once while it lasts, not at every resync.
        assert loop.log().count("broken.yaml:4:1") == 1
        # The Pod's warning is logged, once for the file as it is.
        assert loop.log().count("spec.nodeSelector: ignored") == 1
    finally:
        loop.stop()


def test_grace_periods_are_announced_as_they_begin_and_get_keeps_manifest_order(
    h: Harness, free_port: int
) -> None:
    h.write(
        "order.yaml",
        """
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: order}
        spec:
          terminationGracePeriodSeconds: 2
          containers:
            - {name: zeta, image: local/busybox:test, command: [sleep, "3600"]}
            - {name: alpha, image: local/busybox:test, command: [sleep, "3600"]}
        """,
    )
    h.apply()
    # Recreate zeta: it is now the newest, and still listed first.
    h.write(
        "order.yaml",
        (h.root / "order.yaml")
        .read_text()
        .replace('"3600"]}\n    - {name: alpha', '"3601"]}\n    - {name: alpha', 1),
    )
    done = h.apply()
    assert "sandbox/order: stopping zeta to recreate it (grace 2 s)" in done.stdout
    got = json.loads(h.cli("get", "-o", "json").stdout)
    assert [c["name"] for c in got["units"][0]["containers"]] == ["infra", "zeta", "alpha"]
    deleted = h.cli("delete", "order")
    lines = deleted.stdout.splitlines()
    begins = [i for i, line in enumerate(lines) if "stopping zeta (grace 2 s)" in line]
    ends = [i for i, line in enumerate(lines) if "remove zeta" in line]
    assert begins and ends and begins[0] < ends[0], deleted.stdout
