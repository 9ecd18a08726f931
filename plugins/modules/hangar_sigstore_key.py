#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: hangar_sigstore_key
short_description: Generate a sigstore key pair for signing images
version_added: 0.2.0
description:
  - Writes a new ECDSA P-256 key pair as C(<path>.key) (mode 0600) and C(<path>.pub), like the Hangar CLI's
    C(generate-sigstore-key).
  - The private key is written in cosign's C(ENCRYPTED COSIGN PRIVATE KEY) format (scrypt N=32768, NaCl secretbox),
    which every version of cosign, containers/image (skopeo, podman, CRI-O) and the Hangar CLI reads. The public key
    is a C(PUBLIC KEY) PEM file, for O(airgap.hangar.hangar_validate#module:sigstore_public_key), cosign's C(--key)
    and containers C(policy.json) C(keyPath).
  - An existing pair that is readable with the passphrase is left alone. A public key missing beside a readable
    private key is written again. Anything else present (a wrong passphrase, a public key of another key, a public
    key without its private key) fails the task rather than destroying a key, unless O(force=true).
author:
  - airgap.hangar contributors (@airgap)
attributes:
  check_mode:
    description: Checks the existing files and reports whether a pair would be created, writing nothing.
    support: full
  diff_mode:
    description: Not supported.
    support: none
  idempotent:
    description: A rerun with the same passphrase finds the pair and reports no change.
    support: full
options:
  path:
    description:
      - The path prefix of the pair; the files are C(<path>.key) and C(<path>.pub). The folder must exist.
    type: path
    required: true
  sigstore_passphrase:
    description:
      - The passphrase that encrypts the private key. Never shown in results or logs. An empty passphrase is
        allowed (cosign's C(COSIGN_PASSWORD="")), but leaves the key protected only by the file's mode.
      - If not set, the value of the E(HANGAR_SIGSTORE_PASSPHRASE) environment variable is used.
      - O(sigstore_passphrase_file) takes precedence when both are set.
    type: str
  sigstore_passphrase_file:
    description:
      - A file whose first line is the passphrase.
    type: path
  force:
    description:
      - Replace an existing pair with a new one. Signatures made with the old key then no longer verify with the new
        public key.
    type: bool
    default: false
seealso:
  - module: airgap.hangar.hangar_sign
  - module: airgap.hangar.hangar_load
  - module: airgap.hangar.hangar_validate
'''

EXAMPLES = r'''
- name: Make the key that signs what is loaded into the air-gapped registry
  airgap.hangar.hangar_sigstore_key:
    path: /etc/hangar/sigstore
    sigstore_passphrase: "{{ sigstore_passphrase }}"
  register: sigstore_key

- name: Show the public key to give to the cluster's policy
  ansible.builtin.debug:
    msg: "{{ sigstore_key.public_key_pem }}"
'''

RETURN = r'''
private_key:
  description: The path of the private key.
  returned: always
  type: str
  sample: /etc/hangar/sigstore.key
public_key:
  description: The path of the public key.
  returned: always
  type: str
  sample: /etc/hangar/sigstore.pub
public_key_pem:
  description: The public key (PEM); empty in check mode when the pair would be created.
  returned: always
  type: str
action:
  description: V(created), V(replaced), V(public key written) or V(unchanged) (in check mode, what would be done).
  returned: always
  type: str
msg:
  description: A one-line summary.
  returned: always
  type: str
'''

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.signing_options import (
    fail_without_signing_requirements,
    signing_passphrase,
)
from ansible_collections.airgap.hangar.plugins.module_utils._errors import HangarError
from ansible_collections.airgap.hangar.plugins.module_utils._signing.key_pair_files import ensure_key_pair


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            sigstore_passphrase=dict(type="str", no_log=True,
                                     fallback=(env_fallback, ["HANGAR_SIGSTORE_PASSPHRASE"])),
            sigstore_passphrase_file=dict(type="path", no_log=False),
            force=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    fail_without_signing_requirements(module)
    params = module.params
    try:
        state = ensure_key_pair(params["path"], signing_passphrase(params), params["force"], module.check_mode)
    except HangarError as exc:
        module.fail_json(msg=str(exc), private_key=params["path"] + ".key", public_key=params["path"] + ".pub")
    verb = {"unchanged": "Kept", "created": "Created", "replaced": "Replaced",
            "public key written": "Wrote the public key of"}[state.action]
    if module.check_mode and state.changed:
        verb = "Would have " + verb.lower().replace("wrote", "written")
    module.exit_json(changed=state.changed, private_key=state.private_path, public_key=state.public_path,
                     public_key_pem=state.public_pem.decode("ascii"), action=state.action,
                     msg="%s the sigstore key pair %s" % (verb, params["path"]))


if __name__ == "__main__":
    main()
