"""What `get` and /metrics say of a sync's health gate, from its status (standing.py)."""

from __future__ import annotations

from prometheus_client import generate_latest

from reconciler.cli.render import sync_text
from reconciler.loop.metrics import Health, LoopMetrics
from reconciler.sources.standing import SyncStanding

GOOD, BAD = "a" * 40, "b" * 40
T = "2026-11-29T11:18:06+00:00"


def rolled_back() -> dict[str, object]:
    standing = SyncStanding(gated=True, now=lambda: T)
    standing.taken((GOOD, T))
    standing.judged_healthy(GOOD)
    standing.taken((BAD, T))
    why = "sandbox/web: app: CrashLoopBackOff (exited 1)"
    standing.judged_unhealthy(BAD, [why], f"commit {BAD} failed its health gate: {why}")
    standing.rolled_back(BAD, GOOD, why, f"commit {BAD} failed its health gate: {why} (...)")
    head = {"repository": "file:///r.git", "branch": "main", "path": "deploy"}
    return head | standing.to_json()


def test_get_shows_the_healthy_revision_the_gate_and_the_rollback() -> None:
    text = sync_text(rolled_back())
    assert text.splitlines()[1:5] == [
        f"  lastAppliedRevision:   {GOOD} ({T})",
        f"  lastHealthyRevision:   {GOOD} ({T})",
        f"  lastAttemptedRevision: {BAD} ({T})",
        f"  health: {GOOD} Progressing (since {T})",
    ]
    assert (
        f"  lastRollback: from {BAD} to {GOOD} ({T}): sandbox/web: app: CrashLoopBackOff (exited 1)"
    ) in text
    assert f"lastError: commit {BAD} failed its health gate" in text


def test_without_a_gate_get_shows_what_it_showed() -> None:
    standing = SyncStanding(gated=False, now=lambda: T)
    standing.taken((GOOD, T))
    text = sync_text({"repository": "r", "branch": "main", "path": "."} | standing.to_json())
    assert "Healthy" not in text and "health" not in text
    assert standing.to_json()["lastAppliedRevision"] == GOOD


def test_progress_names_what_the_gate_waits_for() -> None:
    standing = SyncStanding(gated=True, now=lambda: T)
    standing.taken((GOOD, T))
    assert standing.progressing(GOOD, ["sandbox/web: app: readiness probe failing"])
    assert not standing.progressing(BAD, ["x"]), "not the revision gated"
    text = sync_text({"repository": "r", "branch": "main", "path": "."} | standing.to_json())
    assert f"health: {GOOD} Progressing (since {T}): waiting for sandbox/web: app: " in text
    assert standing.to_json()["lastAppliedRevision"] is None, "not applied until healthy"


def test_metrics_say_the_healthy_revision_the_gate_and_the_rollback() -> None:
    metrics = LoopMetrics(Health(60))
    status = rolled_back()
    metrics.source_status({"sync": status})
    text = generate_latest(metrics.registry).decode()
    assert f'healthy_revision="{GOOD}"' in text and f'attempted_revision="{BAD}"' in text
    assert 'reconciler_sync_health{state="progressing"} 1.0' in text
    assert 'reconciler_sync_health{state="unhealthy"} 0.0' in text
    assert "reconciler_sync_last_rollback_timestamp_seconds 1.7" in text
    health = dict(status["health"])  # type: ignore[call-overload]
    metrics.source_status(
        {"sync": status | {"health": health | {"state": "Unhealthy", "units": ["a", "b"]}}}
    )
    text = generate_latest(metrics.registry).decode()
    assert 'reconciler_sync_health{state="unhealthy"} 1.0' in text
    assert "reconciler_sync_unhealthy_units 2.0" in text


def test_under_run_no_gate_state_is_reported() -> None:
    metrics = LoopMetrics(Health(60))
    metrics.source_status({"directory": "/srv"})
    assert "reconciler_sync_health{" not in generate_latest(metrics.registry).decode()
