# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tags that name a manifest's supply-chain artifacts by its digest (private module_utils, no Ansible imports).

cosign keeps the signature, attestation and SBOM of manifest `sha256:<hex>` under the tags
`sha256-<hex>.sig`, `.att` and `.sbom` of the same repository; the OCI 1.1 referrers tag schema
keeps an index of its referrers under the bare tag `sha256-<hex>`.
"""

from __future__ import annotations

import re

from .digest import digest_hex, validate_digest

ATTACHMENT_SUFFIXES = (".sig", ".att", ".sbom")
# group 1: the subject's hex digest; group 2: the attachment suffix, None for the referrers tag
ARTIFACT_TAG_RE = re.compile(r"^sha256-([0-9a-f]{64})(\.sig|\.att|\.sbom)?\Z")


def attachment_tag(digest, suffix=".sig"):
    """`sha256-<hex><suffix>`: the cosign tag of an attachment of manifest `digest`."""
    validate_digest(digest)
    return "sha256-%s%s" % (digest_hex(digest), suffix)


def referrers_tag(digest):
    """`sha256-<hex>`: the OCI referrers tag schema's tag for `digest`."""
    return attachment_tag(digest, "")


def is_artifact_tag(tag):
    """True for a tag of the cosign or referrers tag schema (it names a digest, not a release)."""
    return bool(ARTIFACT_TAG_RE.match(tag))
