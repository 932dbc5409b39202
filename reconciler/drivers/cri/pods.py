"""What the CRI driver remembers of the pods and containers it has seen. No I/O.

CRI names a container by its pod and attempt, and ``CreateContainer`` needs
the pod's config; a later process rebuilds both from the runtime (actions.py),
so this is a cache, never the truth: losing it costs calls, not correctness.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from reconciler.drivers.cri.client import pb


@dataclass
class PodBook:
    lock: threading.Lock = field(default_factory=threading.Lock)
    configs: dict[str, pb.PodSandboxConfig] = field(default_factory=dict)  # sandbox id -> config
    implicit: set[str] = field(default_factory=set)  # sandbox ids of kind: Container pods
    sandboxes: set[str] = field(default_factory=set)  # sandbox ids seen
    pod_of: dict[str, str] = field(default_factory=dict)  # container id -> sandbox id
    attempts: dict[tuple[str, str], int] = field(default_factory=dict)  # (pod, name) -> last


__all__ = ["PodBook"]
