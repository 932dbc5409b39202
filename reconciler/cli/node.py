"""What this host tells a pod of itself (core/values.py ``Node``). Reads the host."""

from __future__ import annotations

import os
import shutil
import socket
from functools import cache

from reconciler.core.values import Node

# Connecting a UDP socket sends nothing: it only picks the address a packet would
# leave from, the host's primary one (what kubelet reports as a node's InternalIP).
_PROBE_ADDRESS = ("192.0.2.1", 9)  # TEST-NET-1 (RFC 5737)


@cache
def this_host() -> Node:
    """The node name (the host name, lowercased, as kubelet makes it), its primary IPv4
    address, and its allocatable CPU, memory and storage (all of it: nothing reserved)."""
    return Node(
        name=socket.gethostname().lower(),
        ip=_primary_address(),
        cpu_millis=(os.cpu_count() or 1) * 1000,
        memory_bytes=_memory_total(),
        storage_bytes=shutil.disk_usage("/").total,
        measured=True,
    )


def _primary_address() -> str:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(_PROBE_ADDRESS)
            return str(probe.getsockname()[0])
    except OSError:  # no route out: the name's address, else loopback
        try:
            return socket.gethostbyname(socket.gethostname())
        except OSError:
            return "127.0.0.1"


def _memory_total() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return Node().memory_bytes
