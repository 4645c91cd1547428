"""Unit tests for the network filters used by the firewall role."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hospital.imaging.plugins.filter.invalid_cidrs import invalid_cidrs
from ansible_collections.hospital.imaging.plugins.filter.ip_in_cidrs import ip_in_cidrs


@pytest.mark.parametrize(
    "value, expected",
    [
        (["10.0.0.0/8", "192.168.1.0/24", "fd00::/8", "127.0.0.1"], []),
        (["10.0.0.1/8"], ["10.0.0.1/8"]),
        (["10.0.0.0/33", "not-a-cidr", ""], ["10.0.0.0/33", "not-a-cidr", ""]),
        (["300.1.1.0/24", "10.0.0.0/8"], ["300.1.1.0/24"]),
        ([None, 5], [None, 5]),
        ([], []),
    ],
)
def test_invalid_cidrs(value, expected):
    assert invalid_cidrs(value) == expected


def test_invalid_cidrs_rejects_a_string():
    with pytest.raises(AnsibleFilterError):
        invalid_cidrs("10.0.0.0/8")


@pytest.mark.parametrize(
    "address, cidrs, expected",
    [
        ("10.1.2.3", ["10.0.0.0/8"], True),
        ("10.1.2.3", ["192.168.0.0/16"], False),
        ("::ffff:10.1.2.3", ["10.0.0.0/8"], True),
        ("fd00::5", ["10.0.0.0/8", "fd00::/8"], True),
        ("172.18.0.4", ["172.16.0.0/12"], True),
        ("172.32.0.4", ["172.16.0.0/12"], False),
        ("127.0.0.1", [], False),
    ],
)
def test_ip_in_cidrs(address, cidrs, expected):
    assert ip_in_cidrs(address, cidrs) is expected


@pytest.mark.parametrize("address, cidrs", [("nope", ["10.0.0.0/8"]), ("10.0.0.1", ["bad"])])
def test_ip_in_cidrs_refuses_bad_input(address, cidrs):
    with pytest.raises(AnsibleFilterError):
        ip_in_cidrs(address, cidrs)
