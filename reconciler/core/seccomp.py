"""Localhost seccomp profiles: the operator's profile directory as the shell read it, and
the profile a ``seccompProfile: {type: Localhost}`` names. No I/O.

The operator keeps profiles in one directory (``--seccomp-profile-dir``, default
``/etc/reconciler/seccomp``; kubelet's is ``/var/lib/kubelet/seccomp``); a
manifest's ``localhostProfile`` is a path relative to it (models.py refuses an
absolute one and ``..``, as the API server does). The CLI reads the directory
when a command starts (cli/profiles.py) into ``SeccompProfiles``, and the
compile step takes each profile's text from there: the JSON must be an object
with a ``defaultAction``, written compact (as the docker CLI sends a
``--security-opt seccomp=FILE``). Docker gets that text (``seccomp=<json>``);
CRI gets the file's absolute path (``localhost_ref``), which containerd reads
when it creates the container.

The spec hash takes the profile's content, not its name or directory: the
profile is baked into a container when it is created (Docker keeps the text,
containerd loads the file then), so a changed profile recreates the containers
that use it the next time their unit is compiled, while moving the directory
or renaming a file with the same content recreates nothing. (kubelet keeps a
running container on the profile it started with; reconciler converges it.)
A profile that is missing, unreadable or not a profile refuses the unit,
naming the field.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

from reconciler.core.models import (
    ContainerManifest,
    Manifest,
    PodSecurityContext,
    SecurityContext,
)
from reconciler.core.spec import LocalhostProfile

DEFAULT_DIRECTORY = "/etc/reconciler/seccomp"
Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class SeccompProfiles:
    """The profile directory's files as read: each relative name's text, or why it
    could not be read; ``problem`` says why the directory itself gave none."""

    directory: str = DEFAULT_DIRECTORY  # absolute
    texts: tuple[tuple[str, str], ...] = ()
    unreadable: tuple[tuple[str, str], ...] = ()
    problem: str = ""

    def profile(self, name: str) -> tuple[LocalhostProfile | None, str]:
        """The profile ``name`` (a localhostProfile) means, or None and why not."""
        key = posixpath.normpath(name)
        path = posixpath.join(self.directory, key)
        text = dict(self.texts).get(key)
        if text is None:
            why = dict(self.unreadable).get(key)
            if why is None:
                why = "there is no such file" + (f" ({self.problem})" if self.problem else "")
            return None, f"seccomp profile {path} cannot be used: {why}"
        content, why = compact(text)
        if content is None:
            return None, f"seccomp profile {path} cannot be used: {why}"
        return LocalhostProfile(key, path, content), ""


NONE_READ = SeccompProfiles()  # what compiles without the shell's reading (tests, tools)


def compact(text: str) -> tuple[str | None, str]:
    """A profile's JSON written compact, or None and why it is not a profile."""
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        return None, f"it is not JSON ({exc})"
    if not isinstance(parsed, dict):
        return None, "it is not a JSON object"
    if not isinstance(parsed.get("defaultAction"), str):
        return None, "it has no defaultAction (e.g. SCMP_ACT_ERRNO)"
    return json.dumps(parsed, separators=(",", ":"), ensure_ascii=False), ""


def localhost_uses(manifest: Manifest) -> Iterator[tuple[Path, str]]:
    """Each Localhost profile the manifest names: the path of its localhostProfile field
    and the name (a container's own, and the pod's where a container inherits it)."""
    if isinstance(manifest, ContainerManifest):
        yield from _named(manifest.spec.security_context, ("spec",))
        return
    spec = manifest.spec
    pod = spec.security_context
    containers = [
        *((c, ("spec", "initContainers", i)) for i, c in enumerate(spec.init_containers)),
        *((c, ("spec", "containers", i)) for i, c in enumerate(spec.containers)),
    ]
    if any(c.security_context is None or c.security_context.seccomp_profile is None
           for c, _ in containers):  # fmt: skip
        yield from _named(pod, ("spec",))
    for container, at in containers:
        yield from _named(container.security_context, at)


def _named(
    security: SecurityContext | PodSecurityContext | None, at: Path
) -> Iterator[tuple[Path, str]]:
    profile = security.seccomp_profile if security is not None else None
    if profile is not None and profile.type == "Localhost":
        assert profile.localhost_profile is not None
        field = (*at, "securityContext", "seccompProfile", "localhostProfile")
        yield field, profile.localhost_profile


def problems(manifest: Manifest, profiles: SeccompProfiles) -> list[tuple[Path, str]]:
    """Why each Localhost profile the manifest names cannot be used, by its field."""
    found = []
    for path, name in localhost_uses(manifest):
        profile, why = profiles.profile(name)
        if profile is None:
            found.append((path, why))
    return found


__all__ = [
    "DEFAULT_DIRECTORY",
    "SeccompProfiles",
    "compact",
    "localhost_uses",
    "problems",
]
