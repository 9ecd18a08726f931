# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""YAML documents from files and archive members, read safely and within bounds (private module_utils, no
Ansible imports).

PyYAML is imported when the first document is read (`_requirements.py`): ansible-test's import test runs
without it, and the module then fails with missing_required_lib("PyYAML").
"""

from __future__ import annotations

from .._errors import InputError
from .._requirements import yaml

# Chart.yaml, values files and rendered manifests are small; a bigger file is not what the user meant.
MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
# YAML aliases let a small file name a node many times over; walking it is bounded by this many visits.
MAX_NODE_VISITS = 2000000


def _loader():
    return getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader


def decode(data, origin):
    if len(data) > MAX_DOCUMENT_BYTES:
        raise InputError("Error reading %s: %d bytes, more than the %d a YAML file may have here"
                         % (origin, len(data), MAX_DOCUMENT_BYTES))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError("Error reading %s: not UTF-8 text (%s)" % (origin, exc)) from exc


def read_file(path):
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise InputError("Error reading %s: %s" % (path, exc.strerror or exc)) from exc
    return decode(data, path)


class YAMLSyntaxError(InputError):
    """The text is not YAML; `line` is where the parser stopped (1-based) when it says."""

    def __init__(self, origin, cause):
        mark = getattr(cause, "problem_mark", None)
        self.line = mark.line + 1 if mark is not None else None
        where = " line %d" % self.line if self.line else ""
        problem = getattr(cause, "problem", None) or str(cause)
        super().__init__("Error reading %s%s: not valid YAML: %s" % (origin, where, problem))


def load_all(text, origin):
    """Every document of a multi-document YAML text, None for empty ones."""
    try:
        return list(yaml.load_all(text, Loader=_loader()))
    except yaml.YAMLError as exc:
        raise YAMLSyntaxError(origin, exc) from exc
    except RecursionError as exc:
        raise InputError("Error reading %s: nested too deeply" % origin) from exc


def load_one(text, origin, expected=dict):
    """The single document of a YAML text (Chart.yaml, a values file); an empty text is an empty mapping."""
    documents = [d for d in load_all(text, origin) if d is not None]
    if not documents:
        return expected()
    if len(documents) > 1 or not isinstance(documents[0], expected):
        raise InputError("Error reading %s: expected one YAML %s" % (
            origin, "mapping" if expected is dict else expected.__name__))
    return documents[0]


class NodeBudget:
    """Counts the nodes a walk visits in one file, and stops a walk that YAML aliases made explode."""

    def __init__(self, origin):
        self.origin = origin
        self.visits = 0

    def spend(self):
        self.visits += 1
        if self.visits > MAX_NODE_VISITS:
            raise InputError("Error reading %s: more than %d nodes to visit (YAML aliases repeated over and over?)"
                             % (self.origin, MAX_NODE_VISITS))
