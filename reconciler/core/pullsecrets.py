"""imagePullSecrets: registry credentials from the source's Secrets, and which of them
pull an image, picked as kubelet picks them (its credentialprovider keyring). No I/O.

A Pod's ``spec.imagePullSecrets`` names Secrets of its own namespace in the same
source (values.py): ``kubernetes.io/dockerconfigjson`` with ``.dockerconfigjson``
(``{"auths": {"host:port": {...}}}``) or the legacy ``kubernetes.io/dockercfg``
with ``.dockercfg`` (the ``auths`` object alone). An entry has ``auth`` (base64 of
``user:password``, which wins, as kubelet decodes it) or ``username`` and
``password``. A Secret that is missing, of another type or malformed refuses the
unit, naming the field (kubelet would only log it and pull without it): nothing
of the unit is created with credentials it did not mean.

For each image, every Secret in order gives its entries whose key matches the
image's repository, most specific first: keys are compared as kubelet does
(``https://`` and ``/v1/`` or ``/v2/`` dropped; the host's dot-separated parts
may be globs, ``*.example.com``; the port must be the same; the key's path a
prefix of the repository's), in reverse-sorted order, so ``quay.io/team``
comes before ``quay.io``. An image of Docker Hub (``busybox``, ``docker.io/x``,
``index.docker.io/x``) also takes an ``index.docker.io`` entry
(``https://index.docker.io/v1/``, what ``docker login`` writes) when no key
matched. The engine tries them in that order; with none, it pulls as it
would without a secret. The credentials ride on ``DesiredMember.pull_auth`` only:
never hashed, labeled, stored or shown (``PullAuth``'s repr names the registry).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from reconciler.core.models import Manifest
from reconciler.core.redact import redact_url
from reconciler.core.spec import DesiredUnit, PullAuth
from reconciler.core.values import LoadedValues, ValueStore
from reconciler.core.values import Path as ValuesPath

DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
DOCKER_CFG = "kubernetes.io/dockercfg"
_DATA_KEY = {DOCKER_CONFIG_JSON: ".dockerconfigjson", DOCKER_CFG: ".dockercfg"}
_HUB = "docker.io"
_HUB_KEY = "index.docker.io"  # kubelet's defaultRegistryHost


@dataclass(frozen=True, slots=True)
class _Entry:
    key: str  # host[:port][/path], as kubelet indexes it
    auth: PullAuth


# Each Secret's entries in the order imagePullSecrets names them, most specific first.
Keyring = tuple[tuple[_Entry, ...], ...]


def keyring(manifest: Manifest, store: ValueStore) -> tuple[Keyring, list[tuple[ValuesPath, str]]]:
    """The credentials of the manifest's imagePullSecrets, and what is wrong with each
    Secret that cannot give them (by the path of its name)."""
    rings: list[tuple[_Entry, ...]] = []
    errors: list[tuple[ValuesPath, str]] = []
    namespace = manifest.metadata.namespace
    for index, ref in enumerate(manifest.spec.image_pull_secrets):
        at: ValuesPath = ("spec", "imagePullSecrets", index, "name")
        found, why = store.find("Secret", namespace, ref.name)
        if found is not None:
            entries, why = _entries(found)
            if not why:
                rings.append(entries)
                continue
        errors.append((at, why))
    return tuple(rings), errors


def _entries(secret: LoadedValues) -> tuple[tuple[_Entry, ...], str]:
    """A Secret's registry entries, or why it has none to give. Nothing of its data is
    quoted in the reason."""
    name = f"Secret {secret.namespace}/{secret.name}"
    data_key = _DATA_KEY.get(secret.secret_type)
    if data_key is None:
        return (), (
            f"{name} is of type {secret.secret_type or 'Opaque'}: an image pull secret is "
            f"of type {DOCKER_CONFIG_JSON} (or the legacy {DOCKER_CFG})"
        )
    text = secret.data.get(data_key)
    if text is None:
        return (), f"{name} has no {data_key} key, which its type {secret.secret_type} needs"
    try:
        parsed = json.loads(text)
    except ValueError:
        return (), f"{name}: {data_key} is not JSON"
    auths = parsed
    if data_key == ".dockerconfigjson" and isinstance(parsed, dict):
        auths = parsed.get("auths", {})
    if not isinstance(auths, dict):
        where = "its auths" if data_key == ".dockerconfigjson" else data_key
        return (), f"{name}: {where} is not a JSON object of registries"
    entries = []
    for location, entry in auths.items():
        auth = _auth(location, entry)
        if auth is None:
            return (), (
                f"{name}: the entry of registry {location!r} has neither an auth (base64 of "
                "user:password) nor a username and password as text"
            )
        entries.append(_Entry(_key(location), auth))
    entries.sort(key=lambda e: e.key, reverse=True)
    return tuple(entries), ""


def _auth(location: str, entry: Any) -> PullAuth | None:
    """One registry's credentials (kubelet's DockerConfigEntry: ``auth`` wins)."""
    if not isinstance(entry, dict):
        return None
    username, password = entry.get("username", ""), entry.get("password", "")
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"]), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, sep, password = decoded.partition(":")
        if not sep:
            return None
    if not isinstance(username, str) or not isinstance(password, str):
        return None
    return PullAuth(redact_url(location), username, password)  # a key may hold user:password@


def _key(location: str) -> str:
    """A registry's key as kubelet indexes it: no scheme, /v1/ and /v2/ dropped."""
    value = location if location.startswith(("https://", "http://")) else f"https://{location}"
    parts = urlsplit(value)
    path = parts.path
    if path.startswith(("/v1/", "/v2/")):
        path = path[3:]
    host = parts.netloc.rpartition("@")[2]
    return host + path if path and path != "/" else host


