"""A scripted registry that takes blob uploads, breaks some of them off part way, and may let them resume.

    with ResumableUploadServer(cut_patches={1, 3}, status="range") as server:
        server.host                 # give it to RegistryClient(..., tls_verify=False)
        server.blobs                # {digest: bytes} of the uploads completed (digest checked)
        server.requests             # [UploadRequest(method, path, content_range, status)] in order
        server.received             # body bytes received in all, cut requests included

Uploads follow the distribution protocol: POST opens a session (202, Location with a `_state`), PATCH
appends a chunk whose `Content-Range` must start at the bytes stored (else 416), PUT `?digest=`
appends its body if any and completes (201, the digest checked: else 400 DIGEST_INVALID), DELETE
cancels. Every answer gives a new `_state`; a request carrying another one than the latest gets 404
BLOB_UPLOAD_INVALID, so a client must follow the latest Location.

Faults: the PATCHes numbered in `cut_patches` (1 for the first PATCH the server sees) are read half
way, the bytes read are kept (as a registry that stores what arrives does), and the connection is
reset; the PUTs numbered in `cut_puts` are reset before they are processed (nothing committed).

The upload status (GET on an upload URL) depends on `status`:
- "range": 204 with `Range: 0-N` for the bytes stored and a fresh Location (resume supported);
- "unsupported": 405 UNSUPPORTED; "unknown": 404 BLOB_UPLOAD_UNKNOWN;
- "no-range": 204 and a Location but no Range; "beyond": 204 reporting 64 MiB more than stored;
- "behind": 204 reporting 512 KiB fewer than stored (the next PATCH from there gets 416), as a
  registry still writing a cut request when it is asked may.
"""

import hashlib
import itertools
import re
import socket
import struct
import threading
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from .token_auth import LoopbackHTTPServer, PlainHTTPHandler

_UPLOAD_RE = re.compile(r"^/v2/(.+)/blobs/uploads/([^/]*)$")
_CONTENT_RANGE_RE = re.compile(r"^(\d+)-(\d+)$")
_PIECE = 64 * 1024
STATUS_MODES = ("range", "unsupported", "unknown", "no-range", "beyond", "behind")


@dataclass
class UploadRequest:
    method: str
    path: str
    content_range: str
    status: int  # 0 for a request whose connection was reset


@dataclass
class _Session:
    repo: str
    data: bytearray
    state: str


