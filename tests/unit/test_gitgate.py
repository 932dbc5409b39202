"""GitSource under a health gate (sync --wait, --rollback) and its events, against real git.

The gate's verdicts are given by hand here (the loop's gate gives them in
tests/integration/test_sync_gate.py): what the source offers, reports and says.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core.compile import BuildConfig
from reconciler.drivers.docker.capabilities import DOCKER
from reconciler.sources.git import GitSettings, GitSource, PruneLimit
from reconciler.sources.gitmirror import Mirror
from reconciler.sources.notify import Event

from ..gitrepo import Repo

BUILD = BuildConfig("test", driver=DOCKER)


def sandbox(name: str, image: str = "busybox") -> str:
    return f"""\
apiVersion: reconciler/v1
kind: Sandbox
metadata: {{name: {name}}}
spec:
  containers:
    - {{name: app, image: {image}}}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "remote")


class Gated:
    """A gated source of ``repo`` and the events it emitted."""

    def __init__(self, repo: Repo, cache: Path, **settings: object) -> None:
        options = GitSettings(url=repo.url, path="deploy", interval=0.1, wait=30.0, **settings)  # type: ignore[arg-type]
        self.events: list[Event] = []
        self.src = GitSource(options, Mirror(repo.url, "main", cache), self.events.append)

    def sync(self) -> dict[str, object]:
        return dict(self.src.status()["sync"])

    def images(self) -> dict[str, str]:
        return {c.unit.key.name: c.unit.workloads[0].spec.image for c in self.src.compiled(BUILD)}

    def kinds(self) -> list[tuple[str, str | None]]:
        return [(e.event, e.revision) for e in self.events]


def push(repo: Repo, image: str = "busybox", name: str = "web") -> str:
    repo.write(f"deploy/{name}.yaml", sandbox(name, image))
    commit = repo.commit(image)
    repo.push()
    return commit


def test_a_taken_commit_progresses_and_counts_as_applied_once_healthy(
    repo: Repo, tmp_path: Path
) -> None:
    gated = Gated(repo, tmp_path / "cache")
    first = push(repo)
    change = gated.src.poll()
    assert change is not None and change.revision == first
    sync = gated.sync()
    assert (sync["lastAttemptedRevision"], sync["lastAppliedRevision"]) == (first, None)
    assert sync["health"] == {
        "revision": first,
        "state": "Progressing",
        "since": sync["lastAttemptedAt"],
        "units": [],
    }
    gated.src.progressing(first, ["sandbox/web: app: not created yet"])
    assert gated.sync()["health"]["units"] == ["sandbox/web: app: not created yet"]  # type: ignore[index]
    gated.src.healthy(first, ["sandbox/web"])
    sync = gated.sync()
    assert sync["lastAppliedRevision"] == sync["lastHealthyRevision"] == first
    assert sync["health"]["state"] == "Healthy"  # type: ignore[index]
    assert gated.kinds() == [("revision-applied", first), ("revision-healthy", first)]
    assert gated.events[0].units == ("sandbox/web",)
    assert gated.events[0].source == f"git:{repo.url}#main:deploy"


def test_an_unhealthy_commit_is_rolled_back_from_and_never_taken_again(
    repo: Repo, tmp_path: Path
) -> None:
    gated = Gated(repo, tmp_path / "cache", rollback=True)
    good = push(repo, "busybox:good")
    gated.src.poll()
    gated.src.healthy(good, ["sandbox/web"])
    bad = push(repo, "busybox:bad")
    assert gated.src.poll() is not None and gated.images() == {"web": "busybox:bad"}
    why = ("sandbox/web: app: CrashLoopBackOff (exited 1)",)
    gated.src.unhealthy(bad, ["sandbox/web"], why, timed_out=False)
    back = gated.src.poll()  # the rollback, from the mirror: the branch still says bad
    assert back is not None and back.revision == good and {k.name for k in back.units} == {"web"}
    assert gated.images() == {"web": "busybox:good"}
    sync = gated.sync()
    assert (sync["lastAppliedRevision"], sync["lastAttemptedRevision"]) == (good, bad)
    rollback = sync["lastRollback"]
    assert isinstance(rollback, dict)
    assert (rollback["from"], rollback["to"], rollback["reason"]) == (bad, good, why[0])
    assert sync["lastError"] == (
        f"commit {bad} failed its health gate: {why[0]} (rolled back to {good})"
    )
    assert sync["health"]["revision"] == good  # type: ignore[index]
    assert gated.src.mirror.current_commit() == good
    assert gated.src.poll() is None, "the failed commit is not taken again"
    gated.src.healthy(good, ["sandbox/web"])  # the rollback converged
    newer = push(repo, "busybox:newer")
    change = gated.src.poll()
    assert change is not None and change.revision == newer
    assert gated.kinds() == [
        ("revision-applied", good),
        ("revision-healthy", good),
        ("revision-applied", bad),
        ("revision-unhealthy", bad),
        ("rolled-back", bad),
        ("revision-healthy", good),
        ("revision-applied", newer),
    ]
    assert gated.events[3].message == f"commit {bad} failed its health gate: {why[0]}"
    assert gated.events[4].message == f"rolled back from {bad} to {good}: {why[0]}"


