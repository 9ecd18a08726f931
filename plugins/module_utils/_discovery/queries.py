# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""JMESPath queries run on every manifest document, for custom resources whose images are not in pod specs
(private module_utils, no Ansible imports).

A query's result may be a string, or a list (nested lists flattened) whose strings are all taken; anything
else, and a document where the query finds nothing, adds nothing. jmespath is imported when the first
query is compiled (`_requirements.py`), so that the import test passes without it; the module asks for it only
when queries are given.
"""

from __future__ import annotations

from dataclasses import replace

from .._errors import InputError
from .._requirements import jmespath


def _strings(value):
    if isinstance(value, str):
        if value.strip():
            yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class Queries:
    """Compiled expressions; InputError names the one that does not compile."""

    def __init__(self, expressions, findings):
        self.findings = findings
        self.compiled = []
        for number, expression in enumerate(expressions):
            if not isinstance(expression, str) or not expression.strip():
                raise InputError("invalid queries[%d] %r: expected a JMESPath expression such as spec.image"
                                 % (number, expression))
            try:
                self.compiled.append((expression, jmespath.compile(expression)))
            except jmespath.exceptions.JMESPathError as exc:
                raise InputError("invalid queries[%d] %r: not a JMESPath expression: %s"
                                 % (number, expression, str(exc).replace("\n", " "))) from exc

    def run(self, document, location):
        """Every image text each query finds in `document`; `location.path` is the document's prefix in a List."""
        for expression, compiled in self.compiled:
            try:
                result = compiled.search(document)
            except jmespath.exceptions.JMESPathError:
                continue  # a function applied to a field this document does not have in that type
            for text in _strings(result):
                path = "%s | %s" % (location.path, expression) if location.path else expression
                self.findings.image(text, replace(location, path=path, note="query"))
