"""The progress line of a long `apply` on a terminal: units done / total, current action.

Writes to the terminal only (the CLI enables it when stdout and stderr are
both terminals, never on a pipe). Thread-safe: the executor reports from its
worker threads.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TextIO

from reconciler.converge.executor import Outcome
from reconciler.core.actions import Action, describe
from reconciler.core.spec import UnitKey

_CLEAR = "\r\033[K"


class Progress:
    def __init__(self, terminal: TextIO, actions: Mapping[UnitKey, int]) -> None:
        self._out = terminal
        self._left = {k: n for k, n in actions.items() if n}
        self._total = len(self._left)
        self._done = 0
        self._current = ""
        self._lock = threading.Lock()

    def begin(self, key: UnitKey, action: Action) -> None:
        with self._lock:
            self._current = f"{key}: {describe(action)[1]}"
            self._draw()

    def finished(self, key: UnitKey, outcome: Outcome) -> None:
        """Count ``outcome``; a unit is done after its last action or its first failure."""
        with self._lock:
            if key not in self._left:
                return
            self._left[key] -= 1
            if self._left[key] <= 0 or not outcome.ok:
                del self._left[key]
                self._done += 1
            self._draw()

    def print(self, line: str, stream: TextIO) -> None:
        """Print ``line`` above the progress line."""
        with self._lock:
            self._out.write(_CLEAR)
            self._out.flush()
            stream.write(line + "\n")
            stream.flush()
            self._draw()

    def close(self) -> None:
        with self._lock:
            self._out.write(_CLEAR)
            self._out.flush()
            self._total = 0

    def _draw(self) -> None:
        if self._total:
            width = 100
            text = f"[{self._done}/{self._total} units] {self._current}"[:width]
            self._out.write(_CLEAR + text)
            self._out.flush()
