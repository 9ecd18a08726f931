# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    # Each piece is written once and modules take the pieces they need (ansible-test reads only literal
    # strings here): a destination module takes airgap.hangar.hangar (its credentials) with .connection;
    # hangar_save, whose registries are all sources, takes .connection and .source_credentials.

    # The destination's credentials (load, mirror, validate): the registry the module writes to or checks.
    DOCUMENTATION = r'''
options:
  username:
    description:
      - User name for the destination registry (C(registry)), and only for it. It is never sent to a source
        registry, nor to a destination other than the one C(registry) names. With C(SOURCE DEST TAG) lines
        and no C(registry), it goes to the one registry the lines name; when they name several, setting it
        is an error (use O(registry_auth)).
      - When not set, the destination's credentials come from O(registry_auth), else O(auth_file), else
        C(REGISTRY_AUTH_FILE), the containers C(auth.json) and C(~/.docker/config.json), including
        C(credHelpers) and C(credsStore) when the C(docker-credential-*) helper is installed.
      - If not set, the value of the E(HANGAR_REGISTRY_USERNAME) environment variable is used.
      - O(username) and O(password) are given together or not at all.
    type: str
  password:
    description:
      - Password or token for the destination registry. Never shown in results or logs.
      - If not set, the value of the E(HANGAR_REGISTRY_PASSWORD) environment variable is used.
      - Set that variable in the environment of C(ansible-playbook) itself (as AWX credentials do), not with
        a task's C(environment) keyword, whose values C(ansible-playbook -vvv) prints.
    type: str
'''

    # How to reach the registries: per-registry credentials, the credential file, TLS.
    CONNECTION = r'''
options:
  registry_auth:
    description:
      - Credentials for particular registries, each sent to its own registry only (for example one login
        for each of several source registries).
      - The credentials of a side (C(username) for the destination, C(source_username) for the sources, where
        the module has them) win over an entry for the same registry.
      - A registry that neither has gets its credentials from the credential files, as docker and skopeo do.
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      registry:
        description:
          - The registry, C(host[:port]) (V(docker.io) for Docker Hub).
        type: str
        required: true
      username:
        description:
          - User name for that registry.
        type: str
        required: true
      password:
        description:
          - Password or token for that registry. Never shown in results or logs.
        type: str
        required: true
  auth_file:
    description:
      - A C(auth.json) or C(~/.docker/config.json) style file to read credentials from, instead of the
        default locations. Each registry gets the credentials the file has for it, and no other.
    type: path
  tls_verify:
    description:
      - Verify the registry's TLS certificate.
      - Set to V(false) for a registry with a self-signed certificate or one that speaks plain HTTP. The
        module then falls back to plain HTTP only when the registry answered the TLS handshake in plain HTTP;
        any other HTTPS failure (a timeout, a refused or broken connection) is reported as it is, so that
        credentials are never sent in clear to a registry that merely failed to answer.
    type: bool
    default: true
  ca_path:
    description:
      - A CA bundle file (or directory) to verify the registry's certificate with.
    type: path
'''

    # The sources' credentials (save, mirror, validate): the registries the module reads from.
    SOURCE_CREDENTIALS = r'''
options:
  source_username:
    description:
      - User name for the source registry, and only for it. It goes to O(source_registry) when that is set,
        else to the one registry the images name. When the images name several registries, setting it is an
        error; give each its credentials in O(registry_auth).
      - It is never sent to the destination, and the destination's C(username)/E(HANGAR_REGISTRY_USERNAME)
        are never sent to a source.
      - When not set, credentials come from O(registry_auth), else O(auth_file) and the default credential
        files, for each source registry.
      - If not set, the value of the E(HANGAR_SOURCE_USERNAME) environment variable is used.
      - O(source_username) and O(source_password) are given together or not at all.
    type: str
  source_password:
    description:
      - Password or token for the source registry. Never shown in results or logs.
      - If not set, the value of the E(HANGAR_SOURCE_PASSWORD) environment variable is used.
      - Set that variable in the environment of C(ansible-playbook) itself (as AWX credentials do), not with
        a task's C(environment) keyword, whose values C(ansible-playbook -vvv) prints.
    type: str
'''

    SOURCE_TLS = r'''
options:
  source_tls_verify:
    description:
      - Verify the TLS certificates of the source registries (plain HTTP as for O(tls_verify)).
    type: bool
    default: true
  source_ca_path:
    description:
      - A CA bundle file (or directory) to verify the source registries' certificates with.
    type: path
'''

    PLATFORMS = r'''
options:
  arch:
    description:
      - Architectures to copy; an entry may name a variant (V(arm/v7)). V(arm64) and V(arm64/v8) are the same.
      - An empty list allows every architecture.
    type: list
    elements: str
    default: [amd64, arm64]
  os:
    description:
      - Operating systems to copy. An empty list allows every operating system.
    type: list
    elements: str
    default: [linux]
  provenance:
    description:
      - Copy the attestation manifests (SBOM, provenance) of the platforms copied.
    type: bool
    default: true
'''

    TRANSFER = r'''
options:
  jobs:
    description:
      - How many images are handled at once, from 1 to 20.
    type: int
    default: 4
  timeout:
    description:
      - Deadline for each image, as seconds or a duration such as V(90s), V(10m) or V(1h).
    type: raw
    default: 10m
  failed_file:
    description:
      - Write the images that failed to this file, one line each in the format they were given in,
        so the file can be passed back as O(file) for a retry. Nothing is written when nothing failed.
    type: path
'''

    # Signing what a load or mirror pushes (cosign signatures).
    SIGNING = r'''
options:
  sigstore_private_key:
    description:
      - Sign every image pushed with this sigstore private key, as the Hangar CLI's C(--sigstore-private-key) does.
      - Accepts cosign key files (C(ENCRYPTED COSIGN PRIVATE KEY), C(ENCRYPTED SIGSTORE PRIVATE KEY), as written by
        C(cosign generate-key-pair), C(hangar generate-sigstore-key) and M(airgap.hangar.hangar_sigstore_key)) and
        PKCS#8 PEM keys, plain or encrypted. The key must be ECDSA P-256.
      - After an image is in the registry, its top-level digest and every platform manifest copied (not attestation
        manifests) get a signature in the cosign layout (tag C(sha256-<hex>.sig) in the same repository), with the
        identity C(<registry>/<repository>:<tag>) (C(<registry>/<repository>) for an image pinned by digest only).
        A digest that already carries a signature verifying with this key
        is left alone, so reruns add nothing.
      - The key is loaded, and its passphrase checked, before anything is pushed.
    type: path
    version_added: 0.2.0
  sigstore_passphrase:
    description:
      - The passphrase of O(sigstore_private_key). Never shown in results or logs. An empty passphrase is allowed.
      - If not set, the value of the E(HANGAR_SIGSTORE_PASSPHRASE) environment variable is used.
      - O(sigstore_passphrase_file) takes precedence when both are set.
    type: str
    version_added: 0.2.0
  sigstore_passphrase_file:
    description:
      - A file whose first line is the passphrase of O(sigstore_private_key), as the Hangar CLI's
        C(--sigstore-passphrase-file).
    type: path
    version_added: 0.2.0
'''

    # Carrying signatures, attestations, SBOMs and referrers with the images.
    ARTIFACTS = r'''
options:
  remove_signatures:
    description:
      - Do not copy the images' supply-chain artifacts, as the Hangar CLI's C(--remove-signatures).
      - By default, for every manifest copied (the top-level one and each platform manifest), its cosign
        attachments (tags C(sha256-<hex>.sig), C(.att), C(.sbom) in the same repository) and its OCI 1.1 referrers
        (manifests whose C(subject) is that digest, found through the referrers API, or the C(sha256-<hex>) referrers
        tag schema where the registry has no such API) are copied after the image, byte for byte.
      - A C(.sig) or C(.att) tag that already holds other layers at a registry destination gets the missing layers
        appended. In an archive, artifacts are stored as blobs listed with their image, so a load restores them;
        the Hangar CLI ignores them.
      - A platform-filtered copy carries only the artifacts of the manifests it copied; the new index it builds has
        none of the source index's.
    type: bool
    default: false
    version_added: 0.2.0
'''
