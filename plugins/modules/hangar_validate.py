#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: hangar_validate
short_description: Prove that a registry or an archive holds the images it should
version_added: 0.1.0
description:
  - Compares, for each image, the allowed platform digests of a source with what a target holds, and
    reports each image as passed or failed with the reason. Never changes anything.
  - What is compared follows from the options given.
  - O(archive) and O(registry) - is the archive loaded into the registry? (the Hangar CLI's C(load validate));
    O(images) or O(file) narrow it, O(project) and O(source_registry) work as in M(airgap.hangar.hangar_load).
  - O(images) or O(file) without O(archive) - is the mirror complete? (C(mirror validate)); lines in either
    list format, O(registry) and the overrides as in M(airgap.hangar.hangar_mirror) (O(registry) is needed for
    lines that give only a source).
  - O(images) or O(file) and O(archive), without O(registry) - does the archive hold the source images as they
    are now? (C(save validate)).
  - The task fails when any image failed, unless O(fail_on_mismatch=false).
author:
  - airgap.hangar contributors (@airgap)
extends_documentation_fragment:
  - airgap.hangar.hangar
  - airgap.hangar.hangar.connection
  - airgap.hangar.hangar.source_credentials
  - airgap.hangar.hangar.source_tls
  - airgap.hangar.hangar.platforms
  - airgap.hangar.hangar.transfer
attributes:
  check_mode:
    description: Runs the same in check mode; it never changes anything.
    support: full
  diff_mode:
    description: Not supported.
    support: none
  idempotent:
    description: Always reports C(changed=false).
    support: full
options:
  archive:
    description:
      - The archive to compare with the registry, or (without O(registry)) with the source images.
    type: path
  registry:
    description:
      - The registry that should hold the images. The registry options O(username), O(password), O(tls_verify)
        and O(ca_path) apply to it.
    type: str
  images:
    description:
      - Images to check, as references, C(SOURCE DEST TAG) strings or mappings with C(source), C(dest) and C(tag)
        (the last two only when comparing a mirror).
    type: list
    elements: raw
  file:
    description:
      - An image-list file of the images to check, in either list format.
    type: path
  project:
    description:
      - Replace the destination project of every image, as the load or mirror did.
    type: str
  source_registry:
    description:
      - Replace the registry of every source image (or, with an archive, of the names matched against it).
    type: str
  source_project:
    description:
      - Replace the project of every source image (mirror comparison).
    type: str
  sigstore_public_key:
    description:
      - Also require a sigstore signature on each image validated in a registry, verifying with one of these public
        keys (C(PUBLIC KEY) PEM files, as C(cosign.pub) or the C(.pub) of M(airgap.hangar.hangar_sigstore_key)).
      - The signature must be in the cosign layout (tag C(sha256-<hex>.sig)), verify with the key, and its payload
        must name exactly the image's digest (containers/image's strict payload rules). The signed identity is not
        compared, so images signed at the source (cosign writes the repository only) pass after a mirror or load.
      - Reasons for failing are C(signature missing), C(signature invalid) (no signature verifies with the keys, or
        its payload breaks the rules) and C(signature for another digest).
      - Only images checked in a registry are verified (not the images of an archive compared with their sources).
    type: list
    elements: path
    version_added: 0.2.0
  verify_platform_signatures:
    description:
      - With O(sigstore_public_key), also require a signature on every platform manifest present (attestation
        manifests excepted), not only on the top-level digest.
    type: bool
    default: false
    version_added: 0.2.0
  fail_on_mismatch:
    description:
      - Fail the task when any image failed. With V(false) the task succeeds and the results say what failed.
    type: bool
    default: true
notes:
  - When comparing an archive with source registries (no O(registry)), the sources are read with
    O(source_username) and O(source_password) (or O(registry_auth) and the credential files); O(username) and
    O(password) are the destination's and never go to a source.
  - Expected is what a copy puts at the target, the allowed platforms; for a reference pinned by digest
    (C(name@sha256:...)) every platform and attestation its manifest names, whatever O(arch) and O(os) say;
    for a Docker schema 1 source, its conversion to Docker schema 2.
  - O(timeout) bounds the time spent on each image. In check mode O(failed_file) is not written;
    RV(failed_images) lists what would be.
  - O(source_project) only applies when comparing a mirror, so it cannot be combined with O(archive).
seealso:
  - module: airgap.hangar.hangar_load
  - module: airgap.hangar.hangar_mirror
  - module: airgap.hangar.hangar_save
'''

EXAMPLES = r'''
- name: Prove the archive is loaded
  airgap.hangar.hangar_validate:
    archive: /srv/transfer/images.zip
    registry: harbor.example.internal

