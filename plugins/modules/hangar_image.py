#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: hangar_image
short_description: Delete an image from a registry, or some platforms of it
version_added: 0.2.0
description:
  - With O(state=absent), deletes the manifest the tag (or digest) O(name) names, through the registry's
    distribution API (by digest, as that API requires), like the Hangar CLI's C(delete). No Harbor API is needed.
  - Deleting a manifest removes every tag naming it. So the other tags of the repository are read first, and
    the deletion is refused when another tag names the same manifest, or an index at another tag lists it
    (a per-platform tag, for example), unless O(force=true).
  - With O(platforms), only those platforms are removed from the index at the tag, with their attestations;
    the index is rewritten by the rules a load merges with (M(airgap.hangar.hangar_load)), as an OCI image index of
    the entries that remain, pushed to the tag. Other tags are not touched.
  - The registry frees no disk space by itself; run its garbage collection afterwards
    (C(registry garbage-collect --delete-untagged) for CNCF Distribution, a GC job in Harbor).
author:
  - airgap.hangar contributors (@airgap)
extends_documentation_fragment:
  - airgap.hangar.hangar
  - airgap.hangar.hangar.connection
attributes:
  check_mode:
    description: Reads the registry and reports what would be deleted or rewritten, sending no DELETE or PUT.
    support: full
  diff_mode:
    description: Shows the digest and platforms of the reference before and after.
    support: full
  idempotent:
    description: A reference already absent, or without any of O(platforms), reports C(changed=false).
    support: full
options:
  name:
    description:
      - The image, as a tag reference (V(registry.example.com/team/app:1.0)) or a digest reference
        (V(registry.example.com/team/app@sha256:...)); without either the tag is V(latest). Not both.
      - O(platforms) needs a tag.
    type: str
    required: true
  state:
    description:
      - V(absent) deletes the image (or, with O(platforms), those platforms of it).
      - Required, so that a task never deletes by default.
    type: str
    required: true
    choices: [absent]
  platforms:
    description:
      - Remove only these platforms from the index at the tag, as C(os/arch) or C(os/arch/variant)
        (V(linux/arm64), V(linux/arm/v7)). Without a variant, every variant of that architecture is removed.
      - Removing every platform of the index is refused; leave O(platforms) out to delete the tag.
    type: list
    elements: str
  force:
    description:
      - Delete the manifest even when other tags name it (they go with it) or an index at another tag lists it
        (that index is left naming a manifest that is gone).
    type: bool
    default: false
notes:
  - The check for other tags reads every tag of the repository (one HEAD each, a GET for each index), so
    deleting from a repository with many tags costs as many requests.
  - A registry with deletion disabled (CNCF Distribution's default) answers HTTP 405 C(UNSUPPORTED); the task
    fails saying so. In check mode this cannot be known, as only a real deletion asks the registry.
  - Signature, attestation and SBOM tags of cosign (C(sha256-<hex>.sig)) are left in place; they are separate
    manifests, which M(airgap.hangar.hangar_image_info) lists.
seealso:
  - module: airgap.hangar.hangar_image_info
'''

EXAMPLES = r'''
- name: Delete an old release inside the gap
  airgap.hangar.hangar_image:
    name: registry.example.internal:5000/team/app:0.9
    state: absent

- name: Delete it even though the tag latest names the same manifest
  airgap.hangar.hangar_image:
    name: registry.example.internal:5000/team/app:0.9
    state: absent
    force: true

- name: Keep only amd64 in the index of 1.0
  airgap.hangar.hangar_image:
    name: registry.example.internal:5000/team/app:1.0
    state: absent
    platforms: [linux/arm64, linux/arm]
  diff: true
'''

RETURN = r'''
image:
  description: What the reference named before and after, and what was done.
  returned: success
  type: dict
  contains:
    reference:
      description: The full reference.
      type: str
    before:
      description: C(exists), C(digest), C(media_type) and C(platforms) (each C(platform) and C(digest)) before.
      type: dict
    after:
      description: The same after (in check mode, what it would be).
      type: dict
    deleted:
      description: The digest of the manifest deleted (or that would be), else V(null).
      type: str
    tags_removed:
      description: The tags that named the deleted manifest, so went with it.
      type: list
      elements: str
    platforms_removed:
      description: The platforms removed from the index.
      type: list
      elements: str
    attestations_removed:
      description: The digests of the attestation entries removed with them.
      type: list
      elements: str
  sample:
    reference: registry.example.internal:5000/team/app:0.9
    before: {exists: true, digest: "sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
             media_type: application/vnd.oci.image.index.v1+json,
             platforms: [{platform: linux/amd64,
                          digest: "sha256:91d7b5bd0b71bd6be8e8b1d4d2a5c5d1f1c3d0d0b8c4e8c7a0c1b5f2e3d4c5b6"}]}
    after: {exists: false, digest: null, media_type: null, platforms: []}
    deleted: "sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31"
    tags_removed: ["0.9"]
    platforms_removed: []
    attestations_removed: []
msg:
  description: A one-line summary.
  returned: always
  type: str
  sample: "Deleted registry.example.internal:5000/team/app:0.9 (sha256:0d17...)"
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.module_options import (
    REGISTRY_OPTIONS,
    argument_spec,
    fail_without_requirements,
)
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.registry_connections import (
    registry_client,
    registry_credentials,
)
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.run_report import run_module_manager
from ansible_collections.airgap.hangar.plugins.module_utils._image.reference import ImageReference
from ansible_collections.airgap.hangar.plugins.module_utils._inventory.deletion import delete_image, remove_platforms


class ImageManager:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.ref = ImageReference.parse(self.params["name"])
        self.results = []

    def run(self):
        params, check_mode = self.params, self.module.check_mode
        credentials = registry_credentials(params).bind([self.ref.registry])
        with registry_client(self.module, self.ref.registry, credentials, 1) as client:
            if params["platforms"] is not None:
                change = remove_platforms(client, self.ref, params["platforms"], line=params["name"],
                                          check_mode=check_mode)
            else:
                change = delete_image(client, self.ref, line=params["name"], force=params["force"],
                                      check_mode=check_mode)
        self.results = [change]
        result = dict(changed=change.changed, image=change.as_dict(), msg=change.msg)
        if self.module._diff:
            result["diff"] = change.diff()
        return result


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            REGISTRY_OPTIONS,
            name=dict(type="str", required=True),
            state=dict(type="str", required=True, choices=["absent"]),
            platforms=dict(type="list", elements="str"),
            force=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    fail_without_requirements(module)
    run_module_manager(module, ImageManager, lambda results, result: None)


if __name__ == "__main__":
    main()
