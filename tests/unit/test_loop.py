"""The Loop composed of its parts (reconciler/loop/control.py), over the simulator.

Passes are run directly (no threads): the pass converges, books restarts,
writes the status record `get` reads, and warns about an empty desire once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from pathlib import Path
from textwrap import dedent

import pytest

from reconciler.core import labels as L
from reconciler.core.compile import BuildConfig
from reconciler.core.models import Kind, Mode
from reconciler.core.observed import Observation, ObservedContainer
from reconciler.core.spec import DesiredUnit, UnitKey
from reconciler.drivers.docker.capabilities import DOCKER
from reconciler.loop import statuswriter
from reconciler.loop.backoff import BackoffPolicy
from reconciler.loop.control import Loop, LoopSettings
from reconciler.loop.diskusage import Usage, usage
from reconciler.loop.gate import RevisionGate, Verdict
from reconciler.loop.metrics import Health, LoopMetrics
from reconciler.loop.statefile import read_records, state_name
from reconciler.loop.statusrecord import STATUS_VERSION, LoopStatus
from reconciler.loop.statuswriter import STATUS_EVERY
from reconciler.sources.directory import Change

from .planning import INSTANCE, by_container, exited, sandbox, set_state
from .simulator import Engine

WEB = UnitKey(Kind.SANDBOX, "default", "web")
DAEMON = "unix:///simulated"


@pytest.fixture
def loop(tmp_path: Path) -> Loop:
    return _made(tmp_path, Engine(instance=INSTANCE), "web")


def _made(tmp_path: Path, engine: Engine, *names: str, gate: RevisionGate | None = None) -> Loop:
    root = tmp_path / "manifests"
    root.mkdir()
    for name in names:
        (root / f"{name}.yaml").write_text(dedent(sandbox(name)))
    settings = LoopSettings(
        directory=root,
        build=BuildConfig(INSTANCE, Mode.CONTAINER_IN_SANDBOX, "pause:test", driver=DOCKER),
        state_dir=tmp_path / "state",
        state_name=state_name(INSTANCE, DAEMON, "dir"),
        daemon=DAEMON,
        backoff=BackoffPolicy(initial=10.0, maximum=40.0),
    )
    made = Loop(settings, engine, gate=gate)
    made.source.scan(0.0)
    made._refresh_desired()
    return made


def _died(loop: Loop) -> None:
    """What a member's death does: its event asks for a look at the engine as it is now."""
    loop.asks.add(WEB)


def _engine(loop: Loop) -> Engine:
    assert isinstance(loop.driver, Engine)
    return loop.driver


def test_a_pass_converges_the_unit_and_writes_the_record_get_reads(loop: Loop) -> None:
    loop._pass(WEB)
    assert len(_engine(loop).containers) == 3, "infra, app, sidecar"
    loop.writer.flush()  # what the timer does STATUS_EVERY seconds after the pass
    (record,), warnings = read_records(loop.settings.state_dir, INSTANCE, DAEMON)
    assert warnings == [] and record.version == STATUS_VERSION
    web = record.units["sandbox/web"]
    assert web.phase == "Running" and web.last_error is None and web.source == "web.yaml"
    assert set(web.containers) == {"infra", "app", "sidecar"}
    assert record.source == {"directory": str(loop.settings.directory)}


def test_a_crash_is_restarted_once_then_held_and_reported(loop: Loop) -> None:
    loop._pass(WEB)
    engine = _engine(loop)
    set_state(engine, "app", **exited(1))
    _died(loop)
    loop._pass(WEB)
    assert by_container(engine, "app").state.alive, "the first restart is immediate"
    assert loop.restarts.restarts(WEB, "app") == 1
    set_state(engine, "app", **exited(1))
    _died(loop)
    loop._pass(WEB)
    assert not by_container(engine, "app").state.alive, "in backoff: held"
    loop.writer.flush()
    (record,), _ = read_records(loop.settings.state_dir, INSTANCE, DAEMON)
    web = record.units["sandbox/web"]
    assert web.phase == "CrashLoopBackOff"
    assert (web.containers["app"].restarts, web.containers["app"].waiting or "") == (
        1,
        "CrashLoopBackOff: back-off 10s restarting app (next try in 10s)",
    )


