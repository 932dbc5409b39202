"""Images in the CRI runtime: present or pulled per pull policy, and their users. Does I/O."""

from __future__ import annotations

from reconciler.core.errors import ImageUnavailable
from reconciler.core.models import PullPolicy
from reconciler.core.observed import EngineFacts, FactsWanted
from reconciler.core.spec import PullAuth
from reconciler.drivers.cri.client import CriClient, pb


class Images:
    def __init__(self, cri: CriClient) -> None:
        self.cri = cri

    def ensure(
        self,
        image: str,
        policy: PullPolicy,
        pod: pb.PodSandboxConfig | None,
        of: str = "",
        auth: tuple[PullAuth, ...] = (),
    ) -> None:
        """The image present as ``policy`` says (pulled for ``pod``, as kubelet pulls,
        with each of ``auth`` in turn until one succeeds, as kubelet tries a pod's
        imagePullSecrets); ``of`` names who needs it. Raises ImageUnavailable."""
        if policy == "Always" or (policy != "Never" and self.cri.image_status(image) is None):
            try:
                self._pull(image, pod, auth)
            except ImageUnavailable as exc:
                raise ImageUnavailable(
                    f"image {image}{f' of {of}' if of else ''} is not present and could not "
                    f"be pulled (imagePullPolicy {policy}): {exc}"
                ) from exc
        elif policy == "Never" and self.cri.image_status(image) is None:
            raise ImageUnavailable(f"image {image} is not present and imagePullPolicy is Never")

    def _pull(
        self, image: str, pod: pb.PodSandboxConfig | None, auth: tuple[PullAuth, ...]
    ) -> None:
        if not auth:
            self.cri.pull_image(image, pod)
            return
        failures = []
        for credentials in auth:
            try:
                self.cri.pull_image(image, pod, credentials)
                return
            except ImageUnavailable as exc:
                failures.append(f"with the credentials for {credentials.server}: {exc}")
        raise ImageUnavailable("with its imagePullSecrets: " + "; ".join(failures))

    def latest(self, image: str, auth: tuple[PullAuth, ...] = ()) -> str:
        """Pull ``image`` now and say which image its tag names."""
        self._pull(image, None, auth)
        found = self.cri.image_status(image)
        if found is None:
            raise ImageUnavailable(f"image {image} is gone right after its pull")
        return str(found.id)

    def facts(self, wanted: FactsWanted, pull: bool) -> EngineFacts:
        """Each image's user (its uid, else its user name), pulled first when absent
        (not at every pass for ``Always``: creating pulls it then). The CRI runtime sizes
        no writable layer, which admission refuses already (CRI.lacks)."""
        users: dict[str, str] = {}
        unknown: dict[str, str] = {}
        for image, policy in wanted.images.items():
            try:
                if pull:
                    absent = "IfNotPresent" if policy == "Always" else policy
                    self.ensure(image, absent, None, auth=wanted.pull_auth.get(image, ()))
            except ImageUnavailable as exc:
                unknown[image] = str(exc)
                continue
            found = self.cri.image_status(image)
            if found is None:
                unknown[image] = "the image is not present (not pulled)"
            else:
                users[image] = str(found.uid.value) if found.HasField("uid") else found.username
        return EngineFacts(users, unknown)


__all__ = ["Images"]
