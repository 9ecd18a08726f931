"""An emulator of Harbor for tests: the REST API the collection uses, its token service and its /v2 registry.

One host:port answers like Harbor does:
- /api/v2.0: ping, systeminfo, projects (HEAD/GET/POST/PUT/DELETE), a project's repositories, quotas,
  with Harbor's behaviours (tests/support/harbor/README.md): `{"errors": [...]}` bodies, Basic auth on every call
  where bad or missing credentials mean anonymous, 404 for admins and 403 for others on a missing project,
  409 on a duplicate, 412 when deleting a project that holds repositories, CSRF 403 for a writing request
  that carries the `sid` cookie (which every answer sets), X-Total-Count and Link on lists.
- /service/token: Bearer tokens (service `harbor-registry`) for the backing docker-registry; no access is
  granted to a project that does not exist.
- /v2/...: a streaming reverse proxy to that docker-registry.

The REST part works without a backing registry (a project then holds no repositories).
"""

import http.client
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from collections import namedtuple
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from ansible_collections.airgap.hangar.plugins.module_utils._image.media_types import ACCEPT_MANIFESTS

from .token_auth import LoopbackHTTPServer, PlainHTTPHandler, TokenIssuer, parse_scope

API_PREFIX = "/api/v2.0"
TOKEN_PATH = "/service/token"
TOKEN_SERVICE = "harbor-registry"
TOKEN_ISSUER = "harbor-token-issuer"
TOKEN_LIFETIME = 1800
HARBOR_VERSION = "v2.11.0-emulator"
INT_RE = re.compile(r"^[+-]?[0-9]+$")
PROJECT_NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
BOOLEAN_METADATA = ("public", "enable_content_trust", "enable_content_trust_cosign", "prevent_vul", "auto_scan",
                    "auto_sbom_generation", "reuse_sys_cve_allowlist", "proxy_cache_local_on_not_found",
                    "proxy_referrer_api")
SEVERITIES = ("none", "low", "medium", "high", "critical")
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10
ROLE_PROJECT_ADMIN = 1
CHUNK = 256 * 1024
# Headers that describe one hop of a connection, not the message: never forwarded by the proxy.
HOP_HEADERS = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
               "transfer-encoding", "upgrade", "host", "content-length"}


RegistryAnswer = namedtuple("RegistryAnswer", "status headers body")


