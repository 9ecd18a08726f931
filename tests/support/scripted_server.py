"""A plain-HTTP server on 127.0.0.1 that answers what a test scripts and records what it was sent.

    def answer(request):                        # request.method, .path, .headers (a dict)
        return 200, {"Content-Type": "text/html"}, b"<html>...</html>"

    with ScriptedServer(answer) as server:
        server.url, server.host, server.port
        server.requests                          # [ScriptedRequest(method, path, headers)] in order

For servers that are not registries (an HTML page, some other service on a wrong port) and for
blob storage a registry redirects to. Like every test server here it turns a TLS ClientHello away
at once (PlainHTTPHandler).
"""

from dataclasses import dataclass

from .token_auth import LoopbackHTTPServer, PlainHTTPHandler


@dataclass
class ScriptedRequest:
    method: str
    path: str
    headers: dict


class _ScriptedHandler(PlainHTTPHandler):
    def _serve(self):
        server = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        request = ScriptedRequest(self.command, self.path, dict(self.headers.items()))
        server.requests.append(request)
        status, headers, body = server.answer(request)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class ScriptedServer(LoopbackHTTPServer):
    def __init__(self, answer):
        super().__init__(_ScriptedHandler)
        self.answer = answer
        self.requests = []

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port
