#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: hangar_image_list
short_description: Generate an image list from Helm charts, rendered manifests and custom resources
version_added: 0.2.0
description:
  - Answers the question every air-gapped install starts with, which images does this release need, and
    writes the answer as an image list that M(airgap.hangar.hangar_save) takes as
    O(airgap.hangar.hangar_save#module:file).
  - Reads what Helm charts declare, without rendering them (no C(helm) binary is needed or used) - the
    C(artifacthub.io/images) annotation of C(Chart.yaml), the images written literally in the templates, and the
    images of the values, merged as helm merges them (the chart's C(values.yaml), then O(values) in order;
    each subchart under C(charts/) gets what its parents set at its name or alias, and their C(global)).
  - "Values images follow the common conventions: C(image: repo:tag); C(image: {registry, repository, tag,
    digest}) (C(image) or C(name) may stand for C(repository)) under any key named C(image) or ending in C(Image),
    and any mapping with C(repository) and C(tag) or C(digest); C(global.imageRegistry), else
    C(global.image.registry), replaces the registry of every mapping image, and a C(digest) replaces the tag,
    as Bitnami charts render them. A mapping without a tag takes the chart's C(appVersion), the C(helm create)
    convention."
  - A subchart whose dependency C(condition) or C(tags) is false in the merged values is not read, as helm
    would not render it; RV(charts) lists it with the reason.
  - Reads rendered manifests (the output of C(helm template) or M(kubernetes.core.helm_template), kustomize
    output, plain Kubernetes YAML or JSON) - every pod template's C(containers), C(initContainers) and
    C(ephemeralContainers) in a Pod and in any kind that embeds a C(template.spec) (Deployment, StatefulSet,
    DaemonSet, ReplicaSet, Job, a CronJob's C(jobTemplate), custom resources). Files may hold several
    documents; C(List) kinds are read item by item.
  - O(queries) find images elsewhere in custom resources, with JMESPath.
  - References are normalised as Docker does (C(nginx) is C(docker.io/library/nginx:latest)), deduplicated and
    sorted. Unknowns are reported, never guessed - an image in the values without a tag, a C({{ ... }})
    template expression, a text that is not a reference - in RV(unresolved) and as warnings, with where they are.
author:
  - airgap.hangar contributors (@airgap)
attributes:
  check_mode:
    description: Reads every source and reports what would be written to O(dest), writing nothing.
    support: full
  diff_mode:
    description: Shows the lines of O(dest) before and after.
    support: full
  idempotent:
    description: O(dest) is written only when its content changes; the header holds no time stamp.
    support: full
options:
  charts:
    description:
      - Helm charts, each a chart directory or a C(.tgz) archive (as C(helm pull) or C(helm package) writes it),
        with their subcharts under C(charts/) as directories or C(.tgz) archives.
      - At least one of O(charts), O(manifests) and O(images) is required.
      - Dependencies missing from C(charts/) are reported in RV(unresolved); run C(helm dependency build) first.
      - Templates are not rendered. Their C(image:) lines written literally (a fixed init container, a test pod)
        are read; the templated ones are taken to come from the values. Pass the output of C(helm template) as
        O(manifests) for images that templates build in ways of their own.
    type: list
    elements: path
  values:
    description:
      - Values files merged over the values of every chart of O(charts), in order, as C(helm -f) does (mappings
        merged key by key, other values replaced, C(null) removing a key).
    type: list
    elements: path
    default: []
  manifests:
    description:
      - Kubernetes manifests, files or directories (read recursively, C(*.yaml), C(*.yml) and C(*.json) files in
        name order, hidden ones left out).
      - A file that is a Helm template left unrendered is not YAML - its literal C(image:) lines are read, its
        templated ones reported in RV(unresolved).
    type: list
    elements: path
  images:
    description:
      - More image references to add to the list, C([registry/][project/]name[:tag][@sha256:digest]).
    type: list
    elements: str
  queries:
    description:
      - JMESPath expressions evaluated on every manifest document (each item of a C(List)), for custom resources
        whose images are not in pod specs, for example V(spec.image) or
        V(spec.components[].template.spec.containers[].image).
      - A string result is an image; in a list result, every string is (nested lists flattened); anything else,
        and a document the expression does not match, adds nothing.
      - Requires the Python library C(jmespath).
    type: list
    elements: str
    default: []
  exclude:
    description:
      - Regular expressions (Python C(re), searched anywhere in the text); an image whose normalised reference
        matches one is left out of the list, before O(source_registry) and O(source_project) apply.
        RV(excluded) lists them.
    type: list
    elements: str
    default: []
  source_registry:
    description:
      - Replace the registry of every image in the list with this one (a mirror of the public registries, say),
        as O(airgap.hangar.hangar_save#module:source_registry) does.
      - Named as in M(airgap.hangar.hangar_save), not C(registry), so that a C(registry) set for the destination
        in a C(group/airgap.hangar.hangar) module_defaults entry does not rewrite the list.
    type: str
  source_project:
    description:
      - Replace the project (first path segment) of every image in the list, as
        O(airgap.hangar.hangar_mirror#module:source_project) does.
    type: str
  dest:
    description:
      - Write the list to this file in Hangar's default list format, one reference a line. The file is written
        only when its content changes, through a temporary file beside it; an existing file keeps its mode.
      - Its folder must exist.
    type: path
  header:
    description:
      - Start O(dest) with C(#) comment lines naming the sources (charts, values, manifests, queries), which
        every reader of image lists skips.
    type: bool
    default: true
  fail_on_unresolved:
    description:
      - Fail the task when anything is unresolved (after writing O(dest)), instead of warning.
    type: bool
    default: false
  username:
    description:
      - Not used (no registry is contacted). Accepted, like O(password), O(auth_file), O(tls_verify) and
        O(ca_path), so that the credentials and TLS options a C(group/airgap.hangar.hangar) module_defaults entry
        sets for the other modules do not fail this one.
    type: str
  password:
    description:
      - Not used; see O(username).
    type: str
  auth_file:
    description:
      - Not used; see O(username).
    type: path
  tls_verify:
    description:
      - Not used; see O(username).
    type: bool
    default: true
  ca_path:
    description:
      - Not used; see O(username).
    type: path
  registry_auth:
    description:
      - Not used; see O(username).
    type: list
    elements: dict
    suboptions:
      registry:
        description: Not used.
        type: str
        required: true
      username:
        description: Not used.
        type: str
        required: true
      password:
        description: Not used.
        type: str
        required: true
requirements:
  - PyYAML
  - jmespath (for O(queries))
notes:
  - Without rendering, images that a chart's templates build from values in a way of their own are not found,
    and images of disabled parts of a chart (C(volumePermissions.enabled=false)) are listed all the same.
    When C(helm) is at hand upstream, render the chart and pass the output as O(manifests) too; the list is
    then the union of both.
  - O(values) apply to every chart of O(charts); use one task per chart for values of one chart.
seealso:
  - module: airgap.hangar.hangar_save
  - module: kubernetes.core.helm_template
  - name: Artifact Hub annotations
    description: The C(artifacthub.io/images) annotation of Chart.yaml.
    link: https://artifacthub.io/docs/topics/annotations/helm/
'''

EXAMPLES = r'''
- name: List the images of a chart with site values, and write the list for hangar_save
  airgap.hangar.hangar_image_list:
    charts:
      - charts/monitoring-1.4.0.tgz
    values:
      - site/monitoring-values.yaml
    dest: /srv/transfer/images.txt

- name: Add what the rendered release and an operator's custom resources use
  airgap.hangar.hangar_image_list:
    charts: [charts/platform]
    manifests:
      - rendered/           # helm template output, kustomize build output
      - crds/instances.yaml
    queries:
      - spec.image
      - spec.sidecars[].image
    exclude:
      - ^docker\.io/library/busybox:
    dest: /srv/transfer/images.txt
  register: image_list

- name: Save them
  airgap.hangar.hangar_save:
    file: /srv/transfer/images.txt
    archive: /srv/transfer/images.zip

- name: Or feed the references straight to hangar_save
  airgap.hangar.hangar_save:
    images: "{{ image_list.references }}"
    archive: /srv/transfer/images.zip

- name: List them as they are on a local mirror of the public registries
  airgap.hangar.hangar_image_list:
    manifests: [rendered/]
    source_registry: mirror.example.internal:5000
    dest: /srv/transfer/images-from-mirror.txt
'''

RETURN = r'''
references:
  description: The image list, normalised, deduplicated and sorted; what O(dest) holds after its header.
  returned: always
  type: list
  elements: str
  sample: [docker.io/bitnami/nginx:1.25.3, quay.io/prometheus/prometheus:v2.53.0]
images:
  description: One entry per image of RV(references), in the same order, with every place it was found.
  returned: always
  type: list
  elements: dict
  contains:
    reference:
      description: The reference as listed.
      type: str
      sample: docker.io/bitnami/nginx:1.25.3
    found:
      description: Where it was found.
      type: list
      elements: dict
      contains:
        file:
          description:
            - The file; inside a chart archive, C(archive.tgz:chart/values.yaml). Empty for O(images).
          type: str
          sample: charts/nginx-15.0.0.tgz:nginx/values.yaml
        object:
          description: The object, C(kind/name) - C(Deployment/web), or C(Chart/name) for charts and values.
          type: str
          sample: Deployment/web
        path:
          description: The path in the document, C(spec.template.spec.initContainers[0].image); for a query,
            the query (after the item's path in a C(List)).
          type: str
          sample: spec.template.spec.containers[0].image
        document:
          description: The document's number in a multi-document manifest file, from 0.
          type: int
          returned: for manifests
        note:
          description: How the reference was made when not written whole (registry from C(global.imageRegistry),
            tag from the chart's C(appVersion), a query).
          type: str
          returned: when there is one
unresolved:
  description: What looked like an image and could not be made a reference, with where and why; each is also a warning.
  returned: always
  type: list
  elements: dict
  contains:
    value:
      description: The text or node found.
      type: str
    reason:
      description: Why it is not in the list.
      type: str
      sample: a template expression, not rendered
    file:
      description: As in RV(images[].found).
      type: str
    object:
      description: As in RV(images[].found).
      type: str
    path:
      description: As in RV(images[].found).
      type: str
excluded:
  description: The normalised references O(exclude) left out.
  returned: always
  type: list
  elements: str
charts:
  description: Every chart and subchart read, or left out by its dependency condition.
  returned: always
  type: list
  elements: dict
  contains:
    file:
      description: The chart's folder, or C(archive.tgz:folder).
      type: str
    name:
      description: The chart's name.
      type: str
    version:
      description: The chart's version.
      type: str
    enabled:
      description: Whether it was read (false when its dependency condition or tags are false).
      type: bool
    reason:
      description: Why it was left out.
      type: str
      returned: when not enabled
    parent:
      description: The name of the parent chart.
      type: str
      returned: for subcharts
    values_key:
      description: The key of its values in the parent's values (its alias or name).
      type: str
      returned: for subcharts
    images_found:
      description: Image texts found in its annotation and values (before normalising and deduplicating).
      type: int
added:
  description: References in the list that O(dest) did not hold (all of them when it did not exist).
  returned: when O(dest) is given
  type: list
  elements: str
removed:
  description: References O(dest) held that are no longer in the list.
  returned: when O(dest) is given
  type: list
  elements: str
dest:
  description: The list file.
  returned: when O(dest) is given
  type: str
msg:
  description: A one-line summary.
  returned: always
  type: str
  sample: "Found 14 images in 3 charts and 6 manifest documents (1 unresolved); wrote /srv/transfer/images.txt"
'''

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.module_options import (
    REGISTRY_OPTIONS,
    argument_spec,
    fail_without,
)
from ansible_collections.airgap.hangar.plugins.module_utils._discovery.listing import (
    ImageListRequest,
    generate_image_list,
    read_text,
    render_list,
    write_text,
)
from ansible_collections.airgap.hangar.plugins.module_utils._errors import HangarError
from ansible_collections.airgap.hangar.plugins.module_utils._image.image_list import parse_line
from ansible_collections.airgap.hangar.plugins.module_utils._requirements import jmespath, yaml

MAX_WARNINGS = 20


class ImageListManager:
    def __init__(self, module):
        self.module = module
        params = module.params
        self.request = ImageListRequest(
            charts=params["charts"] or [], values=params["values"], manifests=params["manifests"] or [],
            images=params["images"] or [], queries=params["queries"], exclude=params["exclude"],
            registry=params["source_registry"], project=params["source_project"])
        self.dest = params["dest"]
        self.header = params["header"]

    def _sources(self):
        if not self.header:
            return None
        request = self.request
        return [("charts", request.charts), ("values", request.values), ("manifests", request.manifests),
                ("queries", request.queries)]

    def run(self):
        found = generate_image_list(self.request)
        result = dict(changed=False, references=found.references, images=found.images,
                      unresolved=[u.as_dict() for u in found.unresolved], excluded=found.excluded,
                      charts=found.charts)
        written = ""
        if self.dest:
            before = read_text(self.dest)
            after = render_list(found.references, self._sources())
            held = _listed(before)
            held_set, listing = set(held), set(found.references)
            result.update(dest=self.dest, added=[r for r in found.references if r not in held_set],
                          removed=[r for r in held if r not in listing])
            result["changed"] = before != after
            if result["changed"] and not self.module.check_mode:
                write_text(self.dest, after)
            if result["changed"]:
                written = "; %s %s" % ("would write" if self.module.check_mode else "wrote", self.dest)
            else:
                written = "; %s unchanged" % self.dest
            if self.module._diff:
                result["diff"] = dict(before=before or "", after=after, before_header=self.dest,
                                      after_header=self.dest)
        enabled = sum(1 for chart in found.charts if chart["enabled"])
        result["msg"] = "Found %d image%s in %d chart%s and %d manifest document%s (%d unresolved)%s" % (
            len(found.references), "" if len(found.references) == 1 else "s", enabled, "" if enabled == 1 else "s",
            found.documents, "" if found.documents == 1 else "s", len(found.unresolved), written)
        for unresolved in found.unresolved[:MAX_WARNINGS]:
            self.module.warn("unresolved image: %s" % unresolved)
        if len(found.unresolved) > MAX_WARNINGS:
            self.module.warn("%d more unresolved images: see unresolved in the result"
                             % (len(found.unresolved) - MAX_WARNINGS))
        return result


def _listed(text):
    """The references of an existing list file (its comments skipped; lines we cannot read ignored)."""
    references = []
    for number, line in enumerate((text or "").splitlines(), 1):
        try:
            entry = parse_line(line, "dest line %d" % number)
        except HangarError:
            continue
        if entry is not None:
            references.append(line.strip())
    return references


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            REGISTRY_OPTIONS,
            charts=dict(type="list", elements="path"),
            values=dict(type="list", elements="path", default=[]),
            manifests=dict(type="list", elements="path"),
            images=dict(type="list", elements="str"),
            queries=dict(type="list", elements="str", default=[]),
            exclude=dict(type="list", elements="str", default=[]),
            source_registry=dict(type="str"),
            source_project=dict(type="str"),
            dest=dict(type="path"),
            header=dict(type="bool", default=True),
            fail_on_unresolved=dict(type="bool", default=False),
        ),
        required_one_of=[("charts", "manifests", "images")],
        supports_check_mode=True,
    )
    fail_without(module, yaml, probe=True)
    if module.params["queries"]:
        fail_without(module, jmespath)
    if module.params["values"] and not module.params["charts"]:
        module.warn("values are merged over the values of charts, and no charts are given: values ignored")
    if module.params["queries"] and not module.params["manifests"]:
        module.warn("queries run on manifest documents, and no manifests are given: queries ignored")
    try:
        result = ImageListManager(module).run()
    except HangarError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-exception-caught
        module.fail_json(msg="Error generating the image list: %s" % exc, exception=traceback.format_exc())
    if module.params["fail_on_unresolved"] and result["unresolved"]:
        first = result["unresolved"][0]
        module.fail_json(**dict(result, msg="%d unresolved image%s; first: %s in %s: %s. %s" % (
            len(result["unresolved"]), "" if len(result["unresolved"]) == 1 else "s", first["value"],
            first["file"] or first["path"], first["reason"], result["msg"])))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
