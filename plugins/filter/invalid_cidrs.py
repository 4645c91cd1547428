# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter returning the entries of a list that are not valid IP networks."""

from __future__ import annotations

DOCUMENTATION = r"""
name: invalid_cidrs
short_description: List the entries that are not valid IPv4/IPv6 networks
version_added: 0.1.0
description:
  - Returns every entry of the input that is not a valid network in CIDR notation (a bare
    address counts as a host network). Host bits set (C(10.0.0.1/8)) make an entry invalid,
    because a firewall rule built from it would not mean what the inventory says.
  - An empty result means every entry is valid, so roles can refuse bad input before changing
    anything.
positional: _input
options:
  _input:
    description: The list of CIDR strings to check.
    type: list
    elements: raw
    required: true
"""

EXAMPLES = r"""
- name: Refuse invalid management networks
  ansible.builtin.assert:
    that: imaging_management_cidrs | hospital.imaging.invalid_cidrs | length == 0
    fail_msg: "Invalid CIDR(s): {{ imaging_management_cidrs | hospital.imaging.invalid_cidrs }}"
"""

RETURN = r"""
_value:
  description: The invalid entries, in input order.
  type: list
  elements: raw
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.hospital.imaging.plugins.module_utils.network_rules import cidr_error


def invalid_cidrs(value):
    """Return the entries of ``value`` that are not valid networks."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise AnsibleFilterError("invalid_cidrs expects a list of CIDR strings")
    return [entry for entry in value if cidr_error(entry) is not None]


class FilterModule:
    """Ansible filter plugin."""

    def filters(self):
        return {"invalid_cidrs": invalid_cidrs}
