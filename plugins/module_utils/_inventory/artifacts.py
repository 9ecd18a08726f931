# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Supply-chain artifacts found by cosign's tag schema (private module_utils, no Ansible imports).

cosign stores the signature, attestation and SBOM of the manifest `sha256:<hex>` under the tags
`sha256-<hex>.sig`, `.att` and `.sbom` of the same repository; the OCI 1.1 referrers fallback uses
the bare tag `sha256-<hex>` for an index of referrers. Registries without the referrers API
(Distribution 2.8 answers 404) only have these tags, so they are what is looked for here: in a
tag list when there is one, else with a HEAD per tag.
"""

from __future__ import annotations

from .._errors import NotFoundError
from .._image.artifact_tags import attachment_tag

# suffix -> the kind reported; "" is the OCI referrers tag schema (an index of referrers).
COSIGN_KINDS = ((".sig", "signature"), (".att", "attestation"), (".sbom", "sbom"), ("", "referrers"))


def artifacts_in_tags(tags, subjects):
    """[{kind, tag, subject}] for each tag of `tags` naming an artifact of a digest in `subjects`,
    in the order of `subjects` then of COSIGN_KINDS."""
    present = set(tags)
    found = []
    for subject in subjects:
        for suffix, kind in COSIGN_KINDS:
            tag = attachment_tag(subject, suffix)
            if tag in present:
                found.append({"kind": kind, "tag": tag, "subject": subject})
    return found


def artifacts_by_head(client, repository, subjects):
    """The same as artifacts_in_tags, asking for each tag with a HEAD (when tags cannot be listed);
    each found artifact also carries the `digest` its tag names."""
    found = []
    for subject in subjects:
        for suffix, kind in COSIGN_KINDS:
            tag = attachment_tag(subject, suffix)
            try:
                head = client.head_manifest(repository, tag)
            except NotFoundError:
                head = None
            if head:
                found.append({"kind": kind, "tag": tag, "subject": subject, "digest": head["digest"]})
    return found
