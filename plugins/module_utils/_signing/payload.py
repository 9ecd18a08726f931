# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Simple-signing payloads: written the containers/image way, read by its strict rules (private
module_utils, no Ansible imports).

Reading is strict: top level exactly `critical` and `optional`; `critical` exactly `type`, `image`,
`identity`; `image` exactly `docker-manifest-digest`; `identity` exactly `docker-reference`;
`type` exactly "cosign container image signature"; `optional` null or an object whose `creator`
is a string and `timestamp` an integer when present; no duplicate keys anywhere.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from .._errors import SigningError
from .._image.digest import DIGEST_RE

SIGNATURE_TYPE = "cosign container image signature"
CREATOR = "airgap.hangar"


@dataclass(frozen=True)
class SignedClaims:
    """What a payload claims, read by the strict rules: the manifest digest and the identity."""
    digest: str
    identity: str
    creator: object = None
    timestamp: object = None


def make_payload(identity, digest, creator=CREATOR, timestamp=None):
    """The payload bytes: compact JSON with sorted keys, as Go's encoder writes it."""
    if not DIGEST_RE.match(digest or ""):
        raise SigningError("Error making a signature payload: %r is not a manifest digest" % (digest,))
    doc = {"critical": {"identity": {"docker-reference": identity},
                        "image": {"docker-manifest-digest": digest},
                        "type": SIGNATURE_TYPE},
           "optional": {"creator": creator, "timestamp": int(time.time() if timestamp is None else timestamp)}}
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _no_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise SigningError("duplicate key %r" % key)
        result[key] = value
    return result


def _exact(doc, keys, where):
    if not isinstance(doc, dict):
        raise SigningError("%s is not a JSON object" % where)
    if set(doc) != set(keys):
        extra = sorted(set(doc) - set(keys))
        missing = sorted(set(keys) - set(doc))
        raise SigningError("%s has %s" % (where, "unknown keys %s" % extra if extra else "no %s" % missing))
    return doc


def parse_payload(data):
    """SignedClaims of payload bytes; SigningError("invalid signature payload: ...") when the
    payload breaks any of the strict rules."""
    try:
        try:
            doc = json.loads(data, object_pairs_hook=_no_duplicates)
        except ValueError as exc:
            raise SigningError("not JSON (%s)" % exc) from None
        _exact(doc, ("critical", "optional"), "the payload")
        critical = _exact(doc["critical"], ("type", "image", "identity"), "critical")
        if critical["type"] != SIGNATURE_TYPE:
            raise SigningError("critical.type is %r, expected %r" % (critical["type"], SIGNATURE_TYPE))
        image = _exact(critical["image"], ("docker-manifest-digest",), "critical.image")
        identity = _exact(critical["identity"], ("docker-reference",), "critical.identity")
        digest = image["docker-manifest-digest"]
        reference = identity["docker-reference"]
        if not isinstance(digest, str) or not DIGEST_RE.match(digest):
            raise SigningError("critical.image.docker-manifest-digest %r is not a digest" % (digest,))
        if not isinstance(reference, str):
            raise SigningError("critical.identity.docker-reference is not a string")
        optional = doc["optional"]
        creator = timestamp = None
        if optional is not None:
            if not isinstance(optional, dict):
                raise SigningError("optional is neither null nor an object")
            creator = optional.get("creator")
            timestamp = optional.get("timestamp")
            if "creator" in optional and not isinstance(creator, str):
                raise SigningError("optional.creator is not a string")
            if "timestamp" in optional and (isinstance(timestamp, bool) or not isinstance(timestamp, int)):
                raise SigningError("optional.timestamp is not an integer")
    except SigningError as exc:
        raise SigningError("invalid signature payload: %s" % exc) from None
    return SignedClaims(digest, reference, creator, timestamp)
