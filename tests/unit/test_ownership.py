"""Ownership by source (ownership.py, the planner's prune and conflict rules), without a daemon."""

from __future__ import annotations

from dataclasses import replace
from textwrap import dedent

from reconciler.core import labels as L
from reconciler.core.actions import RecordOwner, Remove
from reconciler.core.admission import compile_and_admit
from reconciler.core.compile import BuildConfig
from reconciler.core.manifests import load_text
from reconciler.core.models import Kind
from reconciler.core.observed import Observation
from reconciler.core.ownership import APPLY, Claim, Owner, applied, owner_of, watching
from reconciler.core.planner import plan
from reconciler.core.spec import Desired, UnitKey
from reconciler.drivers.docker.capabilities import DOCKER

from .planning import INSTANCE, config, kinds, sandbox
from .simulator import Engine

WEB = UnitKey(Kind.SANDBOX, "default", "web")
DIR_A = watching("/srv/a")
DIR_B = watching("/srv/b")


def want(owner: Owner, *names: str) -> Desired:
    text = "\n---\n".join(dedent(sandbox(n)) for n in names)
    loaded = load_text(text, "test.yaml")
    assert loaded.ok
    build = BuildConfig(INSTANCE, infra_image="pause:test", owner=owner, driver=DOCKER)
    return compile_and_admit(loaded.manifests, build, values=loaded.values)


def made_by(owner: Owner, *names: str) -> Engine:
    engine = Engine()
    engine.apply(plan(want(owner, *names), Observation(), config(owner=owner)))
    return engine


def test_every_container_carries_its_owner() -> None:
    engine = made_by(DIR_A, "web")
    assert {c.labels[L.OWNER] for c in engine.containers.values()} == {"dir:/srv/a"}
    paths = applied(["/m/b.yaml", "/m/a.yaml", "/m/a.yaml"])
    assert paths == Owner(APPLY, "/m/a.yaml,/m/b.yaml")
    engine = made_by(paths, "web")
    assert {c.labels[L.APPLY_SET] for c in engine.containers.values()} == {paths.apply_set}


def test_a_source_never_prunes_another_sources_units() -> None:
    engine = made_by(applied(["/m"]), "web")
    # `run` on another directory defines nothing of it, and resyncs.
    p = plan(want(DIR_B, "other"), engine.observe(), config(owner=DIR_B, prune=True))
    assert WEB not in {u.key for u in p.units if u.actions}
    assert not [a for a in p.actions if isinstance(a, Remove)]


def test_a_source_prunes_its_own_units() -> None:
    engine = made_by(DIR_A, "web", "old")
    p = plan(want(DIR_A, "web"), engine.observe(), config(owner=DIR_A, prune=True))
    removed = {u.key.name for u in p.units if any(isinstance(a, Remove) for a in u.actions)}
    assert removed == {"old"}


def test_apply_prune_removes_only_what_the_same_paths_applied() -> None:
    engine = made_by(applied(["/m/one"]), "web")
    engine.apply(
        plan(want(applied(["/m/two"]), "db"), engine.observe(), config(owner=applied(["/m/two"])))
    )
    p = plan(
        want(applied(["/m/two"])),
        engine.observe(),
        config(owner=applied(["/m/two"]), prune=True, allow_empty=True),
    )
    removed = {u.key.name for u in p.units if any(isinstance(a, Remove) for a in u.actions)}
    assert removed == {"db"}


def test_a_unit_another_source_owns_is_a_conflict_and_left_as_it_is() -> None:
    engine = made_by(applied(["/m"]), "web")
    p = plan(want(DIR_A, "web"), engine.observe(), config(owner=DIR_A, prune=True))
    (unit,) = p.units
    assert unit.actions == ()
    assert unit.error is not None
    assert "sandbox/web is owned by apply" in unit.error
    assert "--adopt" in unit.error


def test_adopt_takes_the_unit_over_without_recreating_it() -> None:
    engine = made_by(applied(["/m"]), "web")
    ids = set(engine.containers)
    p = plan(want(DIR_A, "web"), engine.observe(), config(owner=DIR_A, adopt=True))
    assert kinds(p) == ["RecordOwner"]
    (record,) = p.actions
    assert isinstance(record, RecordOwner)
    assert record.owner == DIR_A
    assert "taken over from apply" in record.reason
    engine.apply(p)
    assert set(engine.containers) == ids
    # From now on the directory owns it: no conflict, nothing to do, and apply is refused.
    assert not plan(want(DIR_A, "web"), engine.observe(), config(owner=DIR_A)).units[0].actions
    again = plan(want(applied(["/m"]), "web"), engine.observe(), config(owner=applied(["/m"])))
    assert again.units[0].error is not None
    assert "owned by dir:/srv/a" in again.units[0].error


def test_a_unit_from_before_owners_is_adopted_by_the_first_source_defining_it() -> None:
    engine = made_by(DIR_A, "web")
    for cid, c in list(engine.containers.items()):
        legacy = {k: v for k, v in c.labels.items() if k != L.OWNER}
        engine.containers[cid] = replace(c, labels=legacy)
    # Never pruned by a source that does not define it ...
    p = plan(want(DIR_B, "other"), engine.observe(), config(owner=DIR_B, prune=True))
    assert not [a for a in p.actions if isinstance(a, Remove)]
    # ... and adopted, without a restart, by the first one that does.
    p = plan(want(DIR_B, "web"), engine.observe(), config(owner=DIR_B, prune=True))
    assert kinds(p) == ["RecordOwner"]
    assert "no owner" in p.actions[0].reason
    engine.apply(p)
    conflict = plan(want(DIR_A, "web"), engine.observe(), config(owner=DIR_A))
    assert conflict.units[0].error is not None
    assert "owned by dir:/srv/b" in conflict.units[0].error


def test_apply_from_other_paths_re_records_the_set_without_a_conflict() -> None:
    engine = made_by(applied(["/m/one"]), "web")
    p = plan(want(applied(["/m/all"]), "web"), engine.observe(), config(owner=applied(["/m/all"])))
    assert kinds(p) == ["RecordOwner"]
    assert p.units[0].error is None


def test_delete_removes_any_unit_by_name() -> None:
    engine = made_by(DIR_A, "web")
    p = plan(Desired(), engine.observe(), config(owner=applied(["/x"]), delete=frozenset({WEB})))
    assert kinds(p)[-1] == "RemoveVolumes"
    assert {a.ref.role for a in p.actions if isinstance(a, Remove)} == {"infra", "workload"}


def test_the_newest_claim_outranks_container_labels() -> None:
    labels = [{L.OWNER: "dir:/srv/a"}, {L.OWNER: "apply"}]
    assert owner_of(labels, []) == DIR_A
    claims = [Claim("c1", DIR_B, 5.0), Claim("c2", Owner("git:repo#main:."), 7.0)]
    assert owner_of(labels, claims) == Owner("git:repo#main:.")
    assert owner_of([{}], []) is None
