"""Volumes of files: what the compile step puts in them, and how the driver writes them."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from reconciler.core.manifests import load_text
from reconciler.core.spec import ProjectedFile
from reconciler.drivers.projection import DATA, inside, write_files

from .test_values import SETTINGS, desired, refusal


def pod(volumes: str, mount: str = "{name: v, mountPath: /v}") -> str:
    return f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: web, labels: {{b: "2", a: "1"}}}}
        spec:
          volumes: {volumes}
          containers:
            - name: app
              image: x
              resources: {{limits: {{memory: 64Mi}}}}
              volumeMounts: [{mount}]
        """


def files(*texts: str) -> dict[str, tuple[str, int]]:
    (unit,) = desired(*texts).units
    (volume,) = unit.volumes
    assert volume.files is not None
    return {f.path: (f.content, f.mode) for f in volume.files}


def test_a_config_map_as_files_every_key_or_the_items() -> None:
    every = files(SETTINGS, pod("[{name: v, configMap: {name: settings}}]"))
    assert every == {"MODE": ("prod", 0o644), "RAW": ("$(MODE)", 0o644)}
    items = "[{key: MODE, path: a/mode, mode: 0400}]"
    picked = files(SETTINGS, pod(f"[{{name: v, configMap: {{name: settings, items: {items}}}}}]"))
    assert picked == {"a/mode": ("prod", 0o400)}


def test_a_missing_config_map_or_key_refuses_unless_optional() -> None:
    assert "ConfigMap default/settings is not defined" in refusal(
        pod("[{name: v, configMap: {name: settings}}]")
    )
    assert files(pod("[{name: v, configMap: {name: settings, optional: true}}]")) == {}
    items = "[{key: NOPE, path: x}]"
    why = refusal(SETTINGS, pod(f"[{{name: v, configMap: {{name: settings, items: {items}}}}}]"))
    assert "spec.volumes[0].configMap.items[0].key" in why and "has no key 'NOPE'" in why


def test_the_downward_api_in_kubernetes_line_format() -> None:
    items = (
        "[{path: labels, fieldRef: {fieldPath: metadata.labels}},"
        " {path: a, fieldRef: {fieldPath: \"metadata.labels['a']\"}},"
        " {path: mem, resourceFieldRef: {containerName: app, resource: limits.memory,"
        " divisor: 1Mi}}]"
    )
    found = files(pod(f"[{{name: v, downwardAPI: {{items: {items}, defaultMode: 0440}}}}]"))
    assert found == {
        "labels": ('a="1"\nb="2"', 0o440),  # no newline at the end, as kubelet
        "a": ("1", 0o440),
        "mem": ("64", 0o440),
    }


def test_the_uid_and_an_unknown_field_are_refused_in_a_volume() -> None:
    uid = "[{name: v, downwardAPI: {items: [{path: u, fieldRef: {fieldPath: metadata.uid}}]}}]"
    assert "metadata.uid is known only once the sandbox exists" in refusal(pod(uid))
    bad = "[{name: v, downwardAPI: {items: [{path: u, fieldRef: {fieldPath: spec.nodeName}}]}}]"
    assert "is not one Kubernetes gives a downwardAPI volume" in refusal(pod(bad))


def test_projected_sources_in_order_and_no_service_account_token() -> None:
    sources = (
        "[{configMap: {name: settings, items: [{key: MODE, path: x}]}},"
        " {secret: {name: creds, items: [{key: PASSWORD, path: x}]}}]"
    )
    assert files(SETTINGS, pod(f"[{{name: v, projected: {{sources: {sources}}}}}]")) == {
        "x": ("s3cret", 0o644)  # the later source wins the path
    }
    token = "[{name: v, projected: {sources: [{serviceAccountToken: {path: t}}]}}]"
    (problem,) = load_text(dedent(pod(token)), "p.yaml").errors
    assert "serviceAccountToken and clusterTrustBundle projections need a Kubernetes API" in str(
        problem
    )


@pytest.mark.parametrize("sub_path", ["/abs", "../up", "a/../../b"])
def test_a_sub_path_out_of_its_volume_is_refused(sub_path: str) -> None:
    mount = f"{{name: v, mountPath: /v, subPath: '{sub_path}'}}"
    (problem,) = load_text(dedent(pod("[{name: v, emptyDir: {}}]", mount)), "p.yaml").errors
    assert "must be a relative path that stays inside the volume" in str(problem)


def test_a_changed_value_changes_the_hash_of_the_containers_that_mount_it() -> None:
    text = pod("[{name: v, configMap: {name: settings}}]")
    before = desired(SETTINGS, text).units[0].workloads[0].hash
    after = desired(SETTINGS.replace("prod", "dev"), text).units[0].workloads[0].hash
    assert before != after


def test_the_writer_swaps_whole_sets_and_keeps_an_unchanged_one(tmp_path: Path) -> None:
    root = tmp_path / "v"
    write_files(root, [ProjectedFile("a", "1"), ProjectedFile("d/b", "2", 0o400)])
    assert (root / "a").read_text() == "1" and (root / "d" / "b").read_text() == "2"
    assert (root / "a").is_symlink() and (root / DATA).is_symlink()
    assert oct((root / "d" / "b").stat().st_mode & 0o777) == oct(0o400)
    first = (root / DATA).resolve()
    write_files(root, [ProjectedFile("a", "1"), ProjectedFile("d/b", "2", 0o400)])
    assert (root / DATA).resolve() == first, "the same set: kept, not rewritten"
    write_files(root, [ProjectedFile("a", "3")])
    assert (root / "a").read_text() == "3" and not (root / "d").exists()
    assert not first.exists(), "the old set is gone"
    assert inside(root, "a") == (root / DATA).resolve() / "a"
    with pytest.raises(ValueError, match="leads out of its volume"):
        inside(root, "../..")
