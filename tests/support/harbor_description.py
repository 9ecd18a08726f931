"""Our description of Harbor's API (tests/support/harbor/openapi.yaml) and where Harbor's own is found.

`operations()` reads an OpenAPI 3 or Swagger 2 document into one plain shape per operation id (method,
path, parameters, request body, statuses with their schemas and headers), with references resolved and
prose left out, so two descriptions written differently can be compared for what they say.
"""

import os
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
OUR_DESCRIPTION = REPO / "tests" / "support" / "harbor" / "openapi.yaml"
# Harbor's own description (goharbor/harbor, api/v2.0/swagger.yaml): $HARBOR_SWAGGER, else beside the checkout.
HARBOR_SWAGGER_BESIDE = REPO.parent / "shared" / "harbor" / "swagger.yaml"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
# Words about a schema, not rules of it.
PROSE = {"description", "summary", "example", "examples", "title", "x-omitempty"}


def harbor_swagger():
    """Harbor's own description's path; None when not at hand; an error when HARBOR_SWAGGER names no file."""
    named = os.environ.get("HARBOR_SWAGGER")
    if named:
        if not Path(named).is_file():
            raise FileNotFoundError("HARBOR_SWAGGER names no file: %s" % named)
        return Path(named)
    return HARBOR_SWAGGER_BESIDE if HARBOR_SWAGGER_BESIDE.is_file() else None


def load(path):
    with open(path, encoding="utf-8") as stream:
        return yaml.safe_load(stream)


class _Reader:
    def __init__(self, document):
        self.document = document
        self.swagger2 = "swagger" in document

    def resolve(self, node):
        """Follow $ref (its siblings mean nothing, in both versions) until a plain node."""
        while isinstance(node, dict) and "$ref" in node:
            target = self.document
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            node = target
        return node

    def schema(self, node):
        node = self.resolve(node)
        if isinstance(node, list):
            return [self.schema(item) for item in node]
        if not isinstance(node, dict):
            return node
        shape = {}
        for key, value in node.items():
            if key in PROSE:
                continue
            if key in ("x-nullable", "nullable"):
                if value:
                    shape["nullable"] = True
            elif key == "properties":
                shape[key] = {name: self.schema(sub) for name, sub in value.items()}
            elif key in ("items", "additionalProperties", "not"):
                shape[key] = self.schema(value) if isinstance(value, dict) else value
            elif key in ("allOf", "anyOf", "oneOf"):
                shape[key] = [self.schema(sub) for sub in value]
            else:
                shape[key] = value
        return shape

    def parameter(self, node):
        node = self.resolve(node)
        if self.swagger2:
            schema = {key: value for key, value in node.items() if key not in ("name", "in", "required")}
        else:
            schema = node.get("schema", {})
        return (node["in"], node["name"]), {"required": bool(node.get("required")), "schema": self.schema(schema)}

    def body(self, operation, swagger2_parameters):
        if self.swagger2:
            bodies = [self.resolve(p) for p in swagger2_parameters if self.resolve(p)["in"] == "body"]
            if not bodies:
                return None
            media = operation.get("consumes", self.document.get("consumes", []))
            return {"required": bool(bodies[0].get("required")),
                    "content": {kind: self.schema(bodies[0]["schema"]) for kind in media}}
        body = self.resolve(operation.get("requestBody"))
        if body is None:
            return None
        return {"required": bool(body.get("required")),
                "content": {kind: self.schema(value.get("schema", {})) for kind, value in body["content"].items()}}

    def response(self, operation, node):
        node = self.resolve(node)
        if self.swagger2:
            headers = {name: self.schema(header) for name, header in node.get("headers", {}).items()}
            media = operation.get("produces", self.document.get("produces", []))
            content = {kind: self.schema(node["schema"]) for kind in media} if "schema" in node else {}
        else:
            headers = {name: self.schema(self.resolve(header).get("schema", {}))
                       for name, header in node.get("headers", {}).items()}
            content = {kind: self.schema(value.get("schema", {})) for kind, value in node.get("content", {}).items()}
        return {"headers": headers, "content": content}

    def base_path(self):
        if self.swagger2:
            return self.document.get("basePath", "")
        return self.document["servers"][0]["url"]

    def operations(self):
        found = {}
        for path, item in self.document["paths"].items():
            shared = item.get("parameters", [])
            for method in METHODS:
                operation = item.get(method)
                if operation is None:
                    continue
                every = list(shared) + list(operation.get("parameters", []))
                plain = [p for p in every if self.resolve(p)["in"] != "body"]
                found[operation["operationId"]] = {
                    "method": method.upper(),
                    "path": self.base_path() + path,
                    "parameters": dict(self.parameter(p) for p in plain),
                    "body": self.body(operation, every),
                    "responses": {str(status): self.response(operation, response)
                                  for status, response in operation["responses"].items()},
                    "security": self.security(operation),
                }
        return found

    def security(self, operation):
        """The security requirements as the kinds of scheme they name ("basic"; "" for none needed)."""
        requirements = operation.get("security", self.document.get("security", []))
        if self.swagger2:
            schemes = self.document.get("securityDefinitions", {})
            kind = {name: scheme["type"] for name, scheme in schemes.items()}
        else:
            schemes = self.document.get("components", {}).get("securitySchemes", {})
            kind = {name: scheme.get("scheme", scheme["type"]) for name, scheme in schemes.items()}
        return sorted("+".join(sorted(kind[name] for name in requirement)) for requirement in requirements)


def operations(document):
    """{operationId: {method, path, parameters, body, responses, security}} of an OpenAPI 3 or Swagger 2 document."""
    return _Reader(document).operations()


def differences(ours, theirs, where=""):
    """Where two plain values differ, as readable lines ("getProject.responses.404: missing in ours")."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        lines = []
        for key in sorted(set(ours) | set(theirs), key=str):
            here = "%s.%s" % (where, key) if where else str(key)
            if key not in ours:
                lines.append("%s: missing in ours" % here)
            elif key not in theirs:
                lines.append("%s: not in Harbor's" % here)
            else:
                lines.extend(differences(ours[key], theirs[key], here))
        return lines
    if ours != theirs:
        return ["%s: ours %r, Harbor's %r" % (where, ours, theirs)]
    return []
