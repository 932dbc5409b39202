"""The loop's status record (reconciler/loop/statusrecord.py): one schema, versioned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.core.models import Kind
from reconciler.core.spec import UnitKey
from reconciler.loop.statefile import read_records, state_name, write_record, write_status
from reconciler.loop.status import UnitStatus, merge_loop_status
from reconciler.loop.statusrecord import (
    STATUS_VERSION,
    ContainerRecord,
    LoopStatus,
    StatusBook,
    UnitRecord,
    UnsupportedStatus,
)

WEB = UnitKey(Kind.SANDBOX, "default", "web")
API = UnitKey(Kind.CONTAINER, "prod", "api")

# What a loop wrote before the record had a version (reconciler 8c81a5a).
OLD_FILE = {
    "instance": "test",
    "daemon": "unix:///run/docker.sock",
    "directory": "/srv/manifests",
    "updated": "2026-11-29T12:00:00+00:00",
    "fileErrors": {"broken.yaml": ["broken.yaml:3: spec: bad"]},
    "units": {
        "sandbox/web": {
            "kind": "Sandbox",
            "namespace": "default",
            "name": "web",
            "phase": "CrashLoopBackOff",
            "ready": False,
            "containers": {
                "app": {
                    "id": "0123456789ab",
                    "state": "exited",
                    "exitCode": 1,
                    "restarts": 3,
                    "ready": None,
                    "waiting": "CrashLoopBackOff: back-off 20s restarting app",
                },
                "sidecar": {"id": "ba9876543210", "state": "running", "ready": False},
            },
            "lastError": None,
            "source": "web.yaml",
            "owner": "dir:/srv/manifests",
            "updated": "2026-11-29T12:00:00+00:00",
        }
    },
}


def _book() -> StatusBook:
    return StatusBook("dir:/srv", now=lambda: "2026-11-29T12:00:00+00:00")


def test_an_old_file_reads_as_version_0_and_writes_back_the_same_layout() -> None:
    record = LoopStatus.from_json(OLD_FILE)
    assert record.version == 0
    web = record.units["sandbox/web"]
    assert web.containers["app"].restarts == 3 and web.containers["sidecar"].ready is False
    assert record.file_errors == {"broken.yaml": ("broken.yaml:3: spec: bad",)}
    again = record.to_json()
    assert again.pop("version") == 0
    OLD_FILE["units"]["sandbox/web"]["containers"]["sidecar"] |= {  # type: ignore[index]
        "exitCode": None,
        "restarts": 0,
        "waiting": None,
    }
    OLD_FILE["units"]["sandbox/web"]["message"] = None  # type: ignore[index]
    assert again == OLD_FILE


def test_a_record_round_trips_through_its_json() -> None:
    record = LoopStatus(
        instance="test",
        daemon="d",
        updated="now",
        units={
            "container/prod/api": UnitRecord("Container", "prod", "api", "Refused", last_error="no")
        },
        source={"sync": {"branch": "main"}},
    )
    data = json.loads(json.dumps(record.to_json()))
    assert data["version"] == STATUS_VERSION and data["sync"] == {"branch": "main"}
    assert LoopStatus.from_json(data) == record
    assert LoopStatus.from_json(data).sync == {"branch": "main"}


def test_entries_of_the_wrong_shape_are_skipped_not_fatal() -> None:
    record = LoopStatus.from_json(
        {
            "units": {
                "sandbox/gone": "not a mapping",
                "sandbox/web": {"containers": {"app": 3, "x": {"restarts": "many"}}},
            },
            "fileErrors": ["not", "a", "mapping"],
            "sync": "not a mapping",
        }
    )
    assert list(record.units) == ["sandbox/web"]
    assert record.units["sandbox/web"].containers == {"x": ContainerRecord("", "")}
    assert record.file_errors == {} and record.sync is None


def test_a_newer_version_is_refused_and_get_ignores_it_with_a_warning(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedStatus, match="newer"):
        LoopStatus.from_json({"version": STATUS_VERSION + 1})
    name = state_name("test", "d")
    write_status(tmp_path, f"{name}.aaaa", {"version": STATUS_VERSION + 1, "units": {}})
    write_record(tmp_path, f"{name}.bbbb", LoopStatus(instance="test"))
    write_status(tmp_path, f"{name}.cccc", OLD_FILE)
    records, warnings = read_records(tmp_path, "test", "d")
    assert [r.version for r in records] == [STATUS_VERSION, 0]
    assert len(warnings) == 1 and "aaaa.status.json" in warnings[0] and "newer" in warnings[0]


def test_merging_a_file_or_its_record_is_the_same() -> None:
    web = UnitStatus("Sandbox", "default", "web", "sandbox", "runc", "Running", "web.yaml")
    assert merge_loop_status([web], OLD_FILE) == merge_loop_status(
        [web], LoopStatus.from_json(OLD_FILE)
    )


def test_the_book_refuses_failed_and_forgets_what_is_gone() -> None:
    book = _book()
    book.failed(WEB, "create failed: boom")
    assert (book.phases()[WEB], book.units()[str(WEB)].last_error) == (
        "Failed",
        "create failed: boom",
    ), "the phase and its reason in one step"
    assert book.refused(WEB, "owned by apply"), "a new reason is said"
    assert book.units()[str(WEB)].last_error == "owned by apply", "with its phase, at once"
    book.record(WEB, "owned by apply", "web.yaml", desired=True)
    assert not book.refused(WEB, "owned by apply"), "the same reason again is not"
    (web,) = book.units().values()
    assert (web.phase, web.last_error, web.source, web.owner) == (
        "Refused",
        "owned by apply",
        "web.yaml",
        "dir:/srv",
    )
    book.observed(WEB, "Running", {"app": ContainerRecord("0123456789ab", "running", ready=True)})
    assert book.refused(WEB, "something else"), "another reason is new"
    assert book.phases() == {WEB: "Running"}, "something of it runs: not shown Refused"
    book.observed(API, "Absent", {})
    book.record(API, None, None, desired=True)
    assert API in book.phases(), "absent but desired: still reported"
    book.record(API, None, None, desired=False)
    assert list(book.units()) == ["sandbox/web"], "absent and no longer desired: forgotten"
    book.drop(WEB)
    assert book.units() == {}


def test_a_unit_is_ready_unless_a_container_is_not() -> None:
    assert UnitRecord().ready
    unit = UnitRecord(
        containers={
            "a": ContainerRecord("1", "running", ready=None),
            "b": ContainerRecord("2", "x"),
        }
    )
    assert unit.ready and unit.to_json()["ready"] is True
    unit = UnitRecord(containers={"a": ContainerRecord("1", "running", ready=False)})
    assert not unit.ready


def test_a_resync_stamps_the_units_it_passed_by_and_nothing_else() -> None:
    stamps = iter(["2026-11-29T12:00:00+00:00", "2026-11-29T12:00:30+00:00"])
    book = StatusBook("dir:/srv", now=lambda: next(stamps))
    web = UnitKey(Kind.SANDBOX, "default", "web")
    book.observed(web, "Running", {})
    book.record(web, None, "web.yaml", desired=True)
    book.seen([web, UnitKey(Kind.SANDBOX, "default", "unknown")])
    (record,) = book.units().values()
    assert (record.updated, record.phase, record.source) == (
        "2026-11-29T12:00:30+00:00",
        "Running",
        "web.yaml",
    )
