"""Which CRI objects are this instance's, and whose unit they are, by their labels. No I/O."""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.core import labels as L
from reconciler.core.models import Kind
from reconciler.core.spec import UnitKey


def selector(instance: str, unit: UnitKey | None) -> dict[str, str]:
    """The label selector of this instance's pods and containers (``unit``'s only)."""
    wanted = {L.MANAGED_BY: instance}
    if unit is not None:
        wanted |= {L.KIND: unit.kind.value, L.NAMESPACE: unit.namespace, L.SANDBOX: unit.name}
    return wanted


def unit_of(labels: Mapping[str, str]) -> UnitKey | None:
    try:
        return UnitKey(Kind(labels[L.KIND]), labels[L.NAMESPACE], labels[L.SANDBOX])
    except (KeyError, ValueError):
        return None


__all__ = ["selector", "unit_of"]
