"""Nothing is harmed that reconciler does not own; bad input loses nothing."""

from __future__ import annotations

from reconciler.core import labels as L

from .conftest import Harness


def sandbox(name: str, image: str = "local/busybox:test", extra: str = "") -> str:
    return f"""
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {{name: {name}}}
        spec:
          terminationGracePeriodSeconds: 1
          containers:
            - {{name: app, image: {image}, command: [sleep, "3600"]{extra}}}
        """


def test_an_unmanaged_container_is_never_touched(h: Harness) -> None:
    h.write("a.yaml", sandbox("a"))
    h.write("b.yaml", sandbox("b"))
    clash = f"{h.instance}_default_b.app"
    theirs = h.unmanaged(clash)
    bystander = h.unmanaged(f"{h.instance}-bystander")
    done = h.apply(expect=1)
    assert "already taken" in done.stdout + done.stderr and clash in done.stdout + done.stderr
    assert h.member("a", "app")["State"]["Running"], "the other sandbox converged"
    assert not h.containers(**{L.SANDBOX: "b"}), "nothing half-created for the refused one"
    for cid in (theirs, bystander):
        info = h.api.inspect_container(cid)
        assert info["State"]["Running"] and L.MANAGED_BY not in info["Config"]["Labels"]
    (h.root / "a.yaml").unlink()
    (h.root / "b.yaml").unlink()
    h.cli("apply", "-f", str(h.root), "--prune", "--allow-empty")
    assert not h.containers()
    for cid in (theirs, bystander):
        assert h.api.inspect_container(cid)["State"]["Running"]


def test_a_bad_document_beside_a_good_one(h: Harness) -> None:
    h.write("good.yaml", sandbox("good"))
    bad = h.write(
        "bad.yaml",
        sandbox("bad") + "---\n" + sandbox("worse", extra=", bogus: 1"),
    )
    done = h.apply(expect=1)
    assert f"{bad}:" in done.stderr and "spec.containers[0].bogus: unknown field" in done.stderr
    text = bad.read_text().splitlines()
    number = next(i for i, ln in enumerate(text, 1) if "bogus" in ln)
    column = text[number - 1].index("bogus") + 1
    assert f"{bad}:{number}:{column}: spec.containers[0].bogus" in done.stderr
    assert h.member("good", "app")["State"]["Running"]
    assert h.member("bad", "app")["State"]["Running"], "the valid document of bad.yaml applied"
    assert not h.containers(**{L.SANDBOX: "worse"})


def test_a_broken_manifest_never_causes_a_prune(h: Harness) -> None:
    h.write("keep.yaml", sandbox("keep"))
    h.apply()
    kept = h.member("keep", "app")["Id"]
    h.write("keep.yaml", sandbox("keep") + "  half-written: [")
    done = h.apply("--prune", expect=1)
    assert "not pruning" in done.stderr
    assert h.member("keep", "app")["Id"] == kept
    (h.root / "keep.yaml").unlink()
    done = h.apply("--prune")
    assert "refusing to prune" in done.stderr
    assert h.member("keep", "app")["Id"] == kept


def test_prune_removes_only_what_the_paths_no_longer_define(h: Harness) -> None:
    h.write("a.yaml", sandbox("a"))
    h.write(
        "b.yaml",
        sandbox("b", extra=", volumeMounts: [{name: d, mountPath: /d}]").replace(
            "          containers:",
            "          volumes: [{name: d, emptyDir: {}}]\n          containers:",
        ),
    )
    h.apply()
    assert h.api.volumes(filters={"label": f"{L.MANAGED_BY}={h.instance}"})["Volumes"]
    kept = h.member("a", "app")["Id"]
    (h.root / "b.yaml").unlink()
    h.apply()
    assert h.containers(**{L.SANDBOX: "b"}), "no prune without --prune"
    h.apply("--prune")
    assert not h.containers(**{L.SANDBOX: "b"})
    assert not h.api.volumes(filters={"label": f"{L.MANAGED_BY}={h.instance}"})["Volumes"]
    assert h.member("a", "app")["Id"] == kept


def test_an_image_that_cannot_be_had_fails_only_its_sandbox(h: Harness) -> None:
    h.write("ok.yaml", sandbox("ok"))
    h.write(
        "missing.yaml",
        sandbox("missing", image="local/absent:nope", extra=", imagePullPolicy: Never"),
    )
    h.write("unpullable.yaml", sandbox("unpullable", image="127.0.0.1:9/absent:nope"))
    done = h.apply(expect=1)
    out = done.stdout + done.stderr
    assert "local/absent:nope is not present and imagePullPolicy is Never" in out
    assert "127.0.0.1:9/absent:nope" in out and "could not be pulled" in out
    assert "sandbox/ok configured" in out
    assert h.member("ok", "app")["State"]["Running"]


def test_unmanaged_containers_of_another_instance_are_not_pruned(h: Harness) -> None:
    h.write("a.yaml", sandbox("a"))
    h.apply()
    other = h.cli("--instance", f"{h.instance}-other", "apply", "-f", str(h.root))
    try:
        assert other.returncode == 0, other.stdout + other.stderr
        (h.root / "a.yaml").unlink()
        h.apply("--prune", "--allow-empty")
        assert not h.containers()
        theirs = h.api.containers(all=True, filters={"label": f"{L.MANAGED_BY}={h.instance}-other"})
        assert len(theirs) == 2 and all(c["State"] == "running" for c in theirs)
    finally:
        h.cli("--instance", f"{h.instance}-other", "delete", "a")
