"""Which container `reconciler logs` and `exec` mean: kubectl's rules on observed values. No I/O.

A unit is named ``NAME``, ``sandbox/NAME`` or ``container/NAME`` in a namespace.
Without ``-c`` the container is the unit's first workload in manifest order
(its ``position`` label), as kubectl defaults to a pod's first container;
``-c`` may also name an init container.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.core import labels as L
from reconciler.core.errors import UnitNotFound
from reconciler.core.models import Kind
from reconciler.core.observed import ObservedContainer


@dataclass(frozen=True, slots=True)
class Picked:
    unit: str  # kind/name as people write it
    container: ObservedContainer
    # The other candidates when -c was not given and there were several (kubectl
    # says "Defaulted container ... out of: ..."); empty otherwise.
    defaulted_out_of: tuple[str, ...] = ()


def _position(c: ObservedContainer) -> tuple[int, float]:
    try:
        return int(c.labels.get(L.POSITION, "")), c.created
    except ValueError:
        return 1 << 30, c.created


def pick(
    containers: Iterable[ObservedContainer], unit: str, namespace: str, name: str | None
) -> Picked:
    """The container ``unit`` / ``name`` means among this instance's ``containers``.

    Raises UnitNotFound naming what exists.
    """
    kind_text, _, unit_name = unit.rpartition("/")
    kinds = {k.value.lower(): k for k in Kind}
    if kind_text and kind_text.lower() not in kinds:
        raise UnitNotFound(f"{unit!r}: the kind must be sandbox or container")
    wanted = {kinds[kind_text.lower()]} if kind_text else set(Kind)
    found: dict[Kind, list[ObservedContainer]] = {}
    for c in containers:
        key = c.unit_key
        if key and key.kind in wanted and key.namespace == namespace and key.name == unit_name:
            found.setdefault(key.kind, []).append(c)
    if not found:
        raise UnitNotFound(f"{unit}: no sandbox or container of that name in namespace {namespace}")
    if len(found) > 1:
        raise UnitNotFound(f"{unit} is both a sandbox and a container: say sandbox/ or container/")
    (kind, members), *_ = found.items()
    label = f"{kind.value.lower()}/{unit_name}"
    workloads = sorted(
        (c for c in members if c.role == L.ROLE_WORKLOAD), key=lambda c: (_position(c), c.id)
    )
    inits = sorted((c for c in members if c.role == L.ROLE_INIT), key=_position)
    names = list(dict.fromkeys(c.container for c in workloads))
    if name is None:
        if not workloads:
            raise UnitNotFound(f"{label} has no workload container (yet)")
        others = tuple(names) if len(names) > 1 else ()
        return Picked(label, _newest(c for c in workloads if c.container == names[0]), others)
    matching = [c for c in (*workloads, *inits) if c.container == name]
    if not matching:
        every = names + [c.container for c in inits if c.container not in names]
        raise UnitNotFound(
            f"{label} has no container {name!r} (it has: {', '.join(every) or 'none'})"
        )
    return Picked(label, _newest(matching))


def _newest(candidates: Iterable[ObservedContainer]) -> ObservedContainer:
    return max(candidates, key=lambda c: (c.state.alive, c.created, c.id))
