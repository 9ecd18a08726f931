# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A value in force for one thread while a block runs (private module_utils, no Ansible imports): the
per-image deadline and retry budget reach every request a copy makes this way, without being passed
through each call."""

from __future__ import annotations

import contextlib
import threading


class ThreadScope:
    def __init__(self):
        self._local = threading.local()

    @contextlib.contextmanager
    def bound(self, value):
        """`value` is current() on this thread until the block ends; the previous one then again."""
        previous = getattr(self._local, "value", None)
        self._local.value = value
        try:
            yield value
        finally:
            self._local.value = previous

    def current(self):
        return getattr(self._local, "value", None)
