# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lookup giving the path of a file the pki role installs: the directory is written in one place."""

from __future__ import annotations

DOCUMENTATION = r"""
name: pki_path
short_description: Path of the CA certificate, host certificate or host key the pki role installs
version_added: 0.1.0
description:
  - The pki role installs C(ca.crt), C(host.crt) and C(host.key) in one directory on every host,
    C(/etc/ssl/hospital-imaging) unless the site sets C(imaging_pki_dir). Every role's default that names one
    of these files comes from this lookup, so the directory is decided once.
options:
  _terms:
    description: File names (C(ca.crt), C(host.crt), C(host.key)); none gives the directory.
    required: false
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Show where the host certificate is
  ansible.builtin.debug:
    msg: "{{ lookup('hospital.imaging.pki_path', 'host.crt') }}"
"""

RETURN = r"""
_raw:
  description: The paths, one per term (the directory when no term is given).
  type: list
  elements: str
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.hospital.imaging.plugins.module_utils import pki_paths


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        variables = variables or {}
        directory = None
        if variables.get('imaging_pki_dir'):
            directory = self._templar.template(variables['imaging_pki_dir'])
        try:
            if not terms:
                return [pki_paths.pki_path(None, directory)]
            return [pki_paths.pki_path(term, directory) for term in terms]
        except ValueError as exc:
            raise AnsibleLookupError('pki_path: %s' % exc) from exc
