"""Registry authentication: challenge parsing, scopes, token answers, the token cache."""

import base64
import threading

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._errors import AuthenticationError
from ansible_collections.airgap.hangar.plugins.module_utils._registry.auth import (
    TOKEN_BATCH,
    Challenge,
    RegistryAuth,
    parse_challenges,
    repository_scope,
    scopes_cover,
    token_from_answer,
)
from ansible_collections.airgap.hangar.plugins.module_utils._registry.credentials import Credentials

ALICE = Credentials("alice", "s3cret", "options")
BEARER = 'Bearer realm="https://auth.example.com/token",service="registry.example.com"'


@pytest.mark.parametrize("header, expected", [
    (BEARER, [Challenge("bearer", {"realm": "https://auth.example.com/token", "service": "registry.example.com"})]),
    ('Basic realm="Registry Realm"', [Challenge("basic", {"realm": "Registry Realm"})]),
    ('bearer realm="r", scope="repository:a/b:pull,push", error="insufficient_scope"',
     [Challenge("bearer", {"realm": "r", "scope": "repository:a/b:pull,push", "error": "insufficient_scope"})]),
    ('Bearer realm=http://t/token,service=svc', [Challenge("bearer", {"realm": "http://t/token", "service": "svc"})]),
    ('Basic realm="a \\"quoted\\" realm"', [Challenge("basic", {"realm": 'a "quoted" realm'})]),
    ('Basic realm="b", Bearer realm="https://t/token",service="s"',
     [Challenge("basic", {"realm": "b"}), Challenge("bearer", {"realm": "https://t/token", "service": "s"})]),
    ("Basic", [Challenge("basic", {})]),
    ("", []),
    (None, []),
])
def test_parse_challenges(header, expected):
    assert parse_challenges(header) == expected


@pytest.mark.parametrize("granted, wanted, covered", [
    ({"repository:a:pull"}, {"repository:a:pull"}, True),
    ({"repository:a:pull,push"}, {"repository:a:pull"}, True),
    ({"repository:a:push,pull"}, {"repository:a:pull,push"}, True),
    ({"repository:a:pull"}, {"repository:a:pull,push"}, False),
    ({"repository:a:pull,push"}, {"repository:b:pull"}, False),
    ({"repository:a:pull,push", "repository:b:pull"}, {"repository:a:pull,push"}, True),
    ({"repository:a:pull,push"}, {"repository:a:pull,push", "repository:b:pull"}, False),
    ({"registry:catalog:*"}, {"registry:catalog:*"}, True),
    ({"repository:team/app:*"}, {"repository:team/app:pull,push"}, True),
    (set(), {"repository:a:pull"}, False),
])
def test_scopes_cover(granted, wanted, covered):
    assert scopes_cover(granted, wanted) is covered


def test_repository_scope():
    assert repository_scope("team/app") == "repository:team/app:pull"
    assert repository_scope("team/app", push=True) == "repository:team/app:pull,push"


@pytest.mark.parametrize("answer, token, lifetime", [
    ({"token": "T", "expires_in": 300}, "T", 290),
    ({"access_token": "A", "expires_in": 300}, "A", 290),
    ({"token": "T", "access_token": "A", "expires_in": 120}, "T", 110),
    ({"token": "T"}, "T", 50),
    ({"token": "T", "expires_in": 10}, "T", 5),
    ({"token": "T", "expires_in": "junk"}, "T", 50),
    ({"token": ""}, None, 0),
    ({}, None, 0),
    ("not a dict", None, 0),
])
def test_token_from_answer(answer, token, lifetime):
    value, valid_until = token_from_answer(answer, 1000.0)
    assert value == token
    if token:
        assert valid_until == 1000.0 + lifetime


class FakeTokenServer:
    """fetch_token for RegistryAuth: hands out T1, T2, ... and records each request."""

    def __init__(self, expires_in=300):
        self.requests = []
        self.expires_in = expires_in
        self._lock = threading.Lock()

    def __call__(self, realm, params, credentials):
        with self._lock:
            self.requests.append((realm, params, credentials))
            return {"token": "T%d" % len(self.requests), "expires_in": self.expires_in}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def bearer_auth(credentials=ALICE, server=None, clock=None):
    server = server or FakeTokenServer()
    auth = RegistryAuth("registry.example.com", lambda: credentials, server, clock=clock or Clock())
    assert auth.learn(BEARER)
    return auth, server


