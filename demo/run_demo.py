"""`make demo`: carry sample images into an "air-gapped" registry with playbooks/offline_install.yml.

Starts two registries on 127.0.0.1 (a "public" source and a "private" destination with a password), fills the
source with small multi-arch images, runs the playbook (save to an archive, copy it across, load, validate), runs
it again to show that nothing changes, prints the archive and the destination's tags with their digests, and
stops the registries, also on failure or Ctrl-C. Expects .venv and the Debian packages that `make test` installs.

    .venv/bin/python demo/run_demo.py
"""

import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
# The tests' conftest links the checkout into build/collections and puts that on sys.path, as for the tests.
COLLECTIONS_PATH = importlib.import_module("tests.conftest").COLLECTIONS_PATH

from ansible_collections.airgap.hangar.plugins.module_utils._registry.client import RegistryClient  # noqa: E402
from ansible_collections.airgap.hangar.plugins.module_utils._signing import keys as sigstore_keys  # noqa: E402
from demo.report import describe_archive, describe_registry  # noqa: E402
from demo.sample_images import push_sample_images  # noqa: E402
from tests.support.registry import RegistryServer  # noqa: E402

DEMO_DIR = REPO_ROOT / "demo"
WORK_DIR = REPO_ROOT / "build" / "demo"
PLAYBOOK = REPO_ROOT / "playbooks" / "offline_install.yml"
RECAP_RE = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", re.MULTILINE)


def _stop_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def run_playbook(extra_vars, env):
    """Run the playbook, showing its output; return {host: changed} from its recap (SystemExit on failure)."""
    command = [str(Path(sys.executable).parent / "ansible-playbook"), str(PLAYBOOK),
               "-i", str(DEMO_DIR / "inventory.yml"), "-e", "@%s" % (DEMO_DIR / "vars.yml"),
               "-e", json.dumps(extra_vars)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               cwd=REPO_ROOT)
    output = []
    try:
        for line in process.stdout:
            print(line, end="", flush=True)
            output.append(line)
        process.wait()
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait()
    recap = {host: int(changed) for host, changed in RECAP_RE.findall("".join(output))}
    if process.returncode != 0 or not recap:
        raise SystemExit("demo: the playbook failed (exit code %d)" % process.returncode)
    return recap


DEMO_PASSPHRASE = "demo passphrase"


def make_signing_key():
    """The demo's sigstore key pair (what hangar_sigstore_key writes), in the work folder."""
    private_pem, public_pem = sigstore_keys.generate_key_pair(DEMO_PASSPHRASE)
    prefix = WORK_DIR / "sigstore"
    prefix.with_suffix(".key").write_bytes(private_pem)
    prefix.with_suffix(".key").chmod(0o600)
    prefix.with_suffix(".pub").write_bytes(public_pem)
    return prefix.with_suffix(".key"), sigstore_keys.load_public_key(public_pem)


def playbook_env(destination):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_PATH), ANSIBLE_DISPLAY_SKIPPED_HOSTS="false",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_PIPELINING="true")
    # The destination's credentials reach the role through the environment, as an AWX credential type injects them.
    env.update(HANGAR_REGISTRY_USERNAME=destination.username, HANGAR_REGISTRY_PASSWORD=destination.password,
               HANGAR_SIGSTORE_PASSPHRASE=DEMO_PASSPHRASE)
    return env


def main():
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    shutil.rmtree(WORK_DIR, ignore_errors=True)
    WORK_DIR.mkdir(parents=True)
    source = RegistryServer()
    destination = RegistryServer(auth="basic", username="demo")
    try:
        source.start()
        destination.start()
        print("Public registry (source):       %s" % source.url)
        print("Private registry (destination): %s, user %s" % (destination.url, destination.username))
        with RegistryClient(**source.client_kwargs()) as client:
            source_digests = push_sample_images(client, DEMO_DIR / "images.txt")
        print("Sample images pushed to the source: %s\n" % ", ".join(sorted(source_digests)))

        private_key, public_key = make_signing_key()
        print("Sigstore key pair: %s and its .pub; load signs with it, validate verifies\n" % private_key)
        connected_archive = WORK_DIR / "connected" / "images.zip"
        airgap_archive = WORK_DIR / "airgap" / "images.zip"
        extra_vars = {
            "offline_install_images_file": str(DEMO_DIR / "images.txt"),
            "offline_install_source_registry": source.host,
            "offline_install_archive": str(connected_archive),
            "offline_install_airgap_archive": str(airgap_archive),
            "offline_install_registry": destination.host,
            "offline_install_sigstore_private_key": str(private_key),
        }
        env = playbook_env(destination)
        print("== First run: save, copy the archive across, load and sign, validate and verify the signatures")
        run_playbook(extra_vars, env)
        print("== Second run: nothing new, so nothing changes")
        recap = run_playbook(extra_vars, env)
        if any(recap.values()):
            raise SystemExit("demo: the second run changed something: %s" % recap)
        print("Second run: changed=0 on %s.\n" % ", ".join(sorted(recap)))

        print(describe_archive(connected_archive))
        print("Copied to the air-gapped side as %s\n" % airgap_archive)
        with RegistryClient(**destination.client_kwargs()) as client:
            print(describe_registry(client, source_digests, [public_key]))
    except KeyboardInterrupt:
        raise SystemExit("demo: interrupted") from None
    finally:
        destination.stop()
        source.stop()
        print("Registries stopped.")


if __name__ == "__main__":
    main()
