#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: hangar_archive_info
short_description: Show what a Hangar archive holds, and check that it is intact
version_added: 0.2.0
description:
  - Reads a Hangar archive (written by this collection or by the Hangar CLI) and returns its images, Helm charts,
    files and blobs, as the Hangar CLI's C(archive ls) lists them, with platforms, digests and sizes.
  - With O(verify=true), reads every stored blob once and checks its sha256 and size, and checks every platform
    folder and manifest against the archive's index, as proof that the archive survived the trip intact.
  - Changes nothing. An archive being updated by another run is read as it was last committed.
author:
  - airgap.hangar contributors (@airgap)
extends_documentation_fragment:
  - airgap.hangar.hangar
  - airgap.hangar.hangar.connection
attributes:
  check_mode:
    description: Runs as usual; it changes nothing anyway.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
  idempotent:
    description: Reads only; always C(changed=false).
    support: full
options:
  archive:
    description:
      - Path of the archive to read.
    type: path
    required: true
  verify:
    description:
      - Read every blob and check its sha256 and size, and check every platform folder and manifest against the
        index. Reads the whole archive once.
    type: bool
    default: false
  fail_on_problems:
    description:
      - With O(verify=true), fail the task when RV(problems) is not empty.
    type: bool
    default: true
  query:
    description:
      - A JMESPath expression evaluated over RV(images); its value is returned as RV(query_result).
      - Needs the Python library C(jmespath) on the host the module runs on.
    type: str
requirements:
  - jmespath (only for O(query))
notes:
  - The registry options (O(username), O(password), O(auth_file), O(tls_verify), O(ca_path)) are not used; they are
    accepted so that C(module_defaults) for the group C(airgap.hangar.hangar) apply to this module too.
  - Charts and files are the entries stored under the projects C(hangar-helm) and C(hangar-file), as the Hangar CLI
    (v1.9.2 and later) and M(airgap.hangar.hangar_archive) store them.
seealso:
  - module: airgap.hangar.hangar_archive
  - module: airgap.hangar.hangar_save
  - module: airgap.hangar.hangar_load
'''

EXAMPLES = r'''
- name: Check the archive after the transfer
  airgap.hangar.hangar_archive_info:
    archive: /mnt/usb/images.zip
    verify: true

- name: Which images hold an arm64 platform
  airgap.hangar.hangar_archive_info:
    archive: /mnt/usb/images.zip
    query: "[?platforms[?arch=='arm64']].reference"
  register: info

- name: List the problems without failing
  airgap.hangar.hangar_archive_info:
    archive: /mnt/usb/images.zip
    verify: true
    fail_on_problems: false
  register: checked
'''

RETURN = r'''
archive:
  description: The archive itself.
  returned: always
  type: dict
  contains:
    path:
      description: The path read.
      type: str
    bytes:
      description: Size of the committed archive in bytes.
      type: int
    created:
      description: The time recorded in the index (RFC 3339).
      type: str
    index_version:
      description: The index version as read, for example C(v1.2.0).
      type: str
    entries:
      description: Entries of the index (images, charts and files).
      type: int
    images:
      description: Image entries.
      type: int
    charts:
      description: Chart entries.
      type: int
    files:
      description: File entries.
      type: int
    platforms:
      description: Platform manifests stored (attestations included).
      type: int
    blobs:
      description: Blobs stored.
      type: int
    dead_bytes:
      description: Bytes that earlier updates left and that C(compact) in M(airgap.hangar.hangar_archive) frees.
      type: int
  sample: {path: /mnt/usb/images.zip, bytes: 1048576, created: "2026-03-20T15:04:05+08:00",
           index_version: v1.2.0, entries: 3, images: 2, charts: 1, files: 0, platforms: 4, blobs: 17,
           dead_bytes: 0}
images:
  description: One item per image entry (C(source:tag)), in index order.
  returned: always
  type: list
  elements: dict
  contains:
    source:
      description: C(registry/project/name).
      type: str
    tag:
      description: The tag; null for an image saved by digest only.
      type: str
    reference:
      description: C(source:tag), or C(source@digest).
      type: str
    digest:
      description: The top-level digest when the archive recorded it (archives of this collection), else null.
      type: str
    media_type:
      description: The media type of the top-level manifest when recorded.
      type: str
    platforms:
      description: The platform manifests stored, each with C(arch), C(os), C(variant), C(os_version), C(digest),
        C(media_type), C(bytes) (manifest, config and layers), C(attestation) and, for attestations, C(subject).
      type: list
      elements: dict
    bytes:
      description: Bytes of the distinct blobs of the image.
      type: int
    signatures:
      description: Signatures carried with the image, when the archive index records them.
      type: list
      returned: when carried
    artifacts:
      description: Other artifacts (attestations, SBOMs) carried with the image, when the archive index records them.
      type: list
      returned: when carried
