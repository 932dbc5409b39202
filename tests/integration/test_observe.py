"""How much the Docker driver asks the daemon to observe (counted by bench/proxy.py),
and what it does without the docker SDK (drivers/docker/http.py).

Members created in their infra's current run, and members a driver already
proved to have started after it, are read from one list call; a restart of
the infra (new endpoints) makes it inspect again, and stale members are found.
On a unix socket, observing, ``apply`` and ``delete`` never import the SDK,
and their errors read as the SDK's did.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from reconciler.core import labels as L
from reconciler.core.compile import BuildConfig, compile_units
from reconciler.core.errors import DriverError, ImageUnavailable, NameConflict
from reconciler.core.manifests import load_text
from reconciler.core.models import Mode
from reconciler.core.naming import name_of
from reconciler.core.observed import Observation, ObservedContainer
from reconciler.core.spec import DesiredUnit
from reconciler.drivers.docker.capabilities import DOCKER
from reconciler.drivers.docker.driver import DockerDriver
from reconciler.drivers.docker.observe import INSPECT_NAMES_MAX

from .conftest import PAUSE, Harness

pytestmark = pytest.mark.integration

INSPECT = "GET /containers/{id}/json"
LIST = "GET /containers/json"


def _proxy_module() -> Any:
    path = Path(__file__).resolve().parents[2] / "bench" / "proxy.py"
    spec = importlib.util.spec_from_file_location("bench_proxy", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def counted(h: Harness, tmp_path: Path) -> Iterator[tuple[DockerDriver, Any]]:
    host = os.environ["DOCKER_HOST"]
    if not host.startswith("unix://"):
        pytest.skip("the counting proxy needs a unix socket DOCKER_HOST")
    proxy = _proxy_module().CountingProxy(
        Path(f"/tmp/obs-{h.instance}.sock"), Path(host.removeprefix("unix://"))
    )
    with proxy:
        driver = DockerDriver(h.instance, proxy.docker_host)
        yield driver, proxy
        driver.close()


def sandbox(h: Harness) -> None:
    h.write(
        "web.yaml",
        """
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: web}
        spec:
          share: [network, ipc]
          terminationGracePeriodSeconds: 1
          containers:
            - {name: app, image: local/busybox:test, command: [sleep, "3600"]}
            - {name: sidecar, image: local/busybox:test, command: [sleep, "3600"]}
        """,
    )


def started(observed: Observation) -> dict[str, float | None]:
    return {c.container or "infra": c.started_at for c in observed.containers}


def stale(observed: Observation) -> list[str]:
    infra = next(c for c in observed.containers if c.role == L.ROLE_INFRA)
    members: list[ObservedContainer] = [c for c in observed.containers if c is not infra]
    if infra.started_at is None:
        return []  # nothing was inspected: the list proved every member current
    return sorted(
        c.container for c in members if c.started_at is not None and c.started_at < infra.started_at
    )


def test_a_steady_sandbox_is_observed_in_one_list_call_until_its_infra_restarts(
    h: Harness, counted: tuple[DockerDriver, Any]
) -> None:
    driver, proxy = counted
    sandbox(h)
    h.apply()
    proxy.take()

    first = driver.observe()
    calls: Counter[str] = proxy.take()
    # The members' infra-run labels name the infra's current run: nothing to inspect.
    assert calls[INSPECT] == 0 and calls[LIST] == 1, calls
    assert stale(first) == [] and set(started(first).values()) == {None}

    h.api.restart(h.member("web")["Id"], timeout=1)  # behind reconciler's back
    after = driver.observe()
    calls = proxy.take()
    assert calls[INSPECT] == 3, calls  # new endpoints: the infra and both members
    assert stale(after) == ["app", "sidecar"]

    assert "rejoin" in h.apply().stdout
    proxy.take()
    rejoined = driver.observe()
    # Restarted in place, the members' labels name the run that is over: inspected once...
    assert stale(rejoined) == [] and proxy.take()[INSPECT] == 3
    # ... and then known to this driver while the infra stays in its run.
    again = driver.observe()
    assert proxy.take()[INSPECT] == 0 and started(again) == started(rejoined)


def _members(h: Harness, count: int) -> DesiredUnit:
    """Sandbox web with ``count`` members, ``taken`` first, compiled (nothing made)."""
    names = ["taken", *(f"free{i}" for i in range(count - 1))]
    members = "\n".join(f"            - {{name: {n}, image: local/busybox:test}}" for n in names)
    (unit,) = _units(
        h,
        f"""
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {{name: web}}
        spec:
          containers:
{members}
        """,
    )
    return unit


def test_a_few_missing_names_are_inspected_and_many_are_listed_once(
    h: Harness, counted: tuple[DockerDriver, Any]
) -> None:
    """Which desired containers' names someone else holds: a name list call makes dockerd
    match every name against every container, so a few names are inspected instead."""
    driver, proxy = counted
    taken = h.unmanaged(f"{h.instance}_default_web.taken")
    few = _members(h, 2)  # 3 names with the infra's
    many = _members(h, INSPECT_NAMES_MAX + 1)
    proxy.take()

    observed = driver.observe([few])
    assert {(t.unit, t.container, t.name) for t in observed.taken} == {
        (few.key, "taken", f"{h.instance}_default_web.taken")
    }
    assert observed.looked_up == {few.key}
    calls = proxy.take()
    assert calls[INSPECT] == 3 and calls[LIST] == 1, calls

    assert {t.name for t in driver.observe([many]).taken} == {f"{h.instance}_default_web.taken"}
    calls = proxy.take()
    assert calls[INSPECT] == 0 and calls[LIST] == 2, calls  # ours, then everyone's
    del taken


def test_reading_without_the_sdk_observes_exactly_what_the_sdk_does(h: Harness) -> None:
    host = os.environ["DOCKER_HOST"]
    if not host.startswith("unix:///"):
        pytest.skip("direct reads are for a unix socket DOCKER_HOST")
    sandbox(h)
    h.write(
        "data.yaml",
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: data}
        spec:
          terminationGracePeriodSeconds: 1
          volumes: [{name: scratch, emptyDir: {}}]
          containers:
            - name: app
              image: local/busybox:test
              command: [sleep, "3600"]
              volumeMounts: [{name: scratch, mountPath: /scratch}]
        """,
    )
    h.apply()
    h.unmanaged(f"{h.instance}_default_other_infra")  # a desired name another owner holds
    (other,) = _units(
        h,
        """
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: other}
        spec:
          containers: [{name: app, image: local/busybox:test, runtime: kata}]
        """,
    )
    asked = ([other],)  # its names looked up; docker info for kata
    direct, sdk = DockerDriver(h.instance, host), DockerDriver(h.instance, host, direct_http=False)
    assert direct.connection._http is not None and sdk.connection._http is None
    steady = direct.observe(*asked)
    assert steady == sdk.observe(*asked)
    assert {t.name for t in steady.taken} == {f"{h.instance}_default_other_infra"}
    assert steady.runtimes is not None
    assert len(steady.containers) == 5 and steady.volumes  # two sandboxes, one volume

    h.api.restart(h.member("web")["Id"], timeout=1)  # both must inspect: start times
    restarted = direct.observe(*asked)
    assert restarted == sdk.observe(*asked)
    assert started(restarted) == started(sdk.observe(*asked))
    assert [c.started_at is not None for c in restarted.containers].count(True) == 3
    assert direct.connection._sdk is None  # observing never made the SDK's client
    direct.close()
    sdk.close()


