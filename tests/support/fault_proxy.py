"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1, in front of one real registry (stdlib asyncio).

    with FaultProxy(registry.host, seed=7, fail_rate=0.10, reset_rate=0.05) as proxy:
        proxy.host                      # "127.0.0.1:PORT": give this to the modules instead of registry.host
        proxy.down = True               # every request answers 503 until set back to False
        proxy.down = "reset"            # every request has its connection reset instead
        proxy.wait_idle()               # until every forwarded request has been answered
        proxy.faults                    # Counter: "503", "429", "reset-request", "reset-response", "down"
        proxy.requests                  # [ProxiedRequest(method, path, headers, outcome, time)] in arrival order

Faults, decided per request:
- `fail_rate`: answer 503, or 429 with `Retry-After: <retry_after>` (default "0"), without asking the
  registry;
- `script(method, path, occurrence)`: decides first, for exact faults: returns None (forward, or let
  the rates decide) or one of "503", "429", "reset-request", "reset-response", "reset-before-body"
  (below); `occurrence` counts the same request (see below) seen before, from 0;
- `reset_rate`: reset the connection (TCP RST) half way through the request body (uploads) or,
  for requests without a body, half way through the response body;
- a scripted "reset-before-body" forwards a request's head, then resets both connections before any
  byte of its body (the registry saw the request and received nothing of it);
- `latency` seconds before each request is forwarded; `bandwidth` bytes per second per connection
  for bodies both ways;
- `redirect(method, path)`: a hook returning a URL answers 307 to it (blob storage elsewhere);
- `fault_paths`: a regular expression; when given, only requests whose path matches get faults.
- `hold_next(predicate)`: the next request for which predicate(method, path) is true stops half way
  through its body (the request's for uploads, else the response's) and stays there until the proxy
  stops; `held` (a threading.Event) is then set and `held_request` names it: the client is known to be
  in the middle of that transfer.

