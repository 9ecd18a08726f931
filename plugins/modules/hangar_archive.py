#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: hangar_archive
short_description: Merge, export and compact Hangar archives, and store Helm charts and files in them
version_added: 0.2.0
description:
  - Declares what the Hangar archive at O(path) holds besides what M(airgap.hangar.hangar_save) put there, as the
    Hangar CLI's C(archive merge), C(archive export) and C(archive store chart|file) do.
  - O(merge) adds every entry (images, charts, files) of other archives. An image that is in both with different
    platforms keeps the union of the platforms, merged as M(airgap.hangar.hangar_load) merges a destination tag
    (the incoming platform replaces the one of the same platform); it then gets a new OCI index as its top-level
    manifest.
  - O(from_archive) with O(images) or O(file) exports just those images (all of them without either) of another
    archive into O(path), with the platform options of M(airgap.hangar.hangar_save).
  - O(charts) and O(files) are stored the way Hangar v1.9.2 stores them, so the Hangar CLI reads them and
    M(airgap.hangar.hangar_load) pushes them like images; after a load, C(helm pull oci://REGISTRY/hangar-helm/NAME
    --version VERSION) works.
  - An existing archive is updated in place (new entries appended, then a new index), under an exclusive lock on
    the archive path; a second run waits for it at most O(timeout). O(compact=true) rewrites the archive without
    the bytes earlier updates left behind.
  - A rerun with the same inputs reports C(changed=false) and leaves the file untouched.
author:
  - airgap.hangar contributors (@airgap)
extends_documentation_fragment:
  - airgap.hangar.hangar
  - airgap.hangar.hangar.connection
  - airgap.hangar.hangar.platforms
attributes:
  check_mode:
    description: Reads every input and reports what would be added or replaced, writing nothing.
    support: full
  diff_mode:
    description: Returns the entries added or replaced, before and after, with their platforms.
    support: full
  idempotent:
    description: A rerun with the same inputs reports no change and leaves the file untouched.
    support: full
options:
  path:
    description:
      - Path of the archive to create or update.
    type: path
    required: true
  merge:
    description:
      - Archives whose entries are added to O(path). The platform options do not apply to them.
    type: list
    elements: path
  from_archive:
    description:
      - An archive to export images from into O(path), those of O(images) and O(file), or all of them.
      - Only the platforms O(arch) and O(os) allow are exported (with their attestations when O(provenance=true)).
    type: path
  images:
    description:
      - With O(from_archive), the images to export, C([registry/][project/]name[:tag][@sha256:digest]).
    type: list
    elements: str
  file:
    description:
      - With O(from_archive), an image-list file of the images to export, one reference a line.
    type: path
  charts:
    description:
      - Helm charts to store, each a chart archive (C(.tgz)) or a chart directory (packaged reproducibly).
      - Stored as C(docker.io/hangar-helm/NAME:VERSION), an OCI image whose config is the chart metadata
        (C(application/vnd.cncf.helm.config.v1+json)) and whose one layer is the chart archive
        (C(application/vnd.cncf.helm.chart.content.v1.tar+gzip)). A C(+) in the version becomes C(-), as in Hangar.
    type: list
    elements: path
  files:
    description:
      - Files to store, as C(docker.io/hangar-file/NAME:latest) with Hangar's file layer media type
        C(application/vnd.content.hangar.file.layer.v1).
    type: list
    elements: path
  compact:
    description:
      - Rewrite the archive without dead bytes (old indexes and entries nothing references any more), when it has any.
      - Rewriting needs free space for a second copy of the archive while it runs.
    type: bool
    default: false
  checksum_file:
    description:
      - Write C(PATH.sha256) beside the archive in the C(sha256sum) format with a relative name, so
        C(sha256sum -c) checks it in any folder. Hashing reads the whole archive; it is skipped when the archive did
        not change and the checksum file is newer than it.
    type: bool
    default: false
  timeout:
    description:
      - How long to wait for another run that is writing the same archive, as seconds or a duration such as
        C(90s), C(10m) or C(1h).
    type: raw
    default: 10m
notes:
  - The registry options (O(username), O(password), O(auth_file), O(tls_verify), O(ca_path)) are not used; they are
    accepted so that C(module_defaults) for the group C(airgap.hangar.hangar) apply to this module too.
  - Readers (M(airgap.hangar.hangar_load), M(airgap.hangar.hangar_validate), M(airgap.hangar.hangar_archive_info))
    are never blocked by an update; they read the archive as it was last committed.
seealso:
  - module: airgap.hangar.hangar_archive_info
  - module: airgap.hangar.hangar_save
  - module: airgap.hangar.hangar_load
'''

EXAMPLES = r'''
- name: Combine the platform team's archive with ours
  airgap.hangar.hangar_archive:
    path: /srv/transfer/release.zip
    merge:
      - /srv/transfer/platform.zip

- name: Export two images, amd64 only, for a smaller site
  airgap.hangar.hangar_archive:
    path: /srv/transfer/site-b.zip
    from_archive: /srv/transfer/release.zip
    images:
      - docker.io/library/nginx:1.25
      - quay.io/prometheus/prometheus:v2.53.0
    arch: [amd64]

- name: Carry the install's Helm chart and a file in the same archive, with a checksum file
  airgap.hangar.hangar_archive:
    path: /srv/transfer/release.zip
    charts:
      - charts/my-app-1.2.3.tgz
    files:
      - /srv/transfer/rke2.linux-amd64.tar.gz
    checksum_file: true

