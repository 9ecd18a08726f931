"""skopeo 1.9 doing the same work the way a script would.

mirror: `skopeo sync --all --src yaml --dest docker` (one process), or `xargs -P4 skopeo copy --all`;
save:   `skopeo copy --all` to `oci-archive:` per image, one after the other;
load:   `skopeo copy --all` from an `oci:` layout per image, one after the other. skopeo 1.9's `oci:`
        transport cannot read Docker media types, so the layout is made by skopeo itself with
        `--format oci` (Docker lists and manifests become OCI ones; same blobs, other digests).
Its blob-info cache survives runs: wipe_blob_info_cache() before each cold run.
"""

import contextlib
import os
import posixpath
import shlex

from .process import run_measured
from .tasks import TAG, Sample

SKOPEO = "skopeo"
COPY = [SKOPEO, "copy", "--all", "--quiet"]
XARGS_JOBS = 4


def blob_info_cache_path():
    """Where skopeo keeps its blob-info cache: /var/lib/containers/cache as root, else under XDG_DATA_HOME."""
    if os.geteuid() == 0:
        return "/var/lib/containers/cache/blob-info-cache-v1.boltdb"
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(data_home, "containers", "cache", "blob-info-cache-v1.boltdb")


def wipe_blob_info_cache():
    with contextlib.suppress(FileNotFoundError):
        os.unlink(blob_info_cache_path())


def layout_key(repository):
    """The tag of an image inside skopeo's OCI layout (a layout reference cannot hold '/')."""
    return repository.replace("/", "-")


def archive_name(repository):
    return layout_key(repository) + ".tar"


def _common_project(repositories):
    projects = {posixpath.dirname(repository) for repository in repositories}
    if len(projects) != 1:
        raise ValueError("skopeo sync needs the images of one project, not %s" % sorted(projects))
    return projects.pop()


def _shell(commands):
    return ["sh", "-ec", "\n".join(shlex.join(command) for command in commands)]


class SkopeoSync:
    name = "skopeo sync"

    def __init__(self, workdir):
        self.workdir = workdir

    def mirror(self, task):
        """sync puts `project/name` under DEST/<last path part>: DEST/project keeps the names equal to ours."""
        config = os.path.join(self.workdir, "sync.yaml")
        lines = ["%s:" % task.source_host, "  tls-verify: false", "  images:"]
        lines += ["    %s: [\"%s\"]" % (repository, TAG) for repository in task.repositories]
        with open(config, "w") as stream:
            stream.write("\n".join(lines) + "\n")
        destination = "%s/%s" % (task.dest_host, _common_project(task.repositories))
        argv = [SKOPEO, "sync", "--all", "--src", "yaml", "--dest", "docker", "--dest-tls-verify=false",
                config, destination]
        return Sample.of_process(run_measured(argv).check("skopeo sync"))


class SkopeoXargsCopy:
    name = "xargs -P4 skopeo copy"

    def mirror(self, task):
        argv = ["xargs", "-P%d" % XARGS_JOBS, "-I{}"] + COPY + [
            "--src-tls-verify=false", "--dest-tls-verify=false",
            "docker://%s/{}" % task.source_host, "docker://%s/{}" % task.dest_host]
        lines = "".join("%s:%s\n" % (repository, TAG) for repository in task.repositories)
        return Sample.of_process(run_measured(argv, stdin_text=lines).check("xargs skopeo copy"))


class SkopeoCopy:
    name = "skopeo copy"

    def save(self, task):
        """One oci-archive per image, in task.output (a directory)."""
        os.makedirs(task.output, exist_ok=True)
        commands = [COPY + ["--src-tls-verify=false", "docker://%s/%s:%s" % (task.source_host, repository, TAG),
                            "oci-archive:%s:%s:%s" % (os.path.join(task.output, archive_name(repository)),
                                                      repository, TAG)]
                    for repository in task.repositories]
        return Sample.of_process(run_measured(_shell(commands)).check("skopeo copy to oci-archive"))

    def load(self, task):
        commands = [COPY + ["--dest-tls-verify=false", "oci:%s:%s" % (task.source, layout_key(repository)),
                            "docker://%s/%s:%s" % (task.dest_host, repository, TAG)]
                    for repository in task.repositories]
        return Sample.of_process(run_measured(_shell(commands)).check("skopeo copy from oci layout"))


def prepare_layout(source_host, repositories, layout):
    """The OCI layout skopeo loads from, written by skopeo itself (converted to OCI types)."""
    commands = [COPY + ["--format", "oci", "--src-tls-verify=false",
                        "docker://%s/%s:%s" % (source_host, repository, TAG),
                        "oci:%s:%s" % (layout, layout_key(repository))]
                for repository in repositories]
    run_measured(_shell(commands)).check("skopeo copy to an oci layout")