def test_no_challenge_means_anonymous():
    auth = RegistryAuth("r.io", lambda: ALICE, FakeTokenServer())
    assert auth.authorization([repository_scope("a")]) is None


def test_basic_challenge_with_credentials():
    auth = RegistryAuth("r.io", lambda: ALICE, FakeTokenServer())
    assert auth.learn('Basic realm="r"')
    expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert auth.authorization([repository_scope("a")]) == expected


def test_basic_challenge_without_credentials():
    auth = RegistryAuth("r.io", lambda: None, FakeTokenServer())
    auth.learn('Basic realm="r"')
    assert auth.authorization([repository_scope("a")]) is None


def test_unknown_challenges_are_not_learned():
    auth = RegistryAuth("r.io", lambda: ALICE, FakeTokenServer())
    assert not auth.learn("Negotiate abc==")
    assert not auth.learn('Bearer service="no realm"')
    assert auth.scheme is None


def test_bearer_token_request_and_cache():
    auth, server = bearer_auth()
    scope = [repository_scope("team/app")]
    assert auth.authorization(scope) == "Bearer T1"
    assert auth.authorization(scope) == "Bearer T1"
    assert server.requests == [("https://auth.example.com/token",
                                {"service": "registry.example.com", "scope": ["repository:team/app:pull"],
                                 "account": "alice"}, ALICE)]


def test_a_push_token_serves_pulls_but_not_the_other_way():
    auth, server = bearer_auth()
    assert auth.authorization([repository_scope("a", push=True)]) == "Bearer T1"
    assert auth.authorization([repository_scope("a")]) == "Bearer T1"
    assert auth.authorization([repository_scope("b")]) == "Bearer T2"
    assert auth.authorization([repository_scope("b", push=True)]) == "Bearer T3"
    assert len(server.requests) == 3


def test_mount_scopes_are_asked_together_and_serve_the_push():
    auth, server = bearer_auth()
    scopes = [repository_scope("dest", push=True), repository_scope("src")]
    assert auth.authorization(scopes) == "Bearer T1"
    assert server.requests[0][1]["scope"] == ["repository:dest:pull,push", "repository:src:pull"]
    assert auth.authorization([repository_scope("dest", push=True)]) == "Bearer T1"


def test_tokens_are_renewed_before_they_expire():
    clock = Clock()
    auth, server = bearer_auth(server=FakeTokenServer(expires_in=60), clock=clock)
    scope = [repository_scope("a")]
    assert auth.authorization(scope) == "Bearer T1"
    clock.now += 49
    assert auth.authorization(scope) == "Bearer T1"
    clock.now += 2
    assert auth.authorization(scope) == "Bearer T2"


def test_invalidate_forces_a_new_token():
    auth, server = bearer_auth()
    auth.authorization([repository_scope("a", push=True)])
    auth.invalidate([repository_scope("a")])
    assert auth.authorization([repository_scope("a")]) == "Bearer T2"


def test_anonymous_bearer_tokens():
    auth, server = bearer_auth(credentials=None)
    assert auth.authorization([repository_scope("library/alpine")]) == "Bearer T1"
    realm, params, credentials = server.requests[0]
    assert credentials is None and "account" not in params


def test_an_answer_without_token_is_an_authentication_error():
    auth = RegistryAuth("registry.example.com", lambda: ALICE, lambda realm, params, creds: {"expires_in": 60})
    auth.learn(BEARER)
    with pytest.raises(AuthenticationError, match="answered without a token") as caught:
        auth.authorization([repository_scope("a")])
    assert "s3cret" not in str(caught.value)


def test_credentials_are_looked_up_once_and_only_when_needed():
    lookups = []

    def lookup():
        lookups.append(1)
        return ALICE

    auth = RegistryAuth("registry.example.com", lookup, FakeTokenServer())
    assert lookups == []
    auth.learn(BEARER)
    auth.authorization([repository_scope("a")])
    auth.authorization([repository_scope("b")])
    assert lookups == [1]


