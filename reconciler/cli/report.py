"""The machine-readable results of `apply`, `diff` and `delete` (``-o json``). No I/O.

One versioned shape, documented in docs/output.md: the plan (every unit, every
action with its type, target and reason), what ran (per action: ok, error,
seconds) and the manifest problems. Fields are only ever added within
``reconciler/v1``; a change of meaning gets a new apiVersion.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, assert_never

from reconciler.converge.executor import Outcome, Result, UnitResult
from reconciler.core import labels as L
from reconciler.core.actions import (
    Action,
    CreateInfra,
    CreateMember,
    EnsureVolume,
    LiftEviction,
    RecordEviction,
    RecordOwner,
    Recreate,
    Ref,
    Remove,
    RemoveVolumes,
    Restart,
    RunInit,
    Start,
    Stop,
    WaitInit,
)
from reconciler.core.errors import Problem
from reconciler.core.naming import name_of
from reconciler.core.planner import Plan, UnitPlan
from reconciler.core.spec import UnitKey

API_VERSION = "reconciler/v1"
KINDS = {"apply": "ApplyResult", "diff": "DiffResult", "delete": "DeleteResult"}


def _ref(ref: Ref) -> dict[str, Any]:
    return {"container": ref.label, "role": ref.role or "", "name": ref.name, "id": ref.id}


def target(action: Action) -> dict[str, Any]:
    """What an action acts on: the container (manifest name, role, Docker name, id) or volume."""
    match action:
        case RecordOwner(owner=owner):
            return {"owner": str(owner)}
        case RecordEviction(unit=key) | LiftEviction(unit=key):
            return {"unit": str(key)}
        case EnsureVolume(volume=v):
            return {"volume": v.name}
        case CreateInfra(infra=i):
            return {"container": "infra", "role": L.ROLE_INFRA, "name": name_of(i.labels)}
        case CreateMember(member=m) | RunInit(member=m):
            return {"container": m.name, "role": m.spec.role, "name": name_of(m.labels)}
        case WaitInit(ref=r) | Start(ref=r) | Stop(ref=r) | Restart(ref=r) | Remove(ref=r):
            return _ref(r)
        case Recreate(old=old, member=m):
            return {
                "container": m.name,
                "role": m.spec.role,
                "name": name_of(m.labels),
                "id": old.id,
            }
        case RemoveVolumes():
            return {"volumes": "all of the unit's"}
        case _:
            assert_never(action)


def action(a: Action) -> dict[str, Any]:
    return {"type": type(a).__name__, "target": target(a), "reason": a.reason}


def outcome(o: Outcome) -> dict[str, Any]:
    return {**action(o.action), "ok": o.ok, "error": o.error, "seconds": round(o.seconds, 3)}


def _key(key: UnitKey) -> dict[str, str]:
    return {"kind": key.kind.value, "namespace": key.namespace, "name": key.name}


def _status(unit: UnitPlan, result: UnitResult | None, executed: bool) -> str:
    if unit.error:
        return "refused"
    if not executed:
        return "changes" if unit.actions else "unchanged"
    assert result is not None
    if result.error:
        return "failed"
    if result.removed:
        return "deleted"
    return "configured" if result.changed else "unchanged"


def problem(p: Problem) -> dict[str, Any]:
    loc = p.location
    return {
        "file": loc.path,
        "line": loc.line,
        "column": loc.column,
        "field": p.field,
        "message": p.message,
    }


def document(
    command: str,
    instance: str,
    plan: Plan,
    result: Result | None = None,
    *,
    dry_run: bool = False,
    errors: Sequence[Problem] = (),
    warnings: Iterable[str] = (),
    not_found: Iterable[str] = (),
) -> dict[str, Any]:
    """The ``-o json`` document of ``command``; ``result`` is None when nothing ran."""
    results = {u.key: u for u in result.units} if result is not None else {}
    units = []
    for unit in plan.units:
        ran = results.get(unit.key)
        entry: dict[str, Any] = {
            **_key(unit.key),
            "status": _status(unit, ran, result is not None),
            "error": (ran.error if ran is not None else None) or unit.error,
            "actions": [action(a) for a in unit.actions],
        }
        if unit.waiting:
            entry["waiting"] = [{**_ref(r), "reason": why} for r, why in unit.waiting]
        if ran is not None:
            entry["results"] = [outcome(o) for o in ran.outcomes]
            entry["skipped"] = ran.skipped
        units.append(entry)
    failed = [u for u in units if u["status"] in ("failed", "refused")]
    missing = list(not_found)
    return {
        "apiVersion": API_VERSION,
        "kind": KINDS[command],
        "instance": instance,
        "dryRun": dry_run,
        "changes": plan.has_changes,
        "ok": not failed and not errors and not missing,
        "units": units,
        "errors": [problem(p) for p in errors],
        "notFound": missing,
        "warnings": list(warnings),
    }
