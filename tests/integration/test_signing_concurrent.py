"""Two jobs signing the same image at once (real processes, repeated): both succeed, the signature
verifies, and a rerun afterwards adds nothing.

The image is mirrored first: two processes pushing the same new image at once is the copy engine's
concern (Distribution can refuse one of the manifest PUTs while the other upload of a shared blob is
committing); here only the read-extend-write of the `.sig` tag races."""

import json

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._signing import keys
from ansible_collections.airgap.hangar.plugins.module_utils._signing.registry_signatures import verify_digest
from ansible_collections.airgap.hangar.plugins.module_utils._signing.sig_manifest import signature_tag
from tests.support.module_process import ModuleProcess
from tests.support.module_runner import run_module


@pytest.mark.parametrize("round_number", [1, 2, 3])
def test_concurrent_signed_mirrors(registry, registry_factory, client_for, image_factory, unique_repo, tmp_path,
                                   round_number):
    repo = unique_repo()
    image = image_factory.oci_index(attestations=True)
    image.push(client_for(registry), repo, "v1")
    private_pem, public_pem = keys.generate_key_pair("pw")
    (tmp_path / "k.key").write_bytes(private_pem)
    destination = registry_factory()
    args = dict(images=["%s/%s:v1" % (registry.host, repo)], registry=destination.host, tls_verify=False,
                source_tls_verify=False, arch=[], os=[], sigstore_private_key=str(tmp_path / "k.key"),
                sigstore_passphrase="pw")
    unsigned = {k: v for k, v in args.items() if not k.startswith("sigstore_")}
    assert run_module("hangar_mirror", unsigned)["changed"]
    dest = client_for(destination)
    public = keys.load_public_key(public_pem)
    assert not verify_digest(dest, repo, image.digest, [public]).ok
    processes = []
    for number in range(2):
        workdir = tmp_path / ("job-%d" % number)
        workdir.mkdir()
        processes.append(ModuleProcess("hangar_mirror", args, workdir).start())
    results = []
    for process in processes:
        with process:
            results.append(process.wait())
    assert all(not r.get("failed") for r in results), [r.get("msg") for r in results]
    digests = {image.digest} | {d["digest"] for d in json.loads(image.data)["manifests"]
                                if (d.get("annotations") or {}).get("vnd.docker.reference.type") is None}
    for digest in digests:
        assert verify_digest(dest, repo, digest, [public]).ok
        assert 1 <= len(json.loads(dest.get_manifest(repo, signature_tag(digest)).data)["layers"]) <= 2
    assert not run_module("hangar_mirror", args)["changed"]
