"""Credentials never leave a repository URL: redact_url and scrub."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.redact import redact_url, scrub


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://user:s3cret@git.example.com/org/repo.git",
            "https://git.example.com/org/repo.git",
        ),
        ("https://ghp_TOKEN@github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("http://a:b@host:8080/r", "http://host:8080/r"),
        ("ssh://git:pw@host/r.git", "ssh://git@host/r.git"),
        ("ssh://git@host/r.git", "ssh://git@host/r.git"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("file:///srv/git/repo.git", "file:///srv/git/repo.git"),
        ("/srv/git/repo.git", "/srv/git/repo.git"),
    ],
)
def test_redact_url_removes_credentials_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_scrub_removes_credentials_from_git_messages() -> None:
    message = "fatal: unable to access 'https://bob:hunter2@example.com/r.git/': 403"
    assert scrub(message) == "fatal: unable to access 'https://example.com/r.git/': 403"
    assert "hunter2" not in scrub(message)


_secret = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.~%", min_size=6, max_size=30)


@given(user=_secret, secret=_secret)
def test_no_secret_survives_redaction_or_scrubbing(user: str, secret: str) -> None:
    url = f"https://{user}:{secret}@host.example/org/repo.git"
    assert redact_url(url) == "https://host.example/org/repo.git"
    assert scrub(f"error: could not fetch {url}: gone") == (
        "error: could not fetch https://host.example/org/repo.git: gone"
    )
