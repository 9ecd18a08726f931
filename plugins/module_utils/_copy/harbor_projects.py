# -*- coding: utf-8 -*-
# Copyright: airgap.hangar contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Creating the Harbor projects that a load or a mirror pushes into (private module_utils, no Ansible imports).

Only the projects of the images being copied are created, and an image whose project could not be
created fails with the reason instead of being pushed.
"""

from __future__ import annotations

from .._errors import RegistryError
from .model import FAILED


class HarborProjects:
    def __init__(self, harbor):
        self.harbor = harbor

    @classmethod
    def for_registry(cls, client, connection, log=None, deadline=None):
        """A HarborProjects for the registry `client` talks to, when it is Harbor; None otherwise.

        Harbor gets the credentials the registry client found for that registry (options, registry_auth,
        auth files, credential helpers): one lookup for both. `connection` gives the TLS settings;
        `deadline` (seconds) bounds the whole Harbor phase, as the images' timeout bounds each image."""
        from .._harbor.client import HarborClient  # only runs that create projects import the Harbor client

        try:
            base_url = client.base_url
            found = client.credentials
        except RegistryError:
            return None  # unreachable: then each image fails with the registry's own error
        harbor = HarborClient(base_url, username=found.username if found else None,
                              password=found.password if found else None,
                              tls_verify=connection.get("tls_verify", True), ca_path=connection.get("ca_path"),
                              log=log, lookup=False, deadline=deadline)
        if not harbor.is_harbor():
            harbor.close()
            return None
        return cls(harbor)

    def prepare(self, results, check_mode):
        """Create the missing projects of the results not failed yet; fail the images of projects that could
        not be created. Returns the projects created (in check mode, those that would be)."""
        try:
            wanted = [r.dest_ref.project for r in results if r.status != FAILED and r.dest_ref.project]
            if check_mode:
                return [name for name in dict.fromkeys(wanted) if not self.harbor.project_exists(name)]
            created, failed = self.harbor.ensure_projects(wanted)
        finally:
            self.harbor.close()
        for result in results:
            if result.status != FAILED and result.dest_ref.project in failed:
                result.status = FAILED
                result.error = failed[result.dest_ref.project]
        return created
