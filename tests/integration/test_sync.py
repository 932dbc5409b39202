"""`reconciler sync` against a real daemon and real git (bare repositories over file://)."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reconciler.core import labels as L

from ..gitrepo import Repo, ssh_signer
from .conftest import PAUSE, Harness

SANDBOX = """
    apiVersion: reconciler/v1
    kind: Sandbox
    metadata: {{name: {name}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: app
          image: local/busybox:test
          command: [sleep, "3600"]
          env: [{{name: FLAVOUR, value: "{flavour}"}}]
"""
SECRET = b"webhook-secret"


def sandbox(name: str, flavour: str = "a") -> str:
    return SANDBOX.format(name=name, flavour=flavour)


class SyncProcess:
    """One `reconciler sync` of this test's instance, stopped by its pid."""

    def __init__(
        self, h: Harness, state: Path, url: str, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.h = h
        self.state = state
        self.log_path = state / "sync.log"
        state.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reconciler",
                "sync",
                "--repo",
                url,
                "--path",
                "deploy",
                "--state-dir",
                str(state),
                "--resync",
                "60",  # what these tests see comes from polls and events, not resyncs
                *args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=_env(h) | (env or {}),
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def sync_status(self) -> dict[str, Any]:
        files = list(self.state.glob(f"{self.h.instance}.*.status.json"))
        return dict(json.loads(files[0].read_text()).get("sync") or {}) if files else {}

    def applied(self) -> str | None:
        return self.sync_status().get("lastAppliedRevision")

    def unit(self, key: str) -> dict[str, Any]:
        """The loop's status of one unit (``sandbox/web``), or {} before its first pass."""
        files = list(self.state.glob(f"{self.h.instance}.*.status.json"))
        record = json.loads(files[0].read_text()) if files else {}
        return dict((record.get("units") or {}).get(key) or {})

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        finally:
            self._log.close()


def seconds(since: str, stamp: str | None) -> float:
    """From one status stamp (ISO 8601, whole seconds) to another; -inf while there is none."""
    if not stamp:
        return float("-inf")
    return (datetime.fromisoformat(stamp) - datetime.fromisoformat(since)).total_seconds()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _env(h: Harness) -> dict[str, str]:
    return dict(os.environ) | {"RECONCILER_INSTANCE": h.instance, "RECONCILER_INFRA_IMAGE": PAUSE}


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "remote")


@pytest.fixture
def syncing(h: Harness, repo: Repo, tmp_path: Path) -> Iterator[SyncProcess]:
    running = SyncProcess(h, tmp_path / "state", repo.url, "--interval", "1")
    yield running
    running.stop()


def running(h: Harness, name: str) -> bool:
    found = h.containers(**{L.SANDBOX: name, L.CONTAINER: "app"})
    return len(found) == 1 and found[0]["State"] == "running"


def app_id(h: Harness, name: str) -> str:
    return str(h.member(name, "app")["Id"])


def flavour(h: Harness, name: str) -> str:
    env = h.member(name, "app")["Config"]["Env"]
    return next(e.split("=", 1)[1] for e in env if e.startswith("FLAVOUR="))


def attempted(h: Harness, syncing: SyncProcess, commit: str) -> dict[str, Any]:
    """The sync status once ``commit`` has failed. The source names the commit it
    attempts before it reads it, and records the error after: a status write in
    between (a pass's, from another thread) shows the attempt without its error."""
    status: dict[str, Any] = {}

    def failed() -> bool:
        status.clear()
        status.update(syncing.sync_status())
        error = status.get("lastError") or ""
        return status.get("lastAttemptedRevision") == commit and f"commit {commit}" in error

    h.wait_until(failed)
    return status


def running_as(h: Harness, name: str, value: str) -> bool:
    """Whether ``name``'s app runs with FLAVOUR=``value``; for polls, which must not fail
    while a recreate has removed the old app and not yet made the new one."""
    app = h.sole(name, "app")
    return (
        app is not None and app["State"]["Running"] and f"FLAVOUR={value}" in app["Config"]["Env"]
    )


def test_commits_converge_and_a_broken_one_changes_nothing(
    h: Harness, repo: Repo, syncing: SyncProcess
) -> None:
    repo.write("deploy/web.yaml", sandbox("web"))
    repo.write("deploy/db.yaml", sandbox("db"))
    first = repo.commit("first")
    repo.push()
    h.wait_until(lambda: running(h, "web") and running(h, "db"), 60)
    h.wait_until(lambda: syncing.applied() == first)

    repo.write("deploy/web.yaml", sandbox("web", flavour="b"))
    second = repo.commit("web b")
    repo.push()
    h.wait_until(lambda: running_as(h, "web", "b"), 60)
    h.wait_until(lambda: syncing.applied() == second)
    kept = {name: app_id(h, name) for name in ("web", "db")}

    repo.write("deploy/web.yaml", sandbox("web", flavour="c").replace("image:", "imag:", 1))
    repo.remove("deploy/db.yaml")  # would prune db, were anything of this commit taken
    broken = repo.commit("broken")
    repo.push()
    status = attempted(h, syncing, broken)
    assert status["lastAppliedRevision"] == second
    assert f"commit {broken}" in status["lastError"]
    assert "deploy/web.yaml:" in status["lastError"]
    assert "imag: unknown field" in status["lastError"]
    # Polls for three seconds more (the stamps have whole seconds: +1), however slow
    # the machine: still nothing changes, nothing is retried.
    attempt = status["lastAttemptedAt"]
    h.wait_until(lambda: seconds(attempt, syncing.sync_status().get("lastFetchAt")) >= 4)
    assert {name: app_id(h, name) for name in ("web", "db")} == kept
    assert syncing.log().count(f"commit {broken}:") == 1
    got = h.cli("get", "--state-dir", str(syncing.state))
    assert f"lastAppliedRevision:   {second}" in got.stdout
    assert f"lastAttemptedRevision: {broken}" in got.stdout
    assert "deploy/web.yaml" in got.stdout

    repo.write("deploy/web.yaml", sandbox("web", flavour="c"))
    fixed = repo.commit("fixed")
    repo.push()
    h.wait_until(lambda: not h.containers(**{L.SANDBOX: "db"}), 60)
    h.wait_until(lambda: running_as(h, "web", "c"), 60)
    # The source takes the commit, then clears the error: wait for both.
    h.wait_until(lambda: syncing.applied() == fixed and syncing.sync_status()["lastError"] is None)


def test_emptying_the_path_is_refused_and_a_force_push_converges_back(
    h: Harness, repo: Repo, syncing: SyncProcess
) -> None:
    repo.write("deploy/web.yaml", sandbox("web"))
    first = repo.commit("first")
    repo.push()
    h.wait_until(lambda: running(h, "web"), 60)
    repo.write("deploy/db.yaml", sandbox("db"))
    repo.commit("db")
    repo.push()
    h.wait_until(lambda: running(h, "db"), 60)
    kept = app_id(h, "web")

    repo.remove("deploy")
    repo.write("deploy/README.md", "moved elsewhere\n")
    empty = repo.commit("empty")
    repo.push()
    assert "--allow-empty" in attempted(h, syncing, empty)["lastError"]
    assert running(h, "web") and running(h, "db") and app_id(h, "web") == kept

    repo.reset(first)
    repo.push(force=True)
    h.wait_until(lambda: not h.containers(**{L.SANDBOX: "db"}), 60)
    h.wait_until(lambda: syncing.applied() == first)
    assert app_id(h, "web") == kept


def test_a_failed_fetch_keeps_everything_running_and_is_reported(
    h: Harness, repo: Repo, syncing: SyncProcess
) -> None:
    repo.write("deploy/web.yaml", sandbox("web"))
    repo.commit()
    repo.push()
    h.wait_until(lambda: running(h, "web"), 60)
    kept = app_id(h, "web")
    repo.bare.rename(repo.bare.with_name("moved.git"))
    h.wait_until(lambda: "fetching main" in (syncing.sync_status().get("lastError") or ""), 30)
    h.api.kill(kept)  # the loop still converges between commits
    h.wait_until(lambda: running(h, "web") and app_id(h, "web") == kept, 30)
    assert syncing.alive()


def test_sigterm_stops_sync_and_leaves_containers_running(
    h: Harness, repo: Repo, syncing: SyncProcess
) -> None:
    repo.write("deploy/web.yaml", sandbox("web"))
    repo.commit()
    repo.push()
    h.wait_until(lambda: running(h, "web"), 60)
    assert syncing.stop() == 0
    assert running(h, "web")
    assert "containers are left running" in syncing.log()


def test_once_converges_and_exits_with_apply_status(h: Harness, repo: Repo, tmp_path: Path) -> None:
    repo.write("deploy/web.yaml", sandbox("web"))
    good = repo.commit()
    repo.push()
    state = str(tmp_path / "state")
    once = ("sync", "--repo", repo.url, "--path", "deploy", "--once", "--state-dir", state)
    done = h.cli(*once)
    assert done.returncode == 0, done.stderr
    assert running(h, "web")
    assert "sandbox/web configured" in done.stdout
    repo.write("deploy/web.yaml", "kind: [\n")
    bad = repo.commit()
    repo.push()
    done = h.cli(*once)
    assert done.returncode == 1
    assert f"commit {bad}" in done.stderr and "deploy/web.yaml:2:1: invalid YAML" in done.stderr
    assert running(h, "web")
    got = json.loads(h.cli("get", "--state-dir", state, "-o", "json").stdout)
    (unit,) = got["units"]
    assert unit["name"] == "web" and unit["owner"] == f"git:{repo.url}#main:deploy"
    (status,) = got["syncs"]
    assert status["owner"] == unit["owner"]
    assert status["repository"] == repo.url and status["branch"] == "main"
    assert status["lastAppliedRevision"] == good
    assert status["lastAttemptedRevision"] == bad
    assert f"commit {bad}" in status["lastError"]


def test_credentials_never_appear_in_output_logs_status_or_labels(
    h: Harness, repo: Repo, tmp_path: Path
) -> None:
    url = "https://bob:hunter2@git.example.invalid/org/fleet.git"
    # git rewrites the URL to the local repository before connecting: a real
    # fetch through a URL that carries credentials, with no server.
    rewrite = {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{repo.url}.insteadOf",
        "GIT_CONFIG_VALUE_0": url,
    }
    repo.write("deploy/web.yaml", sandbox("web"))
    repo.commit()
    repo.push()
    state = tmp_path / "state"
    syncing = SyncProcess(h, state, url, "--interval", "1", env=rewrite)
    try:
        h.wait_until(lambda: running(h, "web"), 60)
        repo.write("deploy/web.yaml", "kind: [\n")
        bad = repo.commit()
        repo.push()
        h.wait_until(lambda: syncing.sync_status().get("lastAttemptedRevision") == bad)
    finally:
        syncing.stop()
    once = h.cli(
        "sync",
        "--repo",
        "https://bob:hunter2@127.0.0.1:1/r.git",
        "--once",
        "--state-dir",
        str(tmp_path / "other"),
    )
    assert once.returncode == 1
    get = h.cli("get", "--state-dir", str(state), "-o", "json")
    table = h.cli("get", "--state-dir", str(state))
    labels = json.dumps([c["Labels"] for c in h.containers()])
    seen = [syncing.log(), once.stdout, once.stderr, get.stdout, table.stdout, table.stderr, labels]
    seen += [p.read_text() for p in state.glob("*.status.json")]
    seen += [(p / "config").read_text() for p in state.glob("git/*/repo.git")]
    assert "https://git.example.invalid/org/fleet.git" in table.stdout
    assert "https://127.0.0.1:1/r.git" in once.stderr
    for text in seen:
        assert "hunter2" not in text


def _post(port: int, body: bytes, signature: str | None) -> int:
    headers = {"X-Hub-Signature-256": signature} if signature else {}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/hooks/sync", body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def test_the_webhook_triggers_a_fetch_only_when_signed(
    h: Harness, repo: Repo, tmp_path: Path, free_port: int
) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET + b"\n")
    repo.write("deploy/web.yaml", sandbox("web"))
    first = repo.commit()
    repo.push()
    syncing = SyncProcess(
        h,
        tmp_path / "state",
        repo.url,
        "--interval",
        "3600",
        "--listen",
        f"127.0.0.1:{free_port}",
        "--webhook-secret-file",
        str(secret),
    )
    try:
        h.wait_until(lambda: syncing.applied() == first, 60)
        h.wait_until(lambda: "webhook listening" in syncing.log())
        repo.write("deploy/db.yaml", sandbox("db"))
        second = repo.commit()
        repo.push()
        body = b'{"ref": "refs/heads/main"}'
        wrong = "sha256=" + hmac.new(b"wrong", body, hashlib.sha256).hexdigest()
        assert _post(free_port, body, None) == 401
        assert _post(free_port, body, wrong) == 401
        time.sleep(2)
        assert syncing.sync_status().get("lastAttemptedRevision") == first
        good = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        assert _post(free_port, body, good) == 202
        h.wait_until(lambda: syncing.applied() == second, 60)  # a fetch and a pass
        h.wait_until(lambda: running(h, "db"), 60)
    finally:
        syncing.stop()


