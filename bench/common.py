"""What the benchmarks share: the daemon check, cleanup helpers, a table printer.

Imported by bench/apply.py and bench/loop.py, which run as scripts from this
directory (so a plain `import common` finds it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import docker
import docker.errors

BUSYBOX = "local/busybox:test"
PAUSE = "local/pause:test"
MANAGED_BY = "io.reconciler.managed-by"


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


def connect() -> docker.APIClient:
    """A low-level client for DOCKER_HOST, after checking the daemon and the images."""
    host = os.environ.get("DOCKER_HOST")
    if not host:
        raise BenchError(
            "DOCKER_HOST is not set; start a private daemon with "
            "`scripts/dockerd.sh start /tmp/benchdocker` and export the socket it prints"
        )
    try:
        api = docker.APIClient(base_url=host, version="auto", timeout=120)
        api.ping()
    except docker.errors.DockerException as exc:
        raise BenchError(f"the Docker daemon at {host} does not answer: {exc}") from exc
    for image in (BUSYBOX, PAUSE):
        try:
            api.inspect_image(image)
        except docker.errors.ImageNotFound:
            raise BenchError(
                f"image {image} is missing on {host}; run scripts/test-image.sh"
            ) from None
    return api


def joins_another(row: dict[str, Any]) -> bool:
    mode = str((row.get("HostConfig") or {}).get("NetworkMode") or "")
    return mode.startswith("container:")


def remove_container(api: docker.APIClient, container_id: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        api.remove_container(container_id, force=True)


def short_id() -> str:
    return uuid.uuid4().hex[:10]


def reconciler_executable() -> Path:
    """The CLI next to this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("reconciler")
    if beside.exists():
        return beside
    found = shutil.which("reconciler")
    return Path(found) if found else beside


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        cells = [
            row[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
        ]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
