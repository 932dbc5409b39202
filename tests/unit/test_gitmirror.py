"""The git mirror against real git: bare repositories over file://, no daemon."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.sources.gitmirror import GitError, Mirror, check_branch, clean_path

from ..gitrepo import Repo, ssh_signer


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "remote")


def mirror(repo: Repo, tmp_path: Path, url: str | None = None) -> Mirror:
    return Mirror(url or repo.url, repo.branch, tmp_path / "cache")


def test_fetch_resolves_the_branch_to_a_full_commit_id(repo: Repo, tmp_path: Path) -> None:
    repo.write("a.yaml", "x: 1\n")
    first = repo.commit()
    repo.push()
    m = mirror(repo, tmp_path)
    assert m.fetch() == first
    repo.write("a.yaml", "x: 2\n")
    second = repo.commit()
    repo.push()
    assert m.fetch() == second
    assert len(second) == 40


def test_a_force_push_to_an_older_commit_is_followed(repo: Repo, tmp_path: Path) -> None:
    repo.write("a.yaml", "x: 1\n")
    first = repo.commit()
    repo.push()
    repo.write("a.yaml", "x: 2\n")
    repo.commit()
    repo.push()
    m = mirror(repo, tmp_path)
    m.fetch()
    repo.reset(first)
    repo.push(force=True)
    assert m.fetch() == first


def test_credentials_are_not_stored_in_the_mirror(repo: Repo, tmp_path: Path) -> None:
    repo.commit()
    repo.push()
    m = mirror(repo, tmp_path)
    m.fetch()
    config = (m.repo / "config").read_text()
    assert repo.url not in config  # the URL is given on each fetch, never saved


def test_a_failed_fetch_is_an_error_without_credentials(tmp_path: Path) -> None:
    m = Mirror("https://bob:hunter2@127.0.0.1:1/r.git", "main", tmp_path / "cache", timeout=30)
    with pytest.raises(GitError) as caught:
        m.fetch()
    assert "hunter2" not in str(caught.value)
    assert "https://127.0.0.1:1/r.git" in str(caught.value)


def test_a_missing_repository_or_branch_is_an_error(repo: Repo, tmp_path: Path) -> None:
    repo.commit()
    repo.push()
    with pytest.raises(GitError, match="fetching main"):
        Mirror(f"file://{tmp_path}/nowhere.git", "main", tmp_path / "c1").fetch()
    with pytest.raises(GitError, match="fetching other"):
        Mirror(repo.url, "other", tmp_path / "c2").fetch()


def test_export_and_swap_keep_one_tree_per_commit(repo: Repo, tmp_path: Path) -> None:
    repo.write("deploy/web.yaml", "x: 1\n")
    first = repo.commit()
    repo.push()
    m = mirror(repo, tmp_path)
    m.fetch()
    tree = m.swap(first)
    assert (tree / "deploy/web.yaml").read_text() == "x: 1\n"
    assert m.current.resolve() == tree.resolve()
    assert m.current_commit() == first
    repo.write("deploy/web.yaml", "x: 2\n")
    second = repo.commit()
    repo.push()
    m.fetch()
    m.swap(second)
    assert (m.current / "deploy/web.yaml").read_text() == "x: 2\n"
    assert [p.name for p in m.checkouts.iterdir()] == [second]  # the old tree is gone


def test_kind_of_tells_a_directory_from_a_file_and_absence(repo: Repo, tmp_path: Path) -> None:
    repo.write("deploy/web.yaml", "x: 1\n")
    commit = repo.commit()
    repo.push()
    m = mirror(repo, tmp_path)
    m.fetch()
    assert m.kind_of(commit, "deploy") == "tree"
    assert m.kind_of(commit, "deploy/web.yaml") == "blob"
    assert m.kind_of(commit, "nowhere") is None
    assert m.kind_of(commit, ".") == "tree"


def test_verify_accepts_an_allowed_signature_and_refuses_the_rest(
    repo: Repo, tmp_path: Path
) -> None:
    allowed, signing = ssh_signer(tmp_path / "trusted")
    signed = repo.commit("signed", sign=signing)
    unsigned = repo.commit("unsigned")
    repo.push()
    m = mirror(repo, tmp_path)
    m.fetch()
    m.verify(signed, allowed, None)
    with pytest.raises(GitError, match=f"commit {unsigned} is not signed.*no signature"):
        m.verify(unsigned, allowed, None)
    stranger, _ = ssh_signer(tmp_path / "stranger")
    with pytest.raises(GitError, match=f"commit {signed} is not signed"):
        m.verify(signed, stranger, None)


def test_paths_and_branches_are_checked() -> None:
    assert clean_path("deploy/./prod/") == "deploy/prod"
    assert clean_path("") == "."
    for bad in ("/etc", "../up", "a/../../b"):
        with pytest.raises(ValueError, match="relative"):
            clean_path(bad)
    assert check_branch("release/1.2") == "release/1.2"
    for bad in ("-x", "a..b", "a b"):
        with pytest.raises(ValueError, match="branch"):
            check_branch(bad)