Reproducible: the decision for a request depends only on the seed, the method, the path (upload
session ids and `_state` left out) and how many times that same request was seen before, never on
thread timing. `max_faults` bounds the faults injected; `max_streak` (3) bounds the faults in a row for
the same request, so the rates model transient faults: every upload session opened in a repository is
"the same" POST, and without that bound the fixed draws of a seed could hold a streak longer than the
client's retry budget for whichever blob happened to meet it (a failure about one run in five).
A TLS ClientHello is answered at once with an HTTP 400, so clients that probe HTTPS first do not hang.
"""

import asyncio
import collections
import contextlib
import random
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from .token_auth import TLS_HANDSHAKE_RECORD

PIECE = 16 * 1024
STOP_TIMEOUT = 10.0
_UPLOAD_SESSION_RE = re.compile(r"(/blobs/uploads/)[^/?]+")
_BODYLESS_STATUSES = (204, 304)
_TLS_REFUSAL = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class _ConnectionDone(Exception):
    """The client connection ends here (closed, reset on purpose, or unusable)."""


@dataclass
class ProxiedRequest:
    method: str
    path: str
    headers: dict
    outcome: str  # "forwarded", "503", "429", "reset-request", "reset-response", "reset-before-body", "down",
    # "redirect", "held"
    time: float = 0.0  # time.monotonic() when its head arrived
    key: str = ""  # request_key(): the same request across retries
    status: int = 0  # the registry's status, recorded for a response cut half way ("reset-response")


@dataclass
class _Head:
    first_line: str
    headers: list  # [(name, value)] as received

    def get(self, name, default=None):
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return default

    def to_bytes(self):
        lines = [self.first_line] + ["%s: %s" % item for item in self.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def request_key(method, target):
    """What identifies "the same request" across runs: no upload session id, no _state."""
    parts = urlsplit(target)
    path = _UPLOAD_SESSION_RE.sub(r"\1*", parts.path)
    digest = parse_qs(parts.query).get("digest", [""])[0]
    mount = parse_qs(parts.query).get("mount", [""])[0]
    return "%s %s %s %s" % (method, path, digest, mount)


def _parse_head(data):
    text = data.decode("latin-1").rstrip("\r\n")
    lines = text.split("\r\n")
    headers = []
    for line in lines[1:]:
        name, _unused, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return _Head(lines[0], headers)


def _reset(writer):
    """Close with a TCP RST rather than a FIN: the peer sees 'connection reset by peer'."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    def __init__(self, upstream, seed=0, fail_rate=0.0, reset_rate=0.0, latency=0.0, bandwidth=None,
                 redirect=None, max_faults=500, retry_after="0", script=None, max_streak=3, fault_paths=None):
        host, _unused, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.seed = seed
        self.fail_rate = fail_rate
        self.reset_rate = reset_rate
        self.latency = latency
        self.bandwidth = bandwidth
        self.redirect = redirect
        self.max_faults = max_faults
        self.fault_paths = re.compile(fault_paths) if fault_paths else None
        self.max_streak = max_streak
        self._streaks = collections.Counter()
        self.retry_after = retry_after
        self.script = script
        self.hold = None
        self.held = threading.Event()
        self.held_request = None
        self._hold_claimed = False
        self._in_flight = 0
        self.down = False
        self.faults = collections.Counter()
        self.requests = []
        self.port = None
        self._seen = collections.Counter()
        self._lock = threading.Lock()
        self._loop = None
        self._thread = None
        self._server = None
        self._tasks = set()

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "http://" + self.host

    @property
    def fault_count(self):
        with self._lock:
            return sum(count for outcome, count in self.faults.items() if outcome != "down")

    # -- life cycle

    def start(self):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._serve_client, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self):
        if self._loop is None:
            return
        try:
            self._call(self._shutdown())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=STOP_TIMEOUT)
            self._loop.close()
            self._loop = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=STOP_TIMEOUT)

    async def _shutdown(self):
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def wait_idle(self, timeout=STOP_TIMEOUT):
        """Wait until every request the proxy began to forward has been answered (held ones aside): after
        a client is killed, what it had already sent may still be in the registry's hands."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self._in_flight <= 0:
                    return
            if time.monotonic() > deadline:
                raise AssertionError("the proxy still has %d request(s) in flight" % self._in_flight)
            time.sleep(0.01)

    def hold_next(self, predicate):
        with self._lock:
            self.hold, self.held_request, self._hold_claimed = predicate, None, False
            self.held.clear()

    # -- decisions

    def _decide(self, method, target, has_body):
        """None (forward), or the fault for this request: "503", "429", "reset-request", "reset-response"."""
        key = request_key(method, target)
        if self.fault_paths is not None and not self.fault_paths.search(urlsplit(target).path):
            return None
        with self._lock:
            occurrence = self._seen[key]
            self._seen[key] += 1
            if sum(self.faults.values()) - self.faults["down"] >= self.max_faults:
                return None
        if self.script is not None:
            scripted = self.script(method, urlsplit(target).path, occurrence)
            if scripted == "reset-response" and method == "HEAD":
                scripted = None
            if scripted:
                return scripted
        fault = self._draw(key, occurrence, method, has_body)
        with self._lock:
            if fault and self._streaks[key] >= self.max_streak:
                fault = None
            self._streaks[key] = self._streaks[key] + 1 if fault else 0
        return fault

    def _draw(self, key, occurrence, method, has_body):
        draw = random.Random("%s|%s|%d" % (self.seed, key, occurrence)).random()
        if draw < self.fail_rate:
            return "503" if draw < self.fail_rate / 2 else "429"
        if draw < self.fail_rate + self.reset_rate and method != "HEAD":
            return "reset-request" if has_body else "reset-response"
        return None

    def _record(self, method, target, head, outcome, arrived=None, status=0):
        with self._lock:
            self.requests.append(ProxiedRequest(method, urlsplit(target).path, dict(head.headers), outcome,
                                                time.monotonic() if arrived is None else arrived,
                                                request_key(method, target), status))
            if outcome not in ("forwarded", "redirect", "held"):
                self.faults[outcome] += 1

    # -- serving

    async def _serve_client(self, reader, writer):
        task = asyncio.current_task()
        self._tasks.add(task)
        upstream = None
        try:
            first = await reader.read(1)
            if first == TLS_HANDSHAKE_RECORD:
                writer.write(_TLS_REFUSAL)
                await writer.drain()
                return
            pending = first
            while pending or not reader.at_eof():
                head_bytes = pending + await reader.readuntil(b"\r\n\r\n")
                pending = b""
                with self._lock:
                    self._in_flight += 1
                try:
                    upstream = await self._exchange(_parse_head(head_bytes), reader, writer, upstream)
                finally:
                    with self._lock:
                        self._in_flight -= 1
        except (_ConnectionDone, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            for stream in (writer, upstream[1] if upstream else None):
                if stream is not None and not stream.is_closing():
                    stream.close()

    async def _exchange(self, head, reader, writer, upstream):
        """One request: answered here (fault, redirect) or forwarded. Returns the upstream connection
        to reuse, or None."""
        method, target = head.first_line.split(" ")[:2]
        arrived = time.monotonic()
        body = _body_framing(head)
        if self.down:
            self._record(method, target, head, "down")
            if self.down == "reset":
                _reset(writer)
                raise _ConnectionDone()
            await _discard_body(reader, body)
            await _answer(writer, method, 503, "Service Unavailable", {})
            return upstream
        if self.redirect is not None:
            location = self.redirect(method, urlsplit(target).path)
            if location:
                await _discard_body(reader, body)
                self._record(method, target, head, "redirect")
                await _answer(writer, method, 307, "Temporary Redirect", {"Location": location})
                return upstream
        fault = self._decide(method, target, body != ("length", 0))
        if fault in ("503", "429"):
            await _discard_body(reader, body)
            self._record(method, target, head, fault)
            headers = {"Retry-After": self.retry_after} if fault == "429" else {}
            await _answer(writer, method, int(fault), "Injected fault", headers)
            return upstream
        holding = False
        if self.hold is not None and fault is None and self.hold(method, urlsplit(target).path):
            with self._lock:
                holding, self._hold_claimed = not self._hold_claimed, True
        if holding:
            return await self._hold(method, target, head, reader, writer, upstream, body)
        if fault != "reset-response":  # whether a response body can be cut is known from its head
            self._record(method, target, head, fault or "forwarded", arrived)
        if self.latency:
            await asyncio.sleep(self.latency)
        if upstream is None:
            upstream = await asyncio.open_connection(*self.upstream)
        up_reader, up_writer = upstream
        up_writer.write(head.to_bytes())
        if fault == "reset-before-body":
            await up_writer.drain()
            await asyncio.sleep(0.05)  # let the registry read the head before the reset drops its buffer
            _reset(writer)
            _reset(up_writer)
            raise _ConnectionDone()
        cut = fault == "reset-request"
        await self._copy_body(reader, up_writer, body, cut_half=cut)
        if cut:
            _reset(writer)
            _reset(up_writer)
            raise _ConnectionDone()
        response = _parse_head(await up_reader.readuntil(b"\r\n\r\n"))
        status = int(response.first_line.split(" ")[1])
        writer.write(response.to_bytes())
        response_body = _response_framing(method, status, response)
        cut = fault == "reset-response" and response_body not in (("length", 0), ("none", 0))
        if fault == "reset-response":
            self._record(method, target, head, fault if cut else "forwarded", arrived, status)
        await self._copy_body(up_reader, writer, response_body, cut_half=cut)
        if cut:
            _reset(writer)
            _reset(up_writer)
            raise _ConnectionDone()
        connection = (response.get("Connection", "") + head.get("Connection", "")).lower()
        if response_body[0] == "until-close" or "close" in connection:
            up_writer.close()
            raise _ConnectionDone()
        return upstream

    async def _hold(self, method, target, head, reader, writer, upstream, body):
        """Forward half of the request body (uploads) or of the response body, then stall."""
        self._record(method, target, head, "held")
        if upstream is None:
            upstream = await asyncio.open_connection(*self.upstream)
        up_reader, up_writer = upstream
        up_writer.write(head.to_bytes())
        has_body = body != ("length", 0)
        await self._copy_body(reader, up_writer, body, cut_half=has_body)
        if not has_body:
            response = _parse_head(await up_reader.readuntil(b"\r\n\r\n"))
            writer.write(response.to_bytes())
            status = int(response.first_line.split(" ")[1])
            await self._copy_body(up_reader, writer, _response_framing(method, status, response), cut_half=True)
        self.held_request = ProxiedRequest(method, urlsplit(target).path, dict(head.headers), "held")
        with self._lock:
            self._in_flight -= 1  # not in flight: it stays where it is
        self.held.set()
        try:
            await asyncio.sleep(3600)  # cancelled when the proxy stops
        finally:
            with self._lock:
                self._in_flight += 1
        raise _ConnectionDone()

    async def _copy_body(self, source, target, framing, cut_half=False):
        """Forward a body as framed; with cut_half, stop half way (the caller then resets)."""
        kind, length = framing
        if kind == "length":
            budget = length // 2 if cut_half else length
            await self._pipe(source, target, budget)
        elif kind == "chunked":
            await self._copy_chunked(source, target, cut_half)
        elif kind == "until-close":
            while True:
                data = await source.read(PIECE)
                if not data:
                    break
                await self._send(target, data)
        await target.drain()

    async def _copy_chunked(self, source, target, cut_half):
        while True:
            size_line = await source.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if cut_half and size:
                await self._send(target, size_line)
                await self._pipe(source, target, size // 2)
                return
            await self._send(target, size_line)
            if size == 0:
                while True:  # trailers, then the empty line
                    line = await source.readuntil(b"\r\n")
                    await self._send(target, line)
                    if line == b"\r\n":
                        return
            await self._pipe(source, target, size + 2)

    async def _pipe(self, source, target, count):
        while count > 0:
            data = await source.readexactly(min(PIECE, count))
            count -= len(data)
            await self._send(target, data)

    async def _send(self, target, data):
        target.write(data)
        await target.drain()
        if self.bandwidth:
            await asyncio.sleep(len(data) / self.bandwidth)


def _body_framing(head):
    """("length", n), ("chunked", None) for a request body."""
    if "chunked" in head.get("Transfer-Encoding", "").lower():
        return "chunked", None
    return "length", int(head.get("Content-Length", "0") or 0)


def _response_framing(method, status, head):
    if method == "HEAD" or 100 <= status < 200 or status in _BODYLESS_STATUSES:
        return "none", 0
    if "chunked" in head.get("Transfer-Encoding", "").lower():
        return "chunked", None
    length = head.get("Content-Length")
    if length is not None:
        return "length", int(length)
    return "until-close", None


async def _discard_body(reader, framing):
    kind, length = framing
    if kind == "length":
        while length > 0:
            length -= len(await reader.readexactly(min(PIECE, length)))
        return
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return
        await reader.readexactly(size + 2)


async def _answer(writer, method, status, reason, headers):
    body = b'{"errors":[{"code":"UNAVAILABLE","message":"injected by the test proxy"}]}' if status >= 400 else b""
    lines = ["HTTP/1.1 %d %s" % (status, reason), "Content-Type: application/json",
             "Content-Length: %d" % len(body)]
    lines += ["%s: %s" % item for item in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if method == "HEAD" else body))
    await writer.drain()
