"""emptyDir.sizeLimit on disk: measuring (loop/diskusage.py), the planner's decisions
(core/eviction.py) and how `get` shows an evicted unit. The loop's part is in test_loop.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.core.actions import LiftEviction, RecordEviction, Stop
from reconciler.core.eviction import fingerprint, message
from reconciler.core.models import Kind
from reconciler.core.observed import Eviction, State
from reconciler.core.planner import plan
from reconciler.core.quantity import bytes_quantity
from reconciler.core.spec import Desired, UnitKey
from reconciler.loop.diskusage import usage
from reconciler.loop.status import unit_statuses

from .planning import INSTANCE, by_container, config, converge, desired, exited, kinds, set_state
from .simulator import Engine

WEB = UnitKey(Kind.SANDBOX, "default", "web")
CACHE = 'Usage of EmptyDir volume "cache" exceeds the limit "1Mi".'


def pod(limit: str = "1Mi", image: str = "busybox:1", restart: str = "Always") -> Desired:
    return desired(
        f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: web}}
        spec:
          restartPolicy: {restart}
          terminationGracePeriodSeconds: 3
          volumes:
            - {{name: cache, emptyDir: {{sizeLimit: {limit}}}}}
            - {{name: scratch, emptyDir: {{medium: Memory, sizeLimit: 64Mi}}}}
          containers:
            - name: app
              image: {image}
              volumeMounts: [{{name: cache, mountPath: /cache}}, {{name: scratch, mountPath: /s}}]
            - {{name: sidecar, image: busybox:1}}
        """
    )


# -- the measure -------------------------------------------------------------------


def _blocks(path: Path) -> int:
    return os.lstat(path).st_blocks * 512


def test_usage_counts_blocks_as_du_does_links_once_and_no_symlink_targets(
    tmp_path: Path,
) -> None:
    root = tmp_path / "vol"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "data").write_bytes(b"x" * 300_000)
    (root / "sparse").write_bytes(b"")
    os.truncate(root / "sparse", 50_000_000)  # a length of 50 MB, no blocks
    os.link(root / "sub" / "data", root / "again")  # a hard link: counted once
    outside = tmp_path / "big"
    outside.write_bytes(b"y" * 2_000_000)
    os.symlink(outside, root / "link")  # not followed
    expected = sum(
        _blocks(p) for p in (root, root / "sub", root / "sub" / "data", root / "sparse")
    ) + _blocks(root / "link")
    assert usage(str(root)) == (expected, 0)
    assert 300_000 <= expected < 1_000_000
    du = subprocess.run(
        ["du", "-sx", "-B1", str(root)], capture_output=True, text=True, check=False
    )
    if du.returncode == 0:
        assert int(du.stdout.split()[0]) == expected


def test_usage_stops_counting_once_over_the_limit(tmp_path: Path) -> None:
    for i in range(200):
        (tmp_path / f"f{i}").write_bytes(b"z" * 8192)
    whole = usage(str(tmp_path)).bytes
    early = usage(str(tmp_path), stop_above=100_000).bytes
    assert 100_000 < early < whole
    assert usage(str(tmp_path), stop_above=whole).bytes == whole, "at the limit is not over"


def test_usage_does_not_cross_into_another_file_system(tmp_path: Path) -> None:
    mounted = tmp_path / "mnt"
    mounted.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mounted)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        before = usage(str(tmp_path))
        (mounted / "data").write_bytes(b"m" * 1_000_000)
        assert usage(str(tmp_path)) == before
    finally:
        subprocess.run(["umount", str(mounted)], check=True)


