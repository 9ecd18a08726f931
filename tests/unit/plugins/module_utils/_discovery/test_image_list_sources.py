"""generate_image_list over the small charts and manifests of tests/data/image_list: each case asserts the exact
list, and where the images and the unknowns were found."""

import io
import shutil
import tarfile

import pytest

from ansible_collections.airgap.hangar.plugins.module_utils._discovery.listing import (
    ImageListRequest,
    generate_image_list,
    render_list,
)
from ansible_collections.airgap.hangar.plugins.module_utils._discovery.values import merge_values
from ansible_collections.airgap.hangar.plugins.module_utils._errors import InputError
from tests.support.image_list_data import data_dir

DATA = data_dir()
CHARTS = DATA / "charts"
MANIFESTS = DATA / "manifests"
VALUES = DATA / "values"
OS_SHELL_DIGEST = "sha256:0a7bc9c3b6b7f4b0f5a6d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3"
BACKUP_DIGEST = "sha256:4c1b1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b"
CR_QUERIES = ["spec.image", "spec.backup.image", "spec.sidecars[].image"]

WEBSTACK = [
    "docker.elastic.co/elasticsearch/elasticsearch:8.13.0",   # subchart aliased finder, tag from the parent
    "docker.io/bitnami/nginx:1.25.4-debian-12-r3",
    "docker.io/bitnami/os-shell@" + OS_SHELL_DIGEST,
    "docker.io/bitnami/redis-sentinel:7.2.4-debian-12-r7",
    "docker.io/bitnami/redis:7.2.4-debian-12-r9",
    "docker.io/curlimages/curl:8.6.0",                        # written in a test pod template
    "docker.io/fluent/fluent-bit:3.0.2",
    "docker.io/library/busybox:1.36.1",                       # written in a template's init container
]
TEMPLATE_LITERALS = ["docker.io/curlimages/curl:8.6.0", "docker.io/library/busybox:1.36.1"]
RENDERED = [
    "docker.io/envoyproxy/envoy:v1.29.2",
    "docker.io/library/alpine:3.19",                          # ephemeral container
    "docker.io/library/busybox:1.36",                         # CronJob init container
    "docker.io/library/nginx:1.25",                           # in a Deployment and a Pod: once
    "docker.io/library/postgres:16.2",                        # List item
    "ghcr.io/example/backup@" + BACKUP_DIGEST,                # digest-pinned, in a CronJob
    "quay.io/example/agent:1.0",                              # List item
    "registry.example.com/team/migrate:2024.03.1",            # init container
]

