# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter applying one of preflight's input rules inside a role: the role and preflight share one implementation."""

from __future__ import annotations

DOCUMENTATION = r"""
name: input_problems
short_description: Apply one of the collection's input rules to a value
version_added: 0.1.0
description:
  - Returns the problems the rule finds in the value, each naming the host, the variable (with its path inside a
    list), the rule and the offending value (never a password). An empty list means the value is valid.
  - The same functions run in the preflight play before any host changes; a role applies them again where it reads
    the value, so a role run on its own refuses the same input with the same words.
positional: _input, rule
options:
  _input:
    description: The value to check (a list of entries, or for O(rule=orthanc_index) the data tier's database list).
    type: raw
    required: true
  rule:
    description: Which rule.
    type: str
    required: true
    choices: [databases, redis_users, app_services, disk_devices, orthanc_index, modalities]
  host:
    description: The host the value belongs to, for the messages.
    type: str
    default: ""
  name:
    description: The variable the value comes from, for the messages.
    type: str
    default: ""
  reserved:
    description: For O(rule=databases), logins no database may use.
    type: list
    elements: str
  admin_user:
    description: For O(rule=redis_users), the Redis administrator, which no application user may be.
    type: str
    default: admin
  database_names:
    description: For O(rule=app_services), the names a service's C(database) may take.
    type: list
    elements: str
  redis_users:
    description: For O(rule=app_services), the names a service's C(redis_user) may take.
    type: list
    elements: str
  mode:
    description: For O(rule=orthanc_index), C(orthanc_database_mode).
    type: str
  database_name:
    description: For O(rule=orthanc_index), C(orthanc_database_name).
    type: str
  database_host:
    description: For O(rule=orthanc_index), C(orthanc_database_host) (a socket is only for a local index).
    type: str
  own_aet:
    description: For O(rule=modalities), the archive's own AE title, which no modality may use.
    type: str
  check_modality_host:
    description: For O(rule=modalities), Orthanc checks modality hosts (hosts must be IP addresses).
    type: bool
    default: true
  plain_enabled:
    description: For O(rule=modalities), the plain DICOM listener is on.
    type: bool
    default: true
  tls_enabled:
    description: For O(rule=modalities), the DICOM TLS listener is on.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Refuse invalid database entries
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ __problems | join('; ') }}"
  vars:
    __problems: "{{ postgresql_databases | hospital.imaging.input_problems('databases', host=inventory_hostname,
                    name='postgresql_databases') }}"
"""

RETURN = r"""
_value:
  description: The problems, in input order.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.hospital.imaging.plugins.module_utils import preflight as rules


def input_problems(value, rule, host="", name="", reserved=None, admin_user="admin", database_names=None,
                   redis_users=None, mode=None, database_name=None, own_aet=None, check_modality_host=True,
                   plain_enabled=True, tls_enabled=True, database_host=None):
    host = host or "host"
    if rule == "databases":
        return rules.check_databases(host, name or "imaging_databases", value,
                                     tuple(reserved) if reserved is not None else rules.RESERVED_LOGINS)
    if rule == "redis_users":
        return rules.check_redis_users(host, name or "imaging_redis_users", value, admin_user)
    if rule == "app_services":
        return rules.check_app_services(host, name or "app_services_list", value, database_names or [],
                                        redis_users or [])
    if rule == "disk_devices":
        return rules.check_disk_devices(host, name or "disk_encryption_devices", value)
    if rule == "orthanc_index":
        return rules.check_orthanc_index(host, mode, database_name, value, database_host)
    if rule == "modalities":
        return rules.check_modalities(host, name or "orthanc_modalities", value, own_aet, check_modality_host,
                                      plain_enabled, tls_enabled)
    raise AnsibleFilterError("input_problems: unknown rule %r" % (rule,))


class FilterModule:
    """Ansible filter plugin."""

    def filters(self):
        return {"input_problems": input_problems}