def _sdk_free_run(h: Harness, *args: str) -> str:
    """The CLI's output, then whether it imported ``docker`` and ``requests``."""
    env = os.environ | {"RECONCILER_INSTANCE": h.instance, "RECONCILER_INFRA_IMAGE": PAUSE}
    probe = (
        "import sys; from reconciler.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('docker' in sys.modules, 'requests' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return done.stdout + done.stderr


def test_apply_and_delete_never_import_the_docker_sdk(h: Harness) -> None:
    if not os.environ["DOCKER_HOST"].startswith("unix:///"):
        pytest.skip("direct calls are for a unix socket DOCKER_HOST")
    sandbox(h)
    out = _sdk_free_run(h, "apply", "-f", str(h.root))  # from empty: create, start, inspect
    assert "sandbox/web configured" in out and out.strip().endswith("False False"), out
    assert all(c["State"] == "running" for c in h.containers()) and len(h.containers()) == 3
    out = _sdk_free_run(h, "apply", "-f", str(h.root))
    assert "unchanged" in out and out.strip().endswith("False False"), out
    out = _sdk_free_run(h, "delete", "-f", str(h.root))  # stop, remove, volumes
    assert "sandbox/web deleted" in out and out.strip().endswith("False False"), out
    assert h.containers() == []


def _units(h: Harness, text: str) -> list[DesiredUnit]:
    loaded = load_text(dedent(text), "test.yaml")
    assert loaded.ok, [str(p) for p in loaded.errors]
    config = BuildConfig(h.instance, Mode.CONTAINER_IN_SANDBOX, PAUSE, driver=DOCKER)
    return [c.unit for c in compile_units(loaded.manifests, config, values=loaded.values)]


def _failures(drivers: tuple[DockerDriver, ...], act: Any) -> list[tuple[type, str]]:
    """What ``act(driver)`` raised, per driver."""
    found = []
    for driver in drivers:
        with pytest.raises(DriverError) as caught:
            act(driver)
        found.append((type(caught.value), str(caught.value)))
    return found


def test_errors_read_the_same_with_and_without_the_sdk(h: Harness) -> None:
    host = os.environ["DOCKER_HOST"]
    if not host.startswith("unix:///"):
        pytest.skip("direct calls are for a unix socket DOCKER_HOST")
    drivers = DockerDriver(h.instance, host), DockerDriver(h.instance, host, direct_http=False)
    web, cache = _units(
        h,
        """
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: web}
        spec:
          containers: [{name: app, image: local/busybox:test}]
        ---
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: cache}
        spec: {image: local/absent:nope, imagePullPolicy: Never}
        """,
    )
    infra, (member,) = web.infra, cache.workloads
    assert infra is not None

    h.unmanaged(name_of(infra.labels))  # the infra's name, held by another owner
    taken = _failures(drivers, lambda d: d.create_infra(infra))
    assert taken[0] == taken[1] and taken[0][0] is NameConflict, taken
    assert f'The container name "/{name_of(infra.labels)}" is already in use' in taken[0][1]

    missing = _failures(drivers, lambda d: d.create_member(member, None))
    assert missing[0] == missing[1] and missing[0][0] is ImageUnavailable, missing
    assert missing[0][1] == "image local/absent:nope is not present and imagePullPolicy is Never"
    assert drivers[0].connection._sdk is None  # neither error made the SDK's client

    # A 404 on create means "pull it" (through the SDK, both ways), which fails here:
    # no registry has the image (or none answers).
    pull = replace(member, pull_policy="IfNotPresent")
    pulled = _failures(drivers, lambda d: d.create_member(pull, None))
    assert pulled[0][0] is pulled[1][0] is ImageUnavailable, pulled
    assert all("local/absent:nope" in text and "pull" in text for _, text in pulled), pulled
    assert h.containers() == []  # nothing half-made
    for driver in drivers:
        driver.close()


def test_a_no_op_apply_never_imports_the_docker_sdk(h: Harness) -> None:
    if not os.environ["DOCKER_HOST"].startswith("unix:///"):
        pytest.skip("direct reads are for a unix socket DOCKER_HOST")
    sandbox(h)
    h.apply()
    out = _sdk_free_run(h, "apply", "-f", str(h.root))
    assert "unchanged" in out and out.strip().endswith("False False"), out
