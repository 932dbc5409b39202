"""Ownership by source on a real daemon: `apply` and `run` share an instance without harm."""

from __future__ import annotations

import json
import time
from pathlib import Path
from textwrap import dedent

from reconciler.core import labels as L

from .conftest import Harness
from .test_loop import LoopProcess, running, sandbox


def ids(h: Harness, name: str) -> dict[str, str]:
    return {c["Labels"][L.CONTAINER] or "infra": c["Id"] for c in h.containers(**{L.SANDBOX: name})}


def owners(h: Harness) -> dict[str, str]:
    done = h.cli("get", "-o", "json")
    assert done.returncode == 0, done.stderr
    return {u["name"]: u["owner"] for u in json.loads(done.stdout)["units"]}


def steady(h: Harness, name: str, before: dict[str, str], seconds: float) -> None:
    """Negative evidence: ``name``'s containers stay exactly as they were, for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert ids(h, name) == before
        assert all(running(h, name, c if c != "infra" else "") for c in before)
        time.sleep(0.5)


def test_run_on_another_directory_never_prunes_what_apply_made(h: Harness, tmp_path: Path) -> None:
    applied = tmp_path / "applied"
    applied.mkdir()
    (applied / "kept.yaml").write_text(dedent(sandbox("kept")))
    done = h.cli("apply", "-f", str(applied))
    assert done.returncode == 0, done.stderr
    before = ids(h, "kept")
    assert len(before) == 3

    h.write("mine.yaml", sandbox("mine"))
    loop = LoopProcess(h, tmp_path / "state", resync=1.0)
    try:
        h.wait_until(lambda: running(h, "mine") and running(h, "mine", "sidecar"), 30)
        steady(h, "kept", before, 6.0)  # six resyncs of the loop
        assert "no longer defined" not in loop.log()
        assert owners(h) == {"kept": "apply", "mine": f"dir:{h.root.resolve()}"}
    finally:
        loop.stop()


def test_a_unit_of_another_source_is_a_conflict_until_adopted(h: Harness, tmp_path: Path) -> None:
    applied = tmp_path / "applied"
    applied.mkdir()
    (applied / "web.yaml").write_text(dedent(sandbox("web", flavour="apply")))
    assert h.cli("apply", "-f", str(applied)).returncode == 0
    before = ids(h, "web")

    # The directory defines the same unit differently: reported, never taken.
    h.write("web.yaml", sandbox("web", flavour="dir"))
    loop = LoopProcess(h, tmp_path / "state", resync=1.0)
    try:
        h.wait_until(lambda: "sandbox/web is owned by apply" in loop.log(), 30)
        steady(h, "web", before, 4.0)
        status = loop.status()
        units = status.get("units")
        assert isinstance(units, dict)
        assert "is owned by apply" in (units["sandbox/web"]["lastError"] or "")
    finally:
        loop.stop()

    # --adopt takes it over: the owner changes, and so does the spec (only the app).
    loop = LoopProcess(h, tmp_path / "state", "--adopt", resync=1.0)
    try:
        h.wait_until(lambda: ids(h, "web").get("app") not in (None, before["app"]), 30)
        h.wait_until(lambda: running(h, "web"), 30)
    finally:
        loop.stop()
    after = ids(h, "web")
    assert after["infra"] == before["infra"]
    assert after["sidecar"] == before["sidecar"]
    assert owners(h) == {"web": f"dir:{h.root.resolve()}"}

    # Now apply is the other source: refused with exit 1, and nothing changes.
    refused = h.cli("apply", "-f", str(applied))
    assert refused.returncode == 1
    assert f"sandbox/web is owned by dir:{h.root.resolve()}" in refused.stdout + refused.stderr
    # apply --prune of the same paths no longer defining it leaves it alone too.
    (applied / "web.yaml").unlink()
    (applied / "other.yaml").write_text(dedent(sandbox("other")))
    pruned = h.cli("apply", "--prune", "-f", str(applied))
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert ids(h, "web") == after


def test_delete_removes_a_unit_whatever_its_owner(h: Harness, tmp_path: Path) -> None:
    h.write("web.yaml", sandbox("web"))
    loop = LoopProcess(h, tmp_path / "state", resync=30.0)
    try:
        h.wait_until(lambda: running(h, "web") and running(h, "web", "sidecar"), 30)
    finally:
        loop.stop()
    done = h.cli("delete", "sandbox/web")
    assert done.returncode == 0, done.stdout + done.stderr
    assert h.containers() == []
    volumes = h.api.volumes(filters={"label": [f"{L.MANAGED_BY}={h.instance}"]})["Volumes"]
    assert not volumes


def test_two_directories_and_their_loops_share_one_instance(h: Harness, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "b.yaml").write_text(dedent(sandbox("b")))
    (other / "c.yaml").write_text(dedent(sandbox("c")))
    h.write("a.yaml", sandbox("a"))
    first = LoopProcess(h, tmp_path / "state", "--resync", "1")
    try:
        h.wait_until(lambda: running(h, "a") and running(h, "a", "sidecar"), 30)
        second = LoopProcess(h, tmp_path / "second", "--state-dir", str(tmp_path / "state"))
        assert second.process.wait(timeout=30) == 1  # the same directory: refused
        assert "already running" in second.log()
    finally:
        first.stop()
    # Two sources side by side: each converges its own and prunes only its own.
    a = LoopProcess(h, tmp_path / "state", "--resync", "1")
    h_b = Harness(h.api, other, h.instance)
    b = LoopProcess(h_b, tmp_path / "b", "--resync", "1", "--state-dir", str(tmp_path / "state"))
    try:
        # b's loop makes b and c at once: owners() below lists c only once it exists.
        h.wait_until(lambda: all(running(h, n) and running(h, n, "sidecar") for n in "bc"), 30)
        before = {name: ids(h, name) for name in ("a", "b")}
        steady(h, "a", before["a"], 4.0)
        assert ids(h, "b") == before["b"]
        theirs = f"dir:{other.resolve()}"
        assert owners(h) == {"a": f"dir:{h.root.resolve()}", "b": theirs, "c": theirs}
        (other / "b.yaml").unlink()  # b's loop lets go of b, and only of b
        h.wait_until(lambda: not ids(h, "b"), 30)
        assert ids(h, "a") == before["a"]
    finally:
        a.stop()
        b.stop()
