"""Real registries for tests: Debian's docker-registry (CNCF Distribution 2.8) on 127.0.0.1.

    with RegistryServer(auth="basic", tls=True, count_requests=True) as registry:
        registry.host, registry.url, registry.username, registry.password, registry.ca_cert, registry.cert_dir
        registry.count_requests("PUT", r"/v2/myrepo/blobs/uploads/")

Each server has its own temp dir (config, storage, certificates, logs), removed on stop. Variants:
auth None / "basic" (htpasswd) / "token" (a TokenServer of ours, or a `token_realm` of the
caller's with its `token_issuer`); tls (a self-signed certificate for IP 127.0.0.1);
schema1 (accept Docker schema 1 pushes); foreign_layers (accept layers with `urls`);
delete=False (manifest deletion disabled, as Distribution's default: DELETE answers 405 UNSUPPORTED).
"""

import ctypes
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass

import requests
import yaml

from .certificates import certificate_pem, make_private_key, private_key_pem, self_signed_certificate
from .token_auth import TokenIssuer, TokenServer

REGISTRY_BINARY = "docker-registry"
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
ADDRESS_IN_USE = "address already in use"
# Apache combined format, as gorilla's CombinedLoggingHandler writes it to the registry's stdout.
_ACCESS_LINE_RE = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" ([0-9]{3}) ')
_MARKER_PREFIX = "/v2/hangar-log-marker/"
_PR_SET_PDEATHSIG = 1
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


@dataclass(frozen=True)
class AccessLogEntry:
    method: str
    path: str
    status: int


