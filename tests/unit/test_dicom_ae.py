"""AE title rules of DICOM PS3.5 (VR AE) and the helpers built on them."""

import pytest

from ansible_collections.hospital.imaging.plugins.module_utils.dicom_ae import (
    ae_title_errors,
    is_ip_address,
    is_valid_ae_title,
    normalize_ae_title,
    same_ae_title,
)
from ansible_collections.hospital.imaging.plugins.module_utils.network_rules import port_error


@pytest.mark.parametrize('value', [
    'A',                      # 1 character: the minimum
    'ORTHANC',
    'CT_ROOM1',
    'MR-2.SITE',
    'A' * 16,                 # 16 characters: the maximum
    ' PACS ',                 # leading/trailing spaces are not significant
    '  ' + 'B' * 16 + '  ',   # 16 significant characters with padding
    'AE TITLE',               # an inner space is allowed
    'lower case',             # case is kept, any printable ASCII
    '!#$%&()*+,-./:;<',       # every printable ASCII character except the backslash
    '=>?@[]^_`{|}~"\'',
])
def test_valid_ae_titles(value):
    assert ae_title_errors(value) == []
    assert is_valid_ae_title(value)


@pytest.mark.parametrize('value, expected', [
    ('', 'is empty'),
    (' ', 'contains only spaces'),
    (' ' * 16, 'contains only spaces'),
    ('A' * 17, 'is 17 characters long'),
    ('ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'is 26 characters long'),
    ('CT\\1', 'backslash'),
    ('\\', 'backslash'),
    ('CT\n1', 'control character 0x0A'),
    ('CT\t1', 'control character 0x09'),
    ('CT\r', 'control character 0x0D'),
    ('\x00AE', 'control character 0x00'),
    ('AE\x1b', 'control character 0x1B'),
    ('AE\x7f', 'control character 0x7F'),
    ('AE\x85', 'control character 0x85'),
    ('ÄRZTE', 'outside the DICOM default character repertoire'),
    ('CT\u00a0ROOM', 'outside the DICOM default character repertoire'),
    (None, 'is missing'),
    (42, 'must be a string'),
])
def test_invalid_ae_titles(value, expected):
    errors = ae_title_errors(value)
    assert errors, value
    assert any(expected in err for err in errors), errors
    assert not is_valid_ae_title(value)


def test_each_problem_reported_once():
    assert len([e for e in ae_title_errors('A\\B\\C') if 'backslash' in e]) == 1


@pytest.mark.parametrize('value, expected', [(' PACS ', 'PACS'), ('PACS', 'PACS'), ('  A B  ', 'A B'), (None, None)])
def test_normalize(value, expected):
    assert normalize_ae_title(value) == expected


@pytest.mark.parametrize('left, right, same', [
    ('PACS', 'PACS', True),
    ('PACS', ' pacs ', True),     # Orthanc compares case-insensitively unless StrictAetComparison
    ('PACS', 'PACS1', False),
    ('PACS', None, False),
])
def test_same_ae_title(left, right, same):
    assert same_ae_title(left, right) is same


@pytest.mark.parametrize('value, expected', [
    ('10.1.2.3', True), ('127.0.0.1', True), ('::1', True), ('fe80::1', True), (' 10.0.0.1 ', True),
    ('ct-room1.example.org', False), ('10.1.2', False), ('256.1.1.1', False), ('', False),
])
def test_is_ip_address(value, expected):
    assert is_ip_address(value) is expected


@pytest.mark.parametrize('value, ok', [(1, True), (104, True), (65535, True), (0, False), (65536, False),
                                       (-1, False), (None, False), (True, False), ('104', True), ('http', False)])
def test_port_rule(value, ok):
    assert (port_error(value) is None) is ok
