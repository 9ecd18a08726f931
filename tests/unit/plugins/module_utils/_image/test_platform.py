"""Platforms and the arch/os allow-lists (BEHAVIOUR.md, "Platforms")."""

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._image.platform import (
    Platform,
    PlatformFilter,
    attestation_subject,
    is_attestation,
)

LINUX_AMD64 = Platform(os="linux", architecture="amd64")
LINUX_ARM64 = Platform(os="linux", architecture="arm64")
LINUX_ARM64_V8 = Platform(os="linux", architecture="arm64", variant="v8")
LINUX_ARM_V7 = Platform(os="linux", architecture="arm", variant="v7")
LINUX_ARM_V6 = Platform(os="linux", architecture="arm", variant="v6")
LINUX_S390X = Platform(os="linux", architecture="s390x")
WINDOWS_AMD64 = Platform(os="windows", architecture="amd64", os_version="10.0.17763.5576")
UNKNOWN = Platform(os="unknown", architecture="unknown")


@pytest.mark.parametrize("arch, os, platform, allowed", [
    pytest.param([], [], WINDOWS_AMD64, True, id="empty-lists-allow-everything"),
    pytest.param(None, None, UNKNOWN, True, id="none-allows-everything"),
    pytest.param(["amd64", "arm64"], ["linux"], LINUX_AMD64, True, id="defaults-amd64"),
    pytest.param(["amd64", "arm64"], ["linux"], LINUX_ARM64_V8, True, id="defaults-arm64-v8"),
    pytest.param(["amd64", "arm64"], ["linux"], LINUX_ARM_V7, False, id="defaults-exclude-arm"),
    pytest.param(["amd64", "arm64"], ["linux"], WINDOWS_AMD64, False, id="defaults-exclude-windows"),
    pytest.param(["amd64", "arm64"], ["linux"], UNKNOWN, False, id="defaults-exclude-unknown"),
    pytest.param(["arm64"], [], LINUX_ARM64, True, id="arm64-allows-arm64"),
    pytest.param(["arm64"], [], LINUX_ARM64_V8, True, id="arm64-allows-arm64-v8"),
    pytest.param(["arm64/v8"], [], LINUX_ARM64, True, id="arm64-v8-allows-arm64"),
    pytest.param(["arm64/v8"], [], LINUX_ARM64_V8, True, id="arm64-v8-allows-arm64-v8"),
    pytest.param(["arm"], [], LINUX_ARM_V6, True, id="arch-without-variant-allows-every-variant"),
    pytest.param(["arm/v7"], [], LINUX_ARM_V7, True, id="arch-with-variant-allows-it"),
    pytest.param(["arm/v7"], [], LINUX_ARM_V6, False, id="arch-with-variant-excludes-others"),
    pytest.param(["arm64/v9"], [], LINUX_ARM64, False, id="other-arm64-variant"),
    pytest.param([" amd64 ", ""], [], LINUX_AMD64, True, id="blanks-ignored"),
    pytest.param([], ["windows"], WINDOWS_AMD64, True, id="os-only-allows"),
    pytest.param([], ["windows"], LINUX_AMD64, False, id="os-only-excludes"),
    pytest.param(["amd64"], ["windows"], LINUX_AMD64, False, id="must-pass-both-os-fails"),
    pytest.param(["arm64"], ["linux"], LINUX_AMD64, False, id="must-pass-both-arch-fails"),
])
def test_platform_filter(arch, os, platform, allowed):
    assert PlatformFilter(arch, os).allows(platform) is allowed


@pytest.mark.parametrize("arch, os, everything, text", [
    pytest.param([], [], True, "arch any, os any", id="empty"),
    pytest.param(["amd64", "arm/v7"], ["linux"], False, "arch amd64,arm/v7, os linux", id="lists"),
])
def test_platform_filter_describe(arch, os, everything, text):
    platform_filter = PlatformFilter(arch, os)
    assert platform_filter.allows_everything is everything
    assert platform_filter.describe() == text


