#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: dicom_echo
short_description: Check a DICOM node with C-ECHO (verification) as a service user
version_added: 0.1.0
description:
  - Opens an association to a DICOM application entity, sends one C-ECHO request, and releases the association.
  - Returns the association result (accepted, or rejected with result, source and reason), the DIMSE status
    code and its category, and the durations, as evidence for validation.
author:
  - hospital.imaging contributors (@hospital-imaging)
extends_documentation_fragment:
  - hospital.imaging.dicom
attributes:
  check_mode:
    support: full
    description: The check only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to compare.
options: {}
seealso:
  - module: hospital.imaging.dicom_store
  - module: hospital.imaging.dicom_find
  - module: hospital.imaging.dicom_move
'''

EXAMPLES = r'''
- name: Verify that the archive answers C-ECHO from a declared node
  hospital.imaging.dicom_echo:
    calling_aet: CT_ROOM1
    called_aet: "{{ imaging_archive_aet }}"
    host: 127.0.0.1
    port: 4242
  register: echo
  failed_when: not echo.success

- name: Check that an unknown AE title is refused (expected result)
  hospital.imaging.dicom_echo:
    calling_aet: NOT_DECLARED
    called_aet: "{{ imaging_archive_aet }}"
  register: echo_unknown
  failed_when: echo_unknown.association.established

- name: Verify over DICOM TLS with a client certificate
  hospital.imaging.dicom_echo:
    calling_aet: CT_ROOM1
    called_aet: "{{ imaging_archive_aet }}"
    host: pacs.example.org
    port: 4243
    tls: true
    ca_file: "{{ lookup('hospital.imaging.pki_path', 'ca.crt') }}"
    cert_file: "{{ lookup('hospital.imaging.pki_path', 'host.crt') }}"
    key_file: "{{ lookup('hospital.imaging.pki_path', 'host.key') }}"
'''

RETURN = r'''
changed:
  description: Always false; the module changes nothing.
  returned: always
  type: bool
  sample: false
success:
  description: True when the association was accepted and the C-ECHO status category is C(Success).
  returned: always
  type: bool
  sample: true
msg:
  description: One line summing up the result.
  returned: always
  type: str
  sample: "association accepted by ORTHANC; DIMSE status 0x0000 (Success)"
association:
  description: What happened to the association request.
  returned: always
  type: dict
  sample: {"result": "rejected-permanent", "result_code": 1, "source": "service-user", "source_code": 1,
           "reason": "calling-AE-title-not-recognized", "reason_code": 3, "established": false,
           "calling_aet": "NOT_DECLARED", "called_aet": "ORTHANC", "host": "127.0.0.1", "port": 4242,
           "tls": false, "accepted_contexts": [], "rejected_contexts": [], "error": null}
  contains:
    result:
      description:
        - V(accepted), V(rejected-permanent), V(rejected-transient), V(aborted), V(no-accepted-context),
          V(connection-failed) or V(timeout); RV(association.outcome) groups them.
      type: str
      returned: always
    established:
      description: Whether the association was accepted.
      type: bool
      returned: always
    source:
      description: For a rejection or abort, who refused (V(service-user), V(service-provider (ACSE)), ...).
      type: str
      returned: always
    reason:
      description: For a rejection or abort, why (for example V(calling-AE-title-not-recognized)).
      type: str
      returned: always
    error:
      description: For a connection failure, timeout or abort, the error text.
      type: str
      returned: always
    outcome:
      description:
        - V(established), V(rejected) (A-ASSOCIATE-RJ received), V(aborted) (A-ABORT received, or the peer closed
          the connection after the request), V(no-accepted-context), V(connection-failed) (no connection, or the
          TLS session refused), V(timeout) or V(not-attempted).
      type: str
      returned: always
    connected:
      description: Whether the transport connection (and the TLS handshake, with O(tls)) was made.
      type: bool
      returned: always
    request_sent:
      description: Whether the A-ASSOCIATE-RQ was sent.
      type: bool
      returned: always
    pdus_received:
      description: Names of the PDUs received from the peer, in order (for example V(A_ASSOCIATE_RJ)).
      type: list
      elements: str
      returned: always
    local_address:
      description: The address the request came from as the peer saw it (the local end of the connection).
      type: str
      returned: always
    started_at:
      description: When the association was requested, in seconds since the epoch (this host's clock).
      type: float
      returned: always
    tls_error:
      description: The TLS error reported while connecting or reading, else null.
      type: str
      returned: always
    log:
      description: The last warning and error lines pynetdicom logged during the association.
      type: list
      elements: str
      returned: always
status:
  description: The DIMSE status of the C-ECHO response.
  returned: always
  type: dict
  sample: {"code": 0, "code_hex": "0x0000", "category": "Success", "error_comment": null}
  contains:
    code:
      description: Status code, or null when no response was received.
      type: int
      returned: always
    code_hex:
      description: Status code as four hexadecimal digits.
      type: str
      returned: always
    category:
      description: V(Success), V(Warning), V(Failure), V(Cancel), V(Pending) or V(Unknown) (PS3.7 Annex C).
      type: str
      returned: always
operation_error:
  description: Error raised while the C-ECHO was under way (for example the peer aborted), else null.
  returned: always
  type: str
  sample: null
durations:
  description: Seconds spent in each phase (null for a phase that did not happen).
  returned: always
  type: dict
  sample: {"association": 0.0123, "operation": 0.0041, "release": 0.0022, "total": 0.0191}
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hospital.imaging.plugins.module_utils import dicom_net


def echo(assoc):
    return assoc.send_c_echo(), {}


def main():
    module = AnsibleModule(argument_spec=dicom_net.dicom_argument_spec(), supports_check_mode=True)
    dicom_net.run_check(module, [dicom_net.VERIFICATION], echo)


if __name__ == '__main__':
    main()