CASES = {
    "annotated chart": (
        dict(charts=[CHARTS / "annotated"]),
        ["docker.io/bitnami/kubectl:1.29.2", "quay.io/example/operator:v3.1.4"],
    ),
    "bitnami-style chart with subcharts": (dict(charts=[CHARTS / "webstack"]), WEBSTACK),
    "global.imageRegistry from a values file, a subchart disabled, a key removed with null": (
        dict(charts=[CHARTS / "webstack"], values=[VALUES / "airgap.yaml", VALUES / "no-cache.yaml"]),
        TEMPLATE_LITERALS + ["mirror.example.internal:5000/bitnami/nginx:1.25.4-debian-12-r3",
                             "mirror.example.internal:5000/bitnami/os-shell@" + OS_SHELL_DIGEST,
                             "mirror.example.internal:5000/elasticsearch/elasticsearch:8.13.0"],
    ),
    "global.image.registry": (
        dict(charts=[CHARTS / "webstack"], values=[VALUES / "global-image.yaml", VALUES / "no-cache.yaml"]),
        TEMPLATE_LITERALS + ["registry.internal/bitnami/nginx:1.25.4-debian-12-r3",
                             "registry.internal/bitnami/os-shell@" + OS_SHELL_DIGEST,
                             "registry.internal/elasticsearch/elasticsearch:8.13.0"],
    ),
    "rendered manifests: init containers, CronJob, Pod, List": (dict(manifests=[MANIFESTS / "rendered"]), RENDERED),
    "custom resource without a query: only its pod template": (
        dict(manifests=[MANIFESTS / "custom-resource.yaml"]),
        ["registry.example.com/team/app:4.2.0"],
    ),
    "custom resource with queries": (
        dict(manifests=[MANIFESTS / "custom-resource.yaml"], queries=CR_QUERIES),
        ["quay.io/example/dbbackup:2.1", "quay.io/example/dbexporter:0.15", "quay.io/example/dbserver:15.4",
         "registry.example.com/team/app:4.2.0"],
    ),
    "unrendered template: literal images only": (
        dict(manifests=[MANIFESTS / "unrendered.yaml"]),
        ["docker.io/library/redis:7.2"],
    ),
    "exclude, before the overrides": (
        dict(manifests=[MANIFESTS / "rendered"], exclude=[r"^docker\.io/library/", "backup"]),
        ["docker.io/envoyproxy/envoy:v1.29.2", "quay.io/example/agent:1.0",
         "registry.example.com/team/migrate:2024.03.1"],
    ),
    "registry and project overrides": (
        dict(manifests=[MANIFESTS / "rendered" / "list.json"], images=["nginx"], registry="harbor.internal",
             project="mirror"),
        ["harbor.internal/mirror/agent:1.0", "harbor.internal/mirror/nginx:latest",
         "harbor.internal/mirror/postgres:16.2"],
    ),
    "extra images, normalised and deduplicated": (
        dict(images=["nginx:1.25", "docker.io/library/nginx:1.25", "index.docker.io/nginx:1.25", "alpine"]),
        ["docker.io/library/alpine:latest", "docker.io/library/nginx:1.25"],
    ),
}


def request(**kwargs):
    return ImageListRequest(**{key: [str(v) for v in value] if isinstance(value, list) else value
                               for key, value in kwargs.items()})


@pytest.mark.parametrize("name", sorted(CASES))
def test_exact_list(name):
    kwargs, expected = CASES[name]
    assert generate_image_list(request(**kwargs)).references == expected


def test_everything_at_once_is_the_sorted_union():
    result = generate_image_list(request(charts=[CHARTS / "annotated", CHARTS / "webstack"],
                                         manifests=[MANIFESTS], queries=CR_QUERIES))
    expected = set(WEBSTACK) | set(RENDERED) | {
        "docker.io/bitnami/kubectl:1.29.2", "quay.io/example/operator:v3.1.4", "docker.io/library/redis:7.2",
        "quay.io/example/dbbackup:2.1", "quay.io/example/dbexporter:0.15", "quay.io/example/dbserver:15.4",
        "registry.example.com/team/app:4.2.0"}
    assert result.references == sorted(expected)
    assert [image["reference"] for image in result.images] == result.references


def found(result, reference):
    return [image["found"] for image in result.images if image["reference"] == reference][0]


