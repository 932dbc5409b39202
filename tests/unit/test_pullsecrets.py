"""imagePullSecrets: which credentials pull an image (kubelet's keyring), the refusals of
a Secret that cannot give them, and that the credentials reach only the engines' pulls."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from textwrap import dedent
from typing import Any, cast

import pytest

from reconciler.core.admission import compile_and_admit, facts_wanted
from reconciler.core.compile import BuildConfig
from reconciler.core.errors import ImageUnavailable
from reconciler.core.manifests import LoadResult, load_text
from reconciler.core.policy import PRIVILEGED
from reconciler.core.pullsecrets import credentials, keyring, repository
from reconciler.core.spec import Desired, PullAuth
from reconciler.core.values import LoadedValues, ValueStore
from reconciler.drivers.cri.images import Images as CriImages
from reconciler.drivers.docker.capabilities import DOCKER
from reconciler.drivers.docker.images import Images as DockerImages

PASSWORD = "pa55-w0rd-never-shown"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(auths: dict[str, Any], name: str = "regcred", legacy: bool = False) -> str:
    if legacy:
        kind, key, body = "kubernetes.io/dockercfg", ".dockercfg", auths
    else:
        kind, key, body = "kubernetes.io/dockerconfigjson", ".dockerconfigjson", {"auths": auths}
    return f"""
        apiVersion: v1
        kind: Secret
        metadata: {{name: {name}}}
        type: {kind}
        data: {{{key}: {b64(json.dumps(body))}}}
        """


def pod(image: str = "127.0.0.1:5000/team/app:1", secrets: str = "[{name: regcred}]") -> str:
    return f"""
        apiVersion: v1
        kind: Pod
        metadata: {{name: web}}
        spec:
          imagePullSecrets: {secrets}
          initContainers: [{{name: init, image: busybox}}]
          containers:
            - {{name: app, image: "{image}", securityContext: {{runAsNonRoot: true}}}}
        """


def load(*files: str) -> LoadResult:
    loaded = LoadResult()
    for index, text in enumerate(files):
        loaded.extend(load_text(dedent(text), f"f{index}.yaml"))
    assert loaded.ok, [str(p) for p in loaded.errors]
    return loaded


def desired(*files: str) -> Desired:
    loaded = load(*files)
    config = BuildConfig("i", policy=PRIVILEGED, driver=DOCKER)
    return compile_and_admit(loaded.manifests, config, values=loaded.values)


USER = {"auth": b64(f"user:{PASSWORD}")}


# --- which credentials pull which image --------------------------------------------


@pytest.mark.parametrize(
    ("image", "full"),
    [
        ("busybox", "docker.io/library/busybox"),
        ("busybox:1.36", "docker.io/library/busybox"),
        ("team/app@sha256:" + "a" * 64, "docker.io/team/app"),
        ("docker.io/busybox", "docker.io/library/busybox"),
        ("index.docker.io/team/app:2", "docker.io/team/app"),
        ("localhost/app", "localhost/app"),
        ("127.0.0.1:5000/team/app:1", "127.0.0.1:5000/team/app"),
        ("registry.example/a/b/c:tag", "registry.example/a/b/c"),
    ],
)
def test_an_image_is_read_as_its_full_repository(image: str, full: str) -> None:
    assert repository(image) == full


def ring(*secrets: dict[str, Any]) -> Any:
    values = [
        LoadedValues(
            "Secret",
            "default",
            f"s{i}",
            {".dockerconfigjson": json.dumps({"auths": auths})},
            cast(Any, None),
            "kubernetes.io/dockerconfigjson",
        )
        for i, auths in enumerate(secrets)
    ]
    manifest = load(pod(secrets=str([{"name": f"s{i}"} for i in range(len(secrets))]))).manifests
    found, errors = keyring(manifest[0].manifest, ValueStore(values))
    assert not errors
    return found


def servers(image: str, *secrets: dict[str, Any]) -> list[str]:
    return [a.server for a in credentials(image, ring(*secrets))]


def test_the_most_specific_key_comes_first_and_each_secret_in_order() -> None:
    one = {"quay.io": USER, "quay.io/team": USER, "https://quay.io/v2/team/app": USER}
    two = {"quay.io": {"username": "other", "password": "x"}}
    assert servers("quay.io/team/app:1", one, two) == [
        "https://quay.io/v2/team/app",
        "quay.io/team",
        "quay.io",
        "quay.io",
    ]
    assert servers("quay.io/elsewhere/app", one) == ["quay.io"]


def test_a_key_matches_by_host_glob_and_port_as_kubelet_does() -> None:
    auths = {"*.example.com": USER, "registry.local:5000": USER}
    assert servers("eu.example.com/app", auths) == ["*.example.com"]
    assert servers("a.eu.example.com/app", auths) == []  # a glob is one part of the host
    assert servers("registry.local:5000/app", auths) == ["registry.local:5000"]
    assert servers("registry.local/app", auths) == []  # the port must be the same
    assert servers("registry.local:5001/app", auths) == []


@pytest.mark.parametrize("key", ["docker.io", "https://index.docker.io/v1/", "index.docker.io"])
@pytest.mark.parametrize(
    "image", ["busybox", "team/app:1", "docker.io/team/app", "index.docker.io/x"]
)
def test_docker_hub_is_one_registry_by_any_of_its_names(key: str, image: str) -> None:
    assert servers(image, {key: USER}) == [key]
    assert servers("quay.io/team/app", {key: USER}) == []


def test_a_key_is_shown_without_the_credentials_a_url_may_hold() -> None:
    (auth,) = credentials("quay.io/a", ring({f"https://user:{PASSWORD}@quay.io": USER}))
    assert auth.server == "https://quay.io" and auth.password == PASSWORD


def test_the_credentials_of_an_entry_auth_wins_over_username_and_password() -> None:
    entry = {"auth": b64(f"user:{PASSWORD}"), "username": "ignored", "password": "ignored"}
    (auth,) = credentials("quay.io/a", ring({"quay.io": entry}))
    assert (auth.username, auth.password) == ("user", PASSWORD)
    (auth,) = credentials("quay.io/a", ring({"quay.io": {"username": "u", "password": "p:q"}}))
    assert (auth.username, auth.password) == ("u", "p:q")


# --- from the Pod to its members -------------------------------------------------


def test_each_member_carries_the_credentials_its_image_matches_and_nothing_shows_them() -> None:
    found = desired(secret({"127.0.0.1:5000": USER}), pod())
    assert not found.refused
    (unit,) = found.units
    (init,) = unit.init
    (app,) = unit.workloads
    assert init.pull_auth == ()  # busybox is Docker Hub's: no key matches it
    assert app.pull_auth == (PullAuth("127.0.0.1:5000", "user", PASSWORD),)
    for shown in (repr(app), repr(unit), repr(app.pull_auth), str(app.labels), app.hash):
        assert PASSWORD not in shown and b64(f"user:{PASSWORD}") not in shown
    assert "127.0.0.1:5000" in repr(app.pull_auth[0])
    without = desired(secret({"127.0.0.1:5000": USER}), pod(secrets="[]"))
    # The credentials change no hash: adding a secret recreates nothing.
    assert without.units[0].workloads[0].hash == app.hash
    assert without.units[0].workloads[0].labels == app.labels


def test_the_legacy_dockercfg_type_is_read_too() -> None:
    found = desired(secret({"127.0.0.1:5000": USER}, legacy=True), pod())
    assert found.units[0].workloads[0].pull_auth[0].password == PASSWORD


def test_the_facts_step_pulls_with_the_same_credentials() -> None:
    found = desired(secret({"127.0.0.1:5000": USER}), pod())
    wanted = facts_wanted(found)
    assert dict(wanted.images) == {"127.0.0.1:5000/team/app:1": "IfNotPresent"}
    assert wanted.pull_auth["127.0.0.1:5000/team/app:1"] == found.units[0].workloads[0].pull_auth
    assert PASSWORD not in repr(wanted)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ("", "Secret default/regcred is not defined in the source"),
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: regcred}\n"
            f"stringData: {{password: {PASSWORD}}}",
            "is of type Opaque: an image pull secret is of type kubernetes.io/dockerconfigjson",
        ),
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: regcred}\n"
            "type: kubernetes.io/dockerconfigjson\n"
            f"stringData: {{.dockercfg: '{PASSWORD}'}}",
            "has no .dockerconfigjson key",
        ),
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: regcred}\n"
            "type: kubernetes.io/dockerconfigjson\n"
            f"stringData: {{.dockerconfigjson: '{{{PASSWORD}'}}",
            ".dockerconfigjson is not JSON",
        ),
        (
            secret({"quay.io": {"auth": b64(PASSWORD)}}),
            "the entry of registry 'quay.io' has neither an auth",
        ),
    ],
)
def test_a_secret_that_cannot_give_credentials_refuses_the_unit_naming_the_field(
    values: str, reason: str
) -> None:
    found = desired(*([values] if values else []), pod())
    assert not found.units
    ((key, why),) = found.refused
    assert str(key) == "sandbox/web"
    assert "spec.imagePullSecrets[0].name" in why and reason in why, why
    assert PASSWORD not in why
    assert why.startswith(f"f{1 if values else 0}.yaml:6:")  # the line of the Pod's field


def test_a_sandbox_and_a_container_take_imagepullsecrets_too() -> None:
    container = """
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: solo}
        spec: {image: "127.0.0.1:5000/app", imagePullSecrets: [{name: regcred}]}
        """
    found = desired(secret({"127.0.0.1:5000": USER}), container)
    assert found.units[0].workloads[0].pull_auth[0].server == "127.0.0.1:5000"


# --- the engines' pulls ------------------------------------------------------------


class FakeSdk:
    def __init__(self, accepted: str | None) -> None:
        self.accepted = accepted  # the password the registry takes (None: any, or none)
        self.calls: list[dict[str, Any] | None] = []

    def pull(self, repository: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        config = kwargs["auth_config"]
        self.calls.append(config)
        if self.accepted is not None and (config or {}).get("password") != self.accepted:
            yield {"error": "Head http://127.0.0.1:5000/v2/x: no basic auth credentials"}
        yield {"status": "Downloaded"}


class FakeCalls:
    def inspect_image(self, image: str) -> dict[str, Any]:
        return {"Config": {"User": "1000"}}


class FakeConnection:
    def __init__(self, sdk: FakeSdk) -> None:
        self.sdk, self.calls = sdk, FakeCalls()


BAD = PullAuth("127.0.0.1:5000", "user", "wrong-one")
GOOD = PullAuth("127.0.0.1:5000", "user", PASSWORD)


def test_docker_pulls_with_each_credential_in_turn_and_says_which_failed() -> None:
    sdk = FakeSdk(accepted=PASSWORD)
    images = DockerImages(cast(Any, FakeConnection(sdk)))
    images.pull("127.0.0.1:5000/x:1", once=True, auth=(BAD, GOOD))
    assert [c and c["password"] for c in sdk.calls] == ["wrong-one", PASSWORD]
    assert sdk.calls[1] == {"username": "user", "password": PASSWORD, "serveraddress": GOOD.server}
    images.pull("127.0.0.1:5000/x:1", once=True, auth=(BAD, GOOD))
    assert len(sdk.calls) == 2  # pulled once per process with these credentials
    with pytest.raises(ImageUnavailable) as raised:
        images.pull("127.0.0.1:5000/x:1", once=True, auth=(BAD,))  # others: a pull of its own
    message = str(raised.value)
    assert "could not be pulled with its imagePullSecrets: with the credentials for" in message
    assert "credentials for 127.0.0.1:5000" in message and "no basic auth" in message
    assert "wrong-one" not in message and PASSWORD not in message


def test_docker_without_credentials_pulls_as_the_sdk_would() -> None:
    sdk = FakeSdk(accepted=None)
    DockerImages(cast(Any, FakeConnection(sdk))).ensure("x:1", "Always")
    assert sdk.calls == [None]


def test_docker_facts_pull_with_the_members_credentials() -> None:
    sdk = FakeSdk(accepted=PASSWORD)
    images = DockerImages(cast(Any, FakeConnection(sdk)))
    found = desired(
        secret({"127.0.0.1:5000": USER}),
        pod().replace("name: app,", "name: app, imagePullPolicy: Always,"),
    )
    facts = images.facts(facts_wanted(found), pull=True)
    assert facts.users == {"127.0.0.1:5000/team/app:1": "1000"}
    assert sdk.calls[0] is not None and sdk.calls[0]["password"] == PASSWORD


class FakeCri:
    def __init__(self) -> None:
        self.pulls: list[PullAuth | None] = []

    def image_status(self, image: str) -> None:
        return None

    def pull_image(self, image: str, pod: Any = None, auth: PullAuth | None = None) -> str:
        self.pulls.append(auth)
        if auth is not GOOD:
            raise ImageUnavailable("401 Unauthorized")
        return "sha256:1"


def test_cri_pulls_with_each_credential_in_turn() -> None:
    cri = FakeCri()
    CriImages(cast(Any, cri)).ensure("127.0.0.1:5000/x:1", "IfNotPresent", None, auth=(BAD, GOOD))
    assert cri.pulls == [BAD, GOOD]
    with pytest.raises(ImageUnavailable) as raised:
        CriImages(cast(Any, cri)).ensure("127.0.0.1:5000/x:1", "Always", None, of="c", auth=(BAD,))
    assert "with the credentials for 127.0.0.1:5000: 401 Unauthorized" in str(raised.value)
    assert "wrong-one" not in str(raised.value)


def test_the_cri_request_carries_the_credentials_as_an_auth_config(tmp_path: Any) -> None:
    from reconciler.drivers.cri.client import CriClient, pb

    sent: list[Any] = []

    class Stub:
        def PullImage(self, request: Any, timeout: float) -> Any:
            sent.append(request)
            return pb.PullImageResponse(image_ref="sha256:1")

    client = CriClient(str(tmp_path / "none.sock"), timeout=1)
    client._images = cast(Any, Stub())
    assert client.pull_image("127.0.0.1:5000/x:1", None, GOOD) == "sha256:1"
    auth = sent[0].auth
    assert (auth.username, auth.password, auth.server_address) == ("user", PASSWORD, "")
    client.pull_image("x:1")
    assert not sent[1].HasField("auth")
    client.close()
