# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Registry authentication: challenges, Basic and Bearer tokens (private module_utils, no Ansible imports).

The registry says how to authenticate in its `WWW-Authenticate` challenge. Basic sends the
credentials with every request. Bearer fetches a token for a scope (`repository:NAME:pull` or
`pull,push`) from the challenge's realm and caches it until shortly before it expires; a token for
more actions serves a request for fewer, so a push token is reused for pulls. The HTTP exchange
with the token server is the caller's (fetch_token), so this module holds no connection.

A run that knows the repositories it will use says so (`expect`): a token is then asked for up to
TOKEN_BATCH of those scopes at once, so a release of hundreds of repositories costs one token
request per batch instead of one or two per repository. A token server grants what it allows of
each scope; a scope the registry then refuses is asked for alone, as without expectations.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from dataclasses import dataclass

from .._errors import AuthenticationError

TOKEN_BATCH = 16  # scopes per token request: keeps the JWT, sent with every request, a few KB
DEFAULT_TOKEN_LIFETIME = 60  # seconds, when the token server gives no expires_in (distribution spec)
CATALOG_SCOPE = "registry:catalog:*"

_TOKEN_RE = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)')
_PARAM_RE = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')


@dataclass(frozen=True)
class Challenge:
    scheme: str   # lower case: "basic" or "bearer"
    params: dict  # realm, service, scope, error, ...

    @property
    def realm(self):
        return self.params.get("realm", "")


def parse_challenges(header):
    """Parse a WWW-Authenticate value into Challenges; unknown syntax is skipped, never raised."""
    challenges = []
    text = header or ""
    position = 0
    while position < len(text):
        scheme_match = _TOKEN_RE.match(text, position)
        if not scheme_match:
            position += 1
            continue
        position = scheme_match.end()
        params = {}
        while True:
            param_match = _PARAM_RE.match(text, position)
            if not param_match:
                break
            value = param_match.group(2)
            if value.startswith('"'):
                value = re.sub(r'\\(.)', r'\1', value[1:-1])
            params[param_match.group(1).lower()] = value
            position = param_match.end()
        challenges.append(Challenge(scheme_match.group(1).lower(), params))
        while position < len(text) and text[position] in " ,":
            position += 1
    return challenges


def repository_scope(name, push=False):
    return "repository:%s:%s" % (name, "pull,push" if push else "pull")


def _split_scope(scope):
    kind, _unused, rest = scope.partition(":")
    name, _unused, actions = rest.rpartition(":")
    return kind, name, frozenset(actions.split(","))


def scopes_cover(granted, wanted):
    """Whether a token asked for with scopes `granted` also serves a request needing `wanted`."""
    granted_actions = {}
    for scope in granted:
        kind, name, actions = _split_scope(scope)
        granted_actions.setdefault((kind, name), set()).update(actions)
    for scope in wanted:
        kind, name, actions = _split_scope(scope)
        have = granted_actions.get((kind, name), set())
        if not (actions <= have or "*" in have):
            return False
    return True


def basic_authorization(credentials):
    raw = ("%s:%s" % (credentials.username, credentials.password)).encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass
class _Token:
    scopes: frozenset
    value: str
    valid_until: float