- name: Is the mirror complete? Report, but do not fail
  airgap.hangar.hangar_validate:
    file: mirror-list.txt
    registry: registry.example.internal:5000
    fail_on_mismatch: false
  register: mirror_check

- name: Does the archive still hold the images as they are upstream?
  airgap.hangar.hangar_validate:
    images: [nginx:1.25]
    archive: /srv/transfer/images.zip
'''

RETURN = r'''
images:
  description: One result per image.
  returned: always
  type: list
  elements: dict
  contains:
    source:
      description: The source image name.
      type: str
    tag:
      description: The tag.
      type: str
    reference:
      description: The full source reference.
      type: str
    destination:
      description: What was checked (a reference, or the archive path).
      type: str
    status:
      description: V(passed) or V(failed).
      type: str
    reason:
      description: Why the image failed (tag missing, digest missing, platform mismatch, source missing,
        target missing, signature missing, signature invalid, signature for another digest).
      type: str
      returned: when status is failed
    signatures:
      description: With O(sigstore_public_key), each digest verified with C(digest) and C(status) (V(valid),
        V(signature missing), V(signature invalid) or V(signature for another digest)).
      type: list
      elements: dict
      returned: when signatures were verified
    platforms:
      description: Each expected platform manifest with C(platform), C(digest) and C(status) (V(present),
        V(missing) or V(mismatch)).
      type: list
      elements: dict
    seconds:
      description: Time spent on this image.
      type: float
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
      description: Images checked.
      type: int
    passed:
      description: Images that passed.
      type: int
    failed:
      description: Images that failed.
      type: int
    seconds:
      description: Time for the whole run.
      type: float
msg:
  description: A one-line summary.
  returned: always
  type: str
  sample: "Validated 3 images against harbor.example.internal: 3 passed, 0 failed"
