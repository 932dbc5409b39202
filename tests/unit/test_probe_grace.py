"""A probe's terminationGracePeriodSeconds: the grace period of the kill its failure
brings (Kubernetes' probe-level field), in the planner's every way of making it."""

from __future__ import annotations

from typing import Literal

import pytest

from reconciler.core.actions import Recreate, Restart, Stop
from reconciler.core.planner import Unhealthy, plan

from .planning import by_container, config, converge, desired, sandbox

PROBES = (
    ", livenessProbe: {exec: {command: [check]}, terminationGracePeriodSeconds: 3}"
    ", startupProbe: {exec: {command: [check]}, terminationGracePeriodSeconds: 5}"
)
UNIT_GRACE = 30  # the sandbox's default terminationGracePeriodSeconds


@pytest.mark.parametrize(
    ("failed", "restart", "in_place", "kind", "grace"),
    [
        ("liveness", "Always", True, Restart, 3),
        ("startup", "Always", True, Restart, 5),
        ("liveness", "Never", True, Stop, 3),
        ("startup", "Never", False, Stop, 5),
        ("liveness", "OnFailure", False, Recreate, 3),  # CRI: a new attempt
    ],
)
def test_the_failed_probes_grace_period_is_the_kills(
    failed: Literal["liveness", "startup"],
    restart: str,
    in_place: bool,
    kind: type[Restart | Stop | Recreate],
    grace: int,
) -> None:
    want = desired(sandbox(restart=restart, extra=PROBES))
    engine = converge(want)
    app = by_container(engine, "app")
    unhealthy = {app.id: Unhealthy(f"the {failed} probe failed", failed)}
    (action,) = plan(want, engine.observe(), config(unhealthy=unhealthy, in_place=in_place)).actions
    assert isinstance(action, kind)
    assert action.grace_period == grace
    assert want.units[0].grace_period == UNIT_GRACE


def test_a_probe_without_one_leaves_the_units() -> None:
    want = desired(sandbox(extra=", livenessProbe: {exec: {command: [check]}}"))
    engine = converge(want)
    app = by_container(engine, "app")
    unhealthy = {app.id: Unhealthy("the liveness probe failed")}
    (action,) = plan(want, engine.observe(), config(unhealthy=unhealthy)).actions
    assert isinstance(action, Restart) and action.grace_period == UNIT_GRACE


def test_other_stops_keep_the_units_grace_period() -> None:
    want = desired(sandbox(extra=PROBES))
    engine = converge(want)
    changed = desired(sandbox(image="busybox:2", extra=PROBES))
    (action,) = plan(changed, engine.observe(), config()).actions
    assert isinstance(action, Recreate) and action.grace_period == UNIT_GRACE
