# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the readers of charts, values and manifests found: image texts and the unknowns, each with where it
was (private module_utils, no Ansible imports).

The readers only record; normalising, excluding and overriding happen once, in listing.py.
"""

from __future__ import annotations

from dataclasses import dataclass

# A Helm/Go template expression: the text is not an image reference until something renders it.
TEMPLATE_OPEN, TEMPLATE_CLOSE = "{{", "}}"


def is_template(text):
    return isinstance(text, str) and TEMPLATE_OPEN in text


def format_path(parts):
    """`spec.template.spec.containers[0].image` from ["spec", "template", "spec", "containers", 0, "image"]."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += "[%d]" % part
        elif "." in part or " " in part or not part:
            text += '["%s"]' % part
        else:
            text += ("." if text else "") + part
    return text


@dataclass(frozen=True)
class Location:
    """Where a text was found: the file (`chart.tgz:chart/values.yaml` inside an archive), the object
    (`Deployment/web`, `Chart/nginx`), the path in the document, a note on how the text was made, and for
    manifests the document's number in its file."""

    file: str
    object: str = ""
    path: str = ""
    note: str = ""
    document: int | None = None  # the document's number in a multi-document file, from 0

    def as_dict(self):
        result = dict(file=self.file, object=self.object, path=self.path)
        if self.document is not None:
            result["document"] = self.document
        if self.note:
            result["note"] = self.note
        return result

    def __str__(self):
        where = self.file
        if self.document:
            where += " document %d" % self.document
        if self.object:
            where += " " + self.object
        if self.path:
            where += " " + self.path
        return where


@dataclass(frozen=True)
class Unresolved:
    value: str
    reason: str
    location: Location

    def as_dict(self):
        return dict(self.location.as_dict(), value=self.value, reason=self.reason)

    def __str__(self):
        return "%s: %s (%r)" % (self.location, self.reason, self.value)


class Findings:
    """The image texts found, in the order found, and what could not be resolved."""

    def __init__(self):
        self.images = []       # (text, Location)
        self.unresolved = []   # Unresolved

    def image(self, text, location):
        """Record an image text; a template expression is recorded as unresolved instead."""
        if is_template(text):
            self.unknown(text, "a template expression, not rendered; render the chart (helm template) and pass "
                               "the output as manifests", location)
        else:
            self.images.append((text.strip(), location))

    def unknown(self, value, reason, location):
        self.unresolved.append(Unresolved(str(value), reason, location))