def test_a_unit_that_leaves_desired_state_leaves_no_bookkeeping(loop: Loop) -> None:
    loop._pass(WEB)
    engine = _engine(loop)
    set_state(engine, "app", **exited(1))
    _died(loop)
    loop._pass(WEB)
    assert len(loop.restarts) > 0
    (loop.settings.directory / "web.yaml").unlink()
    (loop.settings.directory / "other.yaml").write_text(dedent(sandbox("other")))
    loop.source.scan(1.0)
    loop._refresh_desired()
    loop._pass(WEB)
    assert engine.containers.keys() == set(), "pruned: web is no longer defined"
    assert len(loop.restarts) == 0 and loop.restarts.restarts(WEB, "app") == 0
    assert loop.status.units() == {}, "absent and not desired: not reported"


def test_an_empty_desire_is_warned_about_once_by_its_kind(
    loop: Loop, caplog: pytest.LogCaptureFixture
) -> None:
    loop._pass(WEB)
    (loop.settings.directory / "web.yaml").unlink()
    loop.source.scan(1.0)
    loop._refresh_desired()
    with caplog.at_level(logging.WARNING, logger="reconciler"):
        loop._pass(WEB)
        loop._pass(WEB)
    said = [r.getMessage() for r in caplog.records if "defines nothing" in r.getMessage()]
    assert len(said) == 1 and "--allow-empty" in said[0]
    assert len(_engine(loop).containers) == 3, "nothing is removed"


def test_without_restarts_in_place_a_crash_is_a_new_container_counted_and_held(
    loop: Loop,
) -> None:
    """Under a driver that cannot restart in place (CRI) the loop books the replacing
    Recreate as a restart, and the backoff (by member and spec) holds the next one."""
    from dataclasses import replace

    from reconciler.drivers.cri.capabilities import CRI

    loop.settings = replace(loop.settings, build=replace(loop.settings.build, driver=CRI))
    loop._refresh_desired()
    loop._pass(WEB)
    engine = _engine(loop)
    first = set_state(engine, "app", **exited(1))
    _died(loop)
    loop._pass(WEB)
    again = by_container(engine, "app")
    assert again.id != first.id and again.state.alive, "a new container, at once"
    assert loop.restarts.restarts(WEB, "app") == 1
    set_state(engine, "app", **exited(1))
    _died(loop)
    loop._pass(WEB)
    held = by_container(engine, "app")
    assert held.id == again.id and not held.state.alive, "in backoff: held"


def test_the_passes_of_a_resync_share_one_status_write(loop: Loop) -> None:
    timers: list[tuple[float, object]] = []
    loop.triggers.later = lambda delay, action: timers.append((delay, action))
    for _ in range(3):
        loop._pass(WEB)
    assert [delay for delay, _ in timers] == [STATUS_EVERY], "one write scheduled, not three"
    assert read_records(loop.settings.state_dir, INSTANCE, DAEMON) == ([], [])
    loop.writer.flush()
    (record,), _ = read_records(loop.settings.state_dir, INSTANCE, DAEMON)
    assert record.units["sandbox/web"].phase == "Running"
    loop._pass(WEB)
    assert len(timers) == 2, "after the write, the next pass schedules another"


