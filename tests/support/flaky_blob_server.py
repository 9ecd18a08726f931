"""A scripted registry that serves one blob and breaks off its first downloads part way.

    with FlakyBlobServer(data, cuts=3, honour_range=True) as server:
        server.host                 # give it to RegistryClient(..., tls_verify=False)
        server.ranges               # the Range header of every blob GET, None when absent

Each of the first `cuts` blob GETs announces the whole remaining length, sends half of it and
closes the connection, as a flaky link would. With `honour_range` a `Range: bytes=N-` request is
answered 206 from byte N (as distribution does); without it every GET answers 200 from byte 0.
"""

import re

from .token_auth import LoopbackHTTPServer, PlainHTTPHandler

_RANGE_RE = re.compile(r"bytes=(\d+)-$")


class _FlakyBlobHandler(PlainHTTPHandler):
    def do_GET(self):
        server = self.server.owner
        if self.path == "/v2/":
            self.send_json(200, {})
            return
        if "/blobs/" not in self.path:
            self.send_json(404, {"errors": [{"code": "NAME_UNKNOWN", "message": "no such repository"}]})
            return
        requested = self.headers.get("Range")
        server.ranges.append(requested)
        match = _RANGE_RE.match(requested or "")
        start = int(match.group(1)) if match and server.honour_range else 0
        body = server.data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes" if server.honour_range else "none")
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(server.data) - 1, len(server.data)))
        self.end_headers()
        if len(server.ranges) <= server.cuts:
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


class FlakyBlobServer(LoopbackHTTPServer):
    def __init__(self, data, cuts, honour_range=True):
        super().__init__(_FlakyBlobHandler)
        self.data = data
        self.cuts = cuts
        self.honour_range = honour_range
        self.ranges = []

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port
