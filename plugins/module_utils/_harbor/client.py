# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A client for Harbor's REST API v2.0: projects, repositories, quotas (private module_utils, no Ansible imports).

Harbor-specific rules it keeps: Basic auth on every call and no cookies kept (a request that carries
Harbor's `sid` cookie is held to CSRF checks, and every POST/PUT/DELETE then fails with 403);
projects addressed by name with `X-Is-Resource-Name: true` (names may be all digits); Harbor's
`{"errors": [...]}` bodies turned into HarborError messages; a non-admin gets 403, not 404, for a
project that does not exist.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import re
import time
from urllib.parse import quote, urljoin, urlsplit

from .._errors import HangarError, HarborError, InputError
from .._image.media_types import loads_bounded
from .._image.reference import normalize_registry
from .._registry.credentials import find_credentials
from .._registry.retry import RetryPolicy, describe_transient_error
from .._registry.transport import bounded_timeout, deadline_scope, read_bounded
from .._requirements import requests, urllib3

API_PATH = "/api/v2.0"
PROJECT_NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*\Z")
PROJECT_NAME_MAX = 255
PROJECT_NAME_RULE = "1-255 characters matching ^[a-z0-9]+(?:[._-][a-z0-9]+)*$ (lower case letters and digits, " \
                    "separated by single '.', '_' or '-')"
PAGE_SIZE = 100
MAX_ANSWER_SIZE = 16 * 1024 * 1024  # a page of 100 projects or repositories is far less
CREDENTIALS_HINT = "check username and password: Harbor treats bad credentials as anonymous"
CREATE_HINT = "create the project first or use an account that may"
QUOTA_HINT = "Harbor lets only system administrators read and set quotas"


def validate_project_name(name):
    """Return name if Harbor accepts it as a project name; raise InputError naming the value and the rule."""
    if not isinstance(name, str) or not 0 < len(name) <= PROJECT_NAME_MAX or not PROJECT_NAME_RE.match(name):
        raise InputError("invalid Harbor project name %r: a name has %s" % (name, PROJECT_NAME_RULE))
    return name


def harbor_metadata(values):
    """Metadata as Harbor stores it: every value a string, booleans as "true"/"false"."""
    return {key: ("true" if value else "false") if isinstance(value, bool) else str(value)
            for key, value in values.items()}


def _base_url(url):
    """https://host[:port] (or http://) without a trailing slash; InputError for anything else."""
    try:
        parts = urlsplit(url if isinstance(url, str) else "")
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is not None and (parts.username is not None or parts.password is not None):
        raise InputError("invalid Harbor URL: it must not hold credentials; give username and password instead")
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") \
            or parts.query or parts.fragment:
        raise InputError("invalid Harbor URL %r: expected https://host[:port] (or http://host[:port])" % (url,))
    return "%s://%s" % (parts.scheme, parts.netloc)


_NOT_JSON = object()


@contextlib.contextmanager
def _no_deadline():
    yield


class _RefuseAllCookies(http.cookiejar.DefaultCookiePolicy):
    """Keep no cookie: Harbor's `sid` session cookie would make every later write fail its CSRF check."""

    def set_ok(self, cookie, request):
        return False

    def return_ok(self, cookie, request):
        return False


def _error_entries(response):
    try:
        errors = loads_bounded(response.content, "Harbor's answer").get("errors")
    except (HangarError, AttributeError):
        return []
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _error_codes(response):
    return [str(e.get("code")) for e in _error_entries(response) if e.get("code")]


def _describe_answer(response):
    """Harbor's own words for a failed answer: `CODE message; CODE message (HTTP status)`."""
    entries = _error_entries(response)
    if entries:
        text = "; ".join(" ".join(str(e[k]) for k in ("code", "message") if e.get(k)) for e in entries)
    else:
        text = (response.text or "").strip()[:200] or response.reason or "no message"
    return "%s (HTTP %d)" % (text, response.status_code)


class TaskDeadline:
    """A deadline for everything one HarborClient does (the module's `timeout`)."""

    def __init__(self, seconds, url):
        self.seconds = seconds
        self.url = url
        self.start = time.monotonic()

    def remaining(self):
        return self.seconds - (time.monotonic() - self.start)

    def check(self, doing="talking to Harbor"):
        if self.remaining() <= 0:
            raise HarborError("Error %s on %s: timed out after %gs (timeout)" % (doing, self.url, self.seconds))


def describe_body(response):
    """What an unexpected answer looks like, for a message: its content type and first characters."""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
    text = (response.content or b"")[:80].decode("utf-8", "replace").strip().replace("\n", " ")
    return "%s%s" % (kind, (": %r" % text) if text else ", empty")


class HarborClient:
    """One Harbor instance, reached at `url` (https://host[:port], or http:// for plain HTTP)."""

    def __init__(self, url, username=None, password=None, tls_verify=True, ca_path=None, timeout=30, retry=None,
                 log=None, auth_file=None, lookup=True, deadline=None):
        """Without username, credentials come from the same lookup as the registry's (auth_file, else the
        default auth files and credential helpers) for Harbor's host, unless lookup is False."""
        if requests.import_error():
            raise HangarError("HarborClient needs the Python library requests, which is not installed")
        self.url = _base_url(url)
        if not username and lookup:
            found = find_credentials(normalize_registry(urlsplit(self.url).netloc), auth_file=auth_file)
            if found is not None:
                username, password = found.username, found.password
        self.username = username
        self.timeout = timeout
        self.deadline = TaskDeadline(deadline, self.url) if deadline else None
        self.retry = retry or RetryPolicy()
        self.log = log
        self._session = requests.Session()
        # No ~/.netrc (requests reads it when trust_env is on): Harbor gets the credentials given, or none.
        self._session.trust_env = False
        self._session.proxies = requests.utils.get_environ_proxies(self.url + "/")
        self._session.cookies.set_policy(_RefuseAllCookies())
        if username:
            self._session.auth = (username, password or "")
        self._session.verify = (ca_path or True) if tls_verify else False
        if not tls_verify:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    def __repr__(self):
        return "HarborClient(url=%r, username=%r)" % (self.url, self.username)

    def close(self):
        self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- transport --

    def _exchange(self, method, url, headers=None, **kwargs):
        """One request whose answer is read here, at most MAX_ANSWER_SIZE bytes and in pieces, within the
        client's deadline (so that a Harbor trickling its answer cannot hold the task past it)."""
        with deadline_scope(self.deadline) if self.deadline else _no_deadline():
            response = self._session.request(method, url, headers=headers, timeout=bounded_timeout(self.timeout),
                                             allow_redirects=False, stream=True, **kwargs)
            try:
                read_bounded(response, MAX_ANSWER_SIZE, "Harbor's answer to %s %s" % (method, url))
            except HarborError:
                raise
            except HangarError as error:
                response.close()
                raise HarborError("Error talking to Harbor on %s: %s" % (self.url, str(error).split(": ", 1)[-1]),
                                  status=response.status_code) from None
        return response

    def _send(self, method, url, headers, **kwargs):
        """One request, retried by the shared policy when the fault is transient."""
        def attempt():
            return self._exchange(method, url, headers, **kwargs)
        return self.retry.call(attempt, "%s %s" % (method, url), log=self.log, error_codes=_error_codes)

    def _json(self, response, doing, shape):
        """The JSON of a successful answer, of the `shape` (dict or list) expected; HarborError naming the URL
        and status for anything else (an HTML login page, a proxy's error, garbage)."""
        expected = "a JSON object" if shape is dict else "a JSON list"
        try:
            value = loads_bounded(response.content, "Harbor's answer")
        except HangarError:
            value = _NOT_JSON
        if not isinstance(value, shape):
            raise HarborError("Error %s on %s: %s answered HTTP %d with %s where %s was expected; is %s Harbor's "
                              "address?" % (doing, self.url, response.url, response.status_code,
                                            describe_body(response), expected, self.url),
                              status=response.status_code)
        return value

    def _request(self, method, path, doing, ok=(200,), by_name=False, forbidden_hint=None, **kwargs):
        """The response of `method path` when its status is in `ok`; HarborError "Error <doing> on <url>: ..."."""
        url = path if path.startswith(("http://", "https://")) else self.url + API_PATH + path
        headers = {"Accept": "application/json"}
        if by_name:
            headers["X-Is-Resource-Name"] = "true"
        try:
            response = self._send(method, url, headers, **kwargs)
        except requests.exceptions.SSLError as error:
            raise HarborError("Error %s on %s: TLS verification failed (%s); give ca_path, or set tls_verify: false "
                              "for a self-signed certificate" % (doing, self.url, describe_transient_error(error))
                              ) from None
        except requests.exceptions.RequestException as error:
            raise HarborError("Error %s on %s: %s" % (doing, self.url, describe_transient_error(error))) from None
        if response.status_code in ok:
            return response
        message = "Error %s on %s: %s" % (doing, self.url, _describe_answer(response))
        hint = {401: CREDENTIALS_HINT, 403: forbidden_hint}.get(response.status_code)
        if 300 <= response.status_code < 400:
            hint = "Harbor redirected to %s; use that URL" % response.headers.get("Location", "another address")
        codes = _error_codes(response)
        raise HarborError(message + ("; " + hint if hint else ""), status=response.status_code,
                          code=codes[0] if codes else None)

    @staticmethod
    def _project_path(name):
        return "/projects/" + quote(validate_project_name(name), safe="")

    # -- the instance --

    def is_harbor(self):
        """Whether `url` answers like Harbor: GET /ping gives 200 "Pong". Never raises, never retries."""
        try:
            response = self._exchange("GET", self.url + API_PATH + "/ping")
        except (requests.exceptions.RequestException, HangarError):
            return False
        return response.status_code == 200 and response.text.strip() == "Pong"

    def system_info(self):
        """Harbor's /systeminfo (harbor_version only for logged-in callers)."""
        doing = "reading Harbor system info"
        return self._json(self._request("GET", "/systeminfo", doing), doing, dict)

    # -- projects --

    def project_exists(self, name):
        """HEAD /projects?project_name=; the exact-name list query when HEAD is not allowed (anonymous, proxies)."""
        validate_project_name(name)
        doing = "checking Harbor project %s" % name
        try:
            self._request("HEAD", "/projects", doing, params={"project_name": name})
            return True
        except HarborError as error:
            if error.status == 404:
                return False
            if error.status not in (401, 403, 405):
                raise
        projects = self._request("GET", "/projects", doing, params={"q": "name=%s" % name, "page_size": PAGE_SIZE})
        return any(isinstance(project, dict) and project.get("name") == name
                   for project in self._json(projects, doing, list))

    def get_project(self, name):
        """The project as Harbor returns it, or None when it does not exist."""
        doing = "reading Harbor project %s" % name
        try:
            response = self._request("GET", self._project_path(name), doing, by_name=True, ok=(200, 404))
        except HarborError as error:
            # Harbor answers 403 to a non-admin both for a project that does not exist and for one it may not see.
            if error.status != 403:
                raise
            if not self.project_exists(name):
                return None
            raise HarborError("%s; the account is not a member of the project" % error, error.status,
                              error.code) from None
        return self._json(response, doing, dict) if response.status_code == 200 else None

    def create_project(self, name, public=False, metadata=None, cve_allowlist=None):
        """Create a project; False when it exists already (409: another run made it)."""
        body = {"project_name": validate_project_name(name),
                "metadata": harbor_metadata(dict({"public": public}, **(metadata or {})))}
        if cve_allowlist is not None:
            body["cve_allowlist"] = {"items": [{"cve_id": cve} for cve in cve_allowlist]}
        response = self._request("POST", "/projects", "creating Harbor project %s" % name, ok=(201, 409),
                                 forbidden_hint=CREATE_HINT, json=body)
        return response.status_code == 201

    def update_project(self, name, metadata, cve_allowlist=None):
        """Change the metadata keys given (and the CVE allowlist when given); other keys stay as they are."""
        body = {"metadata": harbor_metadata(metadata)}
        if cve_allowlist is not None:
            body["cve_allowlist"] = {"items": [{"cve_id": cve} for cve in cve_allowlist]}
        self._request("PUT", self._project_path(name), "updating Harbor project %s" % name, by_name=True, json=body)

    def delete_project(self, name):
        """Delete a project; Harbor answers 412 (a HarborError) while it still holds repositories."""
        self._request("DELETE", self._project_path(name), "deleting Harbor project %s" % name, by_name=True)

    def ensure_projects(self, names, public=False):
        """Create the projects of `names` that do not exist: (created names, {name: error message} of failures).

        A project that exists already, or that another run creates meanwhile, is neither created nor failed.
        """
        created, failed = [], {}
        for name in dict.fromkeys(names):
            try:
                if not self.project_exists(name) and self.create_project(name, public=public):
                    created.append(name)
            except HangarError as error:
                failed[name] = str(error)
        return created, failed

    # -- repositories --

    def list_repositories(self, name):
        """Every repository of the project (Harbor's dicts; `name` is "project/repo"), following the pages."""
        doing = "listing the repositories of Harbor project %s" % name
        url = self._project_path(name) + "/repositories"
        params = {"page": 1, "page_size": PAGE_SIZE}
        repositories = []
        while True:
            response = self._request("GET", url, doing, params=params)
            page = self._json(response, doing, list)
            repositories.extend(page)
            next_link = response.links.get("next", {}).get("url")
            total = int(response.headers.get("X-Total-Count") or 0)
            if not page or not next_link or len(repositories) >= total:
                break
            url, params = urljoin(self.url, next_link), None
        return repositories

    def delete_repository(self, project, repository):
        """Delete a repository ("team/app" or "project/team/app") and every artifact in it."""
        relative = repository[len(project) + 1:] if repository.startswith(project + "/") else repository
        # Harbor wants the repository name URL-encoded twice: a/b -> a%2Fb -> a%252Fb.
        path = "%s/repositories/%s" % (self._project_path(project), quote(quote(relative, safe=""), safe=""))
        self._request("DELETE", path, "deleting Harbor repository %s/%s" % (project, relative))

    # -- quotas --

    def get_quota(self, project_id):
        """The project's quota ({"id", "hard": {"storage"}, "used": {"storage"}, ...}), or None if it has none."""
        doing = "reading the quota of Harbor project id %s" % project_id
        response = self._request("GET", "/quotas", doing, forbidden_hint=QUOTA_HINT,
                                 params={"reference": "project", "reference_id": str(project_id)})
        quotas = self._json(response, doing, list)
        if quotas and not isinstance(quotas[0], dict):
            raise HarborError("Error %s on %s: Harbor's answer is a list of %s, not of quotas"
                              % (doing, self.url, type(quotas[0]).__name__), status=response.status_code)
        return quotas[0] if quotas else None

    def update_quota(self, quota_id, storage_bytes):
        """Set the storage hard limit of quota `quota_id` (-1: unlimited)."""
        self._request("PUT", "/quotas/%d" % quota_id, "updating Harbor quota %d" % quota_id,
                      forbidden_hint=QUOTA_HINT, json={"hard": {"storage": storage_bytes}})