def test_removing_a_file_prunes_its_sandbox_and_never_another_sources(
    h: Harness, repo: Repo, tmp_path: Path
) -> None:
    syncing = SyncProcess(h, tmp_path / "state", repo.url, "--interval", "1", "--resync", "2")
    try:
        _prunes_only_its_own(h, repo, syncing)
    finally:
        syncing.stop()


def _prunes_only_its_own(h: Harness, repo: Repo, syncing: SyncProcess) -> None:
    h.write("manual.yaml", sandbox("manual"))
    h.apply()
    manual = app_id(h, "manual")
    repo.write("deploy/web.yaml", sandbox("web"))
    repo.write("deploy/db.yaml", sandbox("db"))
    repo.commit()
    repo.push()
    h.wait_until(lambda: running(h, "web") and running(h, "db"), 60)
    owner = f"git:{repo.url}#main:deploy"
    assert h.member("web", "app")["Config"]["Labels"][L.OWNER] == owner
    repo.remove("deploy/db.yaml")
    repo.commit()
    repo.push()
    h.wait_until(lambda: not h.containers(**{L.SANDBOX: "db"}), 60)
    # Past two resyncs (2 s each; +1: the stamps have whole seconds), however slow the
    # machine: apply's unit is another source's, never pruned.
    gone = now()
    h.wait_until(lambda: seconds(gone, syncing.unit("sandbox/web").get("updated")) >= 5, 30)
    assert app_id(h, "manual") == manual and running(h, "manual")
    assert running(h, "web")