def test_two_status_writes_at_once_never_leave_the_older_one_in_the_file(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timer's write and a sync poll's run in threads of their own: the first one
    here is held inside its write (after its snapshot) until the second is done, or
    for half a second if the second waits for it, as it must."""
    loop.triggers.later = lambda delay, action: None
    inside, second_done = threading.Event(), threading.Event()
    real = statuswriter.write_record

    def write(state_dir: Path, name: str, record: LoopStatus) -> Path:
        if not inside.is_set():
            inside.set()
            second_done.wait(0.5)
        return real(state_dir, name, record)

    monkeypatch.setattr(statuswriter, "write_record", write)
    first = threading.Thread(target=loop.writer.write)  # its snapshot: no unit yet
    first.start()
    assert inside.wait(5)
    loop._pass(WEB)
    loop.writer.write()  # its snapshot: web, Running
    second_done.set()
    first.join(5)
    (record,), _ = read_records(loop.settings.state_dir, INSTANCE, DAEMON)
    assert "sandbox/web" in record.units, "the older snapshot was written last"


class _Queued:
    """The work queue, recording what is queued instead of running it."""

    def __init__(self) -> None:
        self.keys: list[UnitKey] = []

    def add(self, key: UnitKey, delay: float = 0.0) -> None:
        self.keys.append(key)


def test_a_resync_passes_by_a_unit_its_last_quiet_pass_left_as_it_is(loop: Loop) -> None:
    loop._pass(WEB)  # converges
    loop._pass(WEB)  # nothing to do: quiet
    queued = _Queued()
    loop.queue = queued  # type: ignore[assignment]
    loop._resync()
    assert WEB not in queued.keys, "the engine shows the unit as its quiet pass saw it"


def test_a_resync_passes_over_a_unit_the_engine_changed_behind_its_back(loop: Loop) -> None:
    loop._pass(WEB)
    loop._pass(WEB)
    set_state(_engine(loop), "app", **exited(1))  # an event the loop missed
    queued = _Queued()
    loop.queue = queued  # type: ignore[assignment]
    loop._resync()
    assert WEB in queued.keys


def test_a_resync_passes_over_a_unit_whose_manifest_changed(loop: Loop) -> None:
    loop._pass(WEB)
    loop._pass(WEB)
    path = loop.settings.directory / "web.yaml"
    path.write_text(path.read_text().replace("busybox:1", "busybox:2"))
    loop.source.scan(10.0)  # the file settled; a missed watch event
    queued = _Queued()
    loop.queue = queued  # type: ignore[assignment]
    loop._resync()
    assert WEB in queued.keys


def test_a_unit_that_changed_something_is_not_passed_by(loop: Loop) -> None:
    loop._pass(WEB)  # converged from empty: not quiet
    queued = _Queued()
    loop.queue = queued  # type: ignore[assignment]
    loop._resync()
    assert WEB in queued.keys


# -- one observation for many passes (views.py) ------------------------------------

API = UnitKey(Kind.SANDBOX, "default", "api")


class _Counting(Engine):
    """The simulator, noting each observation asked of it: the unit, or None for all."""

    def __init__(self) -> None:
        super().__init__(instance=INSTANCE)
        self.asked: list[UnitKey | None] = []

    def observe(
        self,
        units: Collection[DesiredUnit] = (),
        unit: UnitKey | None = None,
        start_times: bool = True,
    ) -> Observation:
        self.asked.append(unit)
        return super().observe(units, unit, start_times)


def _started(tmp_path: Path, *names: str) -> tuple[Loop, _Counting]:
    """A loop as ``run`` begins: the source read, every unit queued, everything observed."""
    engine = _Counting()
    made = _made(tmp_path, engine, *names)
    made.queue = _Queued()  # type: ignore[assignment]
    made._rescan()
    made._prime()
    return made, engine


def test_the_first_passes_plan_from_one_observation_of_everything(tmp_path: Path) -> None:
    loop, engine = _started(tmp_path, "web", "api")
    loop._pass(WEB)
    loop._pass(API)
    assert len(engine.containers) == 6, "both converged"
    assert engine.asked == [None, WEB, API], "one observation, then each pass's after it acted"


def test_the_pass_a_units_own_change_queued_plans_from_what_the_last_pass_saw(
    tmp_path: Path,
) -> None:
    """The infra's start event queues the unit while its pass runs: the pass observed
    after it acted, and the next pass plans from that."""
    loop, engine = _started(tmp_path, "web")
    loop._pass(WEB)
    engine.asked.clear()
    loop._pass(WEB)
    assert engine.asked == [], "nothing changed since the last pass observed"
    loop._pass(WEB)
    assert engine.asked == [WEB], "a view serves one pass"


def test_an_event_after_the_last_observation_makes_the_pass_observe_again(
    tmp_path: Path,
) -> None:
    loop, engine = _started(tmp_path, "web")
    loop._pass(WEB)
    set_state(engine, "app", **exited(1))
    _died(loop)
    engine.asked.clear()
    loop._pass(WEB)
    assert engine.asked[0] == WEB
    assert by_container(engine, "app").state.alive, "it saw the death and restarted app"


def test_a_name_someone_else_holds_refuses_the_first_pass_from_the_first_observation(
    tmp_path: Path,
) -> None:
    loop, engine = _started(tmp_path, "web")
    engine.unmanaged.add(f"{INSTANCE}_default_web.app")
    engine.asked.clear()
    loop._prime()  # sees the name taken
    loop._pass(WEB)
    assert engine.asked == [None], "no observation of its own"
    assert engine.containers == {}, "refused: nothing created"
    assert "already taken" in (loop.status.units()[str(WEB)].last_error or "")


def test_units_the_engine_holds_and_nothing_desires_are_queued_at_start(tmp_path: Path) -> None:
    loop, engine = _started(tmp_path, "web", "api")
    loop._pass(WEB)
    loop._pass(API)
    (loop.settings.directory / "api.yaml").unlink()
    again = Loop(loop.settings, engine)
    again.queue = _Queued()  # type: ignore[assignment]
    again._rescan()
    assert API not in again.queue.keys  # type: ignore[attr-defined]
    again._prime()
    assert API in again.queue.keys, "pruned now, not at the first resync"  # type: ignore[attr-defined]
    engine.asked.clear()
    again._pass(API)
    assert engine.containers and all(c.unit_key == WEB for c in engine.containers.values())
    assert engine.asked == [API], "planned from the first observation; observed after removing"


def test_a_unit_a_resync_queues_plans_from_the_resyncs_observation(tmp_path: Path) -> None:
    loop, engine = _started(tmp_path, "web")
    loop._pass(WEB)
    loop._pass(WEB)  # quiet
    set_state(engine, "app", **exited(1))  # an event the loop missed
    engine.asked.clear()
    loop._resync()
    assert WEB in loop.queue.keys  # type: ignore[attr-defined]
    loop._pass(WEB)
    assert engine.asked == [None, WEB], "the resync's observation, then the one after acting"
    assert by_container(engine, "app").state.alive


def test_a_resync_over_unchanged_files_admits_nothing_again(loop: Loop) -> None:
    """Compiling and admitting 500 unchanged units was most of an idle loop's CPU."""
    loop._pass(WEB)
    loop.queue = _Queued()  # type: ignore[assignment]
    before = loop.desired
    loop._resync()
    assert loop.desired is before
    path = loop.settings.directory / "web.yaml"
    path.write_text(path.read_text().replace("busybox:1", "busybox:2"))
    loop._resync()
    assert loop.desired is not before and WEB in loop.queue.keys  # type: ignore[attr-defined]


# -- emptyDir.sizeLimit on disk (evictions.py, core/eviction.py) ---------------------

CACHE = 'Usage of EmptyDir volume "cache" exceeds the limit "1Mi".'


def _limited(name: str, limit: str = "1Mi") -> str:
    return f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: {name}}}
        spec:
          terminationGracePeriodSeconds: 1
          volumes: [{{name: cache, emptyDir: {{sizeLimit: {limit}}}}}]
          containers:
            - {{name: app, image: busybox:1, volumeMounts: [{{name: cache, mountPath: /c}}]}}
            - {{name: sidecar, image: busybox:1}}
        """


class _Measured:
    """The measure, counting what it was asked to measure."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, path: str, limit: int) -> Usage:
        self.paths.append(path)
        return usage(path, limit)