def _die_with_parent():
    """Ask Linux to SIGTERM the child if pytest dies without stopping it (runs in the child)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RegistryStartError(RuntimeError):
    pass


class RegistryServer:
    def __init__(self, auth=None, tls=False, schema1=False, foreign_layers=False, count_requests=False,
                 username="hangar", password=None, token_issuer=None, token_realm=None, token_authorize=None,
                 delete=True):
        if auth not in (None, "basic", "token"):
            raise ValueError("auth must be None, 'basic' or 'token', not %r" % (auth,))
        self.auth = auth
        self.tls = tls
        self.schema1 = schema1
        self.foreign_layers = foreign_layers
        self.counts_requests = count_requests
        self.delete = delete
        self.username = username if auth else None
        self.password = (password or secrets.token_urlsafe(12)) if auth else None
        self.token_issuer = token_issuer
        self.token_server = None
        self._token_realm = token_realm
        self._token_authorize = token_authorize
        self.port = None
        self.process = None
        self.root = None
        self.ca_cert = None
        self.cert_dir = None

    # -- where things are

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "%s://%s" % ("https" if self.tls else "http", self.host)

    @property
    def storage_dir(self):
        return os.path.join(self.root, "storage")

    @property
    def config_path(self):
        return os.path.join(self.root, "config.yml")

    @property
    def log_path(self):
        return os.path.join(self.root, "registry.log")

    @property
    def access_log_path(self):
        return os.path.join(self.root, "access.log")

    @property
    def verify(self):
        """The `verify` argument for requests against this registry."""
        return self.ca_cert if self.tls else True

    def client_kwargs(self):
        """Keyword arguments for RegistryClient talking to this registry."""
        return {"registry": self.host, "username": self.username, "password": self.password,
                "tls_verify": self.tls, "ca_path": self.ca_cert}

    # -- life cycle

    def start(self):
        self.root = tempfile.mkdtemp(prefix="hangar-registry-")
        try:
            os.makedirs(self.storage_dir)
            auth_config = self._prepare_auth()
            tls_config = self._prepare_tls()
            for _attempt in range(3):
                self.port = _free_port()
                self._write_config(auth_config, tls_config)
                if self._launch():
                    return self
            raise RegistryStartError("registry kept finding its port taken: %s" % self._log_tail())
        except BaseException:
            self.stop()
            raise

    def stop(self):
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=STOP_TIMEOUT)
            self.process = None
        if self.token_server is not None:
            self.token_server.stop()
            self.token_server = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def _prepare_auth(self):
        if self.auth == "basic":
            htpasswd_path = os.path.join(self.root, "htpasswd")
            line = subprocess.run(["htpasswd", "-Bbn", self.username, self.password], check=True,
                                  capture_output=True, timeout=30).stdout
            with open(htpasswd_path, "wb") as stream:
                stream.write(line)
            return {"htpasswd": {"realm": "hangar-test", "path": htpasswd_path}}
        if self.auth == "token":
            if self.token_issuer is None:
                self.token_issuer = TokenIssuer()
            realm = self._token_realm
            if realm is None:
                self.token_server = TokenServer(self.token_issuer, {self.username: self.password},
                                                authorize=self._token_authorize).start()
                realm = self.token_server.realm
            certificate_path = self.token_issuer.write_certificate(os.path.join(self.root, "token.crt"))
            return self.token_issuer.registry_auth_config(realm, certificate_path)
        return None

    def _prepare_tls(self):
        if not self.tls:
            return None
        key = make_private_key("EC")
        certificate = certificate_pem(self_signed_certificate(key, "hangar test registry", ["127.0.0.1"]))
        self.cert_dir = os.path.join(self.root, "certs.d")
        os.makedirs(self.cert_dir)
        # skopeo's --cert-dir must hold only ca.crt: a *.key there makes it demand a client certificate.
        self.ca_cert = os.path.join(self.cert_dir, "ca.crt")
        server_cert = os.path.join(self.root, "server.crt")
        server_key = os.path.join(self.root, "server.key")
        for path, content in ((self.ca_cert, certificate), (server_cert, certificate),
                              (server_key, private_key_pem(key))):
            with open(path, "wb") as stream:
                stream.write(content)
        return {"certificate": server_cert, "key": server_key}

    def _write_config(self, auth_config, tls_config):
        http = {"addr": self.host, "secret": secrets.token_hex(16)}
        if tls_config:
            http["tls"] = tls_config
        config = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": not self.counts_requests}},
            "storage": {
                "filesystem": {"rootdirectory": self.storage_dir},
                "delete": {"enabled": bool(self.delete)},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": http,
        }
        if auth_config:
            config["auth"] = auth_config
        if self.schema1:
            config["compatibility"] = {"schema1": {"enabled": True}}
        if self.foreign_layers:
            config["validation"] = {"manifests": {"urls": {"allow": ["^https?://"]}}}
        with open(self.config_path, "w") as stream:
            yaml.safe_dump(config, stream)

    def _launch(self):
        """Start the process and wait for /v2/; False when the port was taken meanwhile."""
        with open(self.log_path, "ab") as log, open(self.access_log_path, "ab") as access_log:
            self.process = subprocess.Popen([REGISTRY_BINARY, "serve", self.config_path], stdin=subprocess.DEVNULL,
                                            stdout=access_log, stderr=log, start_new_session=True,
                                            preexec_fn=_die_with_parent)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                if ADDRESS_IN_USE in self._log_tail():
                    return False
                raise RegistryStartError("docker-registry exited at start: %s" % self._log_tail())
            try:
                answer = requests.get(self.url + "/v2/", verify=self.verify, timeout=2)
            except requests.RequestException:
                time.sleep(0.05)
                continue
            if answer.status_code in (200, 401):
                return True
            raise RegistryStartError("docker-registry answered /v2/ with %d" % answer.status_code)
        raise RegistryStartError("docker-registry did not answer /v2/ within %ss: %s"
                                 % (STARTUP_TIMEOUT, self._log_tail()))

    def _log_tail(self):
        try:
            with open(self.log_path, "rb") as stream:
                return stream.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    # -- what it was asked

    def access_log_entries(self):
        """Every request the registry finished so far (needs count_requests=True at start)."""
        if not self.counts_requests:
            raise RuntimeError("start the RegistryServer with count_requests=True to read its access log")
        marker = self._write_log_marker()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            entries = self._read_access_log()
            if any(entry.path == marker for entry in entries):
                return [entry for entry in entries if not entry.path.startswith(_MARKER_PREFIX)]
            if time.monotonic() > deadline:
                raise RuntimeError("the registry's access log never showed request %s" % marker)
            time.sleep(0.01)

    def count_requests(self, method, path_regex, status=None):
        """How many finished requests had this method and a path matching path_regex (re.search).

        Counting makes the registry log a marker request first and waits for it, so every
        request whose answer the caller has received is in the count.
        """
        pattern = re.compile(path_regex)
        return sum(1 for entry in self.access_log_entries()
                   if entry.method == method and pattern.search(entry.path)
                   and (status is None or entry.status == status))

    def log_position(self):
        """A mark in the access log: give it to requests_since() to see only what came after."""
        return len(self.access_log_entries())

    def requests_since(self, position, path_regex=None, methods=None):
        """The finished requests after log_position() returned `position`, optionally only those
        whose path matches path_regex (re.search) and whose method is in `methods`."""
        pattern = re.compile(path_regex) if path_regex else None
        return [entry for entry in self.access_log_entries()[position:]
                if (pattern is None or pattern.search(entry.path)) and (methods is None or entry.method in methods)]

    def writes_since(self, position, path_regex=None):
        """The POST, PATCH, PUT and DELETE requests after `position`: what check mode must never send."""
        return self.requests_since(position, path_regex, methods=WRITE_METHODS)

    def _write_log_marker(self):
        marker = "%s%s/tags/list" % (_MARKER_PREFIX, uuid.uuid4().hex)
        requests.get(self.url + marker, verify=self.verify, timeout=10)
        return marker

    def _read_access_log(self):
        with open(self.access_log_path, encoding="utf-8", errors="replace") as stream:
            text = stream.read()
        return [AccessLogEntry(match.group(1), match.group(2), int(match.group(3)))
                for match in _ACCESS_LINE_RE.finditer(text)]
