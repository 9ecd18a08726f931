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
  - A new archive is written to a temporary file beside it and moved into place when complete. An existing
    archive is updated in place, without a copy - new entries are appended, then a new index - so an update costs
    about what the new images cost, and an interrupted run leaves an archive that loads with its previous content
    (the next run cuts off what the interrupted one appended).
  - Runs writing the same archive take turns - each holds a lock on the archive path (a lock file beside it) and
    waits for another at most O(timeout) - and each works on what the one before committed. Loads and validations
    of the archive are never blocked; they read it as last committed.
author:
  - airgap.hangar contributors (@airgap)
extends_documentation_fragment:
  - airgap.hangar.hangar.connection
  - airgap.hangar.hangar.source_credentials
  - airgap.hangar.hangar.platforms
  - airgap.hangar.hangar.transfer
  - airgap.hangar.hangar.artifacts
attributes:
  check_mode:
    description: Reads the sources and the archive and reports what would be saved, writing nothing.
    support: full
  diff_mode:
    description: Returns C(diff) with, for each archive entry that changed, its digest and platforms before and after.
    support: full
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
  checksum_file:
    description:
      - Write C(ARCHIVE.sha256) beside the archive in the C(sha256sum) format with a relative name, so
        C(sha256sum -c) checks it in any folder, and M(airgap.hangar.hangar_load) with
        O(airgap.hangar.hangar_load#module:verify_checksum=true) checks it before loading.
      - Hashing reads the whole archive once; it is skipped when the archive did not change and the checksum file
        is newer than it.
    type: bool
    default: false
    version_added: 0.2.0
notes:
  - Supply-chain artifacts (cosign C(.sig), C(.att), C(.sbom) tags and OCI referrers) of every manifest saved are
    stored with the image and restored by M(airgap.hangar.hangar_load), unless O(remove_signatures=true).
  - A reference pinned by digest (C(name@sha256:...), also C(name:tag@sha256:...)) names exact bytes - the
    whole manifest list or index it names is copied, every platform and attestation, whatever O(arch) and O(os)
    say (a warning names the platforms the filter would have left out), so C(<dest>@sha256:...) resolves at the
    destination and a rerun reports no change. With a tag too, the tag ends as that manifest (no merge).
  - In check mode nothing is written, O(failed_file) included; RV(failed_images) lists the lines it would hold.
  - Every registry this module talks to is a source, so its credentials are the source credentials
    (O(source_username), O(source_password), E(HANGAR_SOURCE_USERNAME), E(HANGAR_SOURCE_PASSWORD)); the
    destination's E(HANGAR_REGISTRY_USERNAME) and E(HANGAR_REGISTRY_PASSWORD) are never read. O(tls_verify)
    and O(ca_path) apply to every source registry.
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
# an option, or set HANGAR_SOURCE_PASSWORD in ansible-playbook's own environment (as AWX credentials do).
- name: Save through a local mirror of Docker Hub, with its credentials
  airgap.hangar.hangar_save:
    file: images.txt
    archive: images.zip
    source_registry: mirror.example.com:5000
    source_username: "{{ mirror_user }}"
    source_password: "{{ mirror_password }}"

- name: Save from two registries, each with its own login
  airgap.hangar.hangar_save:
    images:
      - docker.io/library/nginx:1.25
      - quay.io/prometheus/prometheus:v2.53.0
    archive: images.zip
    registry_auth:
      - registry: docker.io
        username: "{{ hub_user }}"
        password: "{{ hub_token }}"
      - registry: quay.io
        username: "{{ quay_user }}"
        password: "{{ quay_token }}"
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
    concurrent_changes:
      description:
        - M(airgap.hangar.hangar_load) and M(airgap.hangar.hangar_mirror) only - how many times another run changed
          the destination tag while this one merged into it, each time merged with that change.
      type: int
      returned: when another run changed the tag meanwhile
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
checksum:
  description: The sha256 of the archive written to C(ARCHIVE.sha256).
  returned: when O(checksum_file=true) and not in check mode
  type: str
  version_added: 0.2.0
msg:
  description: A one-line summary.
  returned: always
  type: str
  sample: "Saved 3 images to /srv/transfer/images.zip: 2 copied, 1 unchanged, 0 skipped, 0 failed; 12.0 MiB in 4.2 s"
'''

import os
import tempfile
import time
import uuid
from dataclasses import replace

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.copy_options import (
    after_copy_steps,
    copy_options,
)
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.module_options import (
    ARTIFACT_OPTIONS,
    CONNECTION_OPTIONS,
    PLATFORM_OPTIONS,
    SOURCE_CREDENTIAL_OPTIONS,
    TRANSFER_OPTIONS,
    argument_spec,
    fail_without_requirements,
    required_together,
)
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.registry_connections import (
    registry_credentials,
    registry_stores,
)
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.run_report import (
    run_module_manager,
    run_result,
)
from ansible_collections.airgap.hangar.plugins.module_utils._archive.checksum import (
    read_checksum_file,
    write_checksum_file,
)
from ansible_collections.airgap.hangar.plugins.module_utils._archive.writer import ArchiveWriter
from ansible_collections.airgap.hangar.plugins.module_utils._copy.archive_store import ArchiveDestination
from ansible_collections.airgap.hangar.plugins.module_utils._copy.engine import CopyEngine, run_parallel
from ansible_collections.airgap.hangar.plugins.module_utils._copy.model import COPIED, FAILED, ImageResult
from ansible_collections.airgap.hangar.plugins.module_utils._errors import describe_unexpected
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
        entries = collect_entries(params["images"], params["file"])
        if params["source_registry"]:
            registry = normalize_registry(params["source_registry"])
            entries = [_with_source(entry, entry.source.with_registry(registry)) for entry in entries]
        self.entries = entries
        # Every registry of a save is a source: the source credentials, TLS from tls_verify and ca_path.
        self.credentials = registry_credentials(params, "source_", tls_prefix="").bind(
            [entry.source.registry for entry in entries], params["source_registry"])
        self.results = []
        self.after_copy = after_copy_steps(module)

    def _writer_path(self):
        """The archive path, or in check mode, when its folder does not exist yet (a task before this one
        would create it), a path that names no file in the temporary folder: the prediction is then for a
        new archive. Check mode writes nothing there either (no folder, no file)."""
        if not self.module.check_mode or os.path.isdir(os.path.dirname(os.path.abspath(self.archive))):
            return self.archive
        self.module.warn("the folder of %s does not exist: predicting a new archive" % self.archive)
        return os.path.join(tempfile.gettempdir(), ".hangar-check-%s-%s" % (uuid.uuid4().hex,
                                                                            os.path.basename(self.archive)))

    def _commit(self, writer):
        try:
            return writer.commit()
        except Exception as exc:
            _uncommitted(self.results, describe_unexpected(exc))
            raise

    def run(self):
        started = time.monotonic()
        with registry_stores(self.module, self.credentials, self.jobs) as pool, \
                ArchiveWriter(self._writer_path(), reuse=not self.force, timeout=self.options.timeout,
                              check_mode=self.module.check_mode) as writer, \
                CopyEngine(self.options, log=self.module.debug, after_copy=self.after_copy) as engine:
            destination = ArchiveDestination(writer)
            self.results = [ImageResult(entry.source, self.archive, entry=entry) for entry in self.entries]
            pool.expect([r.source_ref for r in self.results], push=False)

            def save(result):
                ref = result.source_ref
                return engine.copy_image(pool.store(ref.registry), ref, destination, ref, result)

            run_parallel(self.results, save, self.jobs)
            changed = any(r.status == COPIED or r.supply_chain_changed for r in self.results)
            if self.module.check_mode:
                changed = changed or self.force
            else:
                changed = self._commit(writer)
            retries = pool.retries() + engine.retries
        result = run_result(self.results, started, retries, "Saved", "to %s" % self.archive, self.module.check_mode,
                            self.failed_file, changed, diff=self.module._diff, diff_header=self.archive)
        result["archive"] = self.archive
        if self.module.params["checksum_file"] and os.path.exists(self.archive):
            if write_checksum_file(self.archive, check_mode=self.module.check_mode):
                result["changed"] = True
            if not self.module.check_mode:
                result["checksum"] = read_checksum_file(self.archive)[0]
        return result


def _uncommitted(results, error):
    """An image is `copied` only once it is in the archive: when the commit fails, none of them is."""
    for result in results:
        if result.status == COPIED:
            result.status = FAILED
            result.error = "Error saving %s: not saved, the archive could not be written: %s" % (
                result.source_ref, error)


def _with_source(entry, source):
    return replace(entry, source=source)


def main():
    spec = argument_spec(
        SOURCE_CREDENTIAL_OPTIONS, CONNECTION_OPTIONS, PLATFORM_OPTIONS, TRANSFER_OPTIONS, ARTIFACT_OPTIONS,
        images=dict(type="list", elements="str"),
        file=dict(type="path"),
        archive=dict(type="path", required=True),
        source_registry=dict(type="str"),
        force=dict(type="bool", default=False),
        checksum_file=dict(type="bool", default=False),
    )
    module = AnsibleModule(
        argument_spec=spec,
        required_one_of=[("images", "file")],
        required_together=required_together(spec),
        supports_check_mode=True,
    )
    fail_without_requirements(module)
    run_module_manager(module, SaveManager, archive=module.params["archive"])


if __name__ == "__main__":
    main()
