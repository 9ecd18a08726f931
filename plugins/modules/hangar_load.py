#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: hangar_load
short_description: Load container images from a Hangar archive into a registry
version_added: 0.1.0
description:
  - Pushes the images of a Hangar archive (written by M(airgap.hangar.hangar_save) or by the Hangar CLI) into
    a registry.
  - Blobs and platform manifests the registry already has are not sent again. Every blob is verified
    against its digest as it is read from the archive; an image with a damaged blob fails and nothing
    that refers to the blob is pushed.
  - When the archive kept the source's manifest list or index and every platform it names is loaded, those
    bytes are pushed unchanged, so the tag has the same digest as at the source. Otherwise an OCI index is
    built from the loaded platforms and, unless O(overwrite=true), merged with the index already at the tag.
  - When the registry is Harbor, missing projects are created (private) before pushing, only for the
    images being loaded.
author:
  - airgap.hangar contributors (@airgap)
extends_documentation_fragment:
  - airgap.hangar.hangar
  - airgap.hangar.hangar.connection
  - airgap.hangar.hangar.platforms
  - airgap.hangar.hangar.transfer
  - airgap.hangar.hangar.artifacts
  - airgap.hangar.hangar.signing
attributes:
  check_mode:
    description: Reads the archive and the registry and reports what would be pushed and which projects created.
    support: full
  diff_mode:
    description: Returns C(diff) with, for each destination that changed, the digest and platforms before and after.
    support: full
  idempotent:
    description: A rerun with every image already in the registry reports no change and sends no blob.
    support: full
