"""The state directory: the instance lock (flock semantics) and atomic status files."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from reconciler.core.errors import ReconcilerError
from reconciler.loop.statefile import (
    InstanceLock,
    InstanceLocked,
    default_state_dir,
    read_status,
    write_status,
)

DAEMON = "unix:///run/test-docker.sock"

# Holds the lock in a child process until its stdin closes.
HOLDER = """
import sys
from pathlib import Path
from reconciler.loop.statefile import InstanceLock
with InstanceLock(Path(sys.argv[1]), "default", "unix:///child.sock"):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_default_state_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    assert default_state_dir() == Path("/run/user/1000/reconciler")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "")
    assert default_state_dir() == Path("/run/reconciler")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert default_state_dir() == Path("/run/reconciler")


def test_the_lock_creates_its_directory_and_names_its_holder(tmp_path: Path) -> None:
    state_dir = tmp_path / "a" / "b"
    with InstanceLock(state_dir, "default", DAEMON) as lock:
        assert lock.path == state_dir / "default.lock"
        holder = json.loads(lock.path.read_text())
        assert holder == {"pid": os.getpid(), "daemon": DAEMON}
    assert lock.path.exists()  # never removed: see the module docstring
    assert lock.path.read_text() == ""


def test_a_second_lock_on_the_same_instance_is_refused_until_released(tmp_path: Path) -> None:
    # Two InstanceLocks are two open file descriptions: flock makes them conflict
    # even within one process.
    with InstanceLock(tmp_path, "default", DAEMON):
        with pytest.raises(InstanceLocked) as info:
            InstanceLock(tmp_path, "default", "unix:///other.sock").acquire()
        err = info.value
        assert isinstance(err, ReconcilerError)
        assert (err.instance, err.path, err.pid, err.daemon) == (
            "default",
            tmp_path / "default.lock",
            os.getpid(),
            DAEMON,
        )
        message = str(err)
        assert "'default'" in message
        assert str(tmp_path / "default.lock") in message
        assert f"process {os.getpid()}" in message
    with InstanceLock(tmp_path, "default", DAEMON):  # released on exit
        pass


def test_a_lock_held_by_another_process_is_refused_and_freed_when_it_exits(
    tmp_path: Path,
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline() == "locked\n"
        with pytest.raises(InstanceLocked, match=f"process {child.pid} against unix:///child.sock"):
            InstanceLock(tmp_path, "default", DAEMON).acquire()
        child.stdin.close()
        assert child.wait(timeout=30) == 0
    finally:
        child.kill()
        child.wait()
    with InstanceLock(tmp_path, "default", DAEMON):
        pass


def test_a_holder_that_wrote_nothing_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "default.lock"
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        with pytest.raises(InstanceLocked, match="another process") as info:
            InstanceLock(tmp_path, "default", DAEMON).acquire()
    assert info.value.pid is None


def test_different_instances_lock_independently(tmp_path: Path) -> None:
    with InstanceLock(tmp_path, "default", DAEMON), InstanceLock(tmp_path, "staging", DAEMON):
        pass


def test_the_lock_object_can_be_reused_after_release(tmp_path: Path) -> None:
    lock = InstanceLock(tmp_path, "default", DAEMON)
    lock.acquire()
    with pytest.raises(RuntimeError, match="already locked"):
        lock.acquire()
    lock.release()
    lock.release()  # harmless
    with lock:
        pass


@pytest.mark.parametrize("instance", ["", "a/b", ".hidden", "..", "x\0y"])
def test_instance_names_that_cannot_name_a_file_are_refused(tmp_path: Path, instance: str) -> None:
    with pytest.raises(ValueError, match="cannot name"):
        InstanceLock(tmp_path, instance, DAEMON)
    with pytest.raises(ValueError, match="cannot name"):
        write_status(tmp_path, instance, {})


def test_status_round_trip_and_missing_is_none(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    assert read_status(state_dir, "default") is None
    data = {"units": {"web": {"phase": "Running", "restarts": 2}}, "ok": True}
    path = write_status(state_dir, "default", data)
    assert path == state_dir / "default.status.json"
    assert read_status(state_dir, "default") == data
    assert path.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in state_dir.iterdir()) == ["default.status.json"]


def test_an_unserialisable_status_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    write_status(tmp_path, "default", {"n": 1})
    with pytest.raises(TypeError):
        write_status(tmp_path, "default", {"n": object()})
    assert read_status(tmp_path, "default") == {"n": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["default.status.json"]


def test_a_status_that_is_not_an_object_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "default.status.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        read_status(tmp_path, "default")


def test_readers_never_see_a_partial_status(tmp_path: Path) -> None:
    # ~100 kB per write: many write() calls and pages, so a non-atomic writer
    # would be caught half-way by the reader.
    def status(n: int) -> dict[str, object]:
        return {"n": n, "units": {f"unit-{i}": {"phase": str(n) * 20} for i in range(2000)}}

    write_status(tmp_path, "default", status(0))
    done = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def read() -> None:
        while not done.is_set():
            try:
                data = read_status(tmp_path, "default")
                assert data is not None
                assert len(data["units"]) == 2000
                seen.append(data["n"])
            except BaseException as exc:
                errors.append(exc)
                return

    reader = threading.Thread(target=read)
    reader.start()
    n = 0
    try:
        # Write until the reader has read a fair number of times (at least 20 writes).
        while (n < 20 or len(seen) < 20) and n < 2000 and not errors:
            n += 1
            write_status(tmp_path, "default", status(n))
    finally:
        done.set()
        reader.join()
    assert errors == []
    assert len(seen) >= 20
    assert seen == sorted(seen)  # each read sees a whole status, never an older one
    assert read_status(tmp_path, "default") == status(n)
