"""The watched directory's last-known-good bookkeeping (sources.py), with a fake clock."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

from reconciler.sources import ManifestDirectory

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
