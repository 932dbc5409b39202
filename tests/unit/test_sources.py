"""The watched directory (reconciler/sources/directory.py): last known good per file and settling.

The clock is the ``now`` argument, so settling is tested without sleeping.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from reconciler.core.effective import BuildConfig, UnitKey
from reconciler.core.models import Kind
from reconciler.sources.directory import ManifestDirectory

CONFIG = BuildConfig("test")
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
    assert "duplicate container/x" in problem.message and "a.yaml" in problem.message


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
