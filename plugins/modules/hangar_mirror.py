#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: hangar_mirror
short_description: Mirror container images from registry to registry
version_added: 0.1.0
description:
  - Copies images from source registries to a destination registry, without an archive in between.
  - Within one registry, blobs are mounted from the source repository instead of being sent again.
  - When every platform of an image is copied, the manifest list or index is pushed byte for byte, so the
    destination tag has the same digest as the source. Otherwise an OCI index is built from the copied
    platforms and, unless O(overwrite=true), merged with the index already at the destination tag.
  - A rerun with everything present reports C(changed=false) and sends no blob.
author:
  - airgap.hangar contributors (@airgap)
extends_documentation_fragment:
  - airgap.hangar.hangar
  - airgap.hangar.hangar.connection
  - airgap.hangar.hangar.source_credentials
  - airgap.hangar.hangar.source_tls
  - airgap.hangar.hangar.platforms
  - airgap.hangar.hangar.transfer
  - airgap.hangar.hangar.artifacts
  - airgap.hangar.hangar.signing
attributes:
  check_mode:
    description: Reads both sides and reports what would be copied, writing nothing.
    support: full
  diff_mode:
    description: Returns C(diff) with, for each destination that changed, the digest and platforms before and after.
    support: full
  idempotent:
    description: A rerun with every image present reports no change and sends no blob.
    support: full
options:
  images:
    description:
      - Images to mirror. Each item is a reference (then O(registry) says where it goes), a C(SOURCE DEST TAG)
        string, or a mapping with keys C(source), C(dest) and optionally C(tag).
      - At least one of O(images) and O(file) is required.
    type: list
    elements: raw
  file:
    description:
      - An image-list file; each line is a reference or C(SOURCE DEST TAG) (fields separated by spaces or tabs;
        the tag applies to both sides). Blank lines and lines starting with C(#) or C(//) are skipped.
    type: path
  registry:
    description:
      - The destination registry, C(host[:port]). Required for lines that give only a source.
      - For C(SOURCE DEST TAG) lines it replaces the registry written in DEST; without it, DEST's registry is used.
      - The registry options O(username), O(password), O(tls_verify) and O(ca_path) apply to the destination;
        O(username) and O(password) go to this registry only.
    type: str
  project:
    description:
      - Replace the destination project (the first path segment) of every image.
    type: str
  source_registry:
    description:
      - Replace the registry of every source image.
    type: str
  source_project:
    description:
      - Replace the project of every source image.
    type: str
  overwrite:
    description:
      - Replace the manifest list or index at each destination tag instead of merging the copied platforms into it.
    type: bool
    default: false
  platform_tags:
    description:
      - Also tag every platform manifest as C(<tag>-<os>-<arch>[-<variant>]), as the Hangar CLI does.
    type: bool
    default: false
  create_harbor_projects:
    description:
      - When the destination answers Harbor's C(/api/v2.0/ping), create the missing projects of the images
        being mirrored (private) before pushing them.
    type: bool
    default: false
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
  - module: airgap.hangar.hangar_validate
  - module: airgap.hangar.hangar_save
'''

EXAMPLES = r'''
- name: Mirror images from Docker Hub into a private registry
  airgap.hangar.hangar_mirror:
    images:
      - nginx:1.25
      - bitnami/redis:7.2
    registry: registry.example.internal:5000
    project: mirror

- name: Mirror a list in SOURCE DEST TAG format, honouring each DEST registry
  airgap.hangar.hangar_mirror:
    file: mirror-list.txt
    source_username: "{{ hub_user }}"
    source_password: "{{ hub_token }}"
    username: admin
    password: "{{ harbor_password }}"
    create_harbor_projects: true

- name: Mirror with explicit source and destination mappings
  airgap.hangar.hangar_mirror:
    images:
      - source: quay.io/prometheus/prometheus
        dest: harbor.example.internal/monitoring/prometheus
        tag: v2.53.0
'''

RETURN = r'''
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
    run_module_manager,
    run_result,
)
from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.signing_options import signing_key
from ansible_collections.airgap.hangar.plugins.module_utils._copy.engine import CopyEngine, run_parallel
from ansible_collections.airgap.hangar.plugins.module_utils._copy.harbor_projects import HarborProjects
from ansible_collections.airgap.hangar.plugins.module_utils._copy.mirror_plan import plan_mirror
from ansible_collections.airgap.hangar.plugins.module_utils._copy.model import FAILED


class MirrorManager:
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
        self.results = plan_mirror(params["images"], params["file"], registry=params["registry"],
                                   project=params["project"], source_registry=params["source_registry"],
                                   source_project=params["source_project"])
        # Each side's credentials go to that side's registry only (see CredentialScope).
        self.source = registry_credentials(params, "source_").bind(
            [r.source_ref.registry for r in self.results], params["source_registry"])
        self.destination = registry_credentials(params).bind(
            [r.dest_ref.registry for r in self.results if r.dest_ref is not None], params["registry"])

    def _create_projects(self, destinations):
        for registry in dict.fromkeys(r.dest_ref.registry for r in self.results):
            projects = HarborProjects.for_registry(destinations.store(registry).client, self.destination,
                                                   log=self.module.debug, deadline=self.options.timeout)
            if projects is not None:
                results = [r for r in self.results if r.dest_ref.registry == registry]
                self.projects_created.extend(projects.prepare(results, self.module.check_mode))

    def run(self):
        started = time.monotonic()
        params = self.params
        with registry_stores(self.module, self.source, self.jobs) as sources, \
                registry_stores(self.module, self.destination, self.jobs) as destinations, \
                CopyEngine(self.options, log=self.module.debug, after_copy=self.after_copy) as engine:
            sources.expect([r.source_ref for r in self.results if r.source_ref is not None], push=False)
            destinations.expect([r.dest_ref for r in self.results if r.dest_ref is not None],
                                push=not self.module.check_mode)
            if params["create_harbor_projects"]:
                self._create_projects(destinations)

            def mirror(result):
                if result.status == FAILED:
                    return result
                return engine.copy_image(sources.store(result.source_ref.registry), result.source_ref,
                                         destinations.store(result.dest_ref.registry), result.dest_ref, result)

            run_parallel(self.results, mirror, self.jobs)
            engine.settle()
            retries = sources.retries() + destinations.retries() + engine.retries
        registries = ", ".join(sorted({r.dest_ref.registry for r in self.results})) or "no registry"
        result = run_result(self.results, started, retries, "Mirrored", "to %s" % registries,
                            self.module.check_mode, params["failed_file"], diff=self.module._diff)
        result.update(changed=result["changed"] or bool(self.projects_created), projects_created=self.projects_created)
        return result


def main():
    spec = argument_spec(
        REGISTRY_OPTIONS, SOURCE_REGISTRY_OPTIONS, PLATFORM_OPTIONS, TRANSFER_OPTIONS, SIGNING_OPTIONS,
        ARTIFACT_OPTIONS,
        images=dict(type="list", elements="raw"),
        file=dict(type="path"),
        registry=dict(type="str"),
        project=dict(type="str"),
        source_registry=dict(type="str"),
        source_project=dict(type="str"),
        overwrite=dict(type="bool", default=False),
        platform_tags=dict(type="bool", default=False),
        create_harbor_projects=dict(type="bool", default=False),
    )
    module = AnsibleModule(
        argument_spec=spec,
        required_one_of=[("images", "file")],
        required_together=required_together(spec),
        supports_check_mode=True,
    )
    fail_without_requirements(module)
    run_module_manager(module, MirrorManager)


if __name__ == "__main__":
    main()