- name: Free the space that replaced images left
  airgap.hangar.hangar_archive:
    path: /srv/transfer/release.zip
    compact: true
'''

RETURN = r'''
path:
  description: The archive path.
  returned: always
  type: str
entries:
  description: One item per entry considered, in order.
  returned: always
  type: list
  elements: dict
  contains:
    reference:
      description: C(source:tag) of the entry.
      type: str
      sample: docker.io/hangar-helm/my-app:1.2.3
    kind:
      description: V(image), V(chart) or V(file).
      type: str
    action:
      description: V(added), V(replaced), V(unchanged) or V(skipped) (no platform allowed).
      type: str
    origin:
      description: The archive or path it came from.
      type: str
    before:
      description: The entry before (C(reference), C(digest), C(platforms)), or null when it was not there.
      type: dict
    after:
      description: The entry after, likewise.
      type: dict
checksum:
  description: The sha256 of the archive written to C(PATH.sha256).
  returned: when O(checksum_file=true) and not in check mode
  type: str
diff:
  description: The entries added or replaced, before and after.
  returned: when changed and in diff mode
  type: dict
msg:
  description: A one-line summary.
  returned: always
  type: str
  sample: "Archive /srv/transfer/release.zip: 2 added, 0 replaced, 5 unchanged, 0 skipped"
'''

import os
from contextlib import ExitStack

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.module_options import (
    PLATFORM_OPTIONS,
    REGISTRY_OPTIONS,
    argument_spec,
    parse_timeout,
)
from ansible_collections.airgap.hangar.plugins.module_utils._archive.checksum import (
    read_checksum_file,
    write_checksum_file,
)
from ansible_collections.airgap.hangar.plugins.module_utils._archive.reader import ArchiveReader
from ansible_collections.airgap.hangar.plugins.module_utils._archive.writer import ArchiveWriter
from ansible_collections.airgap.hangar.plugins.module_utils._copy.archive_transfer import (
    ADDED,
    REPLACED,
    SKIPPED,
    UNCHANGED,
    ArchiveComposer,
)
from ansible_collections.airgap.hangar.plugins.module_utils._errors import HangarError, InputError
from ansible_collections.airgap.hangar.plugins.module_utils._image.image_list import collect_entries
from ansible_collections.airgap.hangar.plugins.module_utils._image.platform import PlatformFilter


class ArchiveManager:
    def __init__(self, module):
        self.module = module
        params = module.params
        self.path = params["path"]
        self.timeout = parse_timeout(params["timeout"])
        own = os.path.realpath(self.path)
        for other in (params["merge"] or []) + ([params["from_archive"]] if params["from_archive"] else []):
            if os.path.realpath(other) == own:
                raise InputError("Error updating archive %s: it is also given as an archive to read (%s); an archive "
                                 "cannot be merged into itself" % (self.path, other))
        self.references = None
        if params["images"] or params["file"]:
            self.references = [entry.source for entry in collect_entries(params["images"], params["file"])]
        self.platforms = PlatformFilter(params["arch"], params["os"])

    def run(self):
        params, check_mode = self.module.params, self.module.check_mode
        with ExitStack() as stack:
            writer = stack.enter_context(ArchiveWriter(self.path, timeout=self.timeout, check_mode=check_mode,
                                                       compact=params["compact"]))
            composer = ArchiveComposer(writer, check_mode)
            for other in params["merge"] or []:
                with ArchiveReader(other) as reader:
                    composer.merge_archive(reader)
            if params["from_archive"]:
                with ArchiveReader(params["from_archive"]) as reader:
                    composer.merge_archive(reader, self.references, self.platforms, params["provenance"])
            for chart in params["charts"] or []:
                composer.store_chart(chart)
            for path in params["files"] or []:
                composer.store_file(path)
            changed = writer.commit()
        counts = {action: sum(1 for change in composer.changes if change["action"] == action)
                  for action in (ADDED, REPLACED, UNCHANGED, SKIPPED)}
        msg = "Archive %s: %d added, %d replaced, %d unchanged, %d skipped" % (
            self.path, counts[ADDED], counts[REPLACED], counts[UNCHANGED], counts[SKIPPED])
        if params["compact"] and changed and not composer.changed:
            msg += "; compacted"
        result = dict(changed=changed, path=self.path, entries=composer.changes, msg=msg)
        if params["checksum_file"] and (os.path.exists(self.path) or not check_mode):
            if write_checksum_file(self.path, check_mode=check_mode):
                result["changed"] = True
            if not check_mode:
                result["checksum"] = read_checksum_file(self.path)[0]
        if self.module._diff and composer.changed:
            result["diff"] = composer.diff()
        return result


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            REGISTRY_OPTIONS, PLATFORM_OPTIONS,
            path=dict(type="path", required=True),
            merge=dict(type="list", elements="path"),
            from_archive=dict(type="path"),
            images=dict(type="list", elements="str"),
            file=dict(type="path"),
            charts=dict(type="list", elements="path"),
            files=dict(type="list", elements="path"),
            compact=dict(type="bool", default=False),
            checksum_file=dict(type="bool", default=False),
            timeout=dict(type="raw", default="10m"),
        ),
        required_by={"images": "from_archive", "file": "from_archive"},
        supports_check_mode=True,
    )
    try:
        result = ArchiveManager(module).run()
    except HangarError as exc:
        module.fail_json(msg=str(exc), path=module.params["path"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
