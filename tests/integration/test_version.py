"""`reconciler version` against a real daemon: the engine and the runtimes it offers."""

from __future__ import annotations

import json

from .conftest import Harness


def test_version_names_the_engine_and_its_runtimes(h: Harness) -> None:
    done = h.cli("version", "-o", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    expected = h.api.version()["Version"]
    assert data["engine"]["version"] == expected
    assert "runc" in data["engine"]["runtimes"]
    text = h.cli("version").stdout
    assert f"docker engine {expected}" in text and "runtimes: " in text
