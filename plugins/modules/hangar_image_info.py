#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: hangar_image_info
short_description: Inspect images in registries, and list a repository's tags
version_added: 0.2.0
description:
  - For each reference, reports whether the registry holds it and, when it does, the top-level digest and
    media type, every platform (architecture, OS, variant, OS version, digest, size, layer count and bytes,
    the config's created time and labels), the attestation manifests of the index, and the supply-chain
    artifacts stored under cosign's tag schema (C(sha256-<hex>.sig), C(.att), C(.sbom)) and the OCI
    referrers tag schema (C(sha256-<hex>)).
  - Like the Hangar CLI's C(inspect) and C(list-tags). A reference the registry does not have is reported
    with C(exists=false); it does not fail the task.
  - The task fails after all references were read when one could not be read (unreachable registry,
    refused credentials); each reference then carries its C(error).
  - Reads only; never changes anything.
author:
  - airgap.hangar contributors (@airgap)
extends_documentation_fragment:
  - airgap.hangar.hangar
  - airgap.hangar.hangar.connection
attributes:
  check_mode:
    description: Runs the same in check mode; it never changes anything.
    support: full
  diff_mode:
    description: Not applicable; nothing changes.
    support: none
  idempotent:
    description: Always reports C(changed=false).
    support: full
options:
  images:
    description:
      - References to inspect, as tags (V(registry.example.com/team/app:1.0)) or digests
        (V(registry.example.com/team/app@sha256:...)).
      - A reference without tag or digest means the tag V(latest), unless O(list_tags=true), where it names
        the repository alone and only its tags are returned.
      - At least one of O(images) and O(file) is required.
    type: list
    elements: str
  file:
    description:
      - An image-list file, one reference a line. Blank lines and lines starting with C(#) or C(//) are skipped.
    type: path
  registry:
    description:
      - Replace the registry of every reference, as in M(airgap.hangar.hangar_load).
      - The registry options O(username), O(password), O(tls_verify) and O(ca_path) apply to the registries read.
    type: str
  project:
    description:
      - Replace the project (the first path segment) of every reference.
    type: str
  list_tags:
    description:
      - Also return the repository's tags (every page of the list) for each reference, in RV(images[].tags).
    type: bool
    default: false
  raw:
    description:
      - Also return the top-level manifest exactly as the registry serves it, as text, in RV(images[].raw).
    type: bool
    default: false
  jobs:
    description:
      - How many references are read at once, from 1 to 20.
    type: int
    default: 4
notes:
  - Each image costs one request for the top manifest, two per platform (manifest and config), one per
    attestation, and one tag list per repository (to find the cosign artifacts; when the registry refuses to
    list tags, three HEAD requests per digest instead).
seealso:
  - module: airgap.hangar.hangar_image
  - module: airgap.hangar.hangar_validate
'''

EXAMPLES = r'''
- name: What does the air-gapped registry hold before the install?
  airgap.hangar.hangar_image_info:
    images:
      - harbor.example.internal/library/nginx:1.25
      - harbor.example.internal/library/redis@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31
    username: admin
    password: "{{ harbor_password }}"
  register: before

- name: Fail unless every image is there
  ansible.builtin.assert:
    that: before.images | rejectattr('exists') | list | length == 0

- name: List the tags of a repository
  airgap.hangar.hangar_image_info:
    images: [registry.example.internal:5000/team/app]
    list_tags: true
  register: app_tags

- name: The manifest bytes, as served
  airgap.hangar.hangar_image_info:
    images: [registry.example.internal:5000/team/app:1.0]
    raw: true
  register: app_manifest
'''

RETURN = r'''
images:
  description: One entry per reference, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The reference as given.
      type: str
    reference:
      description: The full reference read, after O(registry) and O(project).
      type: str
      sample: registry.example.internal:5000/team/app:1.0
    registry:
      description: The registry.
      type: str
    repository:
      description: The repository.
      type: str
    tag:
      description: The tag; V(null) for a digest reference or a repository alone.
      type: str
    exists:
      description:
        - Whether the registry holds the reference (for a repository alone, whether it has any tag);
          V(null) when it could not be read (see RV(images[].error)).
      type: bool
    error:
      description: Why the reference could not be read.
      type: str
      returned: when it could not be read
    digest:
      description: The digest of the top-level manifest (index, manifest list or image manifest).
      type: str
      returned: when exists
    media_type:
      description: The media type of the top-level manifest.
      type: str
      returned: when exists
    size:
      description: The size of the top-level manifest in bytes.
      type: int
      returned: when exists
    artifact_type:
      description: For an OCI artifact that is not an image (a Helm chart, an SBOM), its artifact or config type.
      type: str
      returned: when exists
    platforms:
      description: Each platform image; one entry for a single-platform image, none for an artifact.
      type: list
      elements: dict
      returned: when exists
      contains:
        platform:
          description: C(os/architecture[/variant]).
          type: str
          sample: linux/arm/v7
        architecture:
          description: The architecture.
          type: str
        os:
          description: The operating system.
          type: str
        variant:
          description: The CPU variant, or V(null).
          type: str
        os_version:
          description: The OS version (Windows), or V(null).
          type: str
        digest:
          description: The digest of the platform manifest.
          type: str
        media_type:
          description: Its media type.
          type: str
        manifest_size:
          description: The size of the platform manifest in bytes.
          type: int
        present:
          description: Whether the registry holds the platform manifest the index names.
          type: bool
        layer_count:
          description: How many layers it has.
          type: int
        layer_bytes:
          description: The sum of the layer sizes in bytes, as stored (compressed); V(null) for schema 1.
          type: int
        foreign_layers:
          description: How many of the layers are foreign (stored elsewhere, named by URL).
          type: int
        size:
          description: Config plus layers in bytes, what a pull of this platform downloads at most.
          type: int
        created:
          description: The config's C(created) time.
          type: str
        labels:
          description: The config's labels.
          type: dict
    attestations:
      description: The attestation manifests of the index (BuildKit provenance and SBOM), one per platform.
      type: list
      elements: dict
      returned: when exists
      contains:
        digest:
          description: The attestation manifest's digest.
          type: str
        subject:
          description: The digest of the platform manifest it is about.
          type: str
        platform:
          description: That platform, C(os/architecture[/variant]).
          type: str
        predicate_types:
          description: The in-toto predicate types it holds.
          type: list
          elements: str
        present:
          description: Whether the registry holds it.
          type: bool
    artifacts:
      description:
        - Signatures, attestations and SBOMs stored by cosign's tag schema for the top-level digest or a
          platform digest, and OCI referrers indexes stored by the referrers tag schema.
      type: list
      elements: dict
      returned: when exists
      contains:
        kind:
          description: V(signature), V(attestation), V(sbom) or V(referrers).
          type: str
        tag:
          description: The tag it is stored under, such as C(sha256-<hex>.sig).
          type: str
        subject:
          description: The digest it is about.
          type: str
        digest:
          description: The digest of the artifact manifest.
          type: str
    signed:
      description: Whether a cosign signature tag exists for the top-level digest (it is not verified).
      type: bool
      returned: when exists
    tags:
      description: All tags of the repository, sorted.
      type: list
      elements: str
      returned: with O(list_tags=true)
    raw:
      description: The top-level manifest exactly as served, as text.
      type: str
      returned: with O(raw=true), when exists
failed_images:
  description: The references that could not be read, as given.
  returned: always
  type: list
  elements: str
msg:
  description: A one-line summary.
  returned: always
  type: str
  sample: "Inspected 3 references: 2 exist, 1 missing, 0 failed"
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.module_options import (
    REGISTRY_OPTIONS,
    argument_spec,
    fail_without_requirements,
    parse_jobs,
)
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.registry_connections import (
    registry_credentials,
    registry_stores,
)
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.run_report import run_module_manager
from ansible_collections.airgap.hangar.plugins.module_utils._inventory.inspection import (
    inspect_images,
    plan_inspection,
)


class ImageInfoManager:
    def __init__(self, module):
        self.module = module
        self.params = params = module.params
        self.jobs = parse_jobs(params["jobs"])
        self.targets = plan_inspection(params["images"], params["file"], registry=params["registry"],
                                       project=params["project"], list_tags=params["list_tags"])
        self.results = []

    def run(self):
        params = self.params
        credentials = registry_credentials(params).bind([target.ref.registry for target in self.targets],
                                                        params["registry"])
        with registry_stores(self.module, credentials, self.jobs) as stores:
            self.results = inspect_images(self.targets, lambda registry: stores.store(registry).client,
                                          jobs=self.jobs, raw=params["raw"], list_tags=params["list_tags"])
        failed = [r for r in self.results if r.failed]
        existing = sum(1 for r in self.results if r.get("exists"))
        msg = "Inspected %d reference%s: %d exist, %d missing, %d failed" % (
            len(self.results), "" if len(self.results) == 1 else "s", existing,
            len(self.results) - existing - len(failed), len(failed))
        if failed:
            msg += "; first: %s" % failed[0]["error"]
        return dict(changed=False, images=[r.as_dict() for r in self.results],
                    failed_images=[r["name"] for r in failed], msg=msg)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            REGISTRY_OPTIONS,
            images=dict(type="list", elements="str"),
            file=dict(type="path"),
            registry=dict(type="str"),
            project=dict(type="str"),
            list_tags=dict(type="bool", default=False),
            raw=dict(type="bool", default=False),
            jobs=dict(type="int", default=4),
        ),
        required_one_of=[("images", "file")],
        supports_check_mode=True,
    )
    fail_without_requirements(module)

    def failure(results, result):
        return result["msg"] if result["failed_images"] else None

    run_module_manager(module, ImageInfoManager, failure)


if __name__ == "__main__":
    main()