def token_from_answer(answer, now):
    """(token, valid_until) from a token server's JSON; Docker Hub sends `token` and/or `access_token`."""
    if not isinstance(answer, dict):
        return None, now
    token = answer.get("token") or answer.get("access_token")
    if not isinstance(token, str) or not token:
        return None, now
    try:
        lifetime = int(answer.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
    except (TypeError, ValueError):
        lifetime = DEFAULT_TOKEN_LIFETIME
    lifetime = max(lifetime, 1)
    # Renew early so a token does not expire between our check and the registry's.
    return token, now + max(lifetime - 10, lifetime / 2)


class RegistryAuth:
    """Authorization headers for one registry, shared by every thread of a client.

    fetch_token(realm, params, credentials) performs the token request (params: service, scope
    list, account) and returns the parsed JSON answer; it raises AuthenticationError when refused.
    credentials is a callable returning Credentials or None, called once, when first needed.
    """

    def __init__(self, registry, credentials, fetch_token, clock=time.monotonic):
        self.registry = registry
        self._credentials_source = credentials
        self._credentials = None
        self._credentials_loaded = False
        self._fetch_token = fetch_token
        self._clock = clock
        self._challenge = None
        self._tokens = []
        self._expected = []  # scopes the run said it will need, in order (see expect)
        self._lock = threading.Lock()
        self._fetch_locks = {}

    def __repr__(self):
        scheme = self._challenge.scheme if self._challenge else "none"
        return "RegistryAuth(registry=%r, scheme=%r, tokens=%d)" % (self.registry, scheme, len(self._tokens))

    @property
    def scheme(self):
        return self._challenge.scheme if self._challenge else None

    @property
    def credentials(self):
        with self._lock:
            if not self._credentials_loaded:
                self._credentials = self._credentials_source()
                self._credentials_loaded = True
            return self._credentials

    def learn(self, www_authenticate):
        """Take the challenge of a 401; returns False when it offers nothing this client can answer."""
        for challenge in parse_challenges(www_authenticate):
            if challenge.scheme == "bearer" and challenge.realm:
                self._challenge = challenge
                return True
            if challenge.scheme == "basic":
                self._challenge = challenge
                return True
        return False

    def authorization(self, scopes):
        """The Authorization header value for a request needing `scopes`, or None (anonymous)."""
        challenge = self._challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            credentials = self.credentials
            return basic_authorization(credentials) if credentials else None
        return "Bearer " + self._token(challenge, frozenset(scopes))

    def expect(self, scopes):
        """Scopes the run will need; a token fetched for one of them covers others too."""
        with self._lock:
            for scope in scopes:
                if scope not in self._expected:
                    self._expected.append(scope)

    def invalidate(self, scopes):
        """Forget cached tokens that would serve `scopes` (after the registry refused one), and ask
        for these scopes alone from now on."""
        with self._lock:
            self._tokens = [token for token in self._tokens if not scopes_cover(token.scopes, scopes)]
            self._expected = [scope for scope in self._expected if not scopes_cover((scope,), scopes)]

    def _batch(self, scopes):
        """`scopes` with expected scopes no valid token covers yet, up to TOKEN_BATCH; `scopes` alone
        when they were not expected."""
        with self._lock:
            if not self._expected or not scopes_cover(self._expected, scopes):
                return scopes
            # each scope asked for as the run expects it (a pull as the pull,push to come), then others
            batch = {next((e for e in self._expected if scopes_cover((e,), (scope,))), scope) for scope in scopes}
            for scope in self._expected:
                if len(batch) >= TOKEN_BATCH:
                    break
                if not any(scopes_cover(token.scopes, (scope,)) for token in self._tokens):
                    batch.add(scope)
            return frozenset(batch)

    def _cached(self, scopes):
        now = self._clock()
        with self._lock:
            self._tokens = [token for token in self._tokens if token.valid_until > now]
            for token in self._tokens:
                if scopes_cover(token.scopes, scopes):
                    return token.value
        return None

    def _token(self, challenge, scopes):
        value = self._cached(scopes)
        if value is not None:
            return value
        batch = self._batch(scopes)
        with self._lock:
            # One fetch per scope (or per batch of expected scopes) at a time: threads asking for
            # what is being fetched wait and reuse it.
            fetch_lock = self._fetch_locks.setdefault(scopes if batch is scopes else "expected", threading.Lock())
        with fetch_lock:
            value = self._cached(scopes)
            if value is not None:
                return value
            if batch is not scopes:
                batch = self._batch(scopes)
                try:
                    return self._fetch(challenge, batch)
                except AuthenticationError as exc:
                    if batch == scopes or exc.status == 401:  # 401: the credentials, not the scopes
                        raise
                    with self._lock:  # a token server that refuses the batch: ask for each scope alone
                        self._expected = []
            return self._fetch(challenge, scopes)

    def _fetch(self, challenge, scopes):
        credentials = self.credentials
        params = {"service": challenge.params.get("service"), "scope": sorted(scopes)}
        if credentials:
            params["account"] = credentials.username
        answer = self._fetch_token(challenge.realm, params, credentials)
        value, valid_until = token_from_answer(answer, self._clock())
        if value is None:
            raise AuthenticationError(
                "Error authenticating to %s: the token server %s answered without a token"
                % (self.registry, challenge.realm), registry=self.registry)
        with self._lock:
            self._tokens.append(_Token(frozenset(scopes), value, valid_until))
        return value