def test_where_each_image_was_found():
    result = generate_image_list(request(charts=[CHARTS / "annotated", CHARTS / "webstack"],
                                         manifests=[MANIFESTS], queries=CR_QUERIES))
    workloads = str(MANIFESTS / "rendered" / "workloads.yaml")
    assert found(result, "docker.io/library/nginx:1.25") == [
        dict(file=workloads, object="Deployment/web", path="spec.template.spec.containers[0].image", document=0),
        dict(file=workloads, object="Pod/debug", path="spec.containers[0].image", document=2),
    ]
    assert found(result, "docker.io/library/busybox:1.36") == [
        dict(file=workloads, object="CronJob/backup", document=1,
             path="spec.jobTemplate.spec.template.spec.initContainers[0].image")]
    assert found(result, "docker.io/library/alpine:3.19")[0]["path"] == "spec.ephemeralContainers[0].image"
    assert found(result, "quay.io/example/agent:1.0") == [
        dict(file=str(MANIFESTS / "rendered" / "list.json"), object="DaemonSet/agent", document=0,
             path="items[1].spec.template.spec.containers[0].image")]
    assert found(result, "quay.io/example/dbexporter:0.15") == [
        dict(file=str(MANIFESTS / "custom-resource.yaml"), object="Database/orders", path="spec.sidecars[].image",
             document=0, note="query")]
    # the annotation and the values name the same operator image: one entry, both places
    assert found(result, "quay.io/example/operator:v3.1.4") == [
        dict(file=str(CHARTS / "annotated" / "Chart.yaml"), object="Chart/annotated",
             path='annotations["artifacthub.io/images"][0].image'),
        dict(file=str(CHARTS / "annotated" / "values.yaml"), object="Chart/annotated", path="image",
             note="tag from the chart's appVersion"),
    ]
    # a subchart's image whose tag the parent's values set is found in the parent's file
    assert found(result, "docker.elastic.co/elasticsearch/elasticsearch:8.13.0") == [
        dict(file=str(CHARTS / "webstack" / "values.yaml"), object="Chart/search", path="finder.image")]
    assert found(result, "docker.io/bitnami/redis:7.2.4-debian-12-r9") == [
        dict(file=str(CHARTS / "webstack" / "charts" / "cache" / "values.yaml"), object="Chart/cache",
             path="image")]
    assert found(result, "docker.io/bitnami/os-shell@" + OS_SHELL_DIGEST) == [
        dict(file=str(CHARTS / "webstack" / "values.yaml"), object="Chart/webstack", path="volumePermissions.image",
             note="pinned by digest, tag 12-debian-12-r16 not listed")]
    assert found(result, "docker.io/library/busybox:1.36.1") == [
        dict(file=str(CHARTS / "webstack" / "templates" / "deployment.yaml"), object="Chart/webstack",
             path="line 11", note="written in the template")]


def test_unknowns_are_reported_with_where_not_guessed():
    result = generate_image_list(request(charts=[CHARTS / "webstack"], manifests=[MANIFESTS]))
    assert [u.as_dict() for u in result.unresolved] == [
        dict(file=str(CHARTS / "webstack" / "charts" / "cache" / "values.yaml"), object="Chart/cache",
             path="exporter.image", value="bitnami/redis-exporter",
             reason="an image without a tag in the values; set its tag"),
        dict(file=str(MANIFESTS / "unrendered.yaml"), object="", path="line 11",
             value="{{ .Values.image.repository }}:{{ .Values.image.tag }}",
             reason="a template expression, not rendered; render the chart (helm template) and pass the output "
                    "as manifests"),
    ]


def test_global_registry_is_noted():
    result = generate_image_list(request(charts=[CHARTS / "webstack"], values=[VALUES / "airgap.yaml"]))
    assert found(result, "mirror.example.internal:5000/bitnami/redis:7.2.4-debian-12-r9")[0]["note"] == \
        "registry from global.imageRegistry"


def test_disabled_subchart_is_listed_with_its_reason():
    result = generate_image_list(request(charts=[CHARTS / "webstack"], values=[VALUES / "no-cache.yaml"]))
    charts = {chart["name"]: chart for chart in result.charts}
    assert charts["cache"]["enabled"] is False and charts["cache"]["reason"] == "condition cache.enabled is false"
    assert charts["metrics"]["enabled"] is False
    assert charts["search"] == dict(file=str(CHARTS / "webstack" / "charts" / "search"), name="search",
                                    version="1.1.0", enabled=True, images_found=1, parent="webstack",
                                    values_key="finder")


def _tar_folder(folder, top, target):
    with tarfile.open(target, "w:gz") as archive:
        archive.add(str(folder), arcname=top)