def _limited_loop(tmp_path: Path) -> tuple[Loop, Engine, _Measured]:
    """web (1Mi, about to hold 2 MiB) and api (1Mi, 100 KiB), converged, their volumes'
    data in directories of the test; the work queue records what is asked."""
    engine = Engine(instance=INSTANCE)
    made = _made(tmp_path, engine)
    made.metrics = LoopMetrics(Health(60.0))
    made.booking._metrics = made.metrics
    for name in ("web", "api"):
        (made.settings.directory / f"{name}.yaml").write_text(dedent(_limited(name)))
    made.source.scan(1.0)
    made._refresh_desired()
    made._pass(WEB)
    made._pass(API)
    for unit in made.desired.units:
        (volume,) = unit.volumes
        engine.paths[volume.name] = str(tmp_path / volume.name)
        (tmp_path / volume.name).mkdir()
        size = 2 * 2**20 if unit.key == WEB else 100 * 2**10
        (tmp_path / volume.name / "data").write_bytes(b"x" * size)
    measured = _Measured()
    made.evictions._measure = measured
    made.queue = _Queued()  # type: ignore[assignment]
    return made, engine, measured


def _states(engine: Engine, key: UnitKey) -> dict[str, str]:
    return {
        c.container or "infra": c.state.value
        for c in engine.containers.values()
        if c.unit_key == key
    }