options:
  archive:
    description:
      - Path of the archive to load.
    type: path
    required: true
  registry:
    description:
      - The destination registry, C(host[:port]).
    type: str
    required: true
  images:
    description:
      - Load only these images, matched against the archive's C(source:tag).
    type: list
    elements: str
  file:
    description:
      - Load only the images of this image-list file, matched against the archive's C(source:tag).
    type: path
  source_registry:
    description:
      - Replace the registry of the names given in O(images) and O(file) before matching them, for
        archives saved with a source registry override.
    type: str
  project:
    description:
      - Replace the destination project (the first path segment) of every image.
    type: str
  overwrite:
    description:
      - Replace the manifest list or index at each tag instead of merging the loaded platforms into it.
    type: bool
    default: false
  platform_tags:
    description:
      - Also tag every platform manifest as C(<tag>-<os>-<arch>[-<variant>]), as the Hangar CLI does.
    type: bool
    default: false
  verify_checksum:
    description:
      - Before loading anything, check the archive against C(ARCHIVE.sha256) beside it (as written by
        O(airgap.hangar.hangar_save#module:checksum_file=true) or C(sha256sum)); fail when it is missing or differs.
      - Reads the whole archive once more.
    type: bool
    default: false
    version_added: 0.2.0
  create_harbor_projects:
    description:
      - When the registry answers Harbor's C(/api/v2.0/ping), create the missing projects of the images
        being loaded (private) before pushing them.
    type: bool
    default: true
notes:
  - A reference pinned by digest (C(name@sha256:...), also C(name:tag@sha256:...)) names exact bytes - the
    whole manifest list or index it names is copied, every platform and attestation, whatever O(arch) and O(os)
    say (a warning names the platforms the filter would have left out), so C(<dest>@sha256:...) resolves at the
    destination and a rerun reports no change. With a tag too, the tag ends as that manifest (no merge).
  - In check mode nothing is written, O(failed_file) included; RV(failed_images) lists the lines it would hold.
  - A merge into a tag is checked after the push; when another run changed the tag meanwhile, the merge is redone
    on what the tag holds then (a few times at most), so concurrent runs into one tag keep each other's
    platforms. The image's C(concurrent_changes) says how often that happened. Images of one run that go to one
    tag are copied one after the other.
  - With O(overwrite=true) the index that would be written is compared with the one at the tag; a rerun with
    nothing new pushes nothing.
seealso:
  - module: airgap.hangar.hangar_save
  - module: airgap.hangar.hangar_validate
  - module: airgap.hangar.hangar_harbor_project
'''

EXAMPLES = r'''
- name: Load an archive into the private registry
  airgap.hangar.hangar_load:
    archive: /srv/transfer/images.zip
    registry: harbor.example.internal
    username: admin
    password: "{{ harbor_password }}"

- name: Load two images only, all into one project, amd64 only
  airgap.hangar.hangar_load:
    archive: /srv/transfer/images.zip
    registry: registry.example.internal:5000
    images:
      - nginx:1.25
      - quay.io/prometheus/prometheus:v2.53.0
    project: platform
    arch: [amd64]
    failed_file: /srv/transfer/load-failed.txt
'''

RETURN = r'''
archive:
  description: The path of the archive.
  returned: always
  type: str
registry:
  description: The destination registry.
  returned: always
  type: str
  sample: harbor.example.internal
images:
  description:
    - One result per image; see M(airgap.hangar.hangar_save) for the keys.
    - With O(sigstore_private_key), a result also has C(signatures), one item per digest signed at the destination
      (the top-level manifest, then each platform), with C(digest), C(identity) (the signed
      C(<registry>/<repository>:<tag>)) and C(status) (V(signed), in check mode meaning would be signed;
      V(unchanged) when a signature verifying with the key was there; V(failed)).
  returned: always
  type: list
  elements: dict
  sample:
    - source: docker.io/library/nginx
      tag: "1.25"
      reference: docker.io/library/nginx:1.25
      destination: harbor.example.internal/library/nginx:1.25
      status: copied
      digest: sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31
      platforms:
        - platform: linux/amd64
          digest: sha256:91d7b5bd0b71bd6be8e8b1d4d2a5c5d1f1c3d0d0b8c4e8c7a0c1b5f2e3d4c5b6
          status: copied
      bytes: 73400320
      blobs_copied: 7
      blobs_mounted: 0
      blobs_skipped: 0
      manifests_pushed: 1
      seconds: 1.2
failed_images:
  description:
    - The image lines that failed, as given; the same lines are written to O(failed_file).
    - Named so because Ansible keeps C(failed) for its own flag, which it sets when the task fails.
  returned: always
  type: list
  elements: str
projects_created:
  description: Harbor projects created (in check mode, those that would be).
  returned: always
  type: list
  elements: str
stats:
  description:
    - Counts for the whole run; see M(airgap.hangar.hangar_save).
    - C(signatures_pushed) counts the signatures written (in check mode, that would be written).
  returned: always
  type: dict
diff:
  description:
    - With C(--diff), what changed - C(before) and C(after), each a mapping from the destination of every changed
      image to its C(digest) and C(platforms) (C(digest=null) when it did not exist). In check mode, what would.
  returned: in diff mode
  type: dict
  sample:
    before:
      harbor.example.internal/library/nginx:1.25: {digest: null, platforms: []}
    after:
      harbor.example.internal/library/nginx:1.25: {digest: "sha256:0d17...", platforms: [linux/amd64]}
msg:
  description: A one-line summary.
  returned: always
  type: str
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.copy_options import (
    after_copy_steps,
    copy_options,
)
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.module_options import (
    ARTIFACT_OPTIONS,
    PLATFORM_OPTIONS,
    REGISTRY_OPTIONS,
    SIGNING_OPTIONS,
    TRANSFER_OPTIONS,
    argument_spec,
    fail_without_requirements,
    required_together,
)
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.registry_connections import (
    registry_client,
    registry_credentials,
)
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.run_report import (
    run_module_manager,
    run_result,
)
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.signing_options import signing_key
from ansible_collections.airgap.hangar.plugins.module_utils._archive.checksum import verify_checksum_file
from ansible_collections.airgap.hangar.plugins.module_utils._archive.reader import ArchiveReader
from ansible_collections.airgap.hangar.plugins.module_utils._copy.archive_store import ArchiveSource
from ansible_collections.airgap.hangar.plugins.module_utils._copy.engine import CopyEngine, run_parallel
from ansible_collections.airgap.hangar.plugins.module_utils._copy.harbor_projects import HarborProjects
from ansible_collections.airgap.hangar.plugins.module_utils._copy.load_plan import plan_load
from ansible_collections.airgap.hangar.plugins.module_utils._copy.model import FAILED
from ansible_collections.airgap.hangar.plugins.module_utils._copy.registry_store import RegistryStore


class LoadManager:
    def __init__(self, module):
        self.module = module
        params = module.params
        self.params = params
        self.options = copy_options(params, module.check_mode)
        self.jobs = params["jobs"]
        self.results = []
        key = signing_key(module)  # before any work: a wrong passphrase fails the task with nothing pushed
        self.after_copy = after_copy_steps(module, key)
        self.projects_created = []

    def run(self):
        started = time.monotonic()
        params = self.params
        credentials = registry_credentials(params).bind([], params["registry"])
        if params["verify_checksum"]:
            verify_checksum_file(params["archive"])
        with ArchiveReader(params["archive"], strict=False) as reader, \
                registry_client(self.module, params["registry"], credentials, self.jobs) as client, \
                CopyEngine(self.options, log=self.module.debug, after_copy=self.after_copy) as engine:
            self.results = plan_load(reader.index, client.registry, images=params["images"], file=params["file"],
                                     source_registry=params["source_registry"], project=params["project"],
                                     archive=params["archive"])
            if params["create_harbor_projects"]:
                projects = HarborProjects.for_registry(client, credentials, log=self.module.debug,
                                                       deadline=self.options.timeout)
                if projects is not None:
                    self.projects_created = projects.prepare(self.results, self.module.check_mode)
            client.expect_repositories([r.dest_ref.repository for r in self.results if r.dest_ref is not None],
                                       push=not self.module.check_mode)
            source = ArchiveSource(reader)
            destination = RegistryStore(client)

            def load(result):
                if result.status == FAILED:
                    return result
                return engine.copy_image(source, result.source_ref, destination, result.dest_ref, result)

            run_parallel(self.results, load, self.jobs)
            engine.settle()
            retries = client.stats.retries + engine.retries
        result = run_result(self.results, started, retries, "Loaded", "into %s" % params["registry"],
                            self.module.check_mode, params["failed_file"], diff=self.module._diff)
        result.update(changed=result["changed"] or bool(self.projects_created), archive=params["archive"],
                      registry=params["registry"], projects_created=self.projects_created)
        return result


def main():
    spec = argument_spec(
        REGISTRY_OPTIONS, PLATFORM_OPTIONS, TRANSFER_OPTIONS, SIGNING_OPTIONS, ARTIFACT_OPTIONS,
        archive=dict(type="path", required=True),
        registry=dict(type="str", required=True),
        images=dict(type="list", elements="str"),
        file=dict(type="path"),
        source_registry=dict(type="str"),
        project=dict(type="str"),
        overwrite=dict(type="bool", default=False),
        platform_tags=dict(type="bool", default=False),
        create_harbor_projects=dict(type="bool", default=True),
        verify_checksum=dict(type="bool", default=False),
    )
    module = AnsibleModule(
        argument_spec=spec,
        required_together=required_together(spec),
        supports_check_mode=True,
    )
    fail_without_requirements(module)
    run_module_manager(module, LoadManager, archive=module.params["archive"], registry=module.params["registry"])


if __name__ == "__main__":
    main()