def test_tgz_chart_with_a_tgz_subchart_gives_the_same_list(tmp_path):
    work = tmp_path / "webstack"
    shutil.copytree(CHARTS / "webstack", work)
    _tar_folder(work / "charts" / "cache", "cache", work / "charts" / "cache-2.4.1.tgz")
    shutil.rmtree(work / "charts" / "cache")
    packaged = tmp_path / "webstack-0.9.0.tgz"
    _tar_folder(work, "webstack", packaged)

    result = generate_image_list(request(charts=[packaged]))
    assert result.references == WEBSTACK
    cache_values = "%s:webstack/charts/cache-2.4.1.tgz:cache/values.yaml" % packaged
    assert found(result, "docker.io/bitnami/redis:7.2.4-debian-12-r9") == [
        dict(file=cache_values, object="Chart/cache", path="image")]
    assert [u.location.file for u in result.unresolved] == [cache_values]
    assert [c["file"] for c in result.charts] == [
        "%s:webstack" % packaged, "%s:webstack/charts/cache-2.4.1.tgz:cache" % packaged,
        "%s:webstack/charts/metrics" % packaged, "%s:webstack/charts/search" % packaged]


def test_dependency_not_vendored_is_unresolved(tmp_path):
    chart = tmp_path / "app"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n"
                                      "  - name: postgresql\n    version: 15.x.x\n")
    (chart / "values.yaml").write_text("image: {repository: example/app, tag: '1.0'}\n")
    result = generate_image_list(request(charts=[chart]))
    assert result.references == ["docker.io/example/app:1.0"]
    assert [(u.value, u.reason) for u in result.unresolved] == [
        ("postgresql", "a dependency missing from charts/; run helm dependency build (or helm pull) first")]


@pytest.mark.parametrize("values, expected, unresolved", [
    ("image: nginx\ntag: '1.25'\n", ["docker.io/library/nginx:1.25"], []),
    ("controller:\n  image: {registry: registry.k8s.io, image: ingress-nginx/controller, tag: v1.10.0,"
     " digest: 'sha256:%s'}\n" % ("a" * 64),
     ["registry.k8s.io/ingress-nginx/controller@sha256:" + "a" * 64], []),
    ("images:\n  worker: {repository: example/worker, tag: 2}\n", ["docker.io/example/worker:2"], []),
    ("kubectlImage: bitnami/kubectl:1.29\n", ["docker.io/bitnami/kubectl:1.29"], []),
    ("image: {repository: example/app}\n", [], ["an image without a tag or digest in the values, and the chart "
                                                "has no appVersion; set its tag"]),
    ("image: {repository: '{{ .Values.repo }}', tag: '1'}\n", [],
     ["a template expression, not rendered; render the chart (helm template) and pass the output as manifests"]),
    ("image: 'Not/A:Reference'\n", [], ["not an image reference"]),
    ("image: ''\nrepository: https://github.com/example/app\ntag: main\n", [], []),
    ("global:\n  image: {registry: mirror.local}\nimage: {repository: example/app, tag: '3'}\n",
     ["mirror.local/example/app:3"], []),
])
def test_values_conventions(tmp_path, values, expected, unresolved):
    chart = tmp_path / "app"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: app\nversion: 1.0.0\n")
    (chart / "values.yaml").write_text(values)
    result = generate_image_list(request(charts=[chart]))
    assert result.references == expected
    assert [u.reason.split(":")[0] for u in result.unresolved] == unresolved


def test_merge_values_as_helm_does():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": "x", "e": {"f": 1}}
    assert merge_values(base, {"a": {"c": [3]}, "d": None, "e": "flat"}) == {"a": {"b": 1, "c": [3]}, "e": "flat"}
    assert base["a"]["c"] == [1, 2]


@pytest.mark.parametrize("kwargs, message", [
    (dict(charts=["/nonexistent/chart"]), "Error reading chart /nonexistent/chart: no such directory or file"),
    (dict(manifests=["/nonexistent/m.yaml"]), "Error reading manifests /nonexistent/m.yaml: no such file"),
    (dict(images=["UPPER/case"]), "Error reading images[0]: invalid image reference 'UPPER/case'"),
    (dict(images=["a"], queries=["spec.["]), "invalid queries[0] 'spec.[': not a JMESPath expression"),
    (dict(images=["a"], exclude=["("]), "invalid exclude[0] '(': not a regular expression"),
    (dict(images=["a"], registry="bad host"), "invalid registry 'bad host'"),
    (dict(images=["a"], project="Bad"), "invalid project 'Bad'"),
])
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(InputError) as error:
        generate_image_list(request(**kwargs))
    assert str(error.value).startswith(message), str(error.value)