charts:
  description: Helm charts stored, each with C(name), C(version), C(source), C(reference), C(digest), C(bytes),
    C(title) and C(description).
  returned: always
  type: list
  elements: dict
files:
  description: Files stored, each with C(name), C(source), C(reference), C(digest), C(bytes), C(title) and
    C(description).
  returned: always
  type: list
  elements: dict
blobs:
  description: The blobs, with C(count), C(bytes), C(referenced), C(unreferenced) (digests no entry needs) and
    C(missing) (digests the index needs that are not stored).
  returned: always
  type: dict
problems:
  description: What is wrong, one item per problem, with C(entry) (the zip entry or folder), C(image) (the
    reference it belongs to, when known) and C(problem).
  returned: when O(verify=true)
  type: list
  elements: dict
  sample: [{entry: "share/sha256/3f1c...", image: "docker.io/library/nginx:1.25",
            problem: "blob content does not match its digest: ..."}]
verified:
  description: True when O(verify=true) found no problem.
  returned: when O(verify=true)
  type: bool
query_result:
  description: The value of O(query) over RV(images).
  returned: when O(query) is set
  type: raw
msg:
  description: A one-line summary.
  returned: always
  type: str
  sample: "Archive /mnt/usb/images.zip: 2 images, 1 chart, 0 files, 17 blobs (1.0 MiB); verified, no problems"
'''

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.module_options import (
    REGISTRY_OPTIONS,
    argument_spec,
    fail_without,
)
from ansible_collections.airgap.hangar.plugins.module_utils._archive.inspect import describe, verify
from ansible_collections.airgap.hangar.plugins.module_utils._archive.reader import ArchiveReader
from ansible_collections.airgap.hangar.plugins.module_utils._errors import HangarError
from ansible_collections.airgap.hangar.plugins.module_utils._requirements import jmespath


class ArchiveInfoManager:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.results = []
        self.expression = None
        if self.params["query"] is not None:
            fail_without(module, jmespath)
            try:
                self.expression = jmespath.compile(self.params["query"])
            except jmespath.exceptions.JMESPathError as exc:
                module.fail_json(msg="Error in query %r: %s: expected a JMESPath expression over the list of images"
                                 % (self.params["query"], exc))

    def run(self):
        path = self.params["archive"]
        with ArchiveReader(path) as reader:
            result = describe(reader)
            problems = verify(reader) if self.params["verify"] else None
        summary = result["archive"]
        msg = "Archive %s: %d image%s, %d chart%s, %d file%s, %d blobs (%s)" % (
            path, summary["images"], _plural(summary["images"]), summary["charts"], _plural(summary["charts"]),
            summary["files"], _plural(summary["files"]), summary["blobs"], _size(result["blobs"]["bytes"]))
        if problems is not None:
            result["problems"] = problems
            result["verified"] = not problems
            msg += "; verified, no problems" if not problems else "; %d problem%s, first: %s: %s" % (
                len(problems), _plural(len(problems)), problems[0]["entry"], problems[0]["problem"])
        if self.expression is not None:
            result["query_result"] = self.expression.search(result["images"])
        result.update(changed=False, msg=msg)
        return result


def _plural(count):
    return "" if count == 1 else "s"


def _size(count):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return "%.1f %s" % (count, unit) if unit != "B" else "%d B" % count
        count /= 1024.0
    return "%d B" % count


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            REGISTRY_OPTIONS,
            archive=dict(type="path", required=True),
            verify=dict(type="bool", default=False),
            fail_on_problems=dict(type="bool", default=True),
            query=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    try:
        result = ArchiveInfoManager(module).run()
    except HangarError as exc:
        module.fail_json(msg=str(exc), archive={"path": module.params["archive"]})
    except Exception as exc:  # pylint: disable=broad-exception-caught
        module.fail_json(msg="Error reading archive %s: %s" % (module.params["archive"], exc),
                         exception=traceback.format_exc())
    if result.get("problems") and module.params["fail_on_problems"]:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
