# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The network input rules of the collection, written once: preflight, the filters and the modules call them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

LOOPBACK_NETWORKS = (ipaddress.ip_network('127.0.0.0/8'), ipaddress.ip_network('::1/128'))


def cidr_error(value):
    """Why ``value`` is not a network in CIDR notation (None when it is one).

    A bare address is a host network (10.0.0.5 means 10.0.0.5/32). Host bits set (10.0.0.1/24) are an
    error: a firewall rule or pg_hba line built from it would not mean what the inventory says.
    """
    if not isinstance(value, str):
        return 'is not a CIDR string (a network such as 10.20.0.0/16)'
    try:
        ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        return 'is not a valid CIDR (%s)' % exc
    return None


def parse_cidr(value):
    """The network of a CIDR that passed cidr_error."""
    return ipaddress.ip_network(value.strip(), strict=True)


def is_loopback_only(cidrs):
    """True when every valid network of ``cidrs`` lies inside the loopback networks."""
    for value in cidrs or []:
        if cidr_error(value) is not None:
            continue
        net = parse_cidr(value)
        if not any(net.version == lo.version and net.subnet_of(lo) for lo in LOOPBACK_NETWORKS):
            return False
    return True


def is_loopback_address(value):
    try:
        return ipaddress.ip_address(str(value).strip()).is_loopback
    except ValueError:
        return False


def is_ip_address(value):
    try:
        ipaddress.ip_address(str(value).strip())
    except ValueError:
        return False
    return True


def port_error(value, allow_zero=False):
    """Why ``value`` is not a TCP/UDP port number (None when it is one). Strings of digits count."""
    low = 0 if allow_zero else 1
    rule = 'integer %d-65535%s' % (low, ' (0 turns the listener off)' if allow_zero else '')
    if isinstance(value, bool):
        return 'is not a port number (rule: %s)' % rule
    try:
        port = int(str(value), 10)
    except ValueError:
        return 'is not a port number (rule: %s)' % rule
    if not low <= port <= 65535:
        return 'is out of range (rule: %s)' % rule
    return None
