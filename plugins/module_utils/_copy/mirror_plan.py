# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where each image of a mirror (or a mirror validation) comes from and goes to
(private module_utils, no Ansible imports).

`SOURCE DEST TAG` lines keep the registry written in DEST unless `registry` is given; default-format
lines need `registry`. `project` replaces the destination project, `source_registry` and
`source_project` the source's.
"""

from __future__ import annotations

from .._errors import InputError
from .._image.image_list import collect_entries
from .._image.reference import ImageReference, normalize_registry
from .model import ImageResult


def plan_mirror(images=None, file=None, registry=None, project=None, source_registry=None, source_project=None):
    registry = normalize_registry(registry) if registry else None
    source_registry = normalize_registry(source_registry) if source_registry else None
    results = []
    for entry in collect_entries(images, file, allow_mirror=True):
        source = entry.source
        if entry.dest is not None:
            dest = entry.dest.with_registry(registry) if registry else entry.dest
        elif registry:
            dest = ImageReference(registry, source.repository, source.tag, source.digest)
        else:
            raise InputError("Error reading %s %r: a line with only a source needs the registry option, "
                             "or use the SOURCE DEST TAG format" % (entry.origin, entry.line))
        if source_registry:
            source = source.with_registry(source_registry)
        if source_project:
            source = source.with_project(source_project)
        if project:
            dest = dest.with_project(project)
        results.append(ImageResult(source, str(dest), entry=entry, dest_ref=dest))
    return results
