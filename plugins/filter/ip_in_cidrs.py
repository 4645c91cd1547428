# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter telling whether an address lies in one of a list of networks."""

from __future__ import annotations

DOCUMENTATION = r"""
name: ip_in_cidrs
short_description: Tell whether an IP address lies in one of a list of networks
version_added: 0.1.0
description:
  - Returns true when the address is inside at least one of the networks. Used before a firewall
    is enabled to prove that the address the running Ansible connection comes from stays allowed.
  - IPv4-mapped IPv6 addresses (C(::ffff:10.0.0.5)) are compared as IPv4.
positional: _input, cidrs
options:
  _input:
    description: The address to look up.
    type: str
    required: true
  cidrs:
    description: The networks, in CIDR notation.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Refuse a firewall that would cut this connection
  ansible.builtin.assert:
    that: ansible_env.SSH_CONNECTION.split()[0] | hospital.imaging.ip_in_cidrs(firewall_ssh_sources)
"""

RETURN = r"""
_value:
  description: Whether the address is in one of the networks.
  type: bool
"""

import ipaddress

from ansible.errors import AnsibleFilterError
from ansible_collections.hospital.imaging.plugins.module_utils.network_rules import cidr_error, parse_cidr


def ip_in_cidrs(address, cidrs):
    """Return True when ``address`` lies in one of ``cidrs``."""
    try:
        addr = ipaddress.ip_address(str(address).strip())
    except ValueError as exc:
        raise AnsibleFilterError(f"ip_in_cidrs: not an IP address: {address!r}") from exc
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    for cidr in cidrs or []:
        error = cidr_error(cidr)
        if error is not None:
            raise AnsibleFilterError(f"ip_in_cidrs: {cidr!r} {error}")
        net = parse_cidr(cidr)
        if addr.version == net.version and addr in net:
            return True
    return False


class FilterModule:
    """Ansible filter plugin."""

    def filters(self):
        return {"ip_in_cidrs": ip_in_cidrs}
