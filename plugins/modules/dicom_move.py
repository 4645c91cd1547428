#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: dicom_move
short_description: Ask a DICOM node to send objects elsewhere with C-MOVE, as a service user
version_added: 0.1.0
description:
  - Opens an association and sends one C-MOVE request asking the peer to send the objects matching
    O(identifier) to the AE title O(move_destination) (which the peer must know, for Orthanc a declared modality).
  - Returns the association result, the final DIMSE status and its category, the sub-operation counts
    (completed, failed, warning, remaining) and the durations.
  - The peer writes to the destination; neither the managed host nor the peer's archive is changed by the module.
author:
  - hospital.imaging contributors (@hospital-imaging)
extends_documentation_fragment:
  - hospital.imaging.dicom
attributes:
  check_mode:
    support: none
    description: The move is the check (the destination receives objects); in check mode the module is skipped.
  diff_mode:
    support: none
    description: Nothing is changed on the managed host.
options:
  move_destination:
    description:
      - AE title the peer should send the matching objects to.
    type: str
    required: true
  query_level:
    description:
      - Query/Retrieve level of the request (C(QueryRetrieveLevel)).
    type: str
    choices: [PATIENT, STUDY, SERIES, IMAGE]
    default: STUDY
  query_model:
    description:
      - Information model, V(study) for Study Root or V(patient) for Patient Root.
    type: str
    choices: [study, patient]
    default: study
  identifier:
    description:
      - Keys selecting what to move, as DICOM keyword to value (for example C(StudyInstanceUID)).
        The unique key of O(query_level) and of every level above it (with Study Root, the study) must be given.
    type: dict
    required: true
seealso:
  - module: hospital.imaging.dicom_find
  - module: hospital.imaging.dicom_store
'''

EXAMPLES = r'''
- name: Move the test study to the viewing workstation
  hospital.imaging.dicom_move:
    calling_aet: WORKSTATION01
    called_aet: "{{ imaging_archive_aet }}"
    move_destination: WORKSTATION01
    query_level: STUDY
    identifier:
      StudyInstanceUID: "{{ store.study_instance_uid }}"
  register: moved
  failed_when: not moved.success or moved.suboperations.completed < 1
'''

RETURN = r'''
changed:
  description: Always false; the module changes nothing.
  returned: always
  type: bool
  sample: false
success:
  description: True when the association was accepted and the C-MOVE status category is C(Success).
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
  description: The DIMSE status of the C-MOVE operation (its final response).
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
  description: Error raised while the C-MOVE was under way (for example the peer aborted), else null.
  returned: always
  type: str
  sample: null
durations:
  description: Seconds spent in each phase (null for a phase that did not happen).
  returned: always
  type: dict
  sample: {"association": 0.0123, "operation": 0.0041, "release": 0.0022, "total": 0.0191}
suboperations:
  description: Sub-operation counts from the last C-MOVE response that carried them.
  returned: always
  type: dict
  sample: {"completed": 3, "failed": 0, "warning": 0, "remaining": 0}
  contains:
    completed:
      description: Sub-operations completed (images the peer sent successfully to the destination).
      type: int
      returned: always
    failed:
      description: Sub-operations that failed.
      type: int
      returned: always
    warning:
      description: Sub-operations that completed with a warning.
      type: int
      returned: always
    remaining:
      description: Sub-operations not done when the last response came.
      type: int
      returned: always
responses:
  description: Number of C-MOVE responses received (pending and final).
  returned: always
  type: int
  sample: 4
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hospital.imaging.plugins.module_utils import dicom_net

COUNTERS = (('completed', 'NumberOfCompletedSuboperations'), ('failed', 'NumberOfFailedSuboperations'),
            ('warning', 'NumberOfWarningSuboperations'), ('remaining', 'NumberOfRemainingSuboperations'))


def main():
    argument_spec = dicom_net.dicom_argument_spec()
    argument_spec.update(
        move_destination=dict(type='str', required=True),
        query_level=dict(type='str', default='STUDY', choices=['PATIENT', 'STUDY', 'SERIES', 'IMAGE']),
        query_model=dict(type='str', default='study', choices=['study', 'patient']),
        identifier=dict(type='dict', required=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=False)
    p = module.params
    errors = []
    if not p['identifier']:
        errors.append('identifier must name what to move (for example StudyInstanceUID)')
    identifier = None
    if dicom_net.HAS_PYDICOM and not errors:
        try:
            identifier = dicom_net.dataset_from_keywords(p['identifier'])
            identifier.QueryRetrieveLevel = p['query_level']
        except (ValueError, TypeError) as err:
            errors.append('identifier: %s' % err)
    model = dicom_net.QUERY_MODELS['move'][p['query_model']]
    destination = (p['move_destination'] or '').strip()

    def operation(assoc):
        final = None
        responses = 0
        counts = dict((name, 0) for name, _keyword in COUNTERS)
        for status, _identifier in assoc.send_c_move(identifier, destination, model):
            if status is None or 'Status' not in status:
                break
            responses += 1
            final = status
            for name, keyword in COUNTERS:
                if keyword in status and status.get(keyword) is not None:
                    counts[name] = int(status.get(keyword))
        return final, dict(suboperations=counts, responses=responses)

    defaults = dict(suboperations=dict(completed=0, failed=0, warning=0, remaining=0), responses=0)
    dicom_net.run_check(module, [model], operation, extra_aets=[('move_destination', p['move_destination'])],
                        extra_errors=errors, defaults=defaults)


if __name__ == '__main__':
    main()
