#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: hangar_sign
short_description: Sign images in a registry with a sigstore key
version_added: 0.2.0
description:
  - Signs images that are already in a registry, as the Hangar CLI's C(sign) command does, in the cosign layout
    (tag C(sha256-<hex>.sig) in the image's repository, one simple-signing layer per signature).
  - For each image the top-level digest is signed and, for a manifest list or index, each platform manifest that
    O(arch) and O(os) allow; attestation manifests are never signed. The signed identity is
    C(<registry>/<repository>:<tag>).
  - A digest that already carries a signature verifying with this key is left alone, so a rerun is
    C(changed=false) and appends nothing.
  - The key is loaded, and its passphrase checked, before any image is touched.
author:
  - airgap.hangar contributors (@airgap)
extends_documentation_fragment:
  - airgap.hangar.hangar
  - airgap.hangar.hangar.connection
  - airgap.hangar.hangar.signing
attributes:
  check_mode:
    description: Reads the images and their signatures and reports what would be signed, writing nothing.
    support: full
  diff_mode:
    description: Not supported; the per-image results say what was signed.
    support: none
  idempotent:
    description: A rerun finds the signatures and reports no change.
    support: full
options:
  images:
    description:
      - Images to sign, as references (C(registry/project/name:tag) or C(...@sha256:...)).
    type: list
    elements: str
  file:
    description:
      - An image-list file of the images to sign, one reference per line.
    type: path
  registry:
    description:
      - Replace the registry of every image with this one, C(host[:port]).
    type: str
  arch:
    description:
      - Architectures whose platform manifests are signed besides the top-level digest. An empty list signs every
        architecture.
    type: list
    elements: str
    default: [amd64, arm64]
  os:
    description:
      - Operating systems whose platform manifests are signed. An empty list signs every operating system.
    type: list
    elements: str
    default: [linux]
  jobs:
    description:
      - How many images are signed at once, from 1 to 20.
    type: int
    default: 4
  failed_file:
    description:
      - Write the images that failed to this file, one line each as given, for a retry with O(file).
    type: path
notes:
  - O(sigstore_private_key) is required here.
seealso:
  - module: airgap.hangar.hangar_sigstore_key
  - module: airgap.hangar.hangar_validate
'''

EXAMPLES = r'''
- name: Sign what was loaded, with the key made by hangar_sigstore_key
  airgap.hangar.hangar_sign:
    file: /srv/transfer/images.txt
    registry: harbor.example.internal
    sigstore_private_key: /etc/hangar/sigstore.key
    sigstore_passphrase_file: /etc/hangar/sigstore.passphrase
'''

RETURN = r'''
images:
  description: One result per image.
  returned: always
  type: list
  elements: dict
  contains:
    source:
      description: The image name, C(registry/project/name).
      type: str
    tag:
      description: The tag.
      type: str
    reference:
      description: The full reference.
      type: str
    destination:
      description: The reference signed.
      type: str
    status:
      description: V(signed) (in check mode, would be signed), V(unchanged) or V(failed).
      type: str
    digest:
      description: The top-level digest of the image.
      type: str
    signatures:
      description: Each digest signed, with C(digest), C(identity) and C(status) (V(signed) or V(unchanged)).
      type: list
      elements: dict
    error:
      description: Why the image failed.
      type: str
      returned: when status is failed
    seconds:
      description: Time spent on this image.
      type: float
failed_images:
  description: The image lines that failed, as given; the same lines are written to O(failed_file).
  returned: always
  type: list
  elements: str
stats:
  description: Counts for the whole run.
  returned: always
  type: dict
  contains:
    images:
      description: Images named.
      type: int
    signed:
      description: Images that got a signature.
      type: int
    unchanged:
      description: Images already signed with the key.
      type: int
    failed:
      description: Images that failed.
      type: int
    signatures_pushed:
      description: Signatures written.
      type: int
    seconds:
      description: Time for the whole run.
      type: float
msg:
  description: A one-line summary.
  returned: always
  type: str
  sample: "Signed 3 images: 2 signed, 1 unchanged, 0 failed"
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.module_options import (
    REGISTRY_OPTIONS,
    SIGNING_OPTIONS,
    argument_spec,
    fail_without_requirements,
    parse_jobs,
    required_together,
)
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.registry_connections import (
    registry_credentials,
    registry_stores,
)
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.run_report import (
    failed_lines,
    failure_message,
    run_module_manager,
    write_failed_file,
)
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.signing_options import signing_key
from ansible_collections.airgap.hangar.plugins.module_utils._copy.engine import run_parallel
from ansible_collections.airgap.hangar.plugins.module_utils._copy.model import FAILED, SIGNED, UNCHANGED
from ansible_collections.airgap.hangar.plugins.module_utils._copy.sign_images import plan_sign, sign_image
from ansible_collections.airgap.hangar.plugins.module_utils._errors import InputError
from ansible_collections.airgap.hangar.plugins.module_utils._image.platform import PlatformFilter
from ansible_collections.airgap.hangar.plugins.module_utils._image.reference import normalize_registry


class SignManager:
    def __init__(self, module):
        self.module = module
        self.params = params = module.params
        self.jobs = parse_jobs(params["jobs"])
        self.results = []
        if not params["sigstore_private_key"]:
            raise InputError("Error signing: sigstore_private_key is required")
        self.key = signing_key(module)
        self.platforms = PlatformFilter(params["arch"], params["os"])
        registry = normalize_registry(params["registry"]) if params["registry"] else None
        self.results = plan_sign(params["images"], params["file"], registry)

    def run(self):
        started = time.monotonic()
        credentials = registry_credentials(self.params).bind([r.source_ref.registry for r in self.results],
                                                             self.params["registry"])
        with registry_stores(self.module, credentials, self.jobs) as stores:
            run_parallel(self.results, lambda r: sign_image(stores.store(r.source_ref.registry).client, r, self.key,
                                                            self.platforms, self.module.check_mode), self.jobs)
        if not self.module.check_mode:
            write_failed_file(self.params["failed_file"], self.results)
        count = {status: sum(1 for r in self.results if r.status == status) for status in (SIGNED, UNCHANGED, FAILED)}
        stats = dict(images=len(self.results), signed=count[SIGNED], unchanged=count[UNCHANGED], failed=count[FAILED],
                     signatures_pushed=sum(1 for r in self.results for s in r.signatures if s["status"] == SIGNED),
                     seconds=round(time.monotonic() - started, 3))
        verb = "Would have signed" if self.module.check_mode else "Signed"
        msg = "%s %d image%s: %d %s, %d unchanged, %d failed" % (
            verb, stats["images"], "" if stats["images"] == 1 else "s", stats["signed"],
            "to sign" if self.module.check_mode else "signed", stats["unchanged"], stats["failed"])
        return dict(changed=bool(count[SIGNED]), images=[r.as_dict() for r in self.results],
                    failed_images=failed_lines(self.results), stats=stats, msg=msg)


def main():
    spec = argument_spec(
        REGISTRY_OPTIONS, SIGNING_OPTIONS,
        images=dict(type="list", elements="str"),
        file=dict(type="path"),
        registry=dict(type="str"),
        arch=dict(type="list", elements="str", default=["amd64", "arm64"]),
        os=dict(type="list", elements="str", default=["linux"]),
        jobs=dict(type="int", default=4),
        failed_file=dict(type="path"),
    )
    module = AnsibleModule(
        argument_spec=spec,
        required_together=required_together(spec),
        required_one_of=[("images", "file")],
        supports_check_mode=True,
    )
    fail_without_requirements(module)

    def failure(results, result):
        if any(r.status == FAILED for r in results):
            return failure_message(results) + ". " + result["msg"]
        return None

    run_module_manager(module, SignManager, failure)


if __name__ == "__main__":
    main()
