"""Bearer-token auth for test registries: a JWT issuer and a small token server.

TokenIssuer signs the tokens that docker-registry's `auth.token` accepts (TESTBED.md):

    issuer = TokenIssuer(service="hangar-registry", issuer="hangar-token-issuer",
                         key_kind="RSA",        # or "EC" (RS256 / ES256)
                         header="x5c")          # or "kid" (libtrust key id)
    issuer.write_certificate(path)              # PEM for the registry's auth.token.rootcertbundle
    issuer.registry_auth_config(realm, path)    # the `auth.token` mapping for a registry config
    issuer.issue("alice", [{"type": "repository", "name": "proj/app", "actions": ["pull", "push"]}],
                 expires_in=300) -> str         # a signed JWT
    issuer.key_id                               # the libtrust kid of the signing key
    parse_scope("repository:proj/app:pull,push") -> {"type", "name", "actions"}

TokenServer answers GET <path>?service=S&scope=X[&scope=Y] on 127.0.0.1 with
{"token", "access_token", "expires_in", "issued_at"}:

    server = TokenServer(issuer, users={"alice": "secret"}, authorize=None, path="/token")
    with server:                                # or server.start() / server.stop()
        server.realm                            # http://127.0.0.1:PORT/token
        server.token_requests                   # [(user, [scope dicts])] received, in order

Basic credentials that do not match `users` get 401; no credentials means the anonymous user
(None). `authorize(user, scope) -> list of actions` decides what each scope grants; by default a
known user gets every action asked for and the anonymous user gets nothing. A different `service`
than the issuer's gets 400.

PlainHTTPHandler and LoopbackHTTPServer are the building blocks of TokenServer, reusable by other
test servers (a Harbor emulator): the handler answers a TLS ClientHello at once with a 400, so
clients that try HTTPS first do not hang on a plain-HTTP server.
"""

import base64
import hashlib
import json
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .certificates import certificate_pem, make_private_key, self_signed_certificate

TLS_HANDSHAKE_RECORD = b"\x16"


def base64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def libtrust_key_id(public_key):
    """docker/libtrust's key id: base32 of the first 30 bytes of sha256(SPKI DER), in 12 groups of 4."""
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    text = base64.b32encode(hashlib.sha256(spki).digest()[:30]).decode("ascii").rstrip("=")
    return ":".join(text[i:i + 4] for i in range(0, len(text), 4))


def sign_es256(key, signing_input):
    """An ES256 JOSE signature: r and s as 32 bytes each (not DER)."""
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def parse_scope(text):
    """`type:name:actions` (the name may hold slashes) -> {"type", "name", "actions"}."""
    kind, _unused, rest = text.partition(":")
    name, _unused, actions = rest.rpartition(":")
    return {"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]}


class TokenIssuer:
    def __init__(self, service="hangar-registry", issuer="hangar-token-issuer", key_kind="RSA", header="x5c"):
        if header not in ("x5c", "kid"):
            raise ValueError("header must be x5c or kid, not %r" % (header,))
        self.service = service
        self.issuer = issuer
        self.header_kind = header
        self._key = make_private_key(key_kind)
        self.algorithm = "RS256" if key_kind == "RSA" else "ES256"
        self.certificate = self_signed_certificate(self._key, issuer)
        self.certificate_pem = certificate_pem(self.certificate)
        self.key_id = libtrust_key_id(self._key.public_key())

    def write_certificate(self, path):
        with open(path, "wb") as stream:
            stream.write(self.certificate_pem)
        return str(path)

    def registry_auth_config(self, realm, certificate_path):
        return {"token": {"realm": realm, "service": self.service, "issuer": self.issuer,
                          "rootcertbundle": str(certificate_path)}}

    def _header(self):
        header = {"typ": "JWT", "alg": self.algorithm}
        if self.header_kind == "x5c":
            der = self.certificate.public_bytes(serialization.Encoding.DER)
            header["x5c"] = [base64.b64encode(der).decode("ascii")]
        else:
            header["kid"] = self.key_id
        return header

    def _sign(self, signing_input):
        if self.algorithm == "RS256":
            return self._key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return sign_es256(self._key, signing_input)

    def issue(self, subject, access, expires_in=300):
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": subject or "", "aud": self.service, "exp": now + expires_in,
                  "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        signing_input = "%s.%s" % (base64url(json.dumps(self._header()).encode()),
                                   base64url(json.dumps(claims).encode()))
        return "%s.%s" % (signing_input, base64url(self._sign(signing_input.encode("ascii"))))


class PlainHTTPHandler(BaseHTTPRequestHandler):
    """A quiet HTTP/1.1 handler that turns away TLS handshakes at once."""

    protocol_version = "HTTP/1.1"

    def handle(self):
        try:
            first = self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return
        if first == TLS_HANDSHAKE_RECORD:
            self.connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        super().handle()

    def log_message(self, format, *args):
        pass

    def basic_credentials(self):
        """(user, password) from a Basic Authorization header, or None when there is none or it is malformed."""
        kind, _unused, value = (self.headers.get("Authorization") or "").partition(" ")
        if kind.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return (user, password) if sep else None

    def send_json(self, status, document, headers=None):
        body = json.dumps(document).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class LoopbackHTTPServer:
    """A threaded HTTP server on 127.0.0.1 with a free port, run in a daemon thread.

    `handler_class` gets this object as `self.server.owner`.
    """

    def __init__(self, handler_class):
        self._handler_class = handler_class
        self._httpd = None
        self._thread = None
        self.port = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class)
        self._httpd.daemon_threads = True
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="test-http-%d" % self.port, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=10)
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


class _TokenHandler(PlainHTTPHandler):
    def do_GET(self):
        server = self.server.owner
        url = urlsplit(self.path)
        if url.path != server.path:
            self.send_json(404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]})
            return
        query = parse_qs(url.query)
        service = (query.get("service") or [""])[0]
        if service and service != server.issuer.service:
            self.send_json(400, {"errors": [{"code": "INVALID_SERVICE", "message": "unknown service %s" % service}]})
            return
        credentials = self.basic_credentials()
        if credentials is not None and server.users.get(credentials[0]) != credentials[1]:
            self.send_json(401, {"errors": [{"code": "UNAUTHORIZED", "message": "incorrect username or password"}]},
                           {"WWW-Authenticate": 'Basic realm="%s"' % server.realm})
            return
        user = credentials[0] if credentials else None
        scopes = [parse_scope(text) for value in query.get("scope", []) for text in value.split(" ") if text]
        server.token_requests.append((user, scopes))
        access = []
        for scope in scopes:
            actions = server.authorize(user, scope)
            if actions:
                access.append({"type": scope["type"], "name": scope["name"], "actions": list(actions)})
        token = server.issuer.issue(user, access, server.expires_in)
        self.send_json(200, {"token": token, "access_token": token, "expires_in": server.expires_in,
                             "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


def grant_requested_to_known_users(user, scope):
    return scope["actions"] if user is not None else []


class TokenServer(LoopbackHTTPServer):
    def __init__(self, issuer, users, authorize=None, path="/token", expires_in=300):
        super().__init__(_TokenHandler)
        self.issuer = issuer
        self.users = dict(users)
        self.authorize = authorize or grant_requested_to_known_users
        self.path = path
        self.expires_in = expires_in
        self.token_requests = []

    @property
    def realm(self):
        return self.url + self.path
