"""The status file `get` reads: written soon after a change, one write at a time. Does I/O."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from reconciler.core.spec import UnitKey
from reconciler.loop.metrics import LoopMetrics
from reconciler.loop.statefile import write_record
from reconciler.loop.statusrecord import CONVERGED, FAILING, LoopStatus, StatusBook
from reconciler.sources.directory import Source

log = logging.getLogger("reconciler")

# How long a pass's status may wait to be written: `get` reads it, people wait
# for it, and a resync over hundreds of units should write it once, not per unit.
STATUS_EVERY = 0.2


class Timers(Protocol):
    def later(self, delay: float, action: Callable[[], None]) -> None: ...


class StatusWriter:
    def __init__(
        self,
        *,
        instance: str,
        daemon: str,
        state_dir: Path,
        state_name: str,
        book: StatusBook,
        source: Source,
        desired_keys: Callable[[], set[UnitKey]],
        timers: Timers,
        metrics: LoopMetrics | None = None,
    ) -> None:
        """``timers`` run the deferred write (the loop's Triggers)."""
        self._instance, self._daemon = instance, daemon
        self._dir, self._name = state_dir, state_name
        self._book, self._source, self._metrics = book, source, metrics
        self._desired_keys, self._timers = desired_keys, timers
        self._lock = threading.Lock()
        self._due = False  # a write is scheduled
        # One write at a time, from its snapshot to its rename: two at once (a
        # timer's and a sync poll's) could land the older snapshot last, and the file
        # would go back in time until the next write, which an idle loop may not make.
        self._writing = threading.Lock()

    def soon(self) -> None:
        """Write within STATUS_EVERY seconds: the passes of one resync share a write
        (one per pass was an idle loop's largest cost at 200 units)."""
        with self._lock:
            if self._due:
                return
            self._due = True
        self._timers.later(STATUS_EVERY, self.flush)

    def flush(self) -> None:
        """The scheduled write."""
        with self._lock:
            self._due = False
        self.write()

    def write(self) -> None:
        """Write now."""
        with self._writing:
            self._write()

    def _write(self) -> None:
        units = self._book.units()
        source_status = self._source.status()
        if self._metrics is not None:
            desired_keys = self._desired_keys()
            phases = self._book.phases()
            self._metrics.unit_states(
                desired=len(desired_keys),
                converged=sum(1 for k in desired_keys if phases.get(k) in CONVERGED),
                failed=sum(1 for p in phases.values() if p in FAILING),
            )
            self._metrics.source_status(source_status)
        record = LoopStatus(
            instance=self._instance,
            daemon=self._daemon,
            updated=datetime.now(UTC).isoformat(timespec="seconds"),
            units=units,
            file_errors={
                path: tuple(str(p) for p in problems)
                for path, problems in self._source.errors().items()
            },
            source=source_status,
        )
        try:
            write_record(self._dir, self._name, record)
        except OSError as exc:
            log.warning("writing status: %s", exc)
