"""docs/awx/execution-environment.yml makes an execution environment's build context from the collection tarball.

`ansible-builder create` writes the context (no container engine needed); the image build itself needs
one and a registry to pull the base image from, so the test stops at the context, and then runs the
context's galaxy step (the one `ansible-galaxy collection install -r requirements.yml` of its
Containerfile, in the context's _build folder) to see the collection install from what the context holds.
"""

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
DEFINITION = Path("docs/awx/execution-environment.yml")
VERSION = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
TARBALL = "airgap-hangar-%s.tar.gz" % VERSION


def run(command, cwd):
    done = subprocess.run([str(arg) for arg in command], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """The build context, made as docs/AWX.md says, in a copy of the layout the definition's paths expect."""
    root = tmp_path_factory.mktemp("ee")
    run([BIN_DIR / "ansible-galaxy", "collection", "build", "--output-path", root / "build" / "collection", REPO], REPO)
    for name in ("requirements.txt", "bindep.txt", DEFINITION):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / name, root / name)
    output = run([BIN_DIR / "ansible-builder", "create", "--file", DEFINITION, "--context", "context", "-v", "2"], root)
    return SimpleNamespace(root=root, built=root / "context", output=output)


def test_builder_creates_the_context_without_a_warning(context):
    assert "WARNING" not in context.output, context.output
    assert "Complete!" in context.output


def test_the_context_holds_the_tarball_and_the_requirements(context):
    built = context.built
    shipped = (context.root / "build" / "collection" / TARBALL).read_bytes()
    assert (built / "_build" / "collections" / TARBALL).read_bytes() == shipped
    assert (built / "_build" / "requirements.txt").read_text() == (REPO / "requirements.txt").read_text()
    assert (built / "_build" / "bindep.txt").read_text() == (REPO / "bindep.txt").read_text()
    assert yaml.safe_load((built / "_build" / "requirements.yml").read_text()) == {
        "collections": [{"name": "collections/" + TARBALL, "type": "file"}]}


def test_the_containerfile_names_its_base_image_and_installs_from_the_context(context):
    built = context.built
    definition = yaml.safe_load((REPO / DEFINITION).read_text())
    base_image = definition["images"]["base_image"]["name"]
    assert base_image and not base_image.startswith("quay.io/ansible/ansible-runner")
    # Containerfile for podman, Dockerfile for docker (builder's default engine when podman is missing).
    containerfile = next(built / name for name in ("Containerfile", "Dockerfile") if (built / name).exists())
    containerfile = containerfile.read_text()
    assert 'EE_BASE_IMAGE="%s"' % base_image in containerfile
    assert "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in containerfile


def test_the_galaxy_step_installs_the_collection_from_the_context(context, tmp_path):
    built = context.built
    run([BIN_DIR / "ansible-galaxy", "collection", "install", "--offline", "-r", "requirements.yml",
         "--collections-path", tmp_path], built / "_build")
    installed = tmp_path / "ansible_collections" / "airgap" / "hangar"
    manifest = json.loads((installed / "MANIFEST.json").read_text())["collection_info"]
    assert (manifest["namespace"], manifest["name"], manifest["version"]) == ("airgap", "hangar", VERSION)
    # What ansible-builder's introspection reads from the installed collection inside the image.
    dependencies = yaml.safe_load((installed / "meta" / "execution-environment.yml").read_text())["dependencies"]
    assert (installed / dependencies["python"]).read_text() == (REPO / "requirements.txt").read_text()
    assert (installed / dependencies["system"]).read_text() == (REPO / "bindep.txt").read_text()


def test_the_tarball_ships_no_caches_or_copies(context):
    with tarfile.open(context.root / "build" / "collection" / TARBALL) as archive:
        names = archive.getnames()
    assert "changelogs/changelog.yaml" in names and "CHANGELOG.rst" in names
    assert not [name for name in names
                if name.split("/")[0] in (".ansible", "build", ".venv", ".git") or name.endswith(".tar.gz")]
