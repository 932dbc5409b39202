"""The cri driver's relisting events and its reading of CRI log files, without a runtime."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("grpc")

from reconciler.core import labels as L
from reconciler.core.observed import EventKind, State
from reconciler.drivers.cri.tools import CriEvents, CriLogStream

Snapshot = dict[str, tuple[State, Mapping[str, str]]]
WEB = {L.KIND: "Sandbox", L.NAMESPACE: "default", L.SANDBOX: "web", L.ROLE: "workload"}


class _Lister:
    """Hands out snapshots in turn (the last one for ever), and closes the stream after."""

    def __init__(self, *snapshots: Snapshot) -> None:
        self.snapshots = list(snapshots)
        self.stream: CriEvents | None = None

    def snapshot(self) -> Snapshot:
        if len(self.snapshots) == 1 and self.stream is not None:
            self.stream.close()
        return self.snapshots.pop(0) if len(self.snapshots) > 1 else self.snapshots[0]


def test_a_relist_yields_what_changed_since_the_last() -> None:
    lister = _Lister(
        {"a": (State.RUNNING, WEB), "b": (State.RUNNING, WEB)},
        {"a": (State.EXITED, WEB), "b": (State.RUNNING, WEB), "c": (State.CREATED, WEB)},
        {"b": (State.RUNNING, WEB), "c": (State.RUNNING, WEB)},
    )
    stream = CriEvents(lister.snapshot, period=0.001)
    lister.stream = stream
    seen = [(e.container_id, e.kind, e.role) for e in stream]
    assert seen == [
        ("a", EventKind.EXITED, "workload"),
        ("c", EventKind.CREATED, "workload"),
        ("c", EventKind.STARTED, "workload"),
        ("a", EventKind.REMOVED, "workload"),
    ]


def test_close_ends_an_idle_stream_from_another_thread() -> None:
    same: Snapshot = {"a": (State.RUNNING, WEB)}
    lister = _Lister(same)
    stream = CriEvents(lister.snapshot, period=0.01)
    threading.Timer(0.05, stream.close).start()
    assert list(stream) == []


LOG = (
    b"2026-11-29T10:00:00.000000001Z stdout F first\n"
    b"2026-11-29T10:00:01.000000000Z stderr P par\n"
    b"2026-11-29T10:00:01.100000000Z stderr F tial\n"
    b"2026-11-29T10:00:02.000000000Z stdout F last\n"
)


def _read(path: Path, **options: Any) -> bytes:
    settings: dict[str, Any] = {
        "follow": False, "tail": None, "since": None, "until": None, "timestamps": False,
    } | options  # fmt: skip
    return b"".join(CriLogStream(path, lambda: False, **settings))


def test_a_cri_log_file_reads_as_the_containers_output(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(LOG)
    assert _read(path) == b"first\npartial\nlast\n"
    assert _read(path, tail=1) == b"last\n"
    assert _read(path, tail=0) == b""
    since = 1795946401.0  # 2026-11-29T10:00:01Z
    assert _read(path, since=since) == b"partial\nlast\n"
    assert _read(path, until=since + 0.05) == b"first\npar"
    assert _read(path, timestamps=True).startswith(b"2026-11-29T10:00:00.000000001Z first\n")
    assert _read(tmp_path / "missing.log") == b""
