"""Text for people and data for machines: plans, outcomes, status. No engine I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click
import yaml

from reconciler.core.actions import describe

if TYPE_CHECKING:  # types only: the group prints a config's problems before any command
    from reconciler.converge.executor import Outcome, Result
    from reconciler.core.errors import Problem
    from reconciler.core.planner import Plan
    from reconciler.loop.status import UnitStatus

_COLORS = {"+": "green", "-": "red", "~": "yellow", ">": "cyan", "=": "blue", "!": "red"}


def _line(symbol: str, text: str, why: str, color: bool) -> str:
    head = f"{symbol} {text}"
    if color:
        head = click.style(head, fg=_COLORS.get(symbol))
        why = click.style(why, dim=True)
    return f"  {head}: {why}"


def plan_text(plan: Plan, color: bool) -> str:
    lines: list[str] = []
    for unit in plan.units:
        if not unit.actions and not unit.error:
            continue
        lines.append(click.style(str(unit.key), bold=True) if color else str(unit.key))
        if unit.error:
            lines.append(_line("!", "refused", unit.error, color))
        lines.extend(_line(*describe(a), color) for a in unit.actions)
    return "\n".join(lines)


def outcome_text(key: object, outcome: Outcome, color: bool) -> str:
    symbol, what, why = describe(outcome.action)
    if outcome.ok:
        return f"{key}: " + _line(symbol, what, why, color).strip() + f" ({outcome.seconds:.2f}s)"
    if outcome.observe_again:
        return f"{key}: {symbol} {what}: {outcome.error}; observing again"
    failed = f"{symbol} {what} failed"
    if color:
        failed = click.style(failed, fg="red", bold=True)
    return f"{key}: {failed}: {outcome.error}"


def summary_text(result: Result, color: bool) -> str:
    lines = []
    for unit in result.units:
        if unit.error:
            word = "failed"
            extra = f": {unit.error}" + (
                f" ({unit.skipped} action(s) not run)" if unit.skipped else ""
            )
        else:
            word = "deleted" if unit.removed else "configured" if unit.changed else "unchanged"
            extra = ""
        if color:
            word = click.style(
                word,
                fg={"failed": "red", "configured": "green", "deleted": "yellow"}.get(word),
                bold=True,
            )
        lines.append(f"{unit.key} {word}{extra}")
    return "\n".join(lines)


def problems_text(problems: Sequence[Problem], level: str, color: bool) -> str:
    tag = f"{level}:"
    if color:
        tag = click.style(tag, fg="red" if level == "error" else "yellow", bold=True)
    return "\n".join(f"{tag} {p}" for p in problems)


def status_table(statuses: Sequence[UnitStatus]) -> str:
    header = (
        "KIND",
        "NAME",
        "MODE",
        "PHASE",
        "CONTAINER",
        "RUNTIME",
        "STATE",
        "READY",
        "ID",
        "RESTARTS",
        "OWNER",
    )
    rows: list[tuple[str, ...]] = [header]
    for s in statuses:
        name = s.name if s.namespace == "default" else f"{s.namespace}/{s.name}"
        if not s.containers:  # refused, failed, or not made yet: the reason goes below
            rows.append((s.kind, name, s.mode or "-", s.phase, *("-",) * 6, s.owner or "(none)"))
        for i, c in enumerate(s.containers):
            unit = (s.kind, name, s.mode, s.phase) if i == 0 else ("",) * 4
            owner = (s.owner or "(none)") if i == 0 else ""
            state = c.state if c.exit_code is None else f"{c.state}({c.exit_code})"
            if c.waiting:
                state += " " + c.waiting.split(" (", 1)[-1].rstrip(")")  # "next try in Ns"
            ready = "-" if c.ready is None else ("yes" if c.ready else "no")
            rows.append((*unit, c.name, c.runtime, state, ready, c.id, str(c.restarts), owner))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def sync_text(sync: Mapping[str, Any]) -> str:
    """What `reconciler sync` follows and where it is, for `get`'s table."""

    def when(key: str) -> str:
        return f" ({sync[key]})" if sync.get(key) else ""

    gated = isinstance(sync.get("health"), Mapping)
    lines = [
        f"sync: {sync.get('repository')} branch {sync.get('branch')} path {sync.get('path')}",
        f"  lastAppliedRevision:   {sync.get('lastAppliedRevision') or '-'}"
        + when("lastAppliedAt"),
    ]
    if gated or sync.get("lastHealthyRevision"):
        lines.append(
            f"  lastHealthyRevision:   {sync.get('lastHealthyRevision') or '-'}"
            + when("lastHealthyAt")
        )
    lines.append(
        f"  lastAttemptedRevision: {sync.get('lastAttemptedRevision') or '-'}"
        + when("lastAttemptedAt")
    )
    lines += _gate_text(sync)
    if sync.get("lastError"):
        lines.append(f"  lastError: {sync['lastError']}")
    return "\n".join(lines)


def _gate_text(sync: Mapping[str, Any]) -> list[str]:
    """The health gate of the revision the loop converges to, and the last rollback."""
    lines = []
    health = sync.get("health")
    if isinstance(health, Mapping):
        units = [str(u) for u in health.get("units") or ()]
        state = health.get("state")
        head = f"  health: {health.get('revision')} {state} (since {health.get('since')})"
        if units:
            head += ": " + ("waiting for " if state == "Progressing" else "")
        lines.append(head + "; ".join(units))
    rollback = sync.get("lastRollback")
    if isinstance(rollback, Mapping):
        lines.append(
            f"  lastRollback: from {rollback.get('from')} to {rollback.get('to')} "
            f"({rollback.get('at')}): {rollback.get('reason')}"
        )
    return lines


def dump(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=False)
    return yaml.safe_dump(data, sort_keys=False)