class _UploadHandler(PlainHTTPHandler):
    def _error(self, status, code, message):
        self._record(status)
        self.send_json(status, {"errors": [{"code": code, "message": message}]})

    def _record(self, status):
        server = self.server.owner
        with server.lock:
            server.requests.append(UploadRequest(self.command, urlsplit(self.path).path,
                                                 self.headers.get("Content-Range") or "", status))

    def _answer(self, status, headers):
        self._record(status)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _reset(self):
        self._record(0)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _read_body(self, limit=None):
        length = int(self.headers.get("Content-Length") or 0)
        wanted = length if limit is None else min(limit, length)
        parts, count = [], 0
        while count < wanted:
            piece = self.rfile.read(min(_PIECE, wanted - count))
            if not piece:
                break
            parts.append(piece)
            count += len(piece)
        with self.server.owner.lock:
            self.server.owner.received += count
        return b"".join(parts), length

    def _session(self):
        """(session id, session) of an upload URL with its latest _state; answers the error itself."""
        server = self.server.owner
        match = _UPLOAD_RE.match(urlsplit(self.path).path)
        query = parse_qs(urlsplit(self.path).query)
        session = server.sessions.get(match.group(2)) if match and match.group(2) else None
        if session is None:
            self._read_body()
            self._error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown")
            return None, None
        if query.get("_state", [""])[0] != session.state:
            self._read_body()
            self._error(404, "BLOB_UPLOAD_INVALID", "blob upload invalid")
            return None, None
        return match.group(2), session

    def _location_headers(self, session_id, session, with_range=True):
        session.state = self.server.owner.new_state()
        headers = {"Location": "/v2/%s/blobs/uploads/%s?_state=%s" % (session.repo, session_id, session.state),
                   "Docker-Upload-UUID": session_id}
        if with_range:
            headers["Range"] = "0-%d" % max(len(session.data) - 1, 0)
        return headers

    def do_POST(self):
        server = self.server.owner
        match = _UPLOAD_RE.match(urlsplit(self.path).path)
        self._read_body()
        if not match or match.group(2):
            self._error(404, "NAME_UNKNOWN", "not an upload URL")
            return
        session_id = str(uuid.uuid4())
        session = _Session(match.group(1), bytearray(), "")
        server.sessions[session_id] = session
        self._answer(202, self._location_headers(session_id, session))

    def do_PATCH(self):
        server = self.server.owner
        session_id, session = self._session()
        if session is None:
            return
        with server.lock:
            server.patches += 1
            cut = server.patches in server.cut_patches
        match = _CONTENT_RANGE_RE.match(self.headers.get("Content-Range") or "")
        if match and int(match.group(1)) != len(session.data):
            self._read_body()
            self._answer(416, {"Range": "0-%d" % max(len(session.data) - 1, 0)})
            return
        length = int(self.headers.get("Content-Length") or 0)
        body, _length = self._read_body(limit=length // 2 if cut else None)
        session.data += body
        if cut:
            self._reset()
            return
        self._answer(202, self._location_headers(session_id, session))

    def do_PUT(self):
        server = self.server.owner
        session_id, session = self._session()
        if session is None:
            return
        with server.lock:
            server.puts += 1
            cut = server.puts in server.cut_puts
        body, _length = self._read_body()
        if cut:
            self._reset()
            return
        session.data += body
        digest = parse_qs(urlsplit(self.path).query).get("digest", [""])[0]
        actual = "sha256:" + hashlib.sha256(session.data).hexdigest()
        del server.sessions[session_id]
        if actual != digest:
            self._error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
            return
        server.blobs[digest] = bytes(session.data)
        self._answer(201, {"Location": "/v2/%s/blobs/%s" % (session.repo, digest), "Docker-Content-Digest": digest})

    def do_GET(self):
        server = self.server.owner
        if self.path == "/v2/":
            self.send_json(200, {})
            return
        if not _UPLOAD_RE.match(urlsplit(self.path).path):
            self._error(404, "NAME_UNKNOWN", "no such repository")
            return
        if server.status == "unsupported":
            self._error(405, "UNSUPPORTED", "the operation is unsupported")
            return
        session_id, session = self._session()
        if session is None:
            return
        if server.status == "unknown":
            self._error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown")
            return
        headers = self._location_headers(session_id, session, with_range=server.status != "no-range")
        if server.status == "beyond":
            headers["Range"] = "0-%d" % (len(session.data) + 64 * 1024 * 1024 - 1)
        if server.status == "behind":
            headers["Range"] = "0-%d" % max(len(session.data) - 512 * 1024 - 1, 0)
        self._answer(204, headers)

    def do_DELETE(self):
        session_id, session = self._session()
        if session is None:
            return
        del self.server.owner.sessions[session_id]
        self._answer(204, {})


class ResumableUploadServer(LoopbackHTTPServer):
    def __init__(self, cut_patches=(), cut_puts=(), status="range"):
        if status not in STATUS_MODES:
            raise ValueError("status must be one of %s, not %r" % (", ".join(STATUS_MODES), status))
        super().__init__(_UploadHandler)
        self.cut_patches = set(cut_patches)
        self.cut_puts = set(cut_puts)
        self.status = status
        self.lock = threading.Lock()
        self._states = itertools.count(1)
        self.sessions = {}
        self.blobs = {}
        self.requests = []
        self.received = 0
        self.patches = 0
        self.puts = 0

    def new_state(self):
        with self.lock:
            return "s%d" % next(self._states)

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port