def test_verify_commits_applies_only_signed_commits(h: Harness, repo: Repo, tmp_path: Path) -> None:
    allowed, signing = ssh_signer(tmp_path / "keys")
    repo.write("deploy/web.yaml", sandbox("web"))
    repo.commit("signed", sign=signing)
    repo.push()
    state = str(tmp_path / "state")
    once = ("sync", "--repo", repo.url, "--path", "deploy", "--once", "--state-dir", state)
    verified = (*once, "--verify-commits", "--allowed-signers", str(allowed))
    done = h.cli(*verified)
    assert done.returncode == 0, done.stderr
    kept = app_id(h, "web")
    repo.write("deploy/web.yaml", sandbox("web", flavour="b"))
    unsigned = repo.commit("unsigned")
    repo.push()
    done = h.cli(*verified)
    assert done.returncode == 1
    assert f"commit {unsigned}: not signed by an allowed key" in done.stderr
    assert app_id(h, "web") == kept and flavour(h, "web") == "a"


def test_max_prune_refuses_a_commit_that_would_remove_too_many_naming_them(
    h: Harness, repo: Repo, tmp_path: Path
) -> None:
    for name in ("a", "b", "c"):
        repo.write(f"deploy/{name}.yaml", sandbox(name))
    repo.commit()
    repo.push()
    state = str(tmp_path / "state")
    once = ("sync", "--repo", repo.url, "--path", "deploy", "--once", "--state-dir", state)
    assert h.cli(*once, "--max-prune", "1").returncode == 0
    repo.remove("deploy/a.yaml")
    repo.remove("deploy/b.yaml")
    many = repo.commit()
    repo.push()
    done = h.cli(*once, "--max-prune", "1")
    assert done.returncode == 1
    assert (
        f"commit {many}: prune refused: it would remove 2 of 3 unit(s), over --max-prune 1: "
        "sandbox/a, sandbox/b"
    ) in done.stderr, done.stderr
    assert all(running(h, name) for name in ("a", "b", "c")), "nothing removed"
    # The refused commit is not retried; a newer one within the limit is taken.
    assert h.cli(*once, "--max-prune", "1").returncode == 1
    repo.write("deploy/a.yaml", sandbox("a"))
    fewer = repo.commit()
    repo.push()
    done = h.cli(*once, "--max-prune", "50%")
    assert done.returncode == 0, done.stderr
    assert running(h, "a") and running(h, "c") and not h.containers(**{L.SANDBOX: "b"})
    got = json.loads(h.cli("get", "--state-dir", state, "-o", "json").stdout)
    assert got["syncs"][0]["lastAppliedRevision"] == fewer