class ApiError(Exception):
    """An answer in Harbor's error shape: {"errors": [{"code": ..., "message": ...}]}."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def _now():
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Nullable:
    """A body field that may also be null (Swagger's x-nullable)."""

    def __init__(self, shape):
        self.shape = shape


class MapOf:
    """An object whose every value has one shape (Swagger's additionalProperties)."""

    def __init__(self, shape):
        self.shape = shape


# Request bodies as Harbor's description defines them: {field: shape}, [item shape], str, int, bool.
METADATA_KEYS = ("public", "enable_content_trust", "enable_content_trust_cosign", "prevent_vul", "severity",
                 "auto_scan", "auto_sbom_generation", "reuse_sys_cve_allowlist", "retention_id", "proxy_speed_kb",
                 "max_upstream_conn", "proxy_cache_local_on_not_found", "proxy_referrer_api",
                 "proxy_cache_filter_pattern", "proxy_cache_filter_kind")
CVE_ALLOWLIST_SHAPE = {"id": int, "project_id": int, "expires_at": Nullable(int), "items": [{"cve_id": str}],
                       "creation_time": str, "update_time": str}
PROJECT_REQ_SHAPE = {
    "project_name": str, "public": Nullable(bool),
    "metadata": {key: str if key == "public" else Nullable(str) for key in METADATA_KEYS},
    "cve_allowlist": CVE_ALLOWLIST_SHAPE, "storage_limit": Nullable(int), "registry_id": Nullable(int),
}
QUOTA_UPDATE_SHAPE = {"hard": MapOf(int)}


def shape_error(value, shape, where="body"):
    """Where `value` breaks `shape` ("body.metadata.public must be a string"), or None when it fits."""
    if isinstance(shape, Nullable):
        return None if value is None else shape_error(value, shape.shape, where)
    if isinstance(shape, (dict, MapOf)):
        if not isinstance(value, dict):
            return "%s must be an object" % where
        fields = shape.items() if isinstance(shape, dict) else ((key, shape.shape) for key in value)
        errors = (shape_error(value[key], sub, "%s.%s" % (where, key)) for key, sub in fields if key in value)
        return next((error for error in errors if error), None)
    if isinstance(shape, list):
        if not isinstance(value, list):
            return "%s must be an array" % where
        errors = (shape_error(item, shape[0], "%s[%d]" % (where, i)) for i, item in enumerate(value))
        return next((error for error in errors if error), None)
    if shape is int:
        fits = isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX
    else:
        fits = isinstance(value, shape)
    return None if fits else "%s must be of type %s" % (where, {int: "int64", str: "string", bool: "boolean"}[shape])


GO_BOOLEANS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
               "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def parse_bool(text):
    """A boolean parameter as Harbor (Go's strconv.ParseBool) reads it; None when it is not one."""
    return GO_BOOLEANS.get(text)


def parse_int64(text):
    """An integer parameter as Harbor (Go's strconv.ParseInt) reads it; None when it is not an int64."""
    if text is None or not INT_RE.match(text):
        return None
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else None


class HarborState:
    """Users, projects and quotas, with Harbor's permission rules. Thread-safe; knows no HTTP."""

    def __init__(self, admin, user):
        self.lock = threading.RLock()
        self.admin_name = admin[0]
        self.passwords = {admin[0]: admin[1], user[0]: user[1]}
        self.user_ids = {admin[0]: 1, user[0]: 2}
        self.project_creation_restriction = "everyone"
        self.projects = {}
        self.quotas = {}
        self.members = {}
        self._ids = itertools.count(1)
        self.repositories_of = lambda project_name: []
        self.create_project(self.admin_name, {"project_name": "library", "metadata": {"public": "true"}})

    # -- users --

    def authenticate(self, credentials):
        """The user named by valid (user, password), else None (anonymous): Harbor does not reject bad ones."""
        if credentials is None:
            return None
        username, password = credentials
        if username in self.passwords and secrets.compare_digest(self.passwords[username], password):
            return username
        return None

    def is_admin(self, user):
        return user == self.admin_name

    def _is_member(self, user, project):
        return user is not None and (self.is_admin(user) or user in self.members.get(project["name"], ()))

    def _visible(self, user, project):
        return project["metadata"].get("public") == "true" or self._is_member(user, project)

    # -- projects --

    def find_project(self, name_or_id, by_name):
        project_id = None if by_name else parse_int64(name_or_id)
        if project_id is not None:
            return next((p for p in self.projects.values() if p["project_id"] == project_id), None)
        return self.projects.get(name_or_id)

    def project_for(self, user, name_or_id, by_name, write=False, anonymous_status=401):
        """The project, or the error Harbor answers this user: 401 anonymous, 404 admin, 403 others."""
        with self.lock:
            project = self.find_project(name_or_id, by_name)
            allowed = project is not None and (self._is_member(user, project) if write
                                               else self._visible(user, project))
            if allowed:
                return project
            if user is None:
                raise ApiError(anonymous_status, {401: "UNAUTHORIZED", 403: "FORBIDDEN"}[anonymous_status],
                               "unauthorized")
            if project is None and self.is_admin(user):
                raise ApiError(404, "NOT_FOUND", "project %s not found" % name_or_id)
            raise ApiError(403, "FORBIDDEN", "forbidden")

    def list_projects(self, user, exact_name=None, fuzzy_name=None, public=None, owner=None):
        with self.lock:
            found = []
            for project in sorted(self.projects.values(), key=lambda p: p["project_id"]):
                if not self._visible(user, project):
                    continue
                if exact_name is not None and project["name"] != exact_name:
                    continue
                if fuzzy_name is not None and fuzzy_name not in project["name"]:
                    continue
                if public is not None and (project["metadata"].get("public") == "true") != public:
                    continue
                if owner is not None and project["owner_name"] != owner:
                    continue
                found.append(project)
            return found

    def create_project(self, user, body):
        if user is None:
            raise ApiError(401, "UNAUTHORIZED", "unauthorized")
        if not self.is_admin(user) and self.project_creation_restriction == "adminonly":
            raise ApiError(403, "FORBIDDEN", "Only system admin can create project")
        name = body.get("project_name")
        if not name:
            raise ApiError(400, "BAD_REQUEST", "project_name in body is required")
        if len(name) > 255 or not PROJECT_NAME_RE.match(name):
            raise ApiError(400, "BAD_REQUEST", "project name is not in lower case or contains illegal characters")
        storage_limit = body.get("storage_limit")
        if storage_limit is not None and (storage_limit == 0 or storage_limit < -1):
            raise ApiError(400, "BAD_REQUEST", "invalid storage_limit %d" % storage_limit)
        if body.get("registry_id"):
            raise ApiError(400, "BAD_REQUEST", "registry %d not found" % body["registry_id"])
        metadata = self._checked_metadata(body.get("metadata") or {})
        if "public" not in metadata:
            metadata["public"] = "true" if body.get("public") else "false"
        with self.lock:
            if name in self.projects:
                raise ApiError(409, "CONFLICT", "The project named %s already exists" % name)
            project_id = next(self._ids)
            now = _now()
            project = {
                "project_id": project_id, "owner_id": self.user_ids[user], "owner_name": user, "name": name,
                "creation_time": now, "update_time": now, "deleted": False, "togglable": True,
                "metadata": metadata, "cve_allowlist": self._allowlist(project_id, body.get("cve_allowlist"), now),
            }
            self.projects[name] = project
            self.members[name] = {user}
            hard = storage_limit if storage_limit is not None and self.is_admin(user) else -1
            self.quotas[project_id] = {
                "id": project_id, "ref": {"id": project_id, "name": name, "owner_name": user},
                "hard": {"storage": hard}, "used": {"storage": 0}, "creation_time": now, "update_time": now,
            }
            return project

    def update_project(self, user, name_or_id, by_name, body):
        with self.lock:
            project = self.project_for(user, name_or_id, by_name, write=True)
            metadata = self._checked_metadata(body.get("metadata") or {})
            if "public" not in metadata and body.get("public") is not None:
                metadata["public"] = "true" if body["public"] else "false"
            project["metadata"].update(metadata)
            now = _now()
            if body.get("cve_allowlist") is not None:
                project["cve_allowlist"] = self._allowlist(project["project_id"], body["cve_allowlist"], now)
            project["update_time"] = now

    def delete_project(self, user, name_or_id, by_name):
        with self.lock:
            # Harbor's server answers an anonymous DELETE with 401, which its description does not declare
            # for deleteProject: the emulator follows the description (403).
            project = self.project_for(user, name_or_id, by_name, write=True, anonymous_status=403)
            if self.repositories_of(project["name"]):
                raise ApiError(412, "PRECONDITION", "the project %s contains repositories, can not be deleted"
                               % project["name"])
            del self.projects[project["name"]]
            del self.members[project["name"]]
            self.quotas.pop(project["project_id"], None)

    def view(self, user, project):
        """The project as GET answers it for this user."""
        shown = dict(project, metadata=dict(project["metadata"]), cve_allowlist=dict(project["cve_allowlist"]))
        shown["repo_count"] = len(self.repositories_of(project["name"]))
        if self._is_member(user, project):
            shown["current_user_role_id"] = ROLE_PROJECT_ADMIN
            shown["current_user_role_ids"] = [ROLE_PROJECT_ADMIN]
        return shown

    @staticmethod
    def _checked_metadata(metadata):
        """The metadata Harbor keeps: known keys with a value; booleans "true"/"false", a known severity."""
        checked = {key: value for key, value in metadata.items() if key in METADATA_KEYS and value is not None}
        for key, value in checked.items():
            if key in BOOLEAN_METADATA and value not in ("true", "false"):
                raise ApiError(400, "BAD_REQUEST", "invalid value %r of metadata %s" % (value, key))
            if key == "severity" and value not in SEVERITIES:
                raise ApiError(400, "BAD_REQUEST", "invalid severity %r" % value)
        return checked

    @staticmethod
    def _allowlist(project_id, allowlist, now):
        allowlist = allowlist or {}
        items = [{"cve_id": item["cve_id"]} for item in allowlist.get("items") or () if "cve_id" in item]
        result = {"id": project_id, "project_id": project_id, "items": items, "creation_time": now,
                  "update_time": now}
        if allowlist.get("expires_at") is not None:
            result["expires_at"] = allowlist["expires_at"]
        return result

    # -- quotas (system admins only) --

    def _quota_reader(self, user):
        if user is None:
            raise ApiError(401, "UNAUTHORIZED", "unauthorized")
        if not self.is_admin(user):
            raise ApiError(403, "FORBIDDEN", "forbidden")

    def list_quotas(self, user, reference=None, reference_id=None):
        self._quota_reader(user)
        with self.lock:
            quotas = sorted(self.quotas.values(), key=lambda q: q["id"])
            if reference not in (None, "project"):
                return []
            if reference_id is not None:
                quotas = [q for q in quotas if str(q["ref"]["id"]) == reference_id]
            return quotas

    def get_quota(self, user, quota_id):
        self._quota_reader(user)
        with self.lock:
            if quota_id not in self.quotas:
                raise ApiError(404, "NOT_FOUND", "quota %d not found" % quota_id)
            return self.quotas[quota_id]

    def update_quota(self, user, quota_id, body):
        quota = self.get_quota(user, quota_id)
        hard = body.get("hard") or {}
        for resource, value in hard.items():
            if resource != "storage":
                raise ApiError(400, "BAD_REQUEST", "resource %s not support" % resource)
            if value == 0 or value < -1:
                raise ApiError(400, "BAD_REQUEST", "invalid hard limit %d for storage" % value)
        with self.lock:
            quota["hard"] = dict(quota["hard"], **hard)
            quota["update_time"] = _now()

    # -- the token service --

    def granted_actions(self, user, repository, actions):
        """What Harbor's token service grants `user` on `repository`: nothing in a project that does not exist."""
        with self.lock:
            project = self.projects.get(repository.split("/", 1)[0])
            if project is None or "/" not in repository:
                return []
            if self._is_member(user, project):
                allowed = {"pull", "push", "delete", "*"}
            elif project["metadata"].get("public") == "true":
                allowed = {"pull"}
            else:
                allowed = set()
            return [action for action in actions if action in allowed]


def _page(items, page, page_size, query, path):
    """Harbor's paging: the slice for page/page_size, X-Total-Count and a Link to the neighbour pages."""
    page = max(page, 1)
    if page_size < 1:
        page_size = DEFAULT_PAGE_SIZE
    start = (page - 1) * page_size
    links = []
    others = {k: v for k, v in query.items() if k not in ("page", "page_size")}
    if page > 1:
        links.append('<%s?%s>; rel="prev"' % (path, urlencode(dict(others, page=page - 1, page_size=page_size))))
    if start + page_size < len(items):
        links.append('<%s?%s>; rel="next"' % (path, urlencode(dict(others, page=page + 1, page_size=page_size))))
    headers = {"X-Total-Count": str(len(items))}
    if links:
        headers["Link"] = " , ".join(links)
    return items[start:start + page_size], headers


def _query_terms(q):
    """Harbor's `q=k=v,k2=~v2`: exact terms and fuzzy (~) terms; malformed parts are ignored."""
    exact, fuzzy = {}, {}
    for part in (q or "").split(","):
        key, sep, value = part.partition("=")
        if not sep:
            continue
        if value.startswith("~"):
            fuzzy[key.strip()] = value[1:]
        else:
            exact[key.strip()] = value
    return exact, fuzzy


class _ChunkedReader:
    """Reads the body of a request sent with Transfer-Encoding: chunked, yielding its decoded pieces."""

    def __init__(self, rfile):
        self.rfile = rfile

    def __iter__(self):
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return
            remaining = size
            while remaining:
                piece = self.rfile.read(min(remaining, CHUNK))
                if not piece:
                    return
                remaining -= len(piece)
                yield piece
            self.rfile.readline()


def _fixed_length_body(rfile, length):
    remaining = length
    while remaining > 0:
        piece = rfile.read(min(remaining, CHUNK))
        if not piece:
            return
        remaining -= len(piece)
        yield piece


# The API paths emulated ("*" is a path parameter). For each method Harbor's description declares there:
# the _Handler method that answers, and the status the description gives for invalid input (None: it
# declares none, so the emulator reads bad input leniently, as defaults). Other methods get 405.
API_ROUTES = {
    ("ping",): {"GET": ("_ping", None)},
    ("systeminfo",): {"GET": ("_system_info", None)},
    ("projects",): {"GET": ("_list_projects", 422), "HEAD": ("_head_project", 400), "POST": ("_create_project", 400)},
    ("projects", "*"): {"GET": ("_get_project", None), "PUT": ("_update_project", 400),
                        "DELETE": ("_delete_project", 400)},
    ("projects", "*", "repositories"): {"GET": ("_list_repositories", 400)},
    ("projects", "*", "repositories", "*"): {"DELETE": ("_delete_repository", 400)},
    ("quotas",): {"GET": ("_list_quotas", None)},
    ("quotas", "*"): {"GET": ("_get_quota", None), "PUT": ("_update_quota", 400)},
}
ERROR_CODES = {400: "BAD_REQUEST", 422: "UNPROCESSABLE_ENTITY"}
WRITING_METHODS = ("POST", "PUT", "DELETE", "PATCH")


def _route(segments):
    """(the methods of the matching route, the path parameters), or (None, None) for a path Harbor lacks."""
    for pattern, methods in API_ROUTES.items():
        if len(pattern) == len(segments) and all(p in ("*", s) for p, s in zip(pattern, segments)):
            return methods, [s for p, s in zip(pattern, segments) if p == "*"]
    return None, None


class _Handler(PlainHTTPHandler):
    server_version = "HarborEmulator"
    timeout = 60

    @property
    def emulator(self):
        return self.server.owner

    @property
    def state(self):
        return self.server.owner.state

    def __getattr__(self, name):
        # Every HTTP method, declared or not (TRACE, OPTIONS...), goes to the router, which answers 405.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    # -- plumbing --

    def _dispatch(self):
        split = urlsplit(self.path)
        self.raw_path = split.path
        self.query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        self.request_id = self.headers.get("X-Request-Id") or uuid.uuid4().hex
        self._body_read = False
        try:
            if split.path == "/v2" or split.path.startswith("/v2/"):
                self.emulator.proxy(self, split)
            elif split.path == TOKEN_PATH:
                self._token()
            elif split.path.startswith(API_PREFIX + "/"):
                self.emulator.api_calls.append((self.command, split.path))
                self._api([unquote(s) for s in split.path[len(API_PREFIX) + 1:].split("/")])
            else:
                raise ApiError(404, "NOT_FOUND", "no route for %s" % split.path)
        except ApiError as error:
            self._discard_body()
            self._send_json(error.status, {"errors": [{"code": error.code, "message": error.message}]},
                            error.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _api(self, segments):
        if self.command in WRITING_METHODS and "sid=" in (self.headers.get("Cookie") or ""):
            raise ApiError(403, "FORBIDDEN", "CSRF token invalid")
        methods, parameters = _route(segments)
        if methods is None:
            raise ApiError(404, "NOT_FOUND", "no API at %s" % self.raw_path)
        if self.command not in methods:
            raise ApiError(405, "METHOD_NOT_ALLOWED", "%s is not allowed on %s" % (self.command, self.raw_path),
                           headers={"Allow": ", ".join(sorted(methods))})
        handler_name, self.invalid_input_status = methods[self.command]
        if self.headers.get("X-Request-Id") == "":
            self._invalid("X-Request-Id in header should be at least 1 chars long")
        getattr(self, handler_name)(self.state.authenticate(self.basic_credentials()), *parameters)

    # -- reading the request as the description defines it --

    def _invalid(self, message):
        """Refuse bad input with the status the description declares; carry on when it declares none."""
        if self.invalid_input_status is not None:
            raise ApiError(self.invalid_input_status, ERROR_CODES[self.invalid_input_status], message)

    def _query_int(self, name, default):
        text = self.query.get(name)
        value = default if text is None else parse_int64(text)
        if value is None:
            self._invalid("%s in query must be of type int64: %r" % (name, text))
            return default
        return value

    def _query_bool(self, name):
        text = self.query.get(name)
        value = None if text is None else parse_bool(text)
        if text is not None and value is None:
            self._invalid("%s in query must be of type boolean: %r" % (name, text))
        return value

    def _header_bool(self, name):
        text = self.headers.get(name)
        value = False if text is None else parse_bool(text)
        if value is None:
            self._invalid("%s in header must be of type boolean: %r" % (name, text))
        return bool(value)

    def _paging(self):
        page_size = self._query_int("page_size", DEFAULT_PAGE_SIZE)
        if page_size > MAX_PAGE_SIZE:
            self._invalid("page_size in query should be less than or equal to %d" % MAX_PAGE_SIZE)
            page_size = MAX_PAGE_SIZE
        return self._query_int("page", 1), page_size

    def _body(self, shape):
        """The JSON body, checked against its shape in the description (400 when it does not fit)."""
        raw = self.rfile.read(self._content_length())
        self._body_read = True
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            raise ApiError(400, "BAD_REQUEST", "the request body is not valid JSON") from None
        error = "the request body is required" if body is None else shape_error(body, shape)
        if error:
            raise ApiError(400, "BAD_REQUEST", error)
        return body

    def _content_length(self):
        try:
            return max(int(self.headers.get("Content-Length") or 0), 0)
        except ValueError:
            return 0

    def _discard_body(self):
        """Read an unread request body, so the connection stays usable for the next request."""
        if not self._body_read and self._content_length():
            self.rfile.read(self._content_length())
        self._body_read = True

    def _send(self, status, body=b"", content_type="application/json", headers=None):
        self._discard_body()
        self.send_response(status)
        self.send_header("X-Request-Id", self.request_id)
        self.send_header("Set-Cookie", "sid=%s; Path=/; HttpOnly" % secrets.token_hex(16))
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _send_json(self, status, payload, headers=None):
        self._send(status, json.dumps(payload).encode(), headers=headers)

    def _by_name(self):
        return self._header_bool("X-Is-Resource-Name")

    # -- /api/v2.0 --

    def _ping(self, user):
        self._send(200, b"Pong", content_type="text/plain; charset=utf-8")

    def _system_info(self, user):
        info = {"auth_mode": "db_auth", "primary_auth_mode": False, "self_registration": False,
                "has_ca_root": False, "read_only": False, "notification_enable": True,
                "registry_url": self.emulator.host, "external_url": self.emulator.url,
                "current_time": _now(), "banner_message": ""}
        if user is not None:
            info["harbor_version"] = HARBOR_VERSION
            info["project_creation_restriction"] = self.state.project_creation_restriction
            info["registry_storage_provider_name"] = "filesystem"
        self._send_json(200, info)

    def _head_project(self, user):
        if user is None:
            raise ApiError(401, "UNAUTHORIZED", "unauthorized")
        name = self.query.get("project_name")
        if name is None:
            self._invalid("project_name in query is required")
        with self.state.lock:
            exists = name in self.state.projects
        if not exists:
            raise ApiError(404, "NOT_FOUND", "project %s not found" % name)
        self._send(200)

    def _list_projects(self, user):
        exact, fuzzy = _query_terms(self.query.get("q"))
        self._query_bool("with_detail")
        public = self._query_bool("public")
        if public is None and "public" in exact:
            public = parse_bool(exact["public"])
        projects = self.state.list_projects(
            user, exact_name=exact.get("name"), fuzzy_name=self.query.get("name") or fuzzy.get("name"),
            public=public, owner=self.query.get("owner") or exact.get("owner"))
        page, headers = _page(projects, *self._paging(), self.query, API_PREFIX + "/projects")
        self._send_json(200, [self.state.view(user, p) for p in page], headers)

    def _create_project(self, user):
        by_name = self._header_bool("X-Resource-Name-In-Location")
        project = self.state.create_project(user, self._body(PROJECT_REQ_SHAPE))
        location = "%s/projects/%s" % (API_PREFIX, project["name"] if by_name else project["project_id"])
        self._send(201, headers={"Location": location})

    def _get_project(self, user, name_or_id):
        project = self.state.project_for(user, name_or_id, self._by_name())
        self._send_json(200, self.state.view(user, project))

    def _update_project(self, user, name_or_id):
        by_name = self._by_name()
        self.state.update_project(user, name_or_id, by_name, self._body(PROJECT_REQ_SHAPE))
        self._send(200)

    def _delete_project(self, user, name_or_id):
        self.state.delete_project(user, name_or_id, self._by_name())
        self._send(200)

    def _list_repositories(self, user, project_name):
        project = self.state.project_for(user, project_name, by_name=True)
        repositories = [{"id": index, "project_id": project["project_id"], "name": name, "artifact_count": 1,
                         "pull_count": 0, "creation_time": project["creation_time"],
                         "update_time": project["update_time"]}
                        for index, name in enumerate(self.state.repositories_of(project["name"]), 1)]
        page, headers = _page(repositories, *self._paging(), self.query,
                              "%s/projects/%s/repositories" % (API_PREFIX, project_name))
        self._send_json(200, page, headers)

    def _delete_repository(self, user, project_name, repository_name):
        project = self.state.project_for(user, project_name, by_name=True, write=True)
        # The name came URL-encoded twice (a/b -> a%252Fb); the router undid one of them.
        repository = "%s/%s" % (project["name"], unquote(repository_name))
        if repository not in self.state.repositories_of(project["name"]):
            raise ApiError(404, "NOT_FOUND", "repository %s not found" % repository)
        self.emulator.delete_repository(repository)
        self._send(200)

    def _list_quotas(self, user):
        quotas = self.state.list_quotas(user, self.query.get("reference"), self.query.get("reference_id"))
        page, headers = _page(quotas, *self._paging(), self.query, API_PREFIX + "/quotas")
        self._send_json(200, page, headers)

    def _get_quota(self, user, quota_id):
        self._send_json(200, self.state.get_quota(user, self._quota_id(quota_id)))

    def _update_quota(self, user, quota_id):
        quota_id = self._quota_id(quota_id)
        self.state.update_quota(user, quota_id, self._body(QUOTA_UPDATE_SHAPE))
        self._send(200)

    @staticmethod
    def _quota_id(text):
        """The quota id of the path; a path that is no int64 names no quota (404, which both operations declare)."""
        quota_id = parse_int64(text)
        if quota_id is None:
            raise ApiError(404, "NOT_FOUND", "quota %s not found" % text)
        return quota_id

    # -- /service/token --

    def _token(self):
        if self.command != "GET":
            raise ApiError(405, "METHOD_NOT_ALLOWED", "the token service answers GET only")
        if self.emulator.registry is None:
            raise ApiError(404, "NOT_FOUND", "no registry behind this emulator")
        if self.query.get("service") not in (None, TOKEN_SERVICE):
            raise ApiError(400, "BAD_REQUEST", "unknown service %s" % self.query["service"])
        user = self.state.authenticate(self.basic_credentials())
        state = self.state
        access = []
        for scope in map(parse_scope, parse_qs(urlsplit(self.path).query).get("scope", [])):
            if scope["type"] == "repository":
                granted = state.granted_actions(user, scope["name"], scope["actions"])
            elif scope == {"type": "registry", "name": "catalog", "actions": ["*"]} and state.is_admin(user):
                granted = scope["actions"]
            else:
                granted = []
            if granted:
                access.append(dict(scope, actions=granted))
        token = self.emulator.token_issuer.issue(user or "", access, TOKEN_LIFETIME)
        self._send_json(200, {"token": token, "access_token": token, "expires_in": TOKEN_LIFETIME,
                              "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


class HarborEmulator(LoopbackHTTPServer):
    """Harbor on 127.0.0.1:<free port>: start(), stop(); .url, .host, .admin, .user, .state, .api_calls.

    The /v2 side needs a backing docker-registry: start the emulator, then a RegistryServer with
    auth="token", token_issuer=emulator.token_issuer and token_realm=emulator.token_realm, and
    attach_registry() it (tests/support/harbor_fixtures.py does this).
    """

    def __init__(self, admin=("admin", "Harbor12345"), user=("developer", "Developer12345")):
        super().__init__(_Handler)
        self.admin = tuple(admin)
        self.user = tuple(user)
        self.state = HarborState(self.admin, self.user)
        self.state.repositories_of = self.repositories_of
        self.token_issuer = TokenIssuer(service=TOKEN_SERVICE, issuer=TOKEN_ISSUER)
        self.registry = None
        self.api_calls = []  # (method, path) of every /api/v2.0 request, for tests that count them

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    @property
    def token_realm(self):
        return self.url + TOKEN_PATH

    def attach_registry(self, registry):
        self.registry = registry

    # -- the backing registry --

    def _registry_call(self, method, path, scope):
        """One call to the backing registry with a token for `scope`: a RegistryAnswer."""
        token = self.token_issuer.issue(self.admin[0], [scope])
        connection = http.client.HTTPConnection("127.0.0.1", self.registry.port, timeout=30)
        try:
            connection.request(method, path, headers={"Authorization": "Bearer " + token,
                                                      "Accept": ACCEPT_MANIFESTS})
            response = connection.getresponse()
            return RegistryAnswer(response.status, response.headers, response.read())
        finally:
            connection.close()

    def repositories_of(self, project_name):
        """The repositories with tags that the backing registry holds under `<project>/`, from its catalog."""
        if self.registry is None:
            return []
        names, last = [], None
        while True:
            path = "/v2/_catalog?n=1000" + ("&last=" + quote(last, safe="") if last else "")
            answer = self._registry_call("GET", path, {"type": "registry", "name": "catalog", "actions": ["*"]})
            if answer.status != 200:
                raise ApiError(500, "INTERNAL_SERVER_ERROR", "registry catalog answered %d" % answer.status)
            page = json.loads(answer.body).get("repositories") or []
            names.extend(page)
            if len(page) < 1000:
                break
            last = page[-1]
        return [name for name in names if name.startswith(project_name + "/") and self._tags(name)]

    def _tags(self, repository):
        scope = {"type": "repository", "name": repository, "actions": ["pull"]}
        answer = self._registry_call("GET", "/v2/%s/tags/list" % repository, scope)
        return (json.loads(answer.body).get("tags") or []) if answer.status == 200 else []

    def delete_repository(self, repository):
        """Delete every tagged manifest of `repository`; the catalog keeps its name, but it is no longer listed."""
        scope = {"type": "repository", "name": repository, "actions": ["pull", "delete"]}
        for tag in self._tags(repository):
            answer = self._registry_call("HEAD", "/v2/%s/manifests/%s" % (repository, tag), scope)
            digest = answer.headers.get("Docker-Content-Digest")
            if answer.status == 200 and digest:
                self._registry_call("DELETE", "/v2/%s/manifests/%s" % (repository, digest), scope)

    def proxy(self, handler, split):
        """Forward one /v2 request to the backing registry, streaming both bodies."""
        if self.registry is None:
            raise ApiError(404, "NOT_FOUND", "no registry behind this emulator")
        handler._body_read = True  # the body streams to the registry, or the connection is closed
        connection = http.client.HTTPConnection("127.0.0.1", self.registry.port, timeout=300)
        try:
            headers = {}
            for name, value in handler.headers.items():
                if name.lower() not in HOP_HEADERS:
                    # Repeated fields (skopeo sends one Accept per media type) are one comma-separated list.
                    headers[name] = "%s, %s" % (headers[name], value) if name in headers else value
            headers["Host"] = self.host
            path = split.path + ("?" + split.query if split.query else "")
            if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
                connection.request(handler.command, path, body=iter(_ChunkedReader(handler.rfile)),
                                   headers=headers, encode_chunked=True)
            else:
                length = int(handler.headers.get("Content-Length") or 0)
                headers["Content-Length"] = str(length)
                connection.request(handler.command, path, body=_fixed_length_body(handler.rfile, length),
                                   headers=headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            handler.close_connection = True
            raise ApiError(502, "BAD_GATEWAY", "backing registry: %s" % error) from None
        try:
            self._relay(handler, split.path, response)
        except (OSError, http.client.HTTPException):
            handler.close_connection = True  # the answer was cut short; the client sees a closed connection
        finally:
            connection.close()

    def _relay(self, handler, path, response):
        """Send the registry's answer back; a 401 into a missing project gets Harbor's own body."""
        replacement = self._missing_project_error(path) if response.status == 401 else None
        handler.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() in HOP_HEADERS or name.lower() in ("server", "date") or (
                    replacement is not None and name.lower() == "content-type"):
                continue
            if name.lower() == "location":
                value = value.replace(self.registry.url, self.url)
            handler.send_header(name, value)
        if replacement is not None:
            response.read()
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(replacement)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(replacement)
            return
        length = response.getheader("Content-Length")
        chunked = length is None and handler.command != "HEAD" and response.status not in (204, 304)
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        elif length is not None:
            handler.send_header("Content-Length", length)
        handler.end_headers()
        if handler.command == "HEAD":
            return
        while True:
            piece = response.read(CHUNK)
            if not piece:
                break
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            handler.wfile.write(b"0\r\n\r\n")

    def _missing_project_error(self, path):
        """Harbor's 401 body for a /v2 request into a project that does not exist, else None."""
        parts = path.split("/")
        if len(parts) < 4 or parts[2] in ("", "_catalog"):
            return None
        with self.state.lock:
            if parts[2] in self.state.projects:
                return None
        return json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "project %s not found" % parts[2]}]}
                          ).encode()
