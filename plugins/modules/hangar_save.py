#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: hangar_save
short_description: Save container images from registries into a Hangar archive
version_added: 0.1.0
description:
  - Copies images from registries into a zip archive in the Hangar format (index version v1.2.0), which the
    Hangar CLI and M(airgap.hangar.hangar_load) can load into a registry on the other side of an air gap.
  - Blobs are stored once however many images share them; manifests are stored byte for byte, so every
    platform digest is kept. The source's manifest list or index is kept too, so a loader can give the
    tag the same digest it had at the source.
  - An existing archive at O(archive) is reused, as the Hangar CLI's C(sync) does. Images already stored
    with the same platform digests are kept, missing or changed ones are added or replaced. When there is
    nothing to do, the file is left untouched and the task reports C(changed=false).
  - The archive is written to a temporary file beside it and moved into place when complete, so an
    interrupted run leaves the previous archive as it was.
author:
  - airgap.hangar contributors (@airgap)
extends_documentation_fragment:
  - airgap.hangar.hangar
  - airgap.hangar.hangar.platforms
  - airgap.hangar.hangar.transfer
  - airgap.hangar.hangar.artifacts
attributes:
  check_mode:
    description: Reads the sources and the archive and reports what would be saved, writing nothing.
    support: full
  diff_mode:
    description: Not supported; the per-image results say what changed.
    support: none
  idempotent:
    description: A rerun with every image already in the archive reports no change and leaves the file untouched.
    support: full