def test_a_restart_remembers_the_healthy_and_the_rejected_commit(
    repo: Repo, tmp_path: Path
) -> None:
    gated = Gated(repo, tmp_path / "cache", rollback=True)
    good = push(repo, "busybox:good")
    gated.src.poll()
    gated.src.healthy(good, ["sandbox/web"])
    bad = push(repo, "busybox:bad")
    gated.src.poll()
    gated.src.unhealthy(bad, ["sandbox/web"], ("sandbox/web: app: exited",), timed_out=True)
    gated.src.poll()
    again = Gated(repo, tmp_path / "cache", rollback=True)
    change = again.src.poll()
    assert change is not None and (change.revision, change.healthy) == (good, True)
    sync = again.sync()
    assert sync["lastAppliedRevision"] == sync["lastHealthyRevision"] == good
    assert again.images() == {"web": "busybox:good"}, "the rejected commit is not taken again"


def test_without_rollback_an_unhealthy_commit_stays_and_says_so(repo: Repo, tmp_path: Path) -> None:
    gated = Gated(repo, tmp_path / "cache")
    good = push(repo, "busybox:good")
    gated.src.poll()
    gated.src.healthy(good, ["sandbox/web"])
    bad = push(repo, "busybox:bad")
    gated.src.poll()
    why = ("sandbox/web: app: readiness probe failing for 30 s",)
    gated.src.unhealthy(bad, ["sandbox/web"], why, timed_out=True)
    assert gated.src.poll() is None and gated.images() == {"web": "busybox:bad"}
    sync = gated.sync()
    assert sync["lastAppliedRevision"] == good
    assert sync["health"] == {
        "revision": bad,
        "state": "Unhealthy",
        "since": sync["health"]["since"],  # type: ignore[index]
        "units": list(why),
    }
    assert sync["lastError"] == (
        f"commit {bad} failed its health gate within 30 s: {why[0]} "
        "(the loop keeps converging to it: no --rollback)"
    )


def test_a_first_revision_failing_has_nothing_to_roll_back_to(repo: Repo, tmp_path: Path) -> None:
    gated = Gated(repo, tmp_path / "cache", rollback=True)
    bad = push(repo, "busybox:bad")
    gated.src.poll()
    gated.src.unhealthy(bad, ["sandbox/web"], ("sandbox/web: app: exited",), timed_out=False)
    assert gated.src.poll() is None and gated.images() == {"web": "busybox:bad"}
    assert "no healthy revision before it to roll back to" in (gated.src.last_error or "")


def test_refused_and_broken_commits_are_events_too(repo: Repo, tmp_path: Path) -> None:
    gated = Gated(repo, tmp_path / "cache", max_prune=PruneLimit(count=0))
    push(repo, name="web")
    push(repo, name="db")
    gated.src.poll()
    repo.remove("deploy/db.yaml")
    refused = repo.commit("rm db")
    repo.push()
    gated.src.poll()
    repo.write("deploy/web.yaml", "kind: [\n")
    broken = repo.commit("broken")
    repo.push()
    gated.src.poll()
    assert gated.kinds()[1:] == [("prune-refused", refused), ("revision-failed", broken)]
    assert gated.events[1].units == ("sandbox/db",)
    assert "deploy/web.yaml" in gated.events[2].message
