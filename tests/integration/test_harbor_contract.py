"""The Harbor emulator, held with schemathesis to our description of Harbor's API (tests/support/harbor/openapi.yaml).

Our description restates, for the operations the collection uses (tests/support/harbor/README.md), what
Harbor's own API description (goharbor/harbor api/v2.0/swagger.yaml) says. When Harbor's file is at hand
($HARBOR_SWAGGER, or ../shared/harbor/swagger.yaml beside the checkout), two more tests run: ours must say
the same as Harbor's for every operation we use, and the emulator is held to Harbor's file as well.

The tests run against an emulator without a backing registry (the REST side alone): generated cases as a
system admin, as a plain user and anonymously, and a scripted life cycle of one project, since generated
data seldom satisfies Harbor's rules well enough to create anything.

Where Harbor's server and its description (and so ours) disagree, the emulator follows the description; the
cases:
- Operations that declare no status for invalid input (getPing, getSystemInfo, getProject, listQuotas,
  getQuota): Harbor's server refuses bad input (an empty X-Request-Id, page_size over 100) with an
  undeclared 422. The emulator reads such input leniently (defaults), so negative_data_rejection is
  off for them.
- A quota id that is not an int64 in the path: the server gives an undeclared 422; the emulator 404.
- HEAD /projects with an empty project_name (the description sets no minLength): a project that does
  not exist (404), where the server refuses an empty required parameter.
- DELETE /projects/{name} anonymously: the server answers 401, which deleteProject does not declare;
  the emulator answers 403.
Two disagreements are kept on purpose, because the README lists them among Harbor's behaviours and
the client depends on them: HEAD /projects anonymously answers 401 (headProject declares no 401; the
client then falls back to GET /projects), and POST /projects by a user who may not create projects
answers 403 (createProject declares no 403; the client turns it into "create the project first").
status_code_conformance skips the first; the generated cases never meet the second (users may create
projects by default).

Where the description is looser than Harbor's rules, the emulator keeps the rules and answers with the
declared 400, which positive_data_acceptance is told to expect for createProject, updateProject and
updateQuota: project names (^[a-z0-9]+(?:[._-][a-z0-9]+)*$, 1-255 characters, not in the schema),
metadata values ("true"/"false"; severities none..critical), storage limits (-1 or more than 0), quota
resources (only "storage"), a proxy-cache registry_id that names no registry.
"""

import uuid

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import status_code_conformance

from tests.support.harbor_description import OUR_DESCRIPTION, differences, harbor_swagger, load, operations
from tests.support.harbor_emulator import HarborEmulator

OPERATIONS = ["getPing", "getSystemInfo", "headProject", "listProjects", "createProject", "getProject",
              "updateProject", "deleteProject", "listQuotas", "getQuota", "updateQuota"]
NO_INVALID_INPUT_STATUS = ["getPing", "getSystemInfo", "getProject", "listQuotas", "getQuota"]
STRICTER_THAN_SCHEMA = ["createProject", "updateProject", "updateQuota"]
POSITIVE_STATUSES = ["2xx", "3xx", "400", "401", "403", "404", "409"]
HARBOR_SWAGGER = harbor_swagger()
WHERE_TO_PUT_HARBORS = (
    "Harbor's own API description is not at hand: put goharbor/harbor's api/v2.0/swagger.yaml at "
    "../shared/harbor/swagger.yaml beside the checkout, or name it in HARBOR_SWAGGER, to check "
    "tests/support/harbor/openapi.yaml against it")
needs_harbors_description = pytest.mark.skipif(HARBOR_SWAGGER is None, reason=WHERE_TO_PUT_HARBORS)


