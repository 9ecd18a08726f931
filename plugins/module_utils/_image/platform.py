# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Platforms and the arch/os allow-lists (private module_utils, no Ansible imports)."""

from __future__ import annotations

from dataclasses import dataclass

ATTESTATION_TYPE = "attestation-manifest"
REFERENCE_TYPE_ANNOTATION = "vnd.docker.reference.type"
REFERENCE_DIGEST_ANNOTATION = "vnd.docker.reference.digest"
UNKNOWN = "unknown"

# Variants that mean the same as no variant at all.
_DEFAULT_VARIANTS = {"arm64": "v8", "amd64": "v1"}


def _normal_variant(architecture, variant):
    variant = variant or ""
    return "" if _DEFAULT_VARIANTS.get(architecture) == variant else variant


@dataclass(frozen=True)
class Platform:
    os: str = ""
    architecture: str = ""
    variant: str = ""
    os_version: str = ""
    os_features: tuple = ()

    @classmethod
    def from_dict(cls, platform):
        platform = platform or {}
        return cls(
            os=platform.get("os", "") or "",
            architecture=platform.get("architecture", "") or "",
            variant=platform.get("variant", "") or "",
            os_version=platform.get("os.version", "") or "",
            os_features=tuple(platform.get("os.features") or ()),
        )

    @classmethod
    def from_config(cls, config):
        """The platform an image config declares (`os`, `architecture`, `variant`, `os.version`...)."""
        return cls.from_dict(config)

    def to_dict(self):
        result = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            result["os.version"] = self.os_version
        if self.os_features:
            result["os.features"] = list(self.os_features)
        if self.variant:
            result["variant"] = self.variant
        return result

    def completed_from(self, config_platform):
        """Fill in os.version/os.features (Windows) and variant (arm) missing here from the config."""
        return Platform(
            os=self.os or config_platform.os,
            architecture=self.architecture or config_platform.architecture,
            variant=self.variant or config_platform.variant,
            os_version=self.os_version or config_platform.os_version,
            os_features=self.os_features or config_platform.os_features,
        )

    @property
    def key(self):
        """What identifies a platform in an index: arm64 and arm64/v8 share one key; Windows
        os.version distinguishes entries."""
        return (self.os, self.architecture, _normal_variant(self.architecture, self.variant), self.os_version)

    def __str__(self):
        text = "%s/%s" % (self.os or UNKNOWN, self.architecture or UNKNOWN)
        if self.variant:
            text += "/" + self.variant
        return text


def is_attestation(descriptor):
    annotations = descriptor.get("annotations") or {}
    return annotations.get(REFERENCE_TYPE_ANNOTATION) == ATTESTATION_TYPE


def attestation_subject(descriptor):
    """The platform manifest digest an attestation descriptor refers to."""
    return (descriptor.get("annotations") or {}).get(REFERENCE_DIGEST_ANNOTATION)


class PlatformFilter:
    """`arch` and `os` allow-lists; an empty list allows everything. An arch entry may carry a
    variant (`arm/v7`); without one it allows every variant of that architecture."""

    def __init__(self, arch=None, os=None):
        self.arch = [a.strip() for a in (arch or []) if a and a.strip()]
        self.os = [o.strip() for o in (os or []) if o and o.strip()]
        self._arch_rules = []
        for entry in self.arch:
            architecture, _unused, variant = entry.partition("/")
            self._arch_rules.append((architecture, _normal_variant(architecture, variant) if variant else None))

    def allows(self, platform):
        if self.os and platform.os not in self.os:
            return False
        if not self._arch_rules:
            return True
        variant = _normal_variant(platform.architecture, platform.variant)
        for architecture, wanted_variant in self._arch_rules:
            if platform.architecture == architecture and (wanted_variant is None or wanted_variant == variant):
                return True
        return False

    @property
    def allows_everything(self):
        return not self.arch and not self.os

    def describe(self):
        return "arch %s, os %s" % (",".join(self.arch) or "any", ",".join(self.os) or "any")
