"""GitSource against real git: one whole commit at a time, never an empty desired state."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.core.compile import BuildConfig
from reconciler.core.manifests import InputLimits
from reconciler.drivers.docker.capabilities import DOCKER
from reconciler.sources.git import (
    GitSettings,
    GitSource,
    PruneLimit,
    RevisionError,
    owner_for_git,
    read_revision,
)
from reconciler.sources.gitmirror import Mirror

from ..gitrepo import Repo, ssh_signer

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


def source(repo: Repo, tmp_path: Path, **settings: object) -> GitSource:
    defaults = GitSettings(url=repo.url, branch=repo.branch, path="deploy", interval=0.1)
    options = replace(defaults, **settings)  # type: ignore[arg-type]
    return GitSource(options, Mirror(options.url, options.branch, tmp_path / "cache"))


def names(src: GitSource) -> set[str]:
    return {c.unit.key.name for c in src.compiled(BUILD)}


def test_nothing_is_desired_and_nothing_complete_before_a_good_revision(
    repo: Repo, tmp_path: Path
) -> None:
    repo.write("deploy/web.yaml", "kind: Nonsense\n")
    bad = repo.commit()
    repo.push()
    src = source(repo, tmp_path)
    assert src.poll() is None
    assert not src.complete()  # the loop prunes nothing
    assert names(src) == set()
    assert src.last_attempted == bad
    assert src.last_error is not None and f"commit {bad}" in src.last_error


def test_a_broken_commit_keeps_the_last_applied_revision_and_names_file_and_line(
    repo: Repo, tmp_path: Path
) -> None:
    repo.write("deploy/web.yaml", sandbox("web"))
    repo.write("deploy/db.yaml", sandbox("db"))
    good = repo.commit()
    repo.push()
    src = source(repo, tmp_path)
    change = src.poll()
    assert change is not None and {k.name for k in change.units} == {"web", "db"}
    assert src.status()["sync"]["lastAppliedRevision"] == good

    repo.write("deploy/web.yaml", sandbox("web").replace("image: busybox", "imagee: busybox"))
    repo.remove("deploy/db.yaml")  # would prune db, were the commit taken
    bad = repo.commit()
    repo.push()
    assert src.poll() is None
    assert names(src) == {"web", "db"}
    status = src.status()["sync"]
    assert status["lastAppliedRevision"] == good
    assert status["lastAttemptedRevision"] == bad
    assert f"commit {bad}" in status["lastError"]
    assert "deploy/web.yaml:6:" in status["lastError"]
    assert "spec.containers[0].imagee" in status["lastError"]

    assert src.poll() is None  # the broken commit is not read again
    repo.write("deploy/web.yaml", sandbox("web", "busybox:2"))
    fixed = repo.commit()
    repo.push()
    change = src.poll()
    assert change is not None and {k.name for k in change.units} == {"web", "db"}
    assert names(src) == {"web"}
    assert src.status()["sync"]["lastAppliedRevision"] == fixed
    assert src.status()["sync"]["lastError"] is None


def test_a_commit_defining_nothing_is_refused_unless_allowed(repo: Repo, tmp_path: Path) -> None:
    repo.write("deploy/web.yaml", sandbox("web"))
    repo.commit()
    repo.push()
    src = source(repo, tmp_path)
    src.poll()
    repo.remove("deploy/web.yaml")
    repo.write("deploy/README", "nothing here\n")
    empty = repo.commit()
    repo.push()
    assert src.poll() is None
    assert names(src) == {"web"}
    assert "--allow-empty" in (src.last_error or "")

    allowing = source(repo, tmp_path, allow_empty=True)
    assert allowing.poll() is not None
    assert allowing.status()["sync"]["lastAppliedRevision"] == empty
    assert names(allowing) == set()


def test_a_missing_path_is_an_error_not_an_empty_state(repo: Repo, tmp_path: Path) -> None:
    repo.write("deploy/web.yaml", sandbox("web"))
    repo.commit()
    repo.push()
    src = source(repo, tmp_path)
    src.poll()
    repo.remove("deploy")
    repo.write("elsewhere/web.yaml", sandbox("web"))
    moved = repo.commit()
    repo.push()
    assert src.poll() is None
    assert names(src) == {"web"}
    assert src.last_error is not None
    assert f"commit {moved}: path deploy does not exist" in src.last_error


def test_a_failed_fetch_keeps_the_revision_and_backs_off(repo: Repo, tmp_path: Path) -> None:
    repo.write("deploy/web.yaml", sandbox("web"))
    repo.commit()
    repo.push()
    src = source(repo, tmp_path)
    src.poll()
    repo.bare.rename(repo.bare.with_name("moved.git"))
    assert src.poll() is None
    assert names(src) == {"web"}
    assert src.complete()
    assert "fetching main" in (src.last_error or "")
    assert src._delay() > src.settings.interval
    repo.bare.with_name("moved.git").rename(repo.bare)
    assert src.poll() is None  # nothing new, and the error is over
    assert src.last_error is None
    assert src._delay() == src.settings.interval


def test_a_force_push_back_to_an_older_commit_is_applied(repo: Repo, tmp_path: Path) -> None:
    repo.write("deploy/web.yaml", sandbox("web"))
    first = repo.commit()
    repo.push()
    src = source(repo, tmp_path)
    src.poll()
    repo.write("deploy/db.yaml", sandbox("db"))
    repo.commit()
    repo.push()
    src.poll()
    assert names(src) == {"web", "db"}
    repo.reset(first)
    repo.push(force=True)
    assert src.poll() is not None
    assert names(src) == {"web"}
    assert src.status()["sync"]["lastAppliedRevision"] == first


def test_a_restarted_source_resumes_from_the_last_applied_commit(
    repo: Repo, tmp_path: Path
) -> None:
    repo.write("deploy/web.yaml", sandbox("web"))
    good = repo.commit()
    repo.push()
    source(repo, tmp_path).poll()
    repo.write("deploy/web.yaml", "kind: [\n")
    repo.commit()
    repo.push()
    again = source(repo, tmp_path)  # same cache: a sync started again
    change = again.poll()
    assert change is not None and {k.name for k in change.units} == {"web"}  # looked at again
    assert again.complete()
    assert names(again) == {"web"}
    assert again.status()["sync"]["lastAppliedRevision"] == good


def test_trigger_wakes_the_watch_at_once(repo: Repo, tmp_path: Path) -> None:
    repo.write("deploy/web.yaml", sandbox("web"))
    repo.commit()
    repo.push()
    src = source(repo, tmp_path, interval=3600.0)
    stop = threading.Event()
    seen: list[object] = []
    got = threading.Event()

    def changed(change: object) -> None:
        if change is not None:
            seen.append(change)
            got.set()

    thread = threading.Thread(target=src.watch, args=(stop, changed), daemon=True)
    thread.start()
    assert got.wait(30)
    got.clear()
    repo.write("deploy/db.yaml", sandbox("db"))
    repo.commit()
    repo.push()
    src.trigger()
    assert got.wait(30)  # long before the hour's interval
    stop.set()
    src.trigger()
    thread.join(30)
    assert names(src) == {"web", "db"}


def test_owner_and_status_never_hold_credentials(tmp_path: Path) -> None:
    url = "https://bob:hunter2@git.example.com/org/fleet.git"
    assert owner_for_git(url, "main", "hosts/a").labels() == {
        "io.reconciler.owner": "git:https://git.example.com/org/fleet.git#main:hosts/a"
    }
    src = GitSource(GitSettings(url=url), Mirror(url, "main", tmp_path / "cache", timeout=20))
    assert "hunter2" not in str(src.status())
    assert "hunter2" not in src.describe()


def test_read_revision_reads_subdirectories_and_reports_relative_paths(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "deploy/team").mkdir(parents=True)
    (tree / "deploy/team/web.yaml").write_text(sandbox("web"))
    revision = read_revision(tree, "deploy", "c" * 40)
    assert {k.name for k in revision.keys} == {"web"}
    assert revision.manifests[0].source == "team/web.yaml"


def test_read_revision_refuses_a_symlink_out_of_its_path_and_an_oversized_file(
    tmp_path: Path,
) -> None:
    tree = tmp_path / "tree"
    (tree / "deploy").mkdir(parents=True)
    (tree / "deploy/web.yaml").write_text(sandbox("web"))
    (tree / "secrets.yaml").write_text(sandbox("secret"))
    (tree / "deploy/link.yaml").symlink_to(tree / "secrets.yaml")
    with pytest.raises(RevisionError) as refused:
        read_revision(tree, "deploy", "c" * 40)
    assert "a symlink leading out of" in str(refused.value.problems[0])
    (tree / "deploy/link.yaml").unlink()
    with pytest.raises(RevisionError) as big:
        read_revision(tree, "deploy", "c" * 40, limits=InputLimits(max_bytes=50))
    assert "over the limit of 50" in str(big.value.problems[0])


def test_with_verify_commits_an_unsigned_commit_is_treated_as_broken(
    repo: Repo, tmp_path: Path
) -> None:
    allowed, signing = ssh_signer(tmp_path / "trusted")
    repo.write("deploy/web.yaml", sandbox("web"))
    signed = repo.commit("signed", sign=signing)
    repo.push()
    src = source(repo, tmp_path, verify_commits=True, allowed_signers=allowed)
    assert src.poll() is not None
    repo.write("deploy/db.yaml", sandbox("db"))
    unsigned = repo.commit("unsigned")
    repo.push()
    assert src.poll() is None
    assert names(src) == {"web"}
    assert src.status()["sync"]["lastAppliedRevision"] == signed
    error = src.last_error or ""
    assert f"commit {unsigned}: not signed by an allowed key: no signature" in error
    _stranger, other = ssh_signer(tmp_path / "stranger")
    foreign = repo.commit("signed by a stranger", sign=other)
    repo.push()
    assert src.poll() is None
    assert f"commit {foreign}: not signed by an allowed key" in (src.last_error or "")


@pytest.mark.parametrize(
    ("text", "removed", "before", "allowed"),
    [
        ("2", 2, 10, True),
        ("2", 3, 10, False),
        ("25%", 1, 4, True),
        ("25%", 2, 4, False),
        ("0", 0, 3, True),
    ],
)
def test_max_prune_is_a_count_or_a_share_of_the_applied_units(
    text: str, removed: int, before: int, allowed: bool
) -> None:
    assert PruneLimit.parse(text).allows(removed, before) is allowed


@pytest.mark.parametrize("text", ["-1", "x", "101%", "1.5"])
def test_a_max_prune_that_is_neither_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="give a count"):
        PruneLimit.parse(text)