def test_threads_asking_for_one_scope_share_one_fetch():
    started = threading.Event()
    release = threading.Event()
    server = FakeTokenServer()

    def slow_fetch(realm, params, credentials):
        started.set()
        release.wait(5)
        return server(realm, params, credentials)

    auth = RegistryAuth("registry.example.com", lambda: ALICE, slow_fetch)
    auth.learn(BEARER)
    results = []
    threads = [threading.Thread(target=lambda: results.append(auth.authorization([repository_scope("a")])))
               for _unused in range(10)]
    for thread in threads:
        thread.start()
    started.wait(5)
    release.set()
    for thread in threads:
        thread.join(5)
    assert results == ["Bearer T1"] * 10
    assert len(server.requests) == 1


def test_repr_shows_no_secret():
    auth, _unused = bearer_auth()
    token = auth.authorization([repository_scope("a")])
    text = repr(auth)
    assert "s3cret" not in text and token.split()[1] not in text and "registry.example.com" in text


def asked_scopes(server):
    return [request[1]["scope"] for request in server.requests]


def test_expected_repositories_share_tokens_in_batches():
    auth, server = bearer_auth()
    names = ["rel/app-%02d" % n for n in range(20)]
    auth.expect([repository_scope(name, push=True) for name in names])
    for name in names:
        assert auth.authorization([repository_scope(name)]) in ("Bearer T1", "Bearer T2")
        assert auth.authorization([repository_scope(name, push=True)]) in ("Bearer T1", "Bearer T2")
    first, second = asked_scopes(server)
    assert len(first) == TOKEN_BATCH and len(second) == 20 - TOKEN_BATCH
    assert sorted(first + second) == sorted(repository_scope(name, push=True) for name in names)


def test_a_scope_outside_the_expected_ones_is_asked_for_alone():
    auth, server = bearer_auth()
    auth.expect([repository_scope("a", push=True), repository_scope("b", push=True)])
    auth.authorization([repository_scope("elsewhere")])
    assert asked_scopes(server) == [["repository:elsewhere:pull"]]


def test_a_refused_scope_is_then_asked_for_alone():
    auth, server = bearer_auth()
    auth.expect([repository_scope(name, push=True) for name in ("a", "b", "c")])
    auth.authorization([repository_scope("a", push=True)])
    auth.invalidate([repository_scope("b", push=True)])  # the registry refused the batch token for b
    auth.authorization([repository_scope("b", push=True)])
    assert asked_scopes(server)[1] == ["repository:b:pull,push"]
    assert auth.authorization([repository_scope("c", push=True)]) == "Bearer T3"
    assert asked_scopes(server)[2] == ["repository:a:pull,push", "repository:c:pull,push"]  # T1 is gone, b not asked


def test_a_token_server_refusing_a_batch_gets_each_scope_alone():
    def refuse_batches(realm, params, credentials):
        if len(params["scope"]) > 1:
            raise AuthenticationError("Error authenticating: refused (HTTP 403)", status=403)
        return server(realm, params, credentials)

    server = FakeTokenServer()
    auth = RegistryAuth("registry.example.com", lambda: ALICE, refuse_batches, clock=Clock())
    auth.learn(BEARER)
    auth.expect([repository_scope(name, push=True) for name in ("a", "b")])
    assert auth.authorization([repository_scope("a", push=True)]) == "Bearer T1"
    assert auth.authorization([repository_scope("b", push=True)]) == "Bearer T2"
    assert asked_scopes(server) == [["repository:a:pull,push"], ["repository:b:pull,push"]]


def test_wrong_credentials_fail_a_batch_at_once():
    calls = []

    def refuse(realm, params, credentials):
        calls.append(params["scope"])
        raise AuthenticationError("Error authenticating: the token server refused the credentials (HTTP 401)",
                                  status=401)

    auth = RegistryAuth("registry.example.com", lambda: ALICE, refuse, clock=Clock())
    auth.learn(BEARER)
    auth.expect([repository_scope(name, push=True) for name in ("a", "b")])
    with pytest.raises(AuthenticationError):
        auth.authorization([repository_scope("a", push=True)])
    assert len(calls) == 1
