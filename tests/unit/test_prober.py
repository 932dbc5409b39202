"""The probe scheduler (reconciler/loop/prober.py): a fake clock, scripted probe results."""

from __future__ import annotations

import logging

import pytest

from reconciler.core.errors import DriverError, ProbeNotRun, ReconcilerError
from reconciler.core.models import Kind, Probe
from reconciler.core.planner import Unhealthy
from reconciler.core.spec import Desired, UnitKey
from reconciler.loop.prober import Probed, Prober
from reconciler.loop.verdict import Verdict

from .planning import by_container, converge, desired, exited, sandbox, set_state
from .simulator import Engine

WEB = UnitKey(Kind.SANDBOX, "default", "web")
EXEC = "{exec: {command: [check]}, periodSeconds: 10, failureThreshold: 2}"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Script:
    """Probe results by probe kind, in order; records what ran where."""

    def __init__(self, **results: list[bool | Verdict | ReconcilerError | None]) -> None:
        self.results = {k: iter(v) for k, v in results.items()}
        self.ran: list[tuple[str, str, str]] = []  # (container, kind, host)

    def __call__(self, target: Probed, probe: Probe) -> Verdict:
        kind = next(k for k in ("liveness", "readiness", "startup") if getattr(target, k) is probe)
        self.ran.append((target.name, kind, target.host))
        result = next(self.results[kind])
        if result is None:
            raise DriverError("exec: the daemon does not answer")
        if isinstance(result, ReconcilerError):
            raise result
        return result if isinstance(result, Verdict) else Verdict(result)


def _setup(extra: str, script: Script) -> tuple[Engine, Desired, Prober, Clock, list[UnitKey]]:
    want = desired(sandbox(extra=extra))
    engine = converge(want)
    clock, changed = Clock(), []
    prober = Prober(script, changed.append, clock)
    return engine, want, prober, clock, changed


def _watch(prober: Prober, engine: Engine, want: Desired) -> None:
    (unit,) = want.units
    infra = by_container(engine, "infra")
    prober.watch(
        WEB,
        unit.running,
        engine.observe().containers,
        lambda cid: "10.0.0.2" if cid == infra.id else None,
    )


def test_readiness_is_probed_every_period_at_the_infras_address() -> None:
    script = Script(readiness=[False, True, True])
    engine, want, prober, clock, changed = _setup(f", readinessProbe: {EXEC}", script)
    _watch(prober, engine, want)
    app = by_container(engine, "app")
    assert [p.name for p in prober.watching()] == ["app"], "the sidecar has no probe"
    prober.tick()
    assert prober.ready(app.id) is False and changed == [WEB], "not ready: a verdict, reported"
    prober.tick()
    assert len(script.ran) == 1, "not due again before its period"
    clock.now += 10
    prober.tick()
    assert prober.ready(app.id) is True and changed == [WEB, WEB]
    clock.now += 10
    prober.tick()
    assert changed == [WEB, WEB], "the same verdict again changes nothing"
    assert {host for _, _, host in script.ran} == {"10.0.0.2"}


def test_a_failed_liveness_probe_makes_the_container_unhealthy_until_restarted() -> None:
    script = Script(liveness=[False, False, True])
    engine, want, prober, clock, changed = _setup(f", livenessProbe: {EXEC}", script)
    _watch(prober, engine, want)
    app = by_container(engine, "app")
    prober.tick()
    assert prober.unhealthy(engine.observe().containers) == {}, "one failure: below threshold"
    clock.now += 10
    prober.tick()
    assert prober.unhealthy(engine.observe().containers) == {
        app.id: Unhealthy("the liveness probe failed 2 time(s) in a row", "liveness")
    }
    assert changed == [WEB]
    prober.restarted(app.id)
    assert prober.unhealthy(engine.observe().containers) == {} and prober.watching() == []
    _watch(prober, engine, want)
    clock.now += 1
    prober.tick()
    assert script.ran[-1] == ("app", "liveness", "10.0.0.2"), "a new run: probed afresh"


def test_until_the_startup_probe_succeeds_the_others_wait() -> None:
    script = Script(startup=[False, True], liveness=[True], readiness=[True])
    engine, want, prober, clock, _ = _setup(
        f", startupProbe: {EXEC}, livenessProbe: {EXEC}, readinessProbe: {EXEC}", script
    )
    _watch(prober, engine, want)
    prober.tick()
    clock.now += 10
    prober.tick()
    assert [kind for _, kind, _ in script.ran] == ["startup", "startup"]
    prober.tick()
    assert [kind for _, kind, _ in script.ran][2:] == ["liveness", "readiness"]