def test_an_age_encrypted_secret_is_read_in_memory_and_a_wrong_key_fails_the_commit(
    h: Harness, repo: Repo, tmp_path: Path
) -> None:
    identity = tmp_path / "host.key"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    public = subprocess.run(
        ["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True
    ).stdout.strip()
    other = tmp_path / "other.key"
    subprocess.run(["age-keygen", "-o", str(other)], check=True, capture_output=True)
    stranger = subprocess.run(
        ["age-keygen", "-y", str(other)], check=True, capture_output=True, text=True
    ).stdout.strip()

    def encrypted(recipient: str, password: str) -> bytes:
        plain = (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\n"
            f"stringData: {{PASSWORD: {password}}}\n"
        )
        return subprocess.run(
            ["age", "-r", recipient], input=plain.encode(), check=True, capture_output=True
        ).stdout

    reader = SANDBOX.replace(
        'env: [{{name: FLAVOUR, value: "{flavour}"}}]',
        "env: [{{name: FLAVOUR, valueFrom: {{secretKeyRef: {{name: creds, key: PASSWORD}}}}}}]",
    ).format(name="web")
    repo.write("deploy/web.yaml", reader)
    (repo.work / "deploy" / "creds.yaml.age").write_bytes(encrypted(public, "s3cret"))
    repo.commit()
    repo.push()
    state = tmp_path / "state"
    once = ("--age-identity", str(identity), "sync", "--repo", repo.url, "--path", "deploy")
    done = h.cli(*once, "--once", "--state-dir", str(state))
    assert done.returncode == 0, done.stdout + done.stderr
    assert flavour(h, "web") == "s3cret"
    # Decrypted only in memory: nothing under the state directory holds the plaintext.
    assert not [p for p in state.rglob("*") if p.is_file() and b"s3cret" in p.read_bytes()]
    assert "s3cret" not in done.stdout + done.stderr

    (repo.work / "deploy" / "creds.yaml.age").write_bytes(encrypted(stranger, "changed"))
    bad = repo.commit()
    repo.push()
    done = h.cli(*once, "--once", "--state-dir", str(state))
    assert done.returncode == 1
    assert f"commit {bad}" in done.stderr and "deploy/creds.yaml.age: cannot decrypt" in done.stderr
    assert flavour(h, "web") == "s3cret", "the failed commit changed nothing"
