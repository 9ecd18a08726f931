#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: hangar_harbor_project
short_description: Create, update or delete a Harbor project
version_added: 0.1.0
description:
  - Makes sure a project exists in Harbor with the settings given, or does not exist.
  - Only the settings given are compared with what Harbor holds; settings left out stay as they are.
    When some differ, they are changed with one update.
  - Harbor stores the project settings as strings (V("true"), V("false")); they are compared as such.
  - Talks to Harbor's REST API v2.0 (Harbor 2.x).
author:
  - airgap.hangar contributors (@airgap)
requirements:
  - requests
attributes:
  check_mode:
    description: Reads the project and reports what would be created, changed or deleted, changing nothing.
    support: full
  diff_mode:
    description: Shows the compared settings (and whether the project exists) before and after.
    support: full
  idempotent:
    description: A second run with the same options reports no change.
    support: full
options:
  harbor_url:
    description:
      - The address of Harbor, V(https://host[:port]), or V(http://host[:port]) for one that speaks plain HTTP.
    type: str
    required: true
  username:
    description:
      - A Harbor user. Harbor treats a call without credentials, or with wrong ones, as anonymous.
      - If not set, the value of the E(HARBOR_USERNAME) environment variable is used.
      - When neither is set, the credentials are looked up for Harbor's host as for a registry, in
        O(auth_file), else C(REGISTRY_AUTH_FILE), the containers C(auth.json) and C(~/.docker/config.json)
        (including credential helpers). C(~/.netrc) is never read.
      - O(username) and O(password) are given together or not at all.
    type: str
  password:
    description:
      - The password of O(username). Never shown in results or messages.
      - If not set, the value of the E(HARBOR_PASSWORD) environment variable is used.
    type: str
  auth_file:
    description:
      - A C(auth.json) or C(~/.docker/config.json) style file to read Harbor's credentials from, when
        O(username) is not set, instead of the default locations.
    type: path
    version_added: 0.2.0
  timeout:
    description:
      - Deadline for the whole task, as seconds or a duration such as V(90s) or V(5m). A Harbor that answers
        slowly, or trickles its answer, fails the task with a message once it has passed.
    type: raw
    default: 5m
    version_added: 0.2.0
  tls_verify:
    description:
      - Verify Harbor's TLS certificate. Set to V(false) for a self-signed certificate.
    type: bool
    default: true
  ca_path:
    description:
      - A CA bundle file (or directory) to verify Harbor's certificate with.
    type: path
  name:
    description:
      - The name of the project, 1 to 255 characters, as Harbor allows them; lower case letters and digits,
        in groups separated by a single C(.), C(_) or C(-) (V(team-a), V(mirror.docker_io)).
    type: str
    required: true
  state:
    description:
      - V(present) creates the project when it is missing and brings the settings given up to date.
      - V(absent) deletes the project. Harbor refuses to delete a project that holds repositories unless
        O(force=true).
    type: str
    choices: [present, absent]
    default: present
  public:
    description:
      - Whether anyone may pull from the project without logging in.
      - A project created without this option is private.
    type: bool
  auto_scan:
    description:
      - Scan images for vulnerabilities when they are pushed.
    type: bool
  severity:
    description:
      - With O(prevent_vulnerable=true), images with vulnerabilities of this severity or higher cannot be pulled.
    type: str
    choices: [none, low, medium, high, critical]
  prevent_vulnerable:
    description:
      - Prevent images with vulnerabilities of O(severity) or higher from being pulled.
    type: bool
  content_trust:
    description:
      - Allow only signed images (Notary) to be pulled.
    type: bool
  content_trust_cosign:
    description:
      - Allow only images signed with cosign to be pulled.
    type: bool
  auto_sbom_generation:
    description:
      - Generate an SBOM for images when they are pushed.
    type: bool
  reuse_sys_cve_allowlist:
    description:
      - Use the system-wide CVE allowlist instead of the project's own O(cve_allowlist).
    type: bool
  cve_allowlist:
    description:
      - The project's CVE allowlist, as CVE ids (V(CVE-2024-1234)). Order and duplicates do not matter.
      - An empty list empties the allowlist.
    type: list
    elements: str
  storage_quota:
    description:
      - The project's storage limit, as a number of bytes, a size with a unit (V(500MB), V(10GiB)), or V(-1)
        for no limit.
      - Units V(KB), V(MB), V(GB), V(TB), V(PB) are powers of 1000; V(KiB), V(MiB), V(GiB), V(TiB), V(PiB)
        powers of 1024. Harbor's web UI shows sizes in powers of 1024.
      - Set through Harbor's quota API, which only system administrators may use.
    type: str
  force:
    description:
      - With O(state=absent), delete the project's repositories (and every image in them) first.
      - Without it, deleting a project that holds repositories fails.
    type: bool
    default: false
notes:
  - Harbor answers a user who is not a system administrator with "forbidden" for a project that does not
    exist; the module then checks whether the project exists to tell the two cases apart.
  - A project created at the same time by another run is taken as it is and updated, not failed.
seealso:
  - module: airgap.hangar.hangar_load
  - name: Harbor API v2.0
    description: The description of the REST API the module uses.
    link: https://github.com/goharbor/harbor/blob/main/api/v2.0/swagger.yaml
'''

EXAMPLES = r'''
- name: Make sure the project for the air-gapped images exists, private
  airgap.hangar.hangar_harbor_project:
    harbor_url: https://harbor.example.com
    username: admin
    password: "{{ harbor_admin_password }}"
    name: mirror

- name: A public project that scans on push, limited to 50 GiB
  airgap.hangar.hangar_harbor_project:
    harbor_url: https://harbor.example.com
    name: base-images
    public: true
    auto_scan: true
    severity: high
    prevent_vulnerable: true
    cve_allowlist:
      - CVE-2023-44487
    storage_quota: 50GiB
    username: admin
    password: "{{ harbor_admin_password }}"

- name: Delete a project and every repository in it
  airgap.hangar.hangar_harbor_project:
    harbor_url: https://harbor.internal:8443
    ca_path: /etc/pki/harbor-ca.pem
    username: admin
    password: "{{ harbor_admin_password }}"
    name: scratch
    state: absent
    force: true
'''

RETURN = r'''
project:
  description:
    - The project as Harbor returns it at the end of the run, or null when it does not exist.
    - In check mode, the project as it is, since nothing was changed.
  returned: always
  type: dict
  sample:
    project_id: 7
    name: mirror
    owner_name: admin
    repo_count: 0
    metadata:
      public: "false"
      auto_scan: "true"
    cve_allowlist:
      items: []
quota:
  description:
    - The project's storage quota at the end of the run, or null when it is not known (no project, or an
      account that may not read quotas).
  returned: always
  type: dict
  contains:
    hard:
      description: The storage limit in bytes; -1 for no limit.
      type: int
      sample: 53687091200
    used:
      description: The storage used, in bytes.
      type: int
      sample: 1048576