def test_a_startup_probe_that_passes_is_said_once_and_its_verdict_kept() -> None:
    """Status follows the first success (a health gate waits for it); nothing after."""
    script = Script(startup=[False, True])
    engine, want, prober, clock, changed = _setup(f", startupProbe: {EXEC}", script)
    _watch(prober, engine, want)
    app, sidecar = by_container(engine, "app"), by_container(engine, "sidecar")
    assert (prober.started(app.id), prober.started(sidecar.id)) == (False, None)
    prober.tick()
    assert prober.started(app.id) is False and changed == [], "one failure: not yet a verdict"
    clock.now += 10
    prober.tick()
    assert prober.started(app.id) is True and changed == [WEB]
    clock.now += 10
    prober.tick()
    assert changed == [WEB] and len(script.ran) == 2, "started: the startup probe is done"


def test_a_probe_that_could_not_run_records_nothing() -> None:
    script = Script(readiness=[None, True])
    engine, want, prober, _, changed = _setup(f", readinessProbe: {EXEC}", script)
    _watch(prober, engine, want)
    prober.tick()
    assert prober.ready(by_container(engine, "app").id) is None and changed == []
    prober.tick()
    assert prober.ready(by_container(engine, "app").id) is True, "still due: it never ran"


def test_a_failed_startup_probe_says_so_for_its_grace_period() -> None:
    script = Script(startup=[False, False])
    engine, want, prober, clock, _ = _setup(f", startupProbe: {EXEC}", script)
    _watch(prober, engine, want)
    prober.tick()
    clock.now += 10
    prober.tick()
    (unhealthy,) = prober.unhealthy(engine.observe().containers).values()
    assert unhealthy == Unhealthy("the startup probe failed 2 time(s) in a row", "startup")


def test_the_initial_delay_is_waited_from_the_watch() -> None:
    probe = "{exec: {command: [check]}, initialDelaySeconds: 5}"
    script = Script(readiness=[True])
    engine, want, prober, clock, _ = _setup(f", readinessProbe: {probe}", script)
    _watch(prober, engine, want)
    prober.tick()
    assert script.ran == []
    clock.now += 5
    prober.tick()
    assert len(script.ran) == 1


def test_a_container_that_stops_running_or_goes_is_forgotten() -> None:
    script = Script(liveness=[False, False])
    engine, want, prober, clock, _ = _setup(f", livenessProbe: {EXEC}", script)
    _watch(prober, engine, want)
    prober.tick()
    clock.now += 10
    prober.tick()
    app = by_container(engine, "app")
    set_state(engine, "app", **exited(137))
    _watch(prober, engine, want)
    assert prober.watching() == [], "not running: not probed"
    assert list(prober.unhealthy(engine.observe().containers)) == [app.id], "the pass decides"
    engine.remove(app.id, 1)
    _watch(prober, engine, want)
    unhealthy = prober.unhealthy([*engine.observe().containers, app])
    assert unhealthy == {}, "gone: nothing is kept about it"


def test_a_result_for_a_container_forgotten_meanwhile_is_dropped() -> None:
    def run(target: Probed, probe: Probe) -> Verdict:
        prober.restarted(target.container_id)  # the loop restarted it while the probe ran
        return Verdict(False)

    want = desired(sandbox(extra=f", livenessProbe: {EXEC.replace('2}', '1}')}"))
    engine = converge(want)
    prober = Prober(run, lambda key: None, Clock())
    _watch(prober, engine, want)
    prober.tick()
    assert prober.unhealthy(engine.observe().containers) == {}


def test_why_a_probe_failed_is_in_the_reason() -> None:
    failed = Verdict(False, "HTTP probe failed with statuscode: 500")
    script = Script(liveness=[failed, failed])
    engine, want, prober, clock, _ = _setup(f", livenessProbe: {EXEC}", script)
    _watch(prober, engine, want)
    prober.tick()
    clock.now += 10
    prober.tick()
    ((why, _),) = [(u.why, u.probe) for u in prober.unhealthy(engine.observe().containers).values()]
    assert why == (
        "the liveness probe failed 2 time(s) in a row: HTTP probe failed with statuscode: 500"
    )


def test_a_warning_or_a_probe_that_cannot_run_is_said_once_per_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    warned = Verdict(True, "probe terminated redirects: 301 to another host, http://x/")
    cannot = ProbeNotRun("gRPC probes need grpcio")
    script = Script(readiness=[warned, warned, cannot, cannot, warned])
    engine, want, prober, clock, _ = _setup(f", readinessProbe: {EXEC}", script)
    _watch(prober, engine, want)
    app = by_container(engine, "app")
    with caplog.at_level(logging.WARNING, logger="reconciler"):
        for _ in range(4):
            prober.tick()
            clock.now += 10
        assert prober.ready(app.id) is True, "a success with a warning is a success"
        said = [r.getMessage() for r in caplog.records]
        assert said == [
            "sandbox/web: readiness probe of app: " + warned.message,
            "sandbox/web: readiness probe of app: gRPC probes need grpcio",
        ]
        prober.restarted(app.id)
        _watch(prober, engine, want)
        prober.tick()
        assert len(caplog.records) == 3, "a new run: said again"
