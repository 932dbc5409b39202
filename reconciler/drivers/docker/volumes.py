"""A unit's data volumes, owner claims and eviction record on the Docker daemon: labelled
volumes. Does I/O."""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import time
import uuid
from pathlib import Path

from reconciler.core import labels as L
from reconciler.core.errors import DriverError, NotFound
from reconciler.core.naming import eviction_name
from reconciler.core.observed import Eviction
from reconciler.core.ownership import Owner, claim_name
from reconciler.core.spec import DesiredVolume, UnitKey
from reconciler.drivers.docker.actions import Actions
from reconciler.drivers.docker.connection import Connection, unit_labels
from reconciler.drivers.docker.errors import calling
from reconciler.drivers.projection import write_files
from reconciler.drivers.retrying import retried


def _directory_tar(name: str, group: int) -> bytes:
    """A tar of one directory entry: owner root, ``group``, mode 2777 (setgid)."""
    entry = tarfile.TarInfo(name)
    entry.type = tarfile.DIRTYPE
    entry.mode = 0o2777
    entry.uid, entry.gid = 0, group
    entry.mtime = int(time.time())
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.addfile(entry)
    return buffer.getvalue()


class Volumes:
    def __init__(self, connection: Connection, actions: Actions) -> None:
        self._engine = connection
        self._actions = actions

    @retried
    def ensure(self, volume: DesiredVolume) -> None:
        """Create the named volume with its labels; an existing one is kept. A volume of
        files gets them written (again: its containers are about to be created)."""
        with calling(f"creating volume {volume.name}"):
            created = self._engine.calls.create_volume(volume.name, labels=dict(volume.labels))
        if volume.files is not None:
            self._write(volume, str(created.get("Mountpoint") or ""))
        elif volume.group is not None:
            self._own(volume, volume.group)

    def _write(self, volume: DesiredVolume, mountpoint: str) -> None:
        """The files, written where the daemon keeps the volume; only root can reach them
        on the host (the volume's directory is made 0700), the container reads them as
        their modes say."""
        data = Path(mountpoint)
        if not mountpoint or not data.is_dir():
            raise DriverError(
                f"volume {volume.name} is at {mountpoint or 'no path'}, which this host does "
                "not have: volumes of files (configMap, secret, downwardAPI, projected) need "
                "the Docker daemon on this host"
            )
        os.chmod(data.parent, 0o700)
        try:
            write_files(data, volume.files or (), volume.group)
        except OSError as exc:
            raise DriverError(f"writing the files of volume {volume.name}: {exc}") from exc

    def mountpoint(self, name: str) -> Path:
        """Where the daemon keeps a volume on this host (for a subPath)."""
        with calling(f"inspecting volume {name}"):
            found = self._engine.calls.volumes(filters={"name": [name]}).get("Volumes") or []
        for volume in found:
            if volume.get("Name") == name and volume.get("Mountpoint"):
                return Path(volume["Mountpoint"])
        raise DriverError(f"volume {name} has no mount point on this host, for its subPath")

    def _own(self, volume: DesiredVolume, group: int) -> None:
        """Make the volume's root root:group, mode 2777, as kubelet does for an fsGroup.

        Docker has no volume option for it, so a throwaway container (never
        started) mounts the volume and the archive API writes one directory
        entry onto its mount point: extracting a directory over an existing one
        applies the entry's owner and mode. (The entry cannot be "." of the
        mount path itself: Docker skips "." when extracting.)
        """
        body = {
            "Image": volume.helper_image,
            "Entrypoint": ["true"],
            "Labels": {L.HELPER: self._engine.instance},
            "HostConfig": {
                "Mounts": [
                    {
                        "Type": "volume",
                        "Source": volume.name,
                        "Target": "/volume",
                        "VolumeOptions": {"NoCopy": True},
                    }
                ]
            },
        }
        name = f"{volume.name}.fsgroup-{uuid.uuid4().hex[:8]}"
        helper = self._actions.create(body, name, "IfNotPresent")
        try:
            with calling(f"setting the group of volume {volume.name}"):
                self._engine.sdk.put_archive(helper, "/", _directory_tar("volume", group))
        finally:
            with contextlib.suppress(DriverError), calling(f"removing {name}"):
                self._engine.calls.remove_container(helper, force=True)

    @retried
    def record_owner(self, unit: UnitKey, owner: Owner) -> None:
        """Claim ``unit`` for ``owner`` (a labelled volume), then drop its older claims."""
        instance = self._engine.instance
        name = claim_name(instance, unit.kind.value, unit.namespace, unit.name, owner)
        labels = {
            L.MANAGED_BY: instance,
            L.KIND: unit.kind.value,
            L.NAMESPACE: unit.namespace,
            L.SANDBOX: unit.name,
            L.CLAIM: "true",
        } | owner.labels()
        with calling(f"recording the owner of {unit}"):
            self._engine.calls.create_volume(name, labels=labels)
        filters = {"label": [f"{L.MANAGED_BY}={instance}", f"{L.CLAIM}=true", *unit_labels(unit)]}
        with calling("listing claims"):
            volumes = self._engine.calls.volumes(filters=filters).get("Volumes") or []
        for volume in volumes:
            if volume["Name"] != name:
                with contextlib.suppress(NotFound), calling(f"removing claim {volume['Name']}"):
                    self._engine.calls.remove_volume(volume["Name"])

    @retried
    def record_eviction(self, unit: UnitKey, eviction: Eviction) -> None:
        """Record ``unit``'s eviction: an empty volume labelled with its fingerprint and
        message (Docker cannot relabel a volume, so one recorded before is replaced)."""
        name = eviction_name(self._engine.instance, unit)
        labels = {
            L.MANAGED_BY: self._engine.instance,
            L.KIND: unit.kind.value,
            L.NAMESPACE: unit.namespace,
            L.SANDBOX: unit.name,
            L.EVICTED: eviction.fingerprint,
            L.EVICTION_MESSAGE: eviction.message,
        }
        self.lift_eviction(unit)
        with calling(f"recording the eviction of {unit}"):
            self._engine.calls.create_volume(name, labels=labels)

    @retried
    def lift_eviction(self, unit: UnitKey) -> None:
        """Remove ``unit``'s eviction record; none is success."""
        name = eviction_name(self._engine.instance, unit)
        with contextlib.suppress(NotFound), calling(f"lifting the eviction of {unit}"):
            self._engine.calls.remove_volume(name)

    def path(self, name: str) -> str | None:
        """The volume's mount point on the daemon's host (under its data root)."""
        try:
            with calling(f"inspecting volume {name}"):
                found = self._engine.calls.inspect_volume(name)
        except NotFound:
            return None
        labels = found.get("Labels") or {}
        if labels.get(L.MANAGED_BY) != self._engine.instance:
            return None  # not this instance's: never measured, never evicted for
        return str(found.get("Mountpoint") or "") or None

    @retried
    def remove_all(self, unit: UnitKey) -> None:
        """Remove the volumes this instance made for ``unit`` (data, claims, its eviction
        record). Already gone is success."""
        with calling("listing volumes"):
            found = self._engine.calls.volumes(filters={"label": self._engine.mine(unit)})
        for volume in found.get("Volumes") or []:
            try:
                with calling(f"removing volume {volume['Name']}"):
                    self._engine.calls.remove_volume(volume["Name"])
            except NotFound:
                continue


__all__ = ["Volumes"]
