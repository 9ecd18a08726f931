"""The second look a merge into a tag takes, after a pause, is taken by the engine once other work is done
(CommitOutcome.confirm, CopyEngine.settle): when another run's stale push lands during that pause and drops
our platforms, the look finds it and merges again; a later merge of the same run is not taken for one."""

import json

from ansible_collections.airgap.hangar.plugins.module_utils._copy.engine import CopyEngine
from ansible_collections.airgap.hangar.plugins.module_utils._copy.mirror_plan import plan_mirror
from ansible_collections.airgap.hangar.plugins.module_utils._copy.model import CopyOptions
from ansible_collections.airgap.hangar.plugins.module_utils._copy.registry_store import RegistryStore
from ansible_collections.airgap.hangar.plugins.module_utils._image.platform import PlatformFilter
from ansible_collections.airgap.hangar.plugins.module_utils._registry.client import RegistryClient


class StalePushAfterCommit(RegistryStore):
    """A destination where, right after our commit, another run's push of `stale` lands on the tag."""

    def __init__(self, client, stale):
        super().__init__(client)
        self.stale = stale

    def commit(self, ref, plan, options):
        outcome = super().commit(ref, plan, options)
        assert outcome.confirm is not None, "a merge leaves its second look to the engine"
        self.client.put_manifest(ref.repository, ref.tag, self.stale.data, self.stale.media_type)
        return outcome


def platforms_of(client, repository, tag):
    index = json.loads(client.get_manifest(repository, tag).data)
    return sorted("%s/%s" % (m["platform"]["os"], m["platform"]["architecture"]) for m in index["manifests"])


def mirror_one(source, destination, repository, tag, arch):
    line = "%s/%s %s/%s %s" % (source.client.registry, repository, destination.client.registry, repository, tag)
    [result] = plan_mirror([line])
    with CopyEngine(CopyOptions(platforms=PlatformFilter(arch, ["linux"]))) as engine:
        engine.copy_image(source, result.source_ref, destination, result.dest_ref, result)
        engine.settle()
    return result


def test_a_stale_push_landing_in_the_pause_is_found_and_merged_again(
        registry, registry_factory, client_for, image_factory, unique_repo):
    repository = unique_repo("confirm")
    image = image_factory.oci_index(platforms=("linux/amd64", "linux/arm64"), attestations=False)
    for tag in ("1.0", "other"):
        image.push(client_for(registry), repository, tag)
    destination_registry = registry_factory()
    with RegistryClient(registry.host, tls_verify=False) as source_client, \
            RegistryClient(destination_registry.host, tls_verify=False) as destination_client:
        source = RegistryStore(source_client)
        # another run's arm64 copy, read before ours landed: its index names arm64 only
        other = mirror_one(source, RegistryStore(destination_client), repository, "other", ["arm64"])
        assert other.status == "copied", other.error
        stale = destination_client.get_manifest(repository, "other")

        ours = mirror_one(source, StalePushAfterCommit(destination_client, stale), repository, "1.0", ["amd64"])

        assert ours.status == "copied", ours.error
        assert ours.concurrent_changes == 1
        assert any("was changed by another run meanwhile: merged with that change (1 time)" in w
                   for w in ours.warnings), ours.warnings
        assert platforms_of(destination_client, repository, "1.0") == ["linux/amd64", "linux/arm64"]
        assert ours.digest == destination_client.head_manifest(repository, "1.0")["digest"]
        assert sorted(ours.after.platforms) == ["linux/amd64", "linux/arm64"]
