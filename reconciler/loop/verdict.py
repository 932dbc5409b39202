"""What one run of a probe says: the value every check returns. No I/O."""

from __future__ import annotations

from dataclasses import dataclass

# The kubelet whose probes reconciler's follow: its User-Agent, and the Kubernetes
# whose schemas `export` is checked against (tests/unit/test_export.py).
KUBERNETES = "1.37"
USER_AGENT = f"kube-probe/{KUBERNETES}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a probe succeeded, and what kubelet would say of it: on a failure why
    (an HTTP status, a refused connection), on a success a warning (kubelet's
    ``probe.Warning``: a redirect it did not follow), else nothing."""

    ok: bool
    message: str = ""

    @property
    def warning(self) -> str:
        return self.message if self.ok else ""


__all__ = ["KUBERNETES", "USER_AGENT", "Verdict"]
