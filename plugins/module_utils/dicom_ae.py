# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Application Entity title rules (DICOM PS3.5, section 6.2, value representation AE)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

AE_MAX_LENGTH = 16


def normalize_ae_title(value):
    """Return the AE title without its leading and trailing spaces (they are not significant)."""
    if value is None:
        return None
    return str(value).strip(' ')


def ae_title_errors(value):
    """Return a list of reasons why ``value`` is not a valid AE title (empty when it is valid).

    PS3.5 VR AE: a string of characters from the Default Character Repertoire (printable
    ISO 646 G0, 0x20-0x7E) excluding the backslash and every control character, 16 bytes
    maximum; leading and trailing spaces are not significant; a value of only spaces is not allowed.
    """
    if value is None:
        return ['is missing']
    if not isinstance(value, str):
        return ['must be a string, not %s' % type(value).__name__]
    errors = []
    for char in value:
        code = ord(char)
        if char == '\\':
            errors.append('contains a backslash, which DICOM forbids in an AE title')
        elif code < 0x20 or code == 0x7F or 0x80 <= code <= 0x9F:
            errors.append('contains the control character 0x%02X' % code)
        elif code > 0x7E:
            errors.append('contains %r, which is outside the DICOM default character repertoire (printable ASCII)' % char)
    stripped = normalize_ae_title(value)
    if value == '':
        errors.append('is empty')
    elif stripped == '':
        errors.append('contains only spaces')
    elif len(stripped) > AE_MAX_LENGTH:
        errors.append('is %d characters long without its leading/trailing spaces (at most %d)' % (len(stripped), AE_MAX_LENGTH))
    # report each distinct problem once, in the order found
    seen = []
    for err in errors:
        if err not in seen:
            seen.append(err)
    return seen


def is_valid_ae_title(value):
    return not ae_title_errors(value)


def same_ae_title(left, right):
    """Compare AE titles the way Orthanc does by default (StrictAetComparison false): spaces and case ignored."""
    if left is None or right is None:
        return False
    return normalize_ae_title(left).upper() == normalize_ae_title(right).upper()


def is_ip_address(value):
    try:
        ipaddress.ip_address(str(value).strip())
    except ValueError:
        return False
    return True


def port_errors(value):
    if value is None:
        return ['is missing']
    if isinstance(value, bool) or not isinstance(value, int):
        return ['must be an integer']
    if not 1 <= value <= 65535:
        return ['%d is out of range (1-65535)' % value]
    return []