def test_broken_yaml_names_file_and_line(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Pod\nspec: [unclosed\n")
    with pytest.raises(InputError) as error:
        generate_image_list(request(manifests=[broken]))
    assert str(error.value).startswith("Error reading %s line 3: not valid YAML" % broken), str(error.value)


def test_not_a_chart_archive(tmp_path):
    bogus = tmp_path / "chart.tgz"
    bogus.write_bytes(b"not gzip")
    with pytest.raises(InputError, match="not a gzip'd tar archive"):
        generate_image_list(request(charts=[bogus]))
    empty = tmp_path / "empty.tgz"
    with tarfile.open(empty, "w:gz") as archive:
        data = b"hello"
        info = tarfile.TarInfo("README")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    with pytest.raises(InputError, match="no <chart>/Chart.yaml in the archive"):
        generate_image_list(request(charts=[empty]))


def test_render_list_header_and_lines():
    assert render_list(["a:1", "b:2"], [("charts", ["c1"]), ("values", []), ("manifests", ["m/", "x.yaml"])]) == (
        "# Image list generated by airgap.hangar.hangar_image_list\n# charts: c1\n# manifests: m/, x.yaml\n"
        "a:1\nb:2\n")
    assert render_list(["a:1"], None) == "a:1\n"
    assert render_list([], None) == ""


def test_yaml_alias_bomb_is_refused_by_name(tmp_path):
    lines = ["a0: &a0 {image: 'x:1', n: [1]}"]
    for level in range(1, 25):
        lines.append("a%d: &a%d [%s]" % (level, level, ", ".join(["*a%d" % (level - 1)] * 4)))
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("kind: Deployment\nspec:\n" + "".join("  " + line + "\n" for line in lines))
    with pytest.raises(InputError, match="more than 2000000 nodes to visit"):
        generate_image_list(request(manifests=[bomb]))


def test_a_yaml_sequence_of_objects_is_read(tmp_path):
    listing = tmp_path / "objects.yaml"
    listing.write_text("- kind: Pod\n  metadata: {name: one}\n  spec: {containers: [{name: a, image: 'a:1'}]}\n"
                       "- kind: Job\n  metadata: {name: two}\n"
                       "  spec: {template: {spec: {containers: [{name: b, image: 'b:2'}]}}}\n")
    result = generate_image_list(request(manifests=[listing]))
    assert result.references == ["docker.io/library/a:1", "docker.io/library/b:2"]
    assert found(result, "docker.io/library/b:2")[0]["path"] == "[1].spec.template.spec.containers[0].image"


def test_tags_disable_and_a_broken_annotation_does_not_stop_the_values(tmp_path):
    chart = tmp_path / "app"
    (chart / "charts" / "extra").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\nname: app\nversion: 1.0.0\nannotations:\n  artifacthub.io/images: '- image: [unclosed'\n"
        "dependencies:\n  - {name: extra, version: 1.0.0, tags: [optional]}\n")
    (chart / "values.yaml").write_text("tags: {optional: false}\nimage: {repository: example/app, tag: '1'}\n")
    (chart / "charts" / "extra" / "Chart.yaml").write_text("apiVersion: v2\nname: extra\nversion: 1.0.0\n")
    (chart / "charts" / "extra" / "values.yaml").write_text("image: 'example/extra:1'\n")
    result = generate_image_list(request(charts=[chart]))
    assert result.references == ["docker.io/example/app:1"]
    assert [c["reason"] for c in result.charts if not c["enabled"]] == ["tags optional are false"]
    assert [u.location.path for u in result.unresolved] == ['annotations["artifacthub.io/images"]']
    assert "not valid YAML" in result.unresolved[0].reason
