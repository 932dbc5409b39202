"""Credentials out of repository URLs and of anything that may quote one. No I/O.

A repository URL may carry a user and a password or token
(``https://user:token@host/repo.git``). Those must never reach output, logs,
the status file or container labels, so every place that shows a URL shows
``redact_url(url)``, and every message that may quote one (git's own stderr)
goes through ``scrub``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# scheme://userinfo@ anywhere in a text; userinfo has no '/', '@' or whitespace.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s'\"]+)@")


def redact_url(url: str) -> str:
    """``url`` without credentials.

    ``https://user:token@host/r.git`` → ``https://host/r.git``: over http(s) the
    user part is often the token itself, so all of it goes. ``ssh://git@host/r``
    keeps its user (an account name, not a secret) but loses any password.
    scp-like ``git@host:r.git`` and local paths have no secret and are kept.
    """
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    if parts.scheme in ("ssh", "git+ssh", "ssh+git") and user:
        host = f"{user}@{host}"
    return urlunsplit(parts._replace(netloc=host))


def scrub(text: str) -> str:
    """``text`` with the credentials of every ``scheme://user:secret@`` in it removed."""
    return _USERINFO.sub(lambda m: _keep_ssh_user(m["scheme"], m["userinfo"]), text)


def _keep_ssh_user(scheme: str, userinfo: str) -> str:
    if scheme.lower().startswith(("ssh", "git+ssh")):
        user = userinfo.split(":", 1)[0]
        return f"{scheme}{user}@" if user else scheme
    return scheme


__all__ = ["redact_url", "scrub"]