deleted_repositories:
  description: The repositories deleted (or, in check mode, that would be deleted) with O(force=true).
  returned: when O(state=absent)
  type: list
  elements: str
  sample: [scratch/app, scratch/tools/debug]
msg:
  description: What was done, in words.
  returned: always
  type: str
  sample: Updated Harbor project mirror (auto_scan, public)
'''

import re
import traceback
from decimal import Decimal

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.airgap.hangar.plugins.module_utils._ansible_glue.module_options import (
    fail_without_requirements,
    parse_timeout,
)
from ansible_collections.airgap.hangar.plugins.module_utils._errors import HangarError, HarborError, InputError
from ansible_collections.airgap.hangar.plugins.module_utils._harbor.client import HarborClient, validate_project_name

# Module option -> key of Harbor's project metadata; Harbor stores every value as a string.
METADATA_OPTIONS = {
    "public": "public",
    "auto_scan": "auto_scan",
    "severity": "severity",
    "prevent_vulnerable": "prevent_vul",
    "content_trust": "enable_content_trust",
    "content_trust_cosign": "enable_content_trust_cosign",
    "auto_sbom_generation": "auto_sbom_generation",
    "reuse_sys_cve_allowlist": "reuse_sys_cve_allowlist",
}
SIZE_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000 ** 2, "gb": 1000 ** 3, "tb": 1000 ** 4, "pb": 1000 ** 5,
              "kib": 1024, "mib": 1024 ** 2, "gib": 1024 ** 3, "tib": 1024 ** 4, "pib": 1024 ** 5}
_SIZE_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)$", re.IGNORECASE)
UNLIMITED = -1


def parse_storage_quota(text):
    """Bytes from "1073741824", "500MB", "10GiB", "1.5 TiB" or "-1" (no limit); InputError otherwise."""
    value = str(text).strip()
    if value == str(UNLIMITED):
        return UNLIMITED
    match = _SIZE_RE.match(value)
    unit = match.group(2).lower() if match else None
    if unit not in SIZE_UNITS:
        raise InputError("invalid storage_quota %r: expected bytes, a size such as 500MB or 10GiB, or -1 for no "
                         "limit" % (text,))
    size = Decimal(match.group(1)) * SIZE_UNITS[unit]
    if size <= 0 or size != size.to_integral_value():
        raise InputError("invalid storage_quota %r: a limit must be a whole number of bytes, at least one, or -1 "
                         "for no limit" % (text,))
    return int(size)


def _option_value(harbor_value):
    """A metadata value as the module's options spell it: "true"/"false" become booleans."""
    return {"true": True, "false": False}.get(harbor_value, harbor_value)


class HarborProjectManager:
    """Brings one Harbor project to the state the options describe."""

    def __init__(self, module):
        self.module = module
        self.check_mode = module.check_mode
        params = module.params
        self.name = validate_project_name(params["name"])
        self.state = params["state"]
        self.force = params["force"]
        self.wanted = {option: params[option] for option in METADATA_OPTIONS if params[option] is not None}
        if params["cve_allowlist"] is not None:
            self.wanted["cve_allowlist"] = sorted(set(params["cve_allowlist"]))
        if params["storage_quota"] is not None:
            self.wanted["storage_quota"] = parse_storage_quota(params["storage_quota"])
        self.client = HarborClient(params["harbor_url"], username=params["username"], password=params["password"],
                                   tls_verify=params["tls_verify"], ca_path=params["ca_path"], log=module.debug,
                                   auth_file=params["auth_file"], deadline=parse_timeout(params["timeout"]))

    def run(self):
        project = self.client.get_project(self.name)
        if self.state == "absent":
            return self._absent(project)
        return self._present(project)

    # -- state=present --

    def _present(self, project):
        if project is None:
            if self.check_mode:
                return self._result(True, None, None, "Would create Harbor project %s" % self.name,
                                    diff=(self._side("absent"), self._side("present", self.wanted)))
            created, project = self._create()
        else:
            created = False
        quota = self._read_quota(project)
        current = self._current_settings(project, quota)
        differences = {option: value for option, value in self.wanted.items() if current.get(option) != value}
        before = {option: current.get(option) for option in self.wanted}
        if differences and not self.check_mode:
            project, quota = self._update(project, quota, differences)
            current = self._current_settings(project, quota)
        after = dict(before, **differences) if self.check_mode else {o: current.get(o) for o in self.wanted}
        return self._result(created or bool(differences), project, quota, self._present_message(created, differences),
                            diff=(self._side("absent") if created else self._side("present", before),
                                  self._side("present", after)))

    def _create(self):
        """(whether this run created it, the project as Harbor shows it after)."""
        metadata = {METADATA_OPTIONS[o]: v for o, v in self.wanted.items() if o in METADATA_OPTIONS and o != "public"}
        # False means another run created it meanwhile: it is read and brought up to date like any other.
        created = self.client.create_project(self.name, public=self.wanted.get("public", False), metadata=metadata,
                                             cve_allowlist=self.wanted.get("cve_allowlist"))
        project = self.client.get_project(self.name)
        if project is None:
            raise HarborError("Error creating Harbor project %s on %s: Harbor accepted it but does not show it"
                              % (self.name, self.client.url))
        return created, project

    def _update(self, project, quota, differences):
        metadata = {METADATA_OPTIONS[o]: v for o, v in differences.items() if o in METADATA_OPTIONS}
        if metadata or "cve_allowlist" in differences:
            self.client.update_project(self.name, metadata, cve_allowlist=differences.get("cve_allowlist"))
            project = self.client.get_project(self.name) or project
        if "storage_quota" in differences:
            self.client.update_quota(quota["id"], differences["storage_quota"])
            quota = self.client.get_quota(project["project_id"])
        return project, quota

    def _present_message(self, created, differences):
        if created:
            return "Created Harbor project %s" % self.name
        if differences:
            return "%s Harbor project %s (%s)" % ("Would update" if self.check_mode else "Updated", self.name,
                                                  ", ".join(sorted(differences)))
        return "Harbor project %s is up to date" % self.name

    def _read_quota(self, project):
        """The project's quota; None when the account may not read quotas and no storage_quota was asked for."""
        try:
            quota = self.client.get_quota(project["project_id"])
        except HarborError as error:
            if error.status in (401, 403) and "storage_quota" not in self.wanted:
                return None
            raise
        if quota is None and "storage_quota" in self.wanted:
            raise HarborError("Error reading the quota of Harbor project %s on %s: Harbor has no quota for it"
                              % (self.name, self.client.url))
        return quota

    @staticmethod
    def _current_settings(project, quota):
        """What Harbor holds, in the options' terms; an unset key is None (so setting it is a change)."""
        metadata = project.get("metadata") or {}
        current = {option: _option_value(metadata.get(key)) for option, key in METADATA_OPTIONS.items()}
        items = (project.get("cve_allowlist") or {}).get("items") or []
        current["cve_allowlist"] = sorted({item.get("cve_id") for item in items if item.get("cve_id")})
        current["storage_quota"] = ((quota or {}).get("hard") or {}).get("storage")
        return current

    # -- state=absent --

    def _absent(self, project):
        if project is None:
            return self._result(False, None, None, "Harbor project %s is absent" % self.name,
                                diff=(self._side("absent"), self._side("absent")), deleted_repositories=[])
        diff = (self._side("present"), self._side("absent"))
        repositories = [r["name"] for r in self.client.list_repositories(self.name)] if self.force else []
        if self.check_mode:
            if not self.force and project.get("repo_count"):
                raise HarborError("Error deleting Harbor project %s on %s: it holds %d repositories; set force: true "
                                  "to delete them first" % (self.name, self.client.url, project["repo_count"]))
            return self._result(True, project, self._read_quota(project), "Would delete Harbor project %s"
                                % self.name, diff=diff, deleted_repositories=repositories)
        for repository in repositories:
            self.client.delete_repository(self.name, repository)
        try:
            self.client.delete_project(self.name)
        except HarborError as error:
            if error.status != 412:
                raise
            raise HarborError("%s; set force: true to delete its repositories first" % error, error.status,
                              error.code) from None
        message = "Deleted Harbor project %s" % self.name
        if repositories:
            message += " and its %d repositories" % len(repositories)
        return self._result(True, None, None, message, diff=diff, deleted_repositories=repositories)

    # -- the result --

    def _side(self, state, settings=None):
        """One side of the diff: whether the project exists, and the compared settings."""
        return dict({"name": self.name, "state": state}, **(settings or {}))

    def _result(self, changed, project, quota, msg, diff, **extra):
        result = dict(changed=changed, project=project, msg=msg, **extra)
        result["quota"] = None if quota is None else {"hard": quota.get("hard", {}).get("storage"),
                                                      "used": quota.get("used", {}).get("storage")}
        if self.module._diff:
            result["diff"] = {"before": diff[0], "after": diff[1]}
        return result


def main():
    module = AnsibleModule(
        argument_spec={
            "harbor_url": {"type": "str", "required": True},
            "username": {"type": "str", "fallback": (env_fallback, ["HARBOR_USERNAME"])},
            "password": {"type": "str", "no_log": True, "fallback": (env_fallback, ["HARBOR_PASSWORD"])},
            "tls_verify": {"type": "bool", "default": True},
            "ca_path": {"type": "path"},
            "auth_file": {"type": "path"},
            "timeout": {"type": "raw", "default": "5m"},
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "public": {"type": "bool"},
            "auto_scan": {"type": "bool"},
            "severity": {"type": "str", "choices": ["none", "low", "medium", "high", "critical"]},
            "prevent_vulnerable": {"type": "bool"},
            "content_trust": {"type": "bool"},
            "content_trust_cosign": {"type": "bool"},
            "auto_sbom_generation": {"type": "bool"},
            "reuse_sys_cve_allowlist": {"type": "bool"},
            "cve_allowlist": {"type": "list", "elements": "str"},
            "storage_quota": {"type": "str"},
            "force": {"type": "bool", "default": False},
        },
        required_together=[["username", "password"]],
        supports_check_mode=True,
    )
    fail_without_requirements(module)
    try:
        result = HarborProjectManager(module).run()
    except HangarError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-exception-caught
        module.fail_json(msg="Error managing Harbor project %s: unexpected %s: %s" % (
            module.params["name"], type(exc).__name__, exc), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
