# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Application Entity title rules (DICOM PS3.5, section 6.2, value representation AE)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.hospital.imaging.plugins.module_utils import network_rules

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
    return network_rules.is_ip_address(value)


# The keys of a modality entry (orthanc_modality's suboptions) and the booleans among them.
MODALITY_KEYS = ('name', 'aet', 'host', 'port', 'manufacturer', 'allow_echo', 'allow_find', 'allow_get',
                 'allow_move', 'allow_store', 'use_dicom_tls', 'state')
MODALITY_BOOLEANS = ('allow_echo', 'allow_find', 'allow_get', 'allow_move', 'allow_store', 'use_dicom_tls')
MODALITY_MANUFACTURERS = ('Generic', 'GenericNoWildcardInDates', 'GenericNoUniversalWildcard', 'Vitrea', 'GE')
# What Ansible's bool type converts (ansible.module_utils.parsing.convert_bool).
BOOLEAN_WORDS = ('yes', 'no', 'on', 'off', 'true', 'false', 'y', 'n', 't', 'f', '1', '0', '1.0', '0.0')
NODE_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$')


def is_boolean(value):
    if isinstance(value, bool):
        return True
    if isinstance(value, (int, float)):
        return value in (0, 1)
    return isinstance(value, str) and value.strip().lower() in BOOLEAN_WORDS


def node_name_errors(name):
    """The name of a modality or peer is part of Orthanc's REST path."""
    if name is None or name == '':
        return ['has no name']
    if not isinstance(name, str) or not NODE_NAME_RE.match(name):
        return ['%r must be 1-64 characters from letters, digits, ".", "_" and "-", starting with a letter '
                'or digit (it is part of Orthanc\'s REST path)' % (name,)]
    return []


def modality_problems(entries, own_aet=None, check_modality_host=True, label=None, extra_keys=()):
    """Every problem of a list of modality declarations, as (index, key, message) in input order.

    ``key`` is the entry's key the message is about ('aet', 'host', ...) or None for the whole entry. The rules:
    each entry is a mapping of known keys; a present entry has a valid AE title (not the archive's own), a
    host (an IP address when Orthanc checks modality hosts) and a port 1-65535; names are unique; an AE title
    is declared once per host (and once at all when Orthanc does not check hosts, since it could not tell the
    entries apart). Each message reads after its key ("aet contains a backslash"); ``label(index)`` names
    another entry in a message (default "entry N"). ``extra_keys`` are further keys a caller checks itself
    (the orthanc role's ``listener``).
    """
    label = label or (lambda index: 'entry %d' % index)
    problems = []
    if not isinstance(entries, (list, tuple)):
        return [(None, None, 'must be a list of modality entries')]
    seen_names = {}
    seen_aets = {}
    for index, entry in enumerate(entries):
        def add(key, message, index=index):
            problems.append((index, key, message))

        if not isinstance(entry, dict):
            add(None, 'must be a mapping with name, aet, host and port')
            continue
        for key in sorted(k for k in entry if k not in MODALITY_KEYS and k not in extra_keys):
            add(key, 'is not a modality key (known: %s)' % ', '.join(MODALITY_KEYS + tuple(extra_keys)))
        for key in MODALITY_BOOLEANS:
            if key in entry and not is_boolean(entry[key]):
                add(key, '%r is not a boolean' % (entry[key],))
        if 'manufacturer' in entry and entry['manufacturer'] not in MODALITY_MANUFACTURERS:
            add('manufacturer', '%r is not one of %s' % (entry['manufacturer'], ', '.join(MODALITY_MANUFACTURERS)))
        state = entry.get('state', 'present')
        if state not in ('present', 'absent'):
            add('state', '%r is not one of present, absent' % (state,))
        aet = entry.get('aet')
        name = entry.get('name')
        aet_ok = aet is not None and not ae_title_errors(aet)
        if aet is not None:
            for err in ae_title_errors(aet):
                add('aet', err)
        if name is None and aet_ok:
            name = normalize_ae_title(aet)
        if name is None and aet is None:
            add(None, 'needs a name or an aet')
        elif name is not None:
            for err in node_name_errors(name):
                add('name', err)
        if state == 'present':
            host = entry.get('host')
            if aet is None:
                add('aet', 'is required when state is present')
            if host is None or host == '':
                add('host', 'is required when state is present')
            elif not isinstance(host, str):
                add('host', '%r is not a string' % (host,))
            elif check_modality_host and not is_ip_address(host):
                add('host', '%r is not an IP address, and Orthanc checks modality hosts (DicomCheckModalityHost): '
                    'give the node\'s IP address' % host)
            port = entry.get('port')
            if port is None:
                add('port', 'is missing')
            else:
                err = network_rules.port_error(port)
                if err:
                    add('port', '%r %s' % (port, err))
            if own_aet is not None and aet_ok and same_ae_title(aet, own_aet):
                add('aet', '%r is the archive\'s own AE title (own_aet): a remote node cannot use it'
                    % normalize_ae_title(aet))
            if aet_ok:
                host_key = str(canonical_host(host)).lower() if check_modality_host else None
                key = (normalize_ae_title(aet).upper(), host_key)
                if key in seen_aets:
                    add('aet', '%r is already declared %sby %s' % (
                        normalize_ae_title(aet), 'for host %s ' % host_key if host_key else '', label(seen_aets[key])))
                else:
                    seen_aets[key] = index
        if name is not None and not node_name_errors(name):
            if name in seen_names:
                add('name', '%r is already used by %s' % (name, label(seen_names[name])))
            else:
                seen_names[name] = index
    return problems


def canonical_host(host):
    """An IP address in its canonical form; any other host name as written (without surrounding spaces)."""
    if not isinstance(host, str):
        return host
    host = host.strip()
    if is_ip_address(host):
        return str(ipaddress.ip_address(host))
    return host