@pytest.mark.parametrize("a, b, same", [
    pytest.param(LINUX_ARM64, LINUX_ARM64_V8, True, id="arm64-is-arm64-v8"),
    pytest.param(LINUX_AMD64, Platform(os="linux", architecture="amd64", variant="v1"), True, id="amd64-is-amd64-v1"),
    pytest.param(Platform(os="linux", architecture="amd64", variant="v2"), LINUX_AMD64, False, id="amd64-v2-differs"),
    pytest.param(LINUX_ARM_V7, LINUX_ARM_V6, False, id="arm-variants-differ"),
    pytest.param(WINDOWS_AMD64, Platform(os="windows", architecture="amd64", os_version="10.0.20348.2340"), False,
                 id="windows-os-version-differs"),
    pytest.param(WINDOWS_AMD64, Platform(os="windows", architecture="amd64", os_version="10.0.17763.5576",
                                         os_features=("win32k",)), True, id="os-features-do-not-count"),
    pytest.param(LINUX_AMD64, Platform(os="windows", architecture="amd64"), False, id="os-differs"),
])
def test_platform_key(a, b, same):
    assert (a.key == b.key) is same


@pytest.mark.parametrize("document, platform", [
    pytest.param({"architecture": "arm64", "os": "linux", "variant": "v8"}, LINUX_ARM64_V8, id="with-variant"),
    pytest.param({"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.5576",
                  "os.features": ["win32k"]},
                 Platform(os="windows", architecture="amd64", os_version="10.0.17763.5576", os_features=("win32k",)),
                 id="windows"),
    pytest.param(None, Platform(), id="none"),
    pytest.param({"architecture": "amd64", "os": "linux", "variant": None}, LINUX_AMD64, id="null-variant"),
])
def test_platform_from_dict(document, platform):
    assert Platform.from_dict(document) == platform


@pytest.mark.parametrize("platform, document", [
    pytest.param(LINUX_AMD64, {"architecture": "amd64", "os": "linux"}, id="plain"),
    pytest.param(LINUX_ARM_V7, {"architecture": "arm", "os": "linux", "variant": "v7"}, id="variant"),
    pytest.param(Platform(os="windows", architecture="amd64", os_version="10.0.1", os_features=("win32k",)),
                 {"architecture": "amd64", "os": "windows", "os.version": "10.0.1", "os.features": ["win32k"]},
                 id="windows"),
])
def test_platform_to_dict_round_trip(platform, document):
    assert platform.to_dict() == document
    assert Platform.from_dict(document) == platform


@pytest.mark.parametrize("platform, text", [
    pytest.param(LINUX_ARM_V7, "linux/arm/v7", id="variant"),
    pytest.param(LINUX_AMD64, "linux/amd64", id="plain"),
    pytest.param(Platform(), "unknown/unknown", id="empty"),
])
def test_platform_str(platform, text):
    assert str(platform) == text


WINDOWS_CONFIG = {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.5576",
                  "os.features": ["win32k"], "config": {}, "rootfs": {"type": "layers", "diff_ids": []}}
ARM_CONFIG = {"architecture": "arm", "os": "linux", "variant": "v7"}


@pytest.mark.parametrize("listed, config, completed", [
    pytest.param(Platform(os="windows", architecture="amd64"), WINDOWS_CONFIG,
                 Platform(os="windows", architecture="amd64", os_version="10.0.17763.5576", os_features=("win32k",)),
                 id="windows-os-version-from-config"),
    pytest.param(Platform(os="linux", architecture="arm"), ARM_CONFIG, LINUX_ARM_V7, id="arm-variant-from-config"),
    pytest.param(LINUX_ARM_V6, ARM_CONFIG, LINUX_ARM_V6, id="listed-variant-wins"),
    pytest.param(Platform(os="windows", architecture="amd64", os_version="10.0.1"), WINDOWS_CONFIG,
                 Platform(os="windows", architecture="amd64", os_version="10.0.1", os_features=("win32k",)),
                 id="listed-os-version-wins"),
    pytest.param(Platform(), {"architecture": "amd64", "os": "linux"}, LINUX_AMD64, id="nothing-listed"),
    pytest.param(LINUX_AMD64, {}, LINUX_AMD64, id="empty-config"),
])
def test_completed_from(listed, config, completed):
    assert listed.completed_from(Platform.from_config(config)) == completed


DIGEST = "sha256:" + "cd" * 32


@pytest.mark.parametrize("descriptor, attestation, subject", [
    pytest.param({"platform": {"architecture": "unknown", "os": "unknown"},
                  "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                  "vnd.docker.reference.digest": DIGEST}}, True, DIGEST, id="attestation"),
    pytest.param({"platform": {"architecture": "amd64", "os": "linux"}}, False, None, id="platform-manifest"),
    pytest.param({"annotations": {"vnd.docker.reference.type": "something-else"}}, False, None, id="other-type"),
    pytest.param({"annotations": None}, False, None, id="null-annotations"),
])
def test_attestation(descriptor, attestation, subject):
    assert is_attestation(descriptor) is attestation
    assert attestation_subject(descriptor) == subject
