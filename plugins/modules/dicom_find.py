#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: dicom_find
short_description: Query a DICOM node with C-FIND as a service user
version_added: 0.1.0
description:
  - Opens an association, sends one C-FIND request built from O(identifier), and counts the matches.
  - Returns the association result, the final DIMSE status and its category, the number of matches, the
    first O(max_results) matches, and the durations.
author:
  - hospital.imaging contributors (@hospital-imaging)
extends_documentation_fragment:
  - hospital.imaging.dicom
attributes:
  check_mode:
    support: full
    description: A query only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed.
options:
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
      - Matching keys, as DICOM keyword to value (for example C(PatientID), C(StudyInstanceUID), C(StudyDate)).
        An empty value asks for that attribute to be returned.
      - Defaults to the test patient of M(hospital.imaging.dicom_store).
    type: dict
    default: {PatientID: HOSPITAL-IMAGING-TEST}
  return_keys:
    description:
      - DICOM keywords to return for each match, in addition to the identifier's keys.
    type: list
    elements: str
    default: [StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID, PatientID]
  max_results:
    description:
      - How many matches to return in RV(results); RV(matches) counts them all.
    type: int
    default: 100
seealso:
  - module: hospital.imaging.dicom_store
  - module: hospital.imaging.dicom_move
'''

EXAMPLES = r'''
- name: Find the test studies sent by dicom_store
  hospital.imaging.dicom_find:
    calling_aet: WORKSTATION01
    called_aet: "{{ imaging_archive_aet }}"
    query_level: STUDY
    identifier:
      PatientID: HOSPITAL-IMAGING-TEST
  register: found
  failed_when: found.matches < 1
'''

RETURN = r'''
changed:
  description: Always false; the module changes nothing.
  returned: always
  type: bool
  sample: false
success:
  description: True when the association was accepted and the C-FIND status category is C(Success).
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
  description: The DIMSE status of the C-FIND operation (its final response).
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
  description: Error raised while the C-FIND was under way (for example the peer aborted), else null.
  returned: always
  type: str
  sample: null
durations:
  description: Seconds spent in each phase (null for a phase that did not happen).
  returned: always
  type: dict
  sample: {"association": 0.0123, "operation": 0.0041, "release": 0.0022, "total": 0.0191}
matches:
  description: Number of matches (pending responses with an identifier).
  returned: always
  type: int
  sample: 1
results:
  description: The first O(max_results) matches, keyword to value as text.
  returned: always
  type: list
  elements: dict
  sample: [{"PatientID": "HOSPITAL-IMAGING-TEST", "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1234"}]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hospital.imaging.plugins.module_utils import dicom_net


def main():
    argument_spec = dicom_net.dicom_argument_spec()
    argument_spec.update(
        query_level=dict(type='str', default='STUDY', choices=['PATIENT', 'STUDY', 'SERIES', 'IMAGE']),
        query_model=dict(type='str', default='study', choices=['study', 'patient']),
        identifier=dict(type='dict', default={'PatientID': dicom_net.DEFAULT_TEST_PATIENT_ID}),
        return_keys=dict(type='list', elements='str', no_log=False,
                         default=['StudyInstanceUID', 'SeriesInstanceUID', 'SOPInstanceUID', 'PatientID']),
        max_results=dict(type='int', default=100),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    errors = []
    if p['max_results'] < 0:
        errors.append('max_results must not be negative')
    if p['query_model'] == 'patient' and p['query_level'] == 'STUDY' and 'PatientID' not in p['identifier']:
        errors.append('the patient root model needs PatientID in identifier below the PATIENT level')
    keys = list(p['identifier']) + [k for k in p['return_keys'] if k not in p['identifier']]
    identifier = None
    if dicom_net.HAS_PYDICOM:
        try:
            query = dict((k, '') for k in keys)
            query.update(p['identifier'])
            identifier = dicom_net.dataset_from_keywords(query)
            identifier.QueryRetrieveLevel = p['query_level']
        except (ValueError, TypeError) as err:
            errors.append('identifier/return_keys: %s' % err)
    model = dicom_net.QUERY_MODELS['find'][p['query_model']]

    def operation(assoc):
        matches = 0
        results = []
        final = None
        for status, found in assoc.send_c_find(identifier, model):
            final = status
            if status is None or 'Status' not in status:
                break
            if dicom_net.describe_status(status)['category'] == 'Pending' and found is not None:
                matches += 1
                if len(results) < p['max_results']:
                    results.append(dicom_net.dataset_to_dict(found, keys))
        return final, dict(matches=matches, results=results)

    dicom_net.run_check(module, [model], operation, extra_errors=errors, defaults=dict(matches=0, results=[]))


if __name__ == '__main__':
    main()