options:
  images:
    description:
      - Image references to save, C([registry/][project/]name[:tag][@sha256:digest]).
      - At least one of O(images) and O(file) is required.
    type: list
    elements: str
  file:
    description:
      - An image-list file, one reference a line. Blank lines and lines starting with C(#) or C(//) are skipped.
    type: path
  archive:
    description:
      - Path of the archive to write or update.
    type: path
    required: true
  source_registry:
    description:
      - Replace the registry of every image with this one (for example a local mirror of Docker Hub).
      - The archive records the images under this registry.
    type: str
  force:
    description:
      - Start a new archive instead of updating the one at O(archive).
    type: bool
    default: false
notes:
  - Signatures (cosign C(*.sig) images) are not saved.
  - The registry options (O(username), O(password), O(auth_file), O(tls_verify), O(ca_path)) apply to every
    source registry.
seealso:
  - module: airgap.hangar.hangar_load
  - module: airgap.hangar.hangar_validate
'''

EXAMPLES = r'''
- name: Save two images for the air-gapped site
  airgap.hangar.hangar_save:
    images:
      - nginx:1.25
      - quay.io/prometheus/prometheus:v2.53.0
    archive: /srv/transfer/images.zip

- name: Save a list of images, amd64 only, without attestations
  airgap.hangar.hangar_save:
    file: /srv/transfer/images.txt
    archive: /srv/transfer/images.zip
    arch: [amd64]
    provenance: false
    failed_file: /srv/transfer/images-failed.txt

# A password set with the task keyword `environment:` shows in `ansible-playbook -vvv` output: pass it as
# an option, or set HANGAR_REGISTRY_PASSWORD in ansible-playbook's own environment (as AWX credentials do).
- name: Save through a local mirror of Docker Hub, with its credentials
  airgap.hangar.hangar_save:
    file: images.txt
    archive: images.zip
    source_registry: mirror.example.com:5000
    username: "{{ mirror_user }}"
    password: "{{ mirror_password }}"
'''

RETURN = r'''
archive:
  description: The path of the archive.
  returned: always
  type: str
  sample: /srv/transfer/images.zip
images:
  description: One result per image, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    source:
      description: The image name, C(registry/project/name).
      type: str
      sample: docker.io/library/nginx
    tag:
      description: The tag, or null for a reference pinned by digest only.
      type: str
      sample: "1.25"
    reference:
      description: The full reference as normalised.
      type: str
      sample: docker.io/library/nginx:1.25
    destination:
      description: Where the image went.
      type: str
    status:
      description: V(copied), V(unchanged), V(skipped) (no platform allowed) or V(failed).
      type: str
      sample: copied
    digest:
      description: The digest of the image's top-level manifest.
      type: str
    platforms:
      description: The platform manifests saved, each with C(platform), C(digest) and C(status).
      type: list
      elements: dict
    bytes:
      description: Bytes of blobs written.
      type: int
    blobs_copied:
      description: Blobs written.
      type: int
    blobs_mounted:
      description: Blobs mounted instead of sent (always 0 for an archive).
      type: int
    blobs_skipped:
      description: Blobs already in the archive.
      type: int
    manifests_pushed:
      description: Platform manifests written.
      type: int
    seconds:
      description: Time spent on this image.
      type: float
    error:
      description: Why the image failed.
      type: str
      returned: when status is failed
    warnings:
      description: Notes about this image (skipped platforms, schema 1 conversion).
      type: list
      elements: str
      returned: when there are any
    converted_from_schema1:
      description: The original digest of a Docker schema 1 image that was converted to schema 2.
      type: str
      returned: when the image was Docker schema 1
    artifacts:
      description:
        - The supply-chain artifacts carried with the image (unless O(remove_signatures)), one item per artifact with
          C(subject) (the manifest digest it belongs to), C(digest), C(tag) (the cosign tag such as
          C(sha256-<hex>.sig), or null for an OCI referrer) and C(status) (V(copied), in check mode meaning would be
          copied, or V(unchanged)).
        - M(airgap.hangar.hangar_load) and M(airgap.hangar.hangar_mirror) return the same; at a registry without the
          referrers API they also list the C(sha256-<hex>) referrers index they wrote.
      type: list
      elements: dict
      returned: when the image has any
failed_images:
  description:
    - The image lines that failed, as given; the same lines are written to O(failed_file).
    - Named so because Ansible keeps C(failed) for its own flag, which it sets when the task fails.
  returned: always
  type: list
  elements: str
stats:
  description: Counts for the whole run.
  returned: always
  type: dict
  contains:
    images:
      description: Images handled.
      type: int
    copied:
      description: Images saved or updated.
      type: int
    unchanged:
      description: Images already in the archive.
      type: int
    skipped:
      description: Images with no allowed platform.
      type: int
    failed:
      description: Images that failed.
      type: int
    bytes:
      description: Bytes of blobs written.
      type: int
    blobs_copied:
      description: Blobs written.
      type: int
    blobs_mounted:
      description: Always 0 for an archive.
      type: int
    blobs_skipped:
      description: Blobs not written again because the archive already had them (deduplicated).
      type: int
    manifests_pushed:
      description: Platform manifests written.
      type: int
    artifacts_copied:
      description: Supply-chain artifacts written (signatures, attestations, SBOMs, referrers).
      type: int
      version_added: 0.2.0
    signatures_pushed:
      description: Signatures written (M(airgap.hangar.hangar_load) and M(airgap.hangar.hangar_mirror) with a key).
      type: int
      version_added: 0.2.0
    retries:
      description: Requests to the registries that were retried.
      type: int
    seconds:
      description: Time for the whole run.
      type: float
msg:
  description: A one-line summary.
  returned: always
  type: str
  sample: "Saved 3 images to /srv/transfer/images.zip: 2 copied, 1 unchanged, 0 skipped, 0 failed; 12.0 MiB in 4.2 s"
'''

import os
import tempfile
import time
from contextlib import ExitStack
from dataclasses import replace

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.module_options import (
    ARTIFACT_OPTIONS,
    PLATFORM_OPTIONS,
    REGISTRY_OPTIONS,
    TRANSFER_OPTIONS,
    after_copy_steps,
    argument_spec,
    copy_options,
    fail_without_requirements,
    registry_credentials,
    registry_stores,
)
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.run_report import (
    run_module_manager,
    run_result,
)
from ansible_collections.airgap.hangar.plugins.module_utils._archive.writer import ArchiveWriter
from ansible_collections.airgap.hangar.plugins.module_utils._copy.archive_store import ArchiveDestination
from ansible_collections.airgap.hangar.plugins.module_utils._copy.engine import CopyEngine, run_parallel
from ansible_collections.airgap.hangar.plugins.module_utils._copy.model import COPIED, ImageResult
from ansible_collections.airgap.hangar.plugins.module_utils._image.image_list import collect_entries
from ansible_collections.airgap.hangar.plugins.module_utils._image.reference import normalize_registry


class SaveManager:
    def __init__(self, module):
        self.module = module
        params = module.params
        self.archive = params["archive"]
        self.force = params["force"]
        self.options = copy_options(params, module.check_mode)
        self.jobs = params["jobs"]
        self.failed_file = params["failed_file"]
        self.credentials = registry_credentials(params)
        entries = collect_entries(params["images"], params["file"])
        if params["source_registry"]:
            registry = normalize_registry(params["source_registry"])
            entries = [_with_source(entry, entry.source.with_registry(registry)) for entry in entries]
        self.entries = entries
        self.results = []
        self.after_copy = after_copy_steps(module)

    def _writer_path(self, stack):
        """The archive path, or in check mode, when its folder does not exist yet (a task before this one
        would create it), a path in an empty temporary folder: the prediction is then for a new archive."""
        if not self.module.check_mode or os.path.isdir(os.path.dirname(os.path.abspath(self.archive))):
            return self.archive
        self.module.warn("the folder of %s does not exist: predicting a new archive" % self.archive)
        return os.path.join(stack.enter_context(tempfile.TemporaryDirectory()), os.path.basename(self.archive))

    def run(self):
        started = time.monotonic()
        with ExitStack() as stack, registry_stores(self.module, self.credentials, self.jobs) as pool, \
                ArchiveWriter(self._writer_path(stack), reuse=not self.force) as writer, \
                CopyEngine(self.options, log=self.module.debug, after_copy=self.after_copy) as engine:
            destination = ArchiveDestination(writer)
            self.results = [ImageResult(entry.source, self.archive, entry=entry) for entry in self.entries]

            def save(result):
                ref = result.source_ref
                return engine.copy_image(pool.store(ref.registry), ref, destination, ref, result)

            run_parallel(self.results, save, self.jobs)
            changed = any(r.status == COPIED or r.supply_chain_changed for r in self.results)
            if self.module.check_mode:
                changed = changed or self.force
            else:
                changed = writer.commit()
            retries = pool.retries() + engine.retries
        result = run_result(self.results, started, retries, "Saved", "to %s" % self.archive, self.module.check_mode,
                            self.failed_file, changed)
        result["archive"] = self.archive
        return result


def _with_source(entry, source):
    return replace(entry, source=source)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            REGISTRY_OPTIONS, PLATFORM_OPTIONS, TRANSFER_OPTIONS, ARTIFACT_OPTIONS,
            images=dict(type="list", elements="str"),
            file=dict(type="path"),
            archive=dict(type="path", required=True),
            source_registry=dict(type="str"),
            force=dict(type="bool", default=False),
        ),
        required_one_of=[("images", "file")],
        supports_check_mode=True,
    )
    fail_without_requirements(module)
    run_module_manager(module, SaveManager, archive=module.params["archive"])


if __name__ == "__main__":
    main()