def repository(image: str) -> str:
    """The image's repository in full (Docker's normalized name, no tag or digest):
    ``busybox`` is ``docker.io/library/busybox``, ``index.docker.io/x/y`` ``docker.io/x/y``."""
    name = image.split("@", 1)[0]
    head, slash, last = name.rpartition("/")
    name = head + slash + last.split(":", 1)[0]
    first, slash, rest = name.partition("/")
    hub = not slash or (
        not any(c in first for c in ".:") and first != "localhost" and first == first.lower()
    )
    if hub:
        first, rest = _HUB, name
    elif first == _HUB_KEY:
        first = _HUB
    if first == _HUB and "/" not in rest:
        rest = f"library/{rest}"
    return f"{first}/{rest}"


def _host_port(netloc: str) -> tuple[str, str]:
    if netloc.startswith("[") and "]" in netloc:
        host, _, rest = netloc[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else ""
    host, sep, port = netloc.rpartition(":")
    return (host, port) if sep and ":" not in host else (netloc, "")


def _matches(key: str, target: str) -> bool:
    """kubelet's URLsMatch: same port, as many host parts each matching the key's glob,
    the key's path a prefix of the target's."""
    glob, found = urlsplit(f"https://{key}"), urlsplit(f"https://{target}")
    glob_host, glob_port = _host_port(glob.netloc)
    host, port = _host_port(found.netloc)
    glob_parts, parts = glob_host.split("."), host.split(".")
    if glob_port != port or len(glob_parts) != len(parts):
        return False
    if not found.path.startswith(glob.path):
        return False
    return all(fnmatch.fnmatchcase(p, g) for g, p in zip(glob_parts, parts, strict=True))


def credentials(image: str, ring: Keyring) -> tuple[PullAuth, ...]:
    """What to pull ``image`` with, in the order to try them (none: pull without)."""
    target = repository(image)
    found: list[PullAuth] = []
    for entries in ring:
        matched = [e.auth for e in entries if _matches(e.key, target)]
        if not matched and target.startswith(f"{_HUB}/"):
            matched = [e.auth for e in entries if e.key == _HUB_KEY]
        found.extend(matched)
    return tuple(dict.fromkeys(found))


def with_credentials(unit: DesiredUnit, ring: Keyring) -> DesiredUnit:
    """``unit`` with each member carrying the credentials its image matches."""

    return unit.with_members(lambda m: replace(m, pull_auth=credentials(m.spec.image, ring)))


__all__ = [
    "DOCKER_CFG",
    "DOCKER_CONFIG_JSON",
    "Keyring",
    "credentials",
    "keyring",
    "repository",
    "with_credentials",
]