'''

import os
import time
from contextlib import ExitStack

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.copy_options import copy_options
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.module_options import (
    PLATFORM_OPTIONS,
    REGISTRY_OPTIONS,
    SOURCE_REGISTRY_OPTIONS,
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
    check_mode_failed_file_note,
    failed_lines,
    run_module_manager,
    write_failed_file,
)
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.signing_options import signing_public_keys
from ansible_collections.airgap.hangar.plugins.module_utils._archive.reader import ArchiveReader
from ansible_collections.airgap.hangar.plugins.module_utils._copy.archive_store import ArchiveSource
from ansible_collections.airgap.hangar.plugins.module_utils._copy.engine import run_parallel
from ansible_collections.airgap.hangar.plugins.module_utils._copy.load_plan import plan_load
from ansible_collections.airgap.hangar.plugins.module_utils._copy.mirror_plan import plan_mirror
from ansible_collections.airgap.hangar.plugins.module_utils._copy.model import FAILED, ImageResult
from ansible_collections.airgap.hangar.plugins.module_utils._copy.signature_validation import verify_signatures
from ansible_collections.airgap.hangar.plugins.module_utils._copy.validation import (
    MissingArchive,
    ValidationResult,
    validate_image,
)
from ansible_collections.airgap.hangar.plugins.module_utils._errors import InputError
from ansible_collections.airgap.hangar.plugins.module_utils._image.image_list import collect_entries
from ansible_collections.airgap.hangar.plugins.module_utils._image.reference import normalize_registry


class ValidateManager:
    def __init__(self, module):
        self.module = module
        self.params = params = module.params
        self.options = copy_options(params, module.check_mode)
        self.jobs = params["jobs"]
        self.results = []
        self.public_keys = signing_public_keys(module)
        if not (params["images"] or params["file"]) and not (params["archive"] and params["registry"]):
            raise InputError("Error validating: nothing to compare; give archive and registry, or images or file "
                             "with registry (or SOURCE DEST TAG lines), or images or file with archive")

    def _side(self, planned, prefix, of_result, named):
        """The connection of one side, its credentials scoped to the side's registry (see CredentialScope).
        The sources never get the destination's username and password, nor the reverse."""
        return registry_credentials(self.params, prefix).bind(
            [of_result(r).registry for r in planned if of_result(r) is not None], named)

    def _plan(self, stack):
        """(results, source of each result, target of each result) for the mode the options select."""
        params = self.params
        if params["archive"] and not params["registry"] and not os.path.exists(params["archive"]):
            archive = MissingArchive(params["archive"])  # the target: each image reports it missing
        elif params["archive"]:
            reader = stack.enter_context(ArchiveReader(params["archive"], strict=False))
            archive = ArchiveSource(reader)

        def destination_of(result):
            return result.dest_ref

        def source_of(result):
            return result.source_ref

        if params["archive"] and params["registry"]:
            planned = plan_load(reader.index, params["registry"], images=params["images"], file=params["file"],
                                source_registry=params["source_registry"], project=params["project"],
                                archive=params["archive"])
            target = self._side(planned, "", destination_of, params["registry"])
            targets = stack.enter_context(registry_stores(self.module, target, self.jobs))
            return planned, lambda r: archive, lambda r: targets.store(r.dest_ref.registry)
        if not params["archive"]:
            planned = plan_mirror(params["images"], params["file"], registry=params["registry"],
                                  project=params["project"], source_registry=params["source_registry"],
                                  source_project=params["source_project"])
            source = self._side(planned, "source_", source_of, params["source_registry"])
            target = self._side(planned, "", destination_of, params["registry"])
            sources = stack.enter_context(registry_stores(self.module, source, self.jobs))
            targets = stack.enter_context(registry_stores(self.module, target, self.jobs))
            return planned, lambda r: sources.store(r.source_ref.registry), lambda r: targets.store(r.dest_ref.registry)
        override = normalize_registry(params["source_registry"]) if params["source_registry"] else None
        planned = []
        for entry in collect_entries(params["images"], params["file"]):
            ref = entry.source.with_registry(override) if override else entry.source
            planned.append(ImageResult(ref, params["archive"], dest_ref=ref, entry=entry))
        source = self._side(planned, "source_", source_of, params["source_registry"])
        sources = stack.enter_context(registry_stores(self.module, source, self.jobs))
        return planned, lambda r: sources.store(r.source_ref.registry), lambda r: archive

    def run(self):
        started = time.monotonic()
        with ExitStack() as stack:
            planned, source_of, target_of = self._plan(stack)
            for item in planned:
                result = ValidationResult(item.source_ref, item.destination, item.dest_ref, item.entry)
                if item.status == FAILED:
                    result.fail(item.error)
                self.results.append(result)

            def check(result):
                if result.status == FAILED:
                    return result
                target = target_of(result)
                validate_image(source_of(result), target, result, self.options)
                if self.public_keys and result.status != FAILED:
                    verify_signatures(target, result, self.public_keys, self.params["verify_platform_signatures"])
                return result

            run_parallel(self.results, check, self.jobs)
        if not self.module.check_mode:
            write_failed_file(self.params["failed_file"], self.results)
        failed = sum(1 for r in self.results if r.status == FAILED)
        stats = dict(images=len(self.results), passed=len(self.results) - failed, failed=failed,
                     seconds=round(time.monotonic() - started, 3))
        target = self.params["registry"] or self.params["archive"] or "the mirror destinations"
        msg = "Validated %d image%s against %s: %d passed, %d failed" % (
            stats["images"], "" if stats["images"] == 1 else "s", target, stats["passed"], failed)
        first = next((r for r in self.results if r.status == FAILED), None)
        if first is not None:
            msg += "; first: %s: %s" % (first.source_ref, first.reason)
        if self.module.check_mode:
            msg += check_mode_failed_file_note(self.params["failed_file"], self.results)
        return dict(changed=False, images=[r.as_dict() for r in self.results],
                    failed_images=failed_lines(self.results), stats=stats, msg=msg)


def main():
    spec = argument_spec(
        REGISTRY_OPTIONS, SOURCE_REGISTRY_OPTIONS, PLATFORM_OPTIONS, TRANSFER_OPTIONS,
        archive=dict(type="path"),
        registry=dict(type="str"),
        images=dict(type="list", elements="raw"),
        file=dict(type="path"),
        project=dict(type="str"),
        source_registry=dict(type="str"),
        source_project=dict(type="str"),
        fail_on_mismatch=dict(type="bool", default=True),
        sigstore_public_key=dict(type="list", elements="path"),
        verify_platform_signatures=dict(type="bool", default=False),
    )
    module = AnsibleModule(
        argument_spec=spec,
        required_together=required_together(spec),
        # The rest of the mode rules (an archive alone needs registry, images or file) is not one Ansible
        # can state; ValidateManager checks it.
        required_one_of=[("archive", "images", "file")],
        mutually_exclusive=[("archive", "source_project")],
        supports_check_mode=True,
    )
    fail_without_requirements(module)

    def failure(results, result):
        return result["msg"] if result["stats"]["failed"] and module.params["fail_on_mismatch"] else None

    run_module_manager(module, ValidateManager, failure)


if __name__ == "__main__":
    main()