def test_an_emptydir_over_its_limit_evicts_its_unit_and_leaves_the_other(tmp_path: Path) -> None:
    loop, engine, measured = _limited_loop(tmp_path)
    api_before = {c.id: c for c in engine.containers.values() if c.unit_key == API}
    loop.evictions.tick()
    assert loop.queue.keys == [WEB], "only the unit over its limit"  # type: ignore[attr-defined]
    assert len(measured.paths) == 2
    loop._pass(WEB)
    assert _states(engine, WEB) == {"infra": "exited", "app": "exited", "sidecar": "exited"}
    assert {c.id: c for c in engine.containers.values() if c.unit_key == API} == api_before
    loop.writer.flush()
    (record,), _ = read_records(loop.settings.state_dir, INSTANCE, DAEMON)
    web, api = record.units["sandbox/web"], record.units["sandbox/api"]
    assert (web.phase, web.message, web.last_error) == ("Evicted", CACHE, None)
    assert (api.phase, api.message) == ("Running", None)
    assert loop.metrics is not None
    assert loop.metrics.evictions.labels("sandbox/web")._value.get() == 1


def test_an_evicted_unit_is_neither_restarted_nor_measured_again(tmp_path: Path) -> None:
    loop, engine, measured = _limited_loop(tmp_path)
    loop.evictions.tick()
    loop._pass(WEB)
    for _ in range(3):  # its containers' deaths, resyncs: passes over it
        _died(loop)
        loop._pass(WEB)
    assert set(_states(engine, WEB).values()) == {"exited"}, "restartPolicy Always, yet stopped"
    assert loop.restarts.restarts(WEB, "app") == 0
    record = loop.status.units()["sandbox/web"]
    assert record.phase == "Evicted" and record.containers["app"].waiting is None
    measured.paths.clear()
    loop.queue.keys.clear()  # type: ignore[attr-defined]
    loop.evictions.tick()
    assert len(measured.paths) == 1, "api only"
    assert loop.queue.keys == []  # type: ignore[attr-defined]


def test_a_restarted_loop_keeps_the_unit_evicted(tmp_path: Path) -> None:
    loop, engine, _ = _limited_loop(tmp_path)
    loop.evictions.tick()
    loop._pass(WEB)
    again = Loop(loop.settings, engine)
    again.source.scan(2.0)
    again._refresh_desired()
    again._pass(WEB)
    assert set(_states(engine, WEB).values()) == {"exited"}
    assert again.status.units()["sandbox/web"].phase == "Evicted"


def test_raising_the_limit_in_the_manifest_runs_the_unit_again(tmp_path: Path) -> None:
    loop, engine, _ = _limited_loop(tmp_path)
    loop.evictions.tick()
    loop._pass(WEB)
    (loop.settings.directory / "web.yaml").write_text(dedent(_limited("web", "4Mi")))
    loop.source.scan(3.0)
    loop._refresh_desired()
    loop._pass(WEB)
    assert set(_states(engine, WEB).values()) == {"running"}
    assert engine.evictions == {}
    assert loop.status.units()["sandbox/web"].phase == "Running"
    loop.queue.keys.clear()  # type: ignore[attr-defined]
    loop.evictions.tick()
    assert loop.queue.keys == [], "2 MiB is under 4Mi"  # type: ignore[attr-defined]


def test_a_volume_that_cannot_be_read_here_is_said_once_and_not_enforced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loop, engine, _ = _limited_loop(tmp_path)
    for name in list(engine.paths):
        engine.paths[name] = str(tmp_path / "elsewhere" / name)  # the daemon's, not ours
    with caplog.at_level(logging.WARNING, logger="reconciler"):
        loop.evictions.tick()
        loop.evictions.tick()
    said = [r.getMessage() for r in caplog.records if "cannot measure" in r.getMessage()]
    assert len(said) == 2, "once per volume"
    assert "sizeLimit is not enforced" in said[0]
    assert loop.queue.keys == []  # type: ignore[attr-defined]


