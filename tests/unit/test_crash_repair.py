"""What a crash can leave, and that the next plan repairs it (the planner, without a daemon).

A crash (SIGKILL of `apply` or `run`) stops each unit's actions at some
point, possibly between a create and its start. However many crashes come
in a row, one full pass afterwards converges exactly: one infra per
sandbox, one copy of each member, every member joined to the current infra.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core import labels as L
from reconciler.core.actions import CreateInfra, CreateMember, Recreate, RunInit
from reconciler.core.models import Kind
from reconciler.core.observed import Observation, State
from reconciler.core.ownership import ONE_SHOT, Owner, watching
from reconciler.core.planner import Plan, UnitPlan, plan
from reconciler.core.spec import Desired, UnitKey

from .planning import INSTANCE, config, desired
from .simulator import Engine
from .test_planner_properties import manifests


def _desired(text: str) -> Desired:
    return Desired() if text.strip() == "{}" else desired(text)


def crash(engine: Engine, full: Plan, cuts: list[int], half: bool) -> None:
    """Apply each unit's actions up to its cut; the last create may never have started."""
    units = []
    for i, unit in enumerate(full.units):
        cut = cuts[i % len(cuts)] if cuts else 0
        units.append(UnitPlan(unit.key, unit.actions[:cut], unit.infra_id))
    before = set(engine.containers)
    engine.apply(Plan(tuple(units)))
    if half:
        created = [a for u in units for a in u.actions[-1:]]
        if any(isinstance(a, CreateInfra | CreateMember | Recreate | RunInit) for a in created):
            newest = max(set(engine.containers) - before, default=None)
            if newest is not None:
                c = engine.containers[newest]
                engine.containers[newest] = replace(c, state=State.CREATED, started_at=None)


def assert_exact(
    want: Desired, observed: Observation, refused: frozenset[UnitKey] = frozenset()
) -> None:
    mine = [c for c in observed.containers if c.instance == INSTANCE]
    for unit in want.units:
        if unit.key in refused:  # left as it is (a host port a unit left as it is holds)
            continue
        here = [c for c in mine if c.unit_key == unit.key]
        infras = [c for c in here if c.role == L.ROLE_INFRA]
        assert len(infras) == (1 if unit.infra is not None else 0), unit.key
        for member in unit.members:
            copies = [c for c in here if c.container == member.name and c.role != L.ROLE_INFRA]
            assert len(copies) == 1, (unit.key, member.name, copies)
            if infras:
                assert copies[0].infra_id == infras[0].id
            if member.spec.role == "workload":
                assert copies[0].state is State.RUNNING
    # A refused unit (e.g. a host port another unit publishes) is left as it is.
    assert {c.unit_key for c in mine} <= want.keys, "orphans"


@settings(max_examples=200, deadline=None)
@given(
    manifests(),
    manifests(),
    st.lists(st.tuples(st.lists(st.integers(0, 12), max_size=3), st.booleans()), max_size=4),
)
def test_any_run_of_crashes_is_repaired_by_one_full_pass(
    before: str, after: str, crashes: list[tuple[list[int], bool]]
) -> None:
    engine = Engine()
    engine.apply(plan(_desired(before), engine.observe(), config()))
    want = _desired(after)
    prune = config(prune=True, allow_empty=True)
    for cuts, half in crashes:
        crash(engine, plan(want, engine.observe(want.units), prune), cuts, half)
    repair = plan(want, engine.observe(want.units), prune)
    engine.apply(repair)
    # A host port moving to another unit is refused while its old unit's containers
    # hold it (the simulator, like Docker, will not bind it twice): once they are
    # gone, one more pass creates it.
    if any("already published" in (u.error or "") for u in repair.units):
        engine.apply(plan(want, engine.observe(want.units), prune))
    final = plan(want, engine.observe(want.units), prune)
    assert_exact(want, engine.observe(want.units), frozenset(u.key for u in final.errors))
    assert not plan(want, engine.observe(want.units), prune).has_changes


def volume_of(key: UnitKey, owner: Owner = ONE_SHOT) -> tuple[UnitKey, dict[str, str]]:
    return key, {L.MANAGED_BY: INSTANCE, L.VOLUME: "data", **owner.labels()}


def test_a_volume_left_without_its_unit_is_pruned_by_its_owner() -> None:
    key = UnitKey(Kind.SANDBOX, "default", "gone")
    observed = Observation(volumes=(volume_of(key),))
    pruned = plan(Desired(), observed, config(prune=True, allow_empty=True))
    assert [type(a).__name__ for a in pruned.actions] == ["RemoveVolumes"]
    assert pruned.units[0].key == key
    assert not plan(Desired(), observed, config()).has_changes  # without --prune: kept
    theirs = Observation(volumes=(volume_of(key, watching("/elsewhere")),))
    assert not plan(Desired(), theirs, config(prune=True, allow_empty=True)).has_changes


def test_a_desired_unit_keeps_its_volume() -> None:
    want = desired(
        """
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: c}
        spec:
          image: busybox:1
          volumes: [{name: d, emptyDir: {}}]
          volumeMounts: [{name: d, mountPath: /d}]
        """
    )
    key = want.units[0].key
    kept = plan(want, Observation(volumes=(volume_of(key),)), config(prune=True))
    assert "RemoveVolumes" not in [type(a).__name__ for a in kept.actions]
