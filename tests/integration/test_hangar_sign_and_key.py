"""hangar_sigstore_key writes a cosign-format pair and keeps a readable one; hangar_sign signs images in
a registry, idempotently, in check mode writing nothing; the pair it made verifies with OpenSSL."""

import base64
import json
import os
import stat

from ansible_collections.airgap.hangar.plugins.module_utils._signing import keys
from ansible_collections.airgap.hangar.plugins.module_utils._signing.registry_signatures import verify_digest
from ansible_collections.airgap.hangar.plugins.module_utils._signing.sig_manifest import signature_tag
from tests.support import cosign_files
from tests.support.module_runner import run_module


def read(path):
    with open(path, "rb") as stream:
        return stream.read()


def test_key_pair_created_kept_repaired_refused_and_forced(tmp_path):
    prefix = str(tmp_path / "sigstore")
    args = dict(path=prefix, sigstore_passphrase="pass phrase")
    checked = run_module("hangar_sigstore_key", args, check_mode=True)
    assert checked["changed"] and checked["action"] == "created" and not os.path.exists(prefix + ".key"), checked

    made = run_module("hangar_sigstore_key", args)
    assert made["changed"] and made["action"] == "created", made
    assert stat.S_IMODE(os.stat(prefix + ".key").st_mode) == 0o600
    label, params, key = cosign_files.read_cosign_key(prefix + ".key", "pass phrase")
    assert (label, params) == ("ENCRYPTED COSIGN PRIVATE KEY", (32768, 8, 1))
    assert read(prefix + ".pub") == cosign_files.public_pem(key) == made["public_key_pem"].encode()
    assert "pass phrase" not in json.dumps(made)
    before = read(prefix + ".key")

    again = run_module("hangar_sigstore_key", args)
    assert not again["changed"] and again["action"] == "unchanged", again
    assert not run_module("hangar_sigstore_key", args, check_mode=True)["changed"]
    assert read(prefix + ".key") == before

    os.unlink(prefix + ".pub")
    repaired = run_module("hangar_sigstore_key", args)
    assert repaired["action"] == "public key written"
    assert read(prefix + ".pub") == cosign_files.public_pem(key)

    wrong = run_module("hangar_sigstore_key", dict(args, sigstore_passphrase="other"))
    assert wrong.get("failed") and "wrong passphrase" in wrong["msg"], wrong
    assert read(prefix + ".key") == before

    forced = run_module("hangar_sigstore_key", dict(args, sigstore_passphrase="other", force=True))
    assert forced["changed"] and forced["action"] == "replaced", forced
    assert read(prefix + ".key") != before
    assert keys.load_private_key_file(prefix + ".key", "other")

    (tmp_path / "lonely.pub").write_bytes(read(prefix + ".pub"))
    lonely = run_module("hangar_sigstore_key", dict(path=str(tmp_path / "lonely"),
                                                    sigstore_passphrase="lonely-pass"))
    assert lonely.get("failed") and "exists without its private key" in lonely["msg"], lonely

    missing = run_module("hangar_sigstore_key", dict(path=str(tmp_path / "no" / "such"),
                                                     sigstore_passphrase="lonely-pass"))
    assert missing.get("failed") and "does not exist" in missing["msg"], missing


def test_sign_module_signs_reruns_unchanged_and_openssl_verifies(registry, client_for, image_factory, unique_repo,
                                                                 tmp_path):
    prefix = str(tmp_path / "k")
    assert run_module("hangar_sigstore_key", dict(path=prefix, sigstore_passphrase=""))["changed"]
    client = client_for(registry)
    repo = unique_repo()
    image = image_factory.oci_index(attestations=True, platforms=("linux/amd64", "linux/arm64", "linux/s390x"))
    image.push(client, repo, "v1")
    args = dict(images=["%s/%s:v1" % (registry.host, repo)], tls_verify=False, sigstore_private_key=prefix + ".key",
                sigstore_passphrase="")

    checked = run_module("hangar_sign", args, check_mode=True)
    assert checked["changed"] and checked["images"][0]["status"] == "signed", checked
    assert client.head_manifest(repo, signature_tag(image.digest)) is None

    signed = run_module("hangar_sign", args)
    assert signed["changed"] and not signed.get("failed"), signed
    digests = [s["digest"] for s in signed["images"][0]["signatures"]]
    doc = json.loads(image.data)
    by_arch = {d["platform"]["architecture"]: d["digest"] for d in doc["manifests"]}
    assert digests == [image.digest, by_arch["amd64"], by_arch["arm64"]]  # default arch, no s390x, no attestations
    assert signed["stats"]["signatures_pushed"] == 3
    public = keys.load_public_key_file(prefix + ".pub")
    for digest in digests:
        assert verify_digest(client, repo, digest, [public]).ok
    layer = json.loads(client.get_manifest(repo, signature_tag(image.digest)).data)["layers"][0]
    payload = client.get_blob(repo, layer["digest"])
    der = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    assert cosign_files.openssl_verify(prefix + ".pub", der, payload, tmp_path)

    again = run_module("hangar_sign", args)
    assert not again["changed"] and again["images"][0]["status"] == "unchanged", again

    everything = run_module("hangar_sign", dict(args, arch=[]))
    assert everything["changed"] and everything["stats"]["signatures_pushed"] == 1  # s390x only


def test_sign_module_failures(registry, tmp_path):
    prefix = str(tmp_path / "k")
    run_module("hangar_sigstore_key", dict(path=prefix, sigstore_passphrase="pw"))
    result = run_module("hangar_sign", dict(images=["%s/nothing/here:v1" % registry.host], tls_verify=False,
                                            sigstore_private_key=prefix + ".key", sigstore_passphrase="pw",
                                            failed_file=str(tmp_path / "failed.txt")))
    assert result.get("failed") and result["images"][0]["status"] == "failed", result
    assert (tmp_path / "failed.txt").read_text() == "%s/nothing/here:v1\n" % registry.host
    no_key = run_module("hangar_sign", dict(images=["x/y:1"]))
    assert no_key.get("failed") and "sigstore_private_key is required" in no_key["msg"], no_key
