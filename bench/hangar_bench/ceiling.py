"""What the registry itself can take: one blob uploaded with a monolithic PUT, and read back with sha256.

No client library in between: http.client sending 1 MiB slices of a blob held in memory for the
upload (POST, then one PUT with Content-Length), requests streaming 1 MiB chunks for the read.
"""

import hashlib
import http.client
import os
import time
from urllib.parse import urlsplit

import requests

from .tasks import Sample

MiB = 1024 * 1024
REPOSITORY = "ceiling/blob"


def make_blob(size):
    data = os.urandom(size)
    return data, "sha256:" + hashlib.sha256(data).hexdigest()


def raw_upload(host, data, digest, repository=REPOSITORY):
    view = memoryview(data)
    connection = http.client.HTTPConnection(host, timeout=300, blocksize=MiB)
    try:
        started, cpu = time.monotonic(), time.thread_time()
        connection.request("POST", "/v2/%s/blobs/uploads/" % repository)
        response = connection.getresponse()
        response.read()
        if response.status != 202:
            raise RuntimeError("ceiling upload: POST answered %d" % response.status)
        location = urlsplit(response.getheader("Location"))
        path = "%s?%s&digest=%s" % (location.path, location.query, digest)
        connection.putrequest("PUT", path)
        connection.putheader("Content-Type", "application/octet-stream")
        connection.putheader("Content-Length", str(len(data)))
        connection.endheaders()
        for offset in range(0, len(data), MiB):
            connection.send(view[offset:offset + MiB])
        response = connection.getresponse()
        response.read()
        seconds, cpu = time.monotonic() - started, time.thread_time() - cpu
    finally:
        connection.close()
    if response.status != 201:
        raise RuntimeError("ceiling upload: PUT answered %d" % response.status)
    return Sample(seconds, seconds, 0, cpu, {"bytes": len(data)})


def raw_read(host, digest, size, repository=REPOSITORY):
    with requests.Session() as session:
        started, cpu = time.monotonic(), time.thread_time()
        response = session.get("http://%s/v2/%s/blobs/%s" % (host, repository, digest), stream=True, timeout=300)
        response.raise_for_status()
        hasher = hashlib.sha256()
        read = 0
        for chunk in response.iter_content(MiB):
            hasher.update(chunk)
            read += len(chunk)
        seconds, cpu = time.monotonic() - started, time.thread_time() - cpu
    if "sha256:" + hasher.hexdigest() != digest or read != size:
        raise RuntimeError("ceiling read: the blob read back does not match")
    return Sample(seconds, seconds, 0, cpu, {"bytes": read})
