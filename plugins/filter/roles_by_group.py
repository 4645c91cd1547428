# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter turning the role-to-group map around: inventory group -> the roles its hosts run."""

from __future__ import annotations

DOCUMENTATION = r"""
name: roles_by_group
short_description: Turn the role-to-group map into group -> roles
version_added: 0.1.0
description:
  - Takes the role-to-group map (C(imaging_role_groups), role -> inventory groups) and returns, for each
    inventory group of the map, the roles its hosts run, in the map's order.
  - Lets a role read the one map instead of naming groups and roles again.
positional: _input
options:
  _input:
    description: The role-to-group map, role name -> list of inventory groups.
    type: dict
    required: true
  exclude:
    description: Roles left out of the result (and groups left with no role).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Expect a record from every role of the host's groups
  ansible.builtin.set_fact:
    expected: "{{ imaging_role_groups | hospital.imaging.roles_by_group(exclude=['validation']) }}"
"""

RETURN = r"""
_value:
  description: Inventory group -> the roles its hosts run.
  type: dict
"""

from ansible.errors import AnsibleFilterError


def roles_by_group(value, exclude=()):
    """Return {group: [role, ...]} for the map ``value`` ({role: [group, ...]}), without the roles in ``exclude``."""
    if not isinstance(value, dict):
        raise AnsibleFilterError("roles_by_group expects the role-to-group map (a dict of role -> groups)")
    out = {}
    for role, groups in value.items():
        if isinstance(groups, (str, bytes)) or not hasattr(groups, "__iter__"):
            raise AnsibleFilterError("roles_by_group: the groups of role %s must be a list" % role)
        if role in exclude:
            continue
        for group in groups:
            out.setdefault(group, []).append(role)
    return out


class FilterModule:
    """Ansible filter plugin."""

    def filters(self):
        return {"roles_by_group": roles_by_group}
