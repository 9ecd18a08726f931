"""hangar_load into an emulated Harbor (real registry behind it): projects are created first, only for
the images loaded, and a project the user may not create fails only its own images."""

import uuid

import pytest

from tests.support.module_runner import run_module


@pytest.fixture
def archive_of_two_projects(registry, client_for, image_factory, tmp_path):
    """An archive with one image in each of two new project names; returns (archive, [project names])."""
    projects = ["load-%s" % uuid.uuid4().hex[:8], "load-%s" % uuid.uuid4().hex[:8]]
    client = client_for(registry)
    references = []
    for project in projects:
        repository = "%s/app" % project
        image_factory.docker_manifest_list(platforms=("linux/amd64", "linux/arm64/v8")).push(client, repository, "1.0")
        references.append("%s/%s:1.0" % (registry.host, repository))
    archive = str(tmp_path / "harbor.zip")
    saved = run_module("hangar_save", dict(images=references, archive=archive, tls_verify=False))
    assert saved["changed"] is True, saved
    return archive, projects


def load_args(harbor, archive, credentials, **extra):
    return dict(archive=archive, registry=harbor.host, username=credentials[0], password=credentials[1],
                tls_verify=False, **extra)


def test_missing_projects_are_created_then_loaded(harbor, archive_of_two_projects):
    archive, projects = archive_of_two_projects

    predicted = run_module("hangar_load", load_args(harbor, archive, harbor.admin), check_mode=True)

    assert predicted["changed"] is True
    assert sorted(predicted["projects_created"]) == sorted(projects)
    assert not any(name in harbor.state.projects for name in projects), "check mode creates nothing"

    loaded = run_module("hangar_load", load_args(harbor, archive, harbor.admin))

    assert loaded["changed"] is True, loaded["msg"]
    assert sorted(loaded["projects_created"]) == sorted(projects)
    assert all(harbor.state.projects[name]["metadata"]["public"] == "false" for name in projects), "private"
    assert loaded["stats"]["copied"] == 2

    again = run_module("hangar_load", load_args(harbor, archive, harbor.admin))

    assert again["changed"] is False, again["msg"]
    assert again["projects_created"] == []


def test_only_the_projects_of_the_images_loaded_are_created(harbor, archive_of_two_projects, registry):
    archive, projects = archive_of_two_projects

    loaded = run_module("hangar_load", load_args(harbor, archive, harbor.admin, source_registry=registry.host,
                                                 images=["elsewhere.example.com/%s/app:1.0" % projects[0]]))

    assert loaded["changed"] is True, loaded["msg"]
    assert loaded["projects_created"] == [projects[0]]
    assert projects[1] not in harbor.state.projects


def test_a_project_the_user_may_not_create_fails_only_its_images(harbor, archive_of_two_projects):
    archive, projects = archive_of_two_projects
    allowed = run_module("hangar_harbor_project", dict(harbor_url=harbor.url, username=harbor.user[0],
                                                       password=harbor.user[1], name=projects[0]))
    assert allowed["changed"] is True, allowed
    harbor.state.project_creation_restriction = "adminonly"

    loaded = run_module("hangar_load", load_args(harbor, archive, harbor.user))

    assert loaded["failed"] is True
    statuses = {image["source"].split("/")[1]: image for image in loaded["images"]}
    assert statuses[projects[0]]["status"] == "copied"
    assert statuses[projects[1]]["status"] == "failed"
    assert "Error creating Harbor project %s" % projects[1] in statuses[projects[1]]["error"]
    assert "create the project first" in statuses[projects[1]]["error"]
    assert harbor.user[1] not in str(loaded)
    assert loaded["projects_created"] == []
