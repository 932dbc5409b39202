"""The watched directory (reconciler/sources/directory.py): last known good per file and settling.

The clock is the ``now`` argument, so settling is tested without sleeping.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from textwrap import dedent

import pytest

from reconciler.core.compile import BuildConfig
from reconciler.core.manifests import discover
from reconciler.core.models import Kind
from reconciler.core.spec import UnitKey
from reconciler.drivers.docker.capabilities import DOCKER
from reconciler.sources.directory import Change, DirectorySource, ManifestDirectory

CONFIG = BuildConfig("test", driver=DOCKER)
SETTLE = 2.0


def _container(name: str, image: str = "busybox:1") -> str:
    return dedent(
        f"""
        apiVersion: reconciler/v1
        kind: Container
        metadata: {{name: {name}}}
        spec: {{image: "{image}"}}
        """
    )


def _key(name: str) -> UnitKey:
    return UnitKey(Kind.CONTAINER, "default", name)


def _names(source: ManifestDirectory) -> set[str]:
    return {c.unit.key.name for c in source.compiled(CONFIG)}


def _image(source: ManifestDirectory, name: str) -> str:
    (unit,) = [c.unit for c in source.compiled(CONFIG) if c.unit.key == _key(name)]
    return unit.workloads[0].spec.image


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def source(root: Path) -> ManifestDirectory:
    return ManifestDirectory(root, recursive=False, settle=SETTLE)


def test_scan_loads_every_manifest_and_names_the_changed_units(
    root: Path, source: ManifestDirectory
) -> None:
    (root / "a.yaml").write_text(_container("a"))
    (root / "b.yml").write_text(_container("b") + "---" + _container("c"))
    change = source.scan(now=0.0)
    assert change.units == {_key("a"), _key("b"), _key("c")}
    assert change.recheck_in is None
    assert _names(source) == {"a", "b", "c"}
    assert source.scan(now=1.0).units == frozenset(), "nothing changed: nothing to reconcile"


def test_a_broken_edit_keeps_the_last_good_units_and_reports_where(
    root: Path, source: ManifestDirectory
) -> None:
    path = root / "a.yaml"
    path.write_text(_container("a"))
    source.scan(now=0.0)
    path.write_text(_container("a", image="busybox:2").replace("image:", "imag:"))
    change = source.reload([path], now=1.0)
    assert change.units == {_key("a")}
    assert _image(source, "a") == "busybox:1", "last known good stays"
    ((label, problems),) = source.errors().items()
    assert label == "a.yaml"
    assert any("imag" in str(p) and "a.yaml:" in str(p) for p in problems)
    path.write_text(_container("a", image="busybox:2"))
    source.reload([path], now=2.0)
    assert _image(source, "a") == "busybox:2"
    assert source.errors() == {}


def test_a_file_that_never_loaded_defines_nothing_and_is_reported(
    root: Path, source: ManifestDirectory
) -> None:
    (root / "bad.yaml").write_text("apiVersion: reconciler/v1\nkind: [\n")
    source.scan(now=0.0)
    assert _names(source) == set()
    assert "bad.yaml" in source.errors()


def test_a_unit_dropped_from_a_file_goes_only_once_the_file_has_settled(
    root: Path, source: ManifestDirectory
) -> None:
    path = root / "a.yaml"
    path.write_text(_container("a") + "---" + _container("b"))
    source.scan(now=0.0)
    path.write_text(_container("a", image="busybox:2"))  # the editor's first write
    change = source.reload([path], now=10.0)
    assert change.recheck_in == SETTLE
    assert _names(source) == {"a", "b"}, "b is kept while the file may still be written"
    assert _image(source, "a") == "busybox:2", "the rest of the file is taken as it is now"
    early = source.reload([path], now=10.0 + SETTLE / 2)
    assert early.recheck_in == pytest.approx(SETTLE / 2)
    assert _names(source) == {"a", "b"}
    settled = source.reload([path], now=10.0 + SETTLE)
    assert settled.recheck_in is None
    assert _key("b") in settled.units
    assert _names(source) == {"a"}


def _sandbox(*containers: str) -> str:
    listed = ", ".join(f'{{name: {c}, image: "busybox:1"}}' for c in containers)
    return dedent(
        f"""
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {{name: s}}
        spec: {{containers: [{listed}]}}
        """
    )


def _members(source: ManifestDirectory) -> list[str]:
    (unit,) = [c.unit for c in source.compiled(CONFIG)]
    return sorted(w.name for w in unit.workloads)


def test_a_container_dropped_from_a_unit_goes_only_once_the_file_has_settled(
    root: Path, source: ManifestDirectory
) -> None:
    path = root / "s.yaml"
    path.write_text(_sandbox("a", "b"))
    source.scan(now=0.0)
    path.write_text(_sandbox("a"))  # read while still being written: cut after "a"
    change = source.reload([path], now=10.0)
    assert change.recheck_in == SETTLE
    assert _members(source) == ["a", "b"], "b is kept while the file may still be written"
    path.write_text(_sandbox("a", "b", "c"))  # the write completes, with one more
    grown = source.reload([path], now=10.5)
    assert grown.recheck_in is None, "nothing lost: taken at once"
    assert _members(source) == ["a", "b", "c"]
    path.write_text(_sandbox("a"))  # really dropped: read the same after settling
    source.reload([path], now=11.0)
    assert _members(source) == ["a", "b", "c"]
    source.reload([path], now=11.0 + SETTLE)
    assert _members(source) == ["a"]


def test_a_new_write_while_settling_starts_the_wait_again(
    root: Path, source: ManifestDirectory
) -> None:
    path = root / "a.yaml"
    path.write_text(_container("a") + "---" + _container("b") + "---" + _container("c"))
    source.scan(now=0.0)
    path.write_text(_container("a"))
    assert source.reload([path], now=10.0).recheck_in == SETTLE
    path.write_text(_container("a") + "---" + _container("c"))  # still being written
    again = source.reload([path], now=11.5)
    assert again.recheck_in == SETTLE, "a different text is a new candidate"
    assert _names(source) == {"a", "b", "c"}
    source.reload([path], now=11.5 + SETTLE)
    assert _names(source) == {"a", "c"}


def test_a_write_that_restores_the_units_cancels_their_removal(
    root: Path, source: ManifestDirectory
) -> None:
    path = root / "a.yaml"
    both = _container("a") + "---" + _container("b")
    path.write_text(both)
    source.scan(now=0.0)
    path.write_text(_container("a"))
    source.reload([path], now=1.0)
    path.write_text(both)
    assert source.reload([path], now=1.5).recheck_in is None
    source.reload([path], now=100.0)
    assert _names(source) == {"a", "b"}


def test_a_deleted_file_takes_its_units_at_once(root: Path, source: ManifestDirectory) -> None:
    path = root / "a.yaml"
    path.write_text(_container("a"))
    source.scan(now=0.0)
    path.unlink()
    change = source.reload([path], now=0.1)
    assert change.units == {_key("a")} and change.recheck_in is None
    assert _names(source) == set()
    assert source.scan(now=0.2).units == frozenset()


def test_a_unit_defined_twice_counts_where_it_was_first_defined(
    root: Path, source: ManifestDirectory
) -> None:
    (root / "a.yaml").write_text(_container("x", image="busybox:1"))
    (root / "b.yaml").write_text(_container("x", image="busybox:2"))
    source.scan(now=0.0)
    assert _image(source, "x") == "busybox:1"
    ((label, (problem,)),) = source.errors().items()
    assert label.endswith("b.yaml")
    # The same words as apply says it with (manifests.first_of_each).
    assert "duplicate Container default/x" in problem.message and "a.yaml" in problem.message


def test_errors_name_every_file_by_its_relative_path(root: Path, source: ManifestDirectory) -> None:
    (root / "a.yaml").write_text(_container("x"))
    (root / "b.yaml").write_text(_container("x"))
    source.scan(now=0.0)
    source.compiled(CONFIG)
    assert set(source.errors()) == {"b.yaml"}


def test_only_manifest_files_at_the_right_depth_are_wanted(root: Path) -> None:
    flat = ManifestDirectory(root, recursive=False)
    deep = ManifestDirectory(root, recursive=True)
    for name in ("a.yaml", "a.yml", "a.json"):
        assert flat.wants(root / name)
    for name in (".a.yaml", "#a.yaml#", "~a.yaml", "a.yaml~", "a.yaml.swp", "a.bak", "a.txt"):
        assert not flat.wants(root / name), name
    assert not flat.wants(root / "sub" / "a.yaml")
    assert deep.wants(root / "sub" / "a.yaml")
    assert not deep.wants(root / ".git" / "a.yaml")
    assert not flat.wants(root.parent / "elsewhere.yaml")


GOOD = dedent(
    """
    apiVersion: reconciler/v1
    kind: Container
    metadata: {name: solo}
    spec: {image: busybox}
    """
)


def test_a_file_restored_to_its_last_good_text_clears_its_error(tmp_path: Path) -> None:
    path = tmp_path / "solo.yaml"
    path.write_text(GOOD)
    files = ManifestDirectory(tmp_path, recursive=False)
    files.scan(now=0.0)
    assert files.errors() == {}

    path.write_text(GOOD.replace("image: busybox", "image: [broken"))
    files.reload([path], now=1.0)
    assert list(files.errors()) == ["solo.yaml"]

    path.write_text(GOOD)  # exactly the text it last loaded well from
    files.reload([path], now=2.0)
    assert files.errors() == {}
    files.scan(now=3.0)  # and a resync does not bring it back
    assert files.errors() == {}


def _tree(root: Path) -> list[Path]:
    """Files of every kind of name, at two depths and inside a dot directory."""
    names = ("a.yaml", "b.yml", "c.json", ".d.yaml", "#e.yaml#", "~f.yaml", "g.txt", "h.yaml~")
    paths = [root / n for n in names]
    paths += [root / "sub" / n for n in names] + [root / ".git" / "i.yaml"]
    for path in paths:
        path.parent.mkdir(exist_ok=True)
        path.write_text(_container("x"))
    return paths


@pytest.mark.parametrize("recursive", [False, True])
def test_what_the_watcher_wants_is_what_a_scan_reads(root: Path, recursive: bool) -> None:
    """One rule for both (manifests.is_manifest_name): an event for a file a scan
    would not read is ignored, and no file a scan reads goes unwatched."""
    paths = _tree(root)
    files = ManifestDirectory(root, recursive=recursive)
    scanned = {p for p, _ in discover(root, recursive)}
    assert scanned == {p for p in paths if files.wants(p)}
    expected = {"a.yaml", "b.yml", "c.json"}
    assert {p.relative_to(root).as_posix() for p in scanned} == (
        expected | {f"sub/{n}" for n in expected} if recursive else expected
    )


def test_a_deleted_file_is_still_wanted_so_its_units_go(root: Path) -> None:
    files = ManifestDirectory(root, recursive=False)
    path = root / "a.yaml"
    path.write_text(_container("a"))
    files.scan(now=0.0)
    path.unlink()
    assert files.wants(path), "decided from the name alone: the file is gone"
    assert files.reload([path], now=1.0).units == {_key("a")}
    assert _names(files) == set()


def test_a_directory_named_like_a_manifest_is_not_read(
    root: Path, source: ManifestDirectory
) -> None:
    (root / "dir.yaml").mkdir()
    (root / "a.yaml").write_text(_container("a"))
    assert source.scan(now=0.0).units == {_key("a")}
    assert source.errors() == {}


def test_a_unit_defined_twice_in_one_file_is_reported_there(
    root: Path, source: ManifestDirectory
) -> None:
    (root / "a.yaml").write_text(_container("x") + "---" + _container("x", image="busybox:2"))
    source.scan(now=0.0)
    assert _image(source, "x") == "busybox:1"
    ((label, (problem,)),) = source.errors().items()
    assert label == "a.yaml" and problem.location.line > 2


def test_a_duplicate_goes_when_its_first_definition_goes(
    root: Path, source: ManifestDirectory
) -> None:
    (root / "a.yaml").write_text(_container("x", image="busybox:1"))
    (root / "b.yaml").write_text(_container("x", image="busybox:2"))
    source.scan(now=0.0)
    source.compiled(CONFIG)
    (root / "a.yaml").unlink()
    source.scan(now=1.0)
    assert _image(source, "x") == "busybox:2"
    assert source.errors() == {}


def test_a_recursive_directory_labels_units_by_their_relative_path(root: Path) -> None:
    (root / "team").mkdir()
    (root / "team" / "a.yaml").write_text(_container("a"))
    files = ManifestDirectory(root, recursive=True)
    files.scan(now=0.0)
    (unit,) = [c.unit for c in files.compiled(CONFIG)]
    assert unit.source == "team/a.yaml"


def test_the_directory_source_is_complete_from_the_start_and_says_what_it_follows(
    root: Path,
) -> None:
    directory = DirectorySource(root, recursive=False)
    assert directory.complete(), "a broken file holds only its own units"
    assert directory.describe() == str(root)
    assert directory.status() == {"directory": str(root)}
    (root / "a.yaml").write_text(_container("a"))
    assert directory.scan(now=0.0).units == {_key("a")}
    assert {c.unit.key for c in directory.compiled(CONFIG)} == {_key("a")}


def test_a_settling_change_is_read_again_by_itself(root: Path) -> None:
    """The watcher's recheck: a file that dropped a unit is read again once it has
    settled, without another event, and the unit goes then."""
    path = root / "a.yaml"
    path.write_text(_container("a") + "---" + _container("b"))
    directory = DirectorySource(root, recursive=False, settle=0.0)
    directory.scan(now=0.0)
    path.write_text(_container("a"))
    changes: list[Change | None] = []
    stop = threading.Event()
    first = directory.files.reload([path], now=0.0)
    assert first.recheck_in is not None
    directory._changed(stop, changes.append, first, {path})
    deadline = time.monotonic() + 10
    while _names(directory.files) != {"a"} and time.monotonic() < deadline:
        stop.wait(0.01)
    stop.set()
    assert _names(directory.files) == {"a"}
    assert changes[0] is first and len(changes) >= 2


def test_compiling_unchanged_files_again_hands_back_the_same_units(
    root: Path, source: ManifestDirectory
) -> None:
    """A resync re-reads every file; the loop admits again only what is new."""
    (root / "a.yaml").write_text(_container("a"))
    source.scan(now=0.0)
    first = source.compiled(CONFIG)
    source.scan(now=30.0)
    assert source.compiled(CONFIG) is first
    assert source.compiled(BuildConfig("other", driver=DOCKER)) is not first, (
        "other settings compile again"
    )
    (root / "a.yaml").write_text(_container("a", image="busybox:2"))
    source.scan(now=60.0)
    assert _image(source, "a") == "busybox:2"
    (root / "a.yaml").unlink()
    source.scan(now=90.0)
    assert _names(source) == set()


def _reader(name: str) -> str:
    return dedent(
        f"""
        apiVersion: reconciler/v1
        kind: Container
        metadata: {{name: {name}}}
        spec:
          image: busybox:1
          env: [{{name: MODE, valueFrom: {{configMapKeyRef: {{name: settings, key: MODE}}}}}}]
        """
    )


def _settings(mode: str) -> str:
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {{MODE: {mode}}}\n"
    )


def _mode(source: ManifestDirectory, name: str) -> str:
    (unit,) = [c.unit for c in source.compiled(CONFIG) if c.unit.key == _key(name)]
    return {e.name: e.value for e in unit.workloads[0].spec.env}["MODE"]


def test_a_config_map_in_another_file_is_read_and_its_change_looks_at_its_readers(
    root: Path, source: ManifestDirectory
) -> None:
    settings = root / "settings.yaml"
    settings.write_text(_settings("prod"))
    (root / "app.yaml").write_text(_reader("app"))
    source.scan(now=0.0)
    assert _mode(source, "app") == "prod"
    settings.write_text(_settings("dev"))
    assert _key("app") in source.reload([settings], now=1.0).units
    assert _mode(source, "app") == "dev"
    # Broken, it keeps its last good values; the reader is not refused.
    settings.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n")
    source.reload([settings], now=2.0)
    assert _mode(source, "app") == "dev" and "settings.yaml" in source.errors()
    # Gone, the reader reads nothing: admission refuses it, naming the reference.
    settings.unlink()
    assert _key("app") in source.reload([settings], now=3.0).units
    (compiled,) = source.compiled(CONFIG)
    (problem,) = compiled.problems
    assert "app.yaml:" in str(problem) and "ConfigMap default/settings is not defined" in str(
        problem
    )