def test_directories_it_may_not_read_are_counted_apart(tmp_path: Path) -> None:
    """As root without CAP_DAC_READ_SEARCH (contrib/systemd's unit drops every capability),
    a directory a container's user made private cannot be read."""
    private = tmp_path / "vol" / "private"
    private.mkdir(parents=True)
    (private / "data").write_bytes(b"p" * 500_000)
    os.chown(private, 1000, 1000)
    private.chmod(0o700)
    script = "import sys; from reconciler.loop.diskusage import usage; print(*usage(sys.argv[1]))"
    drop = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--"]
    done = subprocess.run(
        [*drop, sys.executable, "-c", script, str(tmp_path / "vol")],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or os.geteuid() != 0:
        pytest.skip(f"cannot drop capabilities here: {done.stderr.strip()}")
    used, unreadable = (int(n) for n in done.stdout.split())
    assert unreadable == 1 and used == _blocks(tmp_path / "vol") + _blocks(private)
    assert usage(str(tmp_path / "vol")).unreadable == 0, "with its capabilities, root reads it"


def test_usage_of_a_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        usage(str(tmp_path / "gone"))


# -- what the eviction says and remembers ----------------------------------------------


def test_the_message_is_kubelets_and_the_limit_is_a_quantity() -> None:
    (volume,) = pod().units[0].volumes
    assert volume.size_limit == 2**20
    assert message(volume) == CACHE
    assert [bytes_quantity(n) for n in (2**20, 10 * 2**20, 5_000_000, 1536, 1234, 3 * 2**30)] == [
        "1Mi",
        "10Mi",
        "5M",
        "1536",
        "1234",
        "3Gi",
    ]


def test_only_disk_emptydirs_are_measured_a_memory_one_stays_a_sized_tmpfs() -> None:
    unit = pod().units[0]
    assert [(v.volume, v.size_limit) for v in unit.volumes] == [("cache", 2**20)]
    app = next(m for m in unit.members if m.name == "app")
    assert [(m.type, m.size) for m in app.spec.mounts] == [("volume", None), ("tmpfs", 64 * 2**20)]


def test_the_fingerprint_changes_with_specs_and_limits_not_with_what_steers() -> None:
    base = fingerprint(pod().units[0])
    assert fingerprint(pod().units[0]) == base
    assert fingerprint(pod(limit="2Mi").units[0]) != base
    assert fingerprint(pod(image="busybox:2").units[0]) != base
    assert fingerprint(pod(restart="OnFailure").units[0]) == base


# -- the planner's decisions -----------------------------------------------------------


def test_an_eviction_is_recorded_then_members_stop_together_then_the_infra() -> None:
    want = pod()
    engine = converge(want)
    p = plan(want, engine.observe(want.units), config(evict={WEB: CACHE}))
    assert kinds(p) == ["RecordEviction", "Stop", "Stop", "Stop"]
    (unit,) = p.units
    record, *stops = unit.actions
    assert isinstance(record, RecordEviction) and record.eviction == Eviction(
        CACHE, fingerprint(want.units[0])
    )
    assert [type(a).__name__ for a in unit.steps[1]] == ["Stop", "Stop"], "members at once"
    assert [a.ref.label for a in stops if isinstance(a, Stop)] == ["app", "sidecar", "infra"]
    assert [a.grace_period for a in stops if isinstance(a, Stop)] == [3, 3, 0]
    assert all(a.reason == f"evicted: {CACHE}" for a in stops)
    engine.apply(p)
    assert all(c.state is State.EXITED for c in engine.containers.values()), "stopped, kept"
    assert engine.evictions == {WEB: Eviction(CACHE, fingerprint(want.units[0]))}


def test_an_evicted_unit_stays_stopped_whatever_its_restart_policy() -> None:
    want = pod()
    engine = converge(want)
    engine.apply(plan(want, engine.observe(want.units), config(evict={WEB: CACHE})))
    again = plan(want, engine.observe(want.units), config())
    assert again.actions == [], "restartPolicy Always, yet nothing starts"
    # A container started behind the loop's back is stopped again.
    engine.start(by_container(engine, "infra").id)
    engine.start(by_container(engine, "app").id)
    p = plan(want, engine.observe(want.units), config())
    assert kinds(p) == ["Stop", "Stop"] and p.actions[0].reason == f"evicted: {CACHE}"


def test_a_finished_unit_is_not_evicted_its_infra_running_or_not() -> None:
    want = pod(restart="Never")
    engine = converge(want)
    for name in ("app", "sidecar"):
        set_state(engine, name, **exited(0))
    assert plan(want, engine.observe(want.units), config(evict={WEB: CACHE})).actions == []


def test_a_unit_in_a_crash_loop_is_active_and_evicted() -> None:
    want = pod()
    engine = converge(want)
    for name in ("app", "sidecar"):
        set_state(engine, name, **exited(1))
    held = {by_container(engine, n).id: "CrashLoopBackOff" for n in ("app", "sidecar")}
    p = plan(want, engine.observe(want.units), config(evict={WEB: CACHE}, held=held))
    assert kinds(p) == ["RecordEviction", "Stop"], "only the infra still runs"


def _evicted(want: Desired) -> Engine:
    engine = converge(want)
    engine.apply(plan(want, engine.observe(want.units), config(evict={WEB: CACHE})))
    return engine


def test_a_changed_size_limit_lifts_the_eviction_and_the_unit_starts_again() -> None:
    engine = _evicted(pod())
    bigger = pod(limit="8Mi")
    p = plan(bigger, engine.observe(bigger.units), config())
    assert kinds(p)[0] == "LiftEviction"
    assert p.actions[0].reason == "its manifest changed since it was evicted"
    assert "Start" in kinds(p)
    engine.apply(p)
    assert engine.evictions == {}
    assert all(c.state is State.RUNNING for c in engine.containers.values())
    assert plan(bigger, engine.observe(bigger.units), config()).actions == []


def test_a_changed_image_lifts_it_and_recreates_that_container() -> None:
    engine = _evicted(pod())
    newer = pod(image="busybox:2")
    p = plan(newer, engine.observe(newer.units), config())
    assert kinds(p)[0] == "LiftEviction" and "Recreate" in kinds(p)
    engine.apply(p)
    assert plan(newer, engine.observe(newer.units), config()).actions == []


def test_apply_lifts_it_the_loop_does_not_what_steers_only_neither() -> None:
    engine = _evicted(pod())
    assert plan(pod(restart="OnFailure"), engine.observe(), config()).actions == []
    p = plan(pod(), engine.observe(), config(lift_evictions=True))
    assert isinstance(p.actions[0], LiftEviction) and p.actions[0].reason.startswith("applied")
    engine.apply(p)
    assert engine.evictions == {} and by_container(engine, "app").state is State.RUNNING


def test_deleting_an_evicted_unit_removes_its_record_with_its_volumes() -> None:
    engine = _evicted(pod())
    p = plan(Desired(), engine.observe(), config(delete=frozenset({WEB})))
    assert kinds(p)[-1] == "RemoveVolumes"
    engine.apply(p)
    assert engine.evictions == {} and engine.containers == {}


def test_an_eviction_record_left_alone_is_pruned_with_its_unit() -> None:
    """A crash between removing the containers and the volumes can leave the record."""
    engine = Engine(instance=INSTANCE)
    engine.evictions[WEB] = Eviction(CACHE, "f")
    engine.volumes["v"] = {"io.reconciler.managed-by": INSTANCE}
    p = plan(Desired(), engine.observe(), config(delete=frozenset({WEB})))
    assert kinds(p) == ["RemoveVolumes"]


def test_get_shows_an_evicted_unit_from_the_engine_alone() -> None:
    engine = _evicted(pod())
    (status,) = unit_statuses(engine.observe(), INSTANCE, {})
    assert (status.phase, status.message) == ("Evicted", CACHE)
    assert {c.state for c in status.containers} == {"exited"}
    assert status.to_dict()["message"] == CACHE