def test_a_volume_measured_in_part_is_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loop, _, _ = _limited_loop(tmp_path)
    loop.evictions._measure = lambda path, limit: Usage(100, unreadable=2)
    with caplog.at_level(logging.WARNING, logger="reconciler"):
        loop.evictions.tick()
        loop.evictions.tick()
    said = [r.getMessage() for r in caplog.records if "could not be read" in r.getMessage()]
    assert len(said) == 2 and "CAP_DAC_READ_SEARCH" in said[0], "once per volume"
    assert loop.queue.keys == []  # type: ignore[attr-defined]


def test_a_followed_image_whose_tag_moves_is_made_again_and_the_others_stay(
    tmp_path: Path,
) -> None:
    engine = Engine(instance=INSTANCE)
    loop = _made(tmp_path, engine, "web", "other")
    web = tmp_path / "manifests" / "web.yaml"
    web.write_text(
        dedent(sandbox("web")).replace(
            "metadata: {name: web}",
            "metadata: {name: web, annotations: {reconciler.io/image-update: registry}}",
        )
    )
    loop.source.scan(1.0)
    loop._refresh_desired()
    other = UnitKey(Kind.SANDBOX, "default", "other")
    loop._pass(WEB)
    loop._pass(other)

    def of(unit: str, name: str) -> ObservedContainer:
        (found,) = [
            c
            for c in engine.containers.values()
            if c.labels.get(L.SANDBOX) == unit and c.container == name
        ]
        return found

    first, bystander = of("web", "app"), of("other", "app")
    loop.images.tick()  # notes what the tag names: nothing to do yet
    loop._pass(WEB)
    assert of("web", "app").id == first.id
    queued = _Queued()
    loop.queue = queued  # type: ignore[assignment]
    engine.image_ids["busybox:1"] = "sha256:moved"
    told: list[tuple[str, str, tuple[str, ...]]] = []
    loop.images.on_moved = lambda *news: told.append(news)  # sync's --notify
    loop.images.tick()
    assert queued.keys == [WEB]
    assert told == [("busybox:1", "sha256:moved", (str(WEB),))]
    loop._pass(WEB)
    again = of("web", "app")
    assert again.id != first.id and again.image_id == "sha256:moved"
    assert of("other", "app").id == bystander.id, "not followed: left as it is"


def test_a_gated_revision_is_judged_by_what_the_passes_recorded(tmp_path: Path) -> None:
    now, verdicts = [0.0], []
    gate = RevisionGate(30.0, verdicts.append, min_ready=2.0, clock=lambda: now[0])
    loop = _made(tmp_path, Engine(instance=INSTANCE), "web", gate=gate)
    written: list[None] = []

    def judge() -> None:  # the gate thread's round, as the loop starts it
        gate.tick(loop.status.units, lambda: written.append(None))

    loop._changed(Change(frozenset({WEB}), revision="c1"))
    assert gate.armed() == "c1"
    judge()
    loop._pass(WEB)
    judge()
    assert verdicts == [], "ready, not yet for min_ready"
    now[0] += 2.0
    judge()
    assert len(written) == 3, "progress twice, then the verdict: each written"
    judge()
    assert len(written) == 3, "judged: nothing more"
    assert verdicts == [Verdict("c1", True, ("sandbox/web",))]


def test_a_gated_revision_whose_unit_crash_loops_fails_at_once(tmp_path: Path) -> None:
    verdicts: list[Verdict] = []
    gate = RevisionGate(300.0, verdicts.append, clock=lambda: 0.0)
    loop = _made(tmp_path, Engine(instance=INSTANCE), "web", gate=gate)
    loop._changed(Change(frozenset({WEB}), revision="c1"))
    loop._pass(WEB)
    engine = _engine(loop)
    for _ in range(2):  # restarted at once, then held
        set_state(engine, "app", **exited(1))
        _died(loop)
        loop._pass(WEB)
    gate.check(loop.status.units())
    assert verdicts == [
        Verdict("c1", False, ("sandbox/web",), ("sandbox/web: app: CrashLoopBackOff (exited 1)",))
    ]
