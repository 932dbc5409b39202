"""Images on the Docker daemon: present or pulled per pull policy, and what they say. Does I/O.

One pull per image at a time (parallel units wait for it); ``Always`` pulls
once per process and set of credentials, so a loop that creates a container
again and again does not pull each time. A member's imagePullSecrets
credentials (``DesiredMember.pull_auth``) go to the daemon with its pull only
(the Engine API's X-Registry-Auth), tried in order; without them the SDK sends
what `docker login` left in its config, as before. ``facts`` answers admission: an image's user (for
runAsNonRoot) and whether the storage driver can size a container's
writable layer (for limits.ephemeral-storage).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from reconciler.core.errors import DriverError, ImageUnavailable, NotFound
from reconciler.core.models import PullPolicy
from reconciler.core.observed import EngineFacts, FactsWanted
from reconciler.core.spec import PullAuth
from reconciler.drivers.docker.connection import Connection
from reconciler.drivers.docker.errors import calling

# Storage drivers whose StorageOpt size limits a container's writable layer
# (Docker 20.10); overlay2 only on xfs, and only when it is mounted with pquota,
# which `docker info` does not show: the daemon refuses then, by name.
_SIZED_STORAGE = {"overlay2": "xfs", "btrfs": "", "zfs": ""}


def storage_problem(driver: str, backing: str) -> str | None:
    """Why ``limits.ephemeral-storage`` cannot be enforced by this daemon, or None."""
    if driver in _SIZED_STORAGE and _SIZED_STORAGE[driver] in ("", backing):
        return None
    return (
        f"limits.ephemeral-storage cannot be enforced by this Docker daemon: its storage "
        f"driver is {driver or 'unknown'} on {backing or 'unknown'}, and a size limit needs "
        "overlay2 on xfs mounted with pquota (or btrfs, zfs)"
    )


class Images:
    def __init__(self, connection: Connection) -> None:
        self._engine = connection
        self._lock = threading.Lock()
        self._pull_locks: dict[str, threading.Lock] = {}
        # What was pulled, with which credentials (in memory only, never shown).
        self._pulled: set[tuple[str, tuple[PullAuth, ...]]] = set()
        self._storage: str | bool | None = False  # False: not read yet

    def ensure(self, image: str, policy: PullPolicy, auth: tuple[PullAuth, ...] = ()) -> None:
        """The image present as ``policy`` says (Always: pulled once by this process,
        per set of credentials). Raises ImageUnavailable."""
        if policy == "Always":
            self.pull(image, once=True, auth=auth)
        elif not self.present(image):
            if policy == "Never":
                raise ImageUnavailable(f"image {image} is not present and imagePullPolicy is Never")
            self.pull(image, once=False, auth=auth)

    def pull(self, image: str, once: bool, auth: tuple[PullAuth, ...] = ()) -> None:
        """Pull ``image``, with each of ``auth`` in turn until one succeeds (kubelet's
        order), or as the SDK would without them (its docker login). Raises ImageUnavailable.

        ``once`` pulls at most once per process for the same credentials: a unit
        with other credentials (or none) pulls for itself, and so proves it may.
        """
        with self._lock:
            lock = self._pull_locks.setdefault(image, threading.Lock())
        with lock:  # one pull per image at a time; parallel units wait for it
            if (image, auth) in self._pulled and once:
                return
            if not once and self.present(image):
                return  # another unit pulled it meanwhile
            failures: list[str] = []
            for credentials in auth or (None,):
                why = self._pull(image, credentials)
                if why is None:
                    self._pulled.add((image, auth))
                    return
                if credentials is None:
                    raise ImageUnavailable(
                        f"image {image} is not present locally and could not be pulled: {why}"
                    )
                failures.append(f"with the credentials for {credentials.server}: {why}")
            raise ImageUnavailable(
                f"image {image} is not present locally and could not be pulled with its "
                "imagePullSecrets: " + "; ".join(failures)
            )

    def _pull(self, image: str, auth: PullAuth | None) -> str | None:
        """Pull once; None when it worked, else why not (the daemon's words)."""
        import docker.utils  # the SDK streams pulls; only a pull pays its import

        repository, tag = docker.utils.parse_repository_tag(image)
        # Without credentials the SDK sends its own (docker login's config.json), if any.
        config = None
        if auth is not None:
            config = {
                "username": auth.username,
                "password": auth.password,
                "serveraddress": auth.server,
            }
        try:
            with calling(f"pulling {image}"):
                for line in self._engine.sdk.pull(
                    repository, tag=tag or "latest", stream=True, decode=True, auth_config=config
                ):
                    if isinstance(line, dict) and line.get("error"):
                        return f"pulling {image}: {line['error']}"
        except DriverError as exc:
            return str(exc)
        return None

    def latest(self, image: str, auth: tuple[PullAuth, ...] = ()) -> str:
        """Pull ``image`` now, whatever is present, and say which image its tag names."""
        failures = []
        for credentials in auth or (None,):
            why = self._pull(image, credentials)
            if why is None:
                with calling(f"inspecting image {image}"):
                    return str(self._engine.calls.inspect_image(image)["Id"])
            failures.append(why)
        raise ImageUnavailable(f"image {image} could not be pulled: " + "; ".join(failures))

    def present(self, image: str) -> bool:
        try:
            with calling(f"inspecting image {image}"):
                self._engine.calls.inspect_image(image)
        except (NotFound, ImageUnavailable):
            return False
        return True

    def facts(self, wanted: FactsWanted, pull: bool) -> EngineFacts:
        users, unknown = self._users(wanted.images, wanted.pull_auth, pull)
        return EngineFacts(users, unknown, self.storage() if wanted.storage else None)

    def _users(
        self,
        images: Mapping[str, PullPolicy],
        auth: Mapping[str, tuple[PullAuth, ...]],
        pull: bool,
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Each image's Config.User, pulled first per its policy with the credentials its
        container's pull would take (as creating would)."""
        users: dict[str, str] = {}
        unknown: dict[str, str] = {}
        for image, policy in images.items():
            try:
                if pull:
                    self.ensure(image, policy, auth.get(image, ()))
                with calling(f"inspecting image {image}"):
                    info = self._engine.calls.inspect_image(image)
            except (NotFound, ImageUnavailable) as exc:
                unknown[image] = str(exc) if pull else "the image is not present (not pulled)"
                continue
            users[image] = str((info.get("Config") or {}).get("User") or "")
        return users, unknown

    def storage(self) -> str | None:
        """Why a writable layer cannot be size-limited here, or None (read once)."""
        if self._storage is False:
            with calling("reading daemon info"):
                info = self._engine.calls.info()
            status = dict(info.get("DriverStatus") or [])
            self._storage = storage_problem(
                str(info.get("Driver") or ""), str(status.get("Backing Filesystem") or "")
            )
        return self._storage if isinstance(self._storage, str) else None


__all__ = ["Images", "storage_problem"]
