"""systemd's notify protocol: READY=1, WATCHDOG=1, STOPPING=1 over $NOTIFY_SOCKET. Does I/O.

A datagram per message to the unix socket systemd names in ``NOTIFY_SOCKET``
(``@`` means the abstract namespace), as sd_notify(3) describes; a dozen lines
did not justify a dependency. Without ``NOTIFY_SOCKET`` every call is a no-op,
so `reconciler run` behaves the same outside systemd.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from reconciler.loop.metrics import Health

log = logging.getLogger("reconciler")


def notify(message: str, environ: dict[str, str] | None = None) -> bool:
    """Send ``message`` (``KEY=VALUE`` lines); False when not under systemd or it failed."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("sd_notify %s: %s", message.split("\n", 1)[0], exc)
        return False
    return True


def watchdog_seconds(environ: dict[str, str] | None = None) -> float | None:
    """systemd's WatchdogSec for this process, from WATCHDOG_USEC (and WATCHDOG_PID)."""
    env = os.environ if environ is None else environ
    usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1e6


class Notifier:
    """READY=1 once the first pass has been made; WATCHDOG=1 at half the watchdog
    interval while the loop is healthy (a stuck loop stops the pings, and systemd
    restarts it); STOPPING=1 on the way out."""

    def __init__(self, health: Health, stop: threading.Event) -> None:
        self.health = health
        self.stop = stop
        self.interval = watchdog_seconds()
        self._thread = threading.Thread(target=self._run, name="sd-notify", daemon=True)

    @staticmethod
    def wanted() -> bool:
        return bool(os.environ.get("NOTIFY_SOCKET"))

    def start(self) -> Notifier:
        self._thread.start()
        return self

    def _run(self) -> None:
        tick = min(1.0, self.interval / 2) if self.interval else 1.0
        next_ping = 0.0
        ready = False
        elapsed = 0.0
        while not self.stop.wait(tick):
            elapsed += tick
            if not ready and self.health.started():
                ready = notify("READY=1\nSTATUS=first pass done; converging")
            if self.interval and elapsed >= next_ping and self.health.healthy():
                notify("WATCHDOG=1")
                next_ping = elapsed + self.interval / 2

    def close(self) -> None:
        notify("STOPPING=1")