def load_schema(path, coverage_phase):
    """A description, limited to our operations; the coverage phase (boundary values) is the slow part."""
    config = schemathesis.Config.from_dict({
        "generation": {"max-examples": 5, "deterministic": True},
        "phases": {"coverage": {"enabled": coverage_phase}},
        "operations": [
            {"exclude-operation-id": OPERATIONS, "enabled": False},
            {"include-operation-id": NO_INVALID_INPUT_STATUS,
             "checks": {"negative_data_rejection": {"enabled": False}}},
            {"include-operation-id": STRICTER_THAN_SCHEMA,
             "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES}}},
        ],
    })
    return schemathesis.openapi.from_path(path, config=config)


full_schema = load_schema(OUR_DESCRIPTION, coverage_phase=True)
fuzzing_schema = load_schema(OUR_DESCRIPTION, coverage_phase=False)


@pytest.fixture(scope="module")
def emulator():
    with HarborEmulator() as running:
        yield running


@pytest.fixture(scope="module", params=["user", "anonymous"])
def identity(request, emulator):
    return request.param, (emulator.user if request.param == "user" else None)


def test_the_description_holds_every_operation_used():
    described = {result.ok().definition.raw["operationId"] for result in full_schema.get_all_operations()}
    assert described == set(OPERATIONS)
    assert set(operations(load(OUR_DESCRIPTION))) == set(OPERATIONS)


def check_as_admin(case, emulator):
    case.call_and_validate(base_url=emulator.url + "/api/v2.0", auth=emulator.admin)


def check_as_user_and_anonymous(case, emulator, identity):
    name, auth = identity
    anonymous_head = name == "anonymous" and case.method == "HEAD"
    case.call_and_validate(base_url=emulator.url + "/api/v2.0", auth=auth,
                           excluded_checks=[status_code_conformance] if anonymous_head else [])


test_contract_as_admin = full_schema.parametrize()(check_as_admin)
test_contract_as_user_and_anonymous = fuzzing_schema.parametrize()(check_as_user_and_anonymous)


def test_the_comparison_sees_what_a_description_changes():
    """The agreement check would see a status, a parameter or a field that one side lacks or types otherwise."""
    document = load(OUR_DESCRIPTION)
    changed = load(OUR_DESCRIPTION)
    del changed["paths"]["/projects/{project_name_or_id}"]["delete"]["responses"]["412"]
    changed["components"]["parameters"]["pageSize"]["schema"]["maximum"] = 500
    changed["components"]["schemas"]["Project"]["properties"]["project_id"]["format"] = "int64"
    del changed["components"]["schemas"]["ProjectMetadata"]["properties"]["severity"]["nullable"]
    ours, theirs = operations(document), operations(changed)
    lines = [line for operation in OPERATIONS for line in differences(ours[operation], theirs[operation], operation)]
    assert "deleteProject.responses.412: not in Harbor's" in lines
    assert "listProjects.parameters.('query', 'page_size').schema.maximum: ours 100, Harbor's 500" in lines
    assert "getProject.responses.200.content.application/json.properties.project_id.format: ours 'int32', " \
        "Harbor's 'int64'" in lines
    assert "createProject.body.content.application/json.properties.metadata.properties.severity.nullable: " \
        "not in Harbor's" in lines
    assert differences(ours, operations(load(OUR_DESCRIPTION))) == []


@needs_harbors_description
def test_our_description_says_what_harbors_says_for_every_operation_used():
    ours, harbors = operations(load(OUR_DESCRIPTION)), operations(load(HARBOR_SWAGGER))
    missing = sorted(set(OPERATIONS) - set(harbors))
    assert not missing, "operations not in Harbor's description: %s" % missing
    lines = [line for operation in OPERATIONS
             for line in differences(ours[operation], harbors[operation], operation)]
    assert not lines, "\n".join(lines)


if HARBOR_SWAGGER is not None:
    harbor_full_schema = load_schema(HARBOR_SWAGGER, coverage_phase=True)
    harbor_fuzzing_schema = load_schema(HARBOR_SWAGGER, coverage_phase=False)
    test_harbors_contract_as_admin = harbor_full_schema.parametrize()(check_as_admin)
    test_harbors_contract_as_user_and_anonymous = harbor_fuzzing_schema.parametrize()(check_as_user_and_anonymous)
else:
    @needs_harbors_description
    def test_harbors_contract():
        """Stands for the contract tests against Harbor's own file, so a run says they were skipped and why."""


def call(emulator, operation_id, expected_status, auth="admin", **case_data):
    """One scripted request, checked against the description like the generated ones."""
    case = full_schema.find_operation_by_id(operation_id).Case(**case_data)
    credentials = {"admin": emulator.admin, "user": emulator.user, None: None}[auth]
    response = case.call_and_validate(base_url=emulator.url + "/api/v2.0", auth=credentials)
    assert response.status_code == expected_status, response.text
    return response


def header(response, name):
    return response.headers[name.lower()][0]


def test_a_project_life_cycle_answers_as_described(emulator):
    name = "contract-%s" % uuid.uuid4().hex[:8]
    by_name = {"X-Is-Resource-Name": "true"}
    assert call(emulator, "getPing", 200).text == "Pong"
    assert call(emulator, "getSystemInfo", 200).json()["harbor_version"]
    assert "harbor_version" not in call(emulator, "getSystemInfo", 200, auth=None).json()

    created = call(emulator, "createProject", 201, headers={"X-Resource-Name-In-Location": "true"},
                   body={"project_name": name, "metadata": {"public": "false", "auto_scan": "true"}})
    assert header(created, "Location") == "/api/v2.0/projects/" + name
    call(emulator, "createProject", 409, body={"project_name": name})
    call(emulator, "headProject", 200, query={"project_name": name})
    call(emulator, "headProject", 404, query={"project_name": name + "-missing"})

    project = call(emulator, "getProject", 200, path_parameters={"project_name_or_id": name}, headers=by_name).json()
    assert (project["name"], project["metadata"]) == (name, {"public": "false", "auto_scan": "true"})
    call(emulator, "getProject", 403, auth="user", path_parameters={"project_name_or_id": name}, headers=by_name)
    call(emulator, "updateProject", 200, path_parameters={"project_name_or_id": name}, headers=by_name,
         body={"metadata": {"public": "true", "severity": "high"}})
    metadata = call(emulator, "getProject", 200, auth="user", path_parameters={"project_name_or_id": name},
                    headers=by_name).json()["metadata"]
    assert metadata == {"public": "true", "auto_scan": "true", "severity": "high"}

    listed = call(emulator, "listProjects", 200, query={"page": 1, "page_size": 1})
    assert int(header(listed, "X-Total-Count")) >= 2 and 'rel="next"' in header(listed, "Link")
    found = call(emulator, "listProjects", 200, query={"q": "name=" + name}).json()
    assert [p["name"] for p in found] == [name]

    quotas = call(emulator, "listQuotas", 200, query={"reference": "project",
                                                      "reference_id": str(project["project_id"])}).json()
    assert [q["hard"] for q in quotas] == [{"storage": -1}]
    quota_id = {"id": quotas[0]["id"]}
    call(emulator, "updateQuota", 200, path_parameters=quota_id, body={"hard": {"storage": 1024}})
    assert call(emulator, "getQuota", 200, path_parameters=quota_id).json()["hard"] == {"storage": 1024}
    call(emulator, "updateQuota", 403, auth="user", path_parameters=quota_id, body={"hard": {"storage": 1}})

    call(emulator, "deleteProject", 403, auth="user", path_parameters={"project_name_or_id": name}, headers=by_name)
    call(emulator, "deleteProject", 200, path_parameters={"project_name_or_id": name}, headers=by_name)
    call(emulator, "getProject", 404, path_parameters={"project_name_or_id": name}, headers=by_name)
    call(emulator, "getQuota", 404, path_parameters=quota_id)
