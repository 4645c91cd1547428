#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: dicom_store
short_description: Check that a DICOM node accepts C-STORE, with generated test objects
version_added: 0.1.0
description:
  - Generates O(count) small Secondary Capture images in one new study of a dedicated test patient
    (O(test_patient_id)), sends them with C-STORE as a service user, and returns the evidence.
  - The test objects are marked so that they can be found (C-FIND on O(test_patient_id)) and removed afterwards
    (for Orthanc, C(DELETE /patients/{id}) of that patient). The module itself never removes or changes anything
    on the controller or the target host.
author:
  - hospital.imaging contributors (@hospital-imaging)
extends_documentation_fragment:
  - hospital.imaging.dicom
attributes:
  check_mode:
    support: none
    description: Sending test objects is the check itself; in check mode the module is skipped.
  diff_mode:
    support: none
    description: Nothing is changed on the managed host.
options:
  count:
    description:
      - Number of test images to send (1-1000), all in one association.
    type: int
    default: 1
  test_patient_id:
    description:
      - Patient ID of the test objects. Keep it distinct from every real patient's ID.
    type: str
    default: HOSPITAL-IMAGING-TEST
  test_patient_name:
    description:
      - Patient name of the test objects (DICOM PN, for example C(TEST^IMAGING^CHECK)).
    type: str
    default: TEST^IMAGING^CHECK
seealso:
  - module: hospital.imaging.dicom_find
  - module: hospital.imaging.dicom_echo
'''

EXAMPLES = r'''
- name: Send three test images to the archive as the CT scanner
  hospital.imaging.dicom_store:
    calling_aet: CT_ROOM1
    called_aet: "{{ imaging_archive_aet }}"
    count: 3
  register: store
  failed_when: store.stored != 3

- name: Remove the test patient from Orthanc afterwards
  ansible.builtin.uri:
    url: "http://127.0.0.1:8042/patients/{{ orthanc_patient_id }}"
    method: DELETE
    url_username: ansible
    url_password: "{{ vault_orthanc_admin_password }}"
    force_basic_auth: true
'''

RETURN = r'''
changed:
  description: Always false; the module changes nothing.
  returned: always
  type: bool
  sample: false
success:
  description: True when the association was accepted and the C-STORE status category is C(Success).
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
  description: The DIMSE status of the C-STORE operation (its final response).
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
  description: Error raised while the C-STORE was under way (for example the peer aborted), else null.
  returned: always
  type: str
  sample: null
durations:
  description: Seconds spent in each phase (null for a phase that did not happen).
  returned: always
  type: dict
  sample: {"association": 0.0123, "operation": 0.0041, "release": 0.0022, "total": 0.0191}
sent:
  description: Number of C-STORE requests sent.
  returned: always
  type: int
  sample: 3
stored:
  description: Number of images the peer stored with a C(Success) status.
  returned: always
  type: int
  sample: 3
stored_with_warning:
  description: Number of images stored with a C(Warning) status (for example coerced elements).
  returned: always
  type: int
  sample: 0
not_stored:
  description: Number of images refused, or not answered.
  returned: always
  type: int
  sample: 0
patient_id:
  description: Patient ID of the test objects.
  returned: always
  type: str
  sample: HOSPITAL-IMAGING-TEST
study_instance_uid:
  description: Study Instance UID of the generated study.
  returned: always
  type: str
  sample: 1.2.826.0.1.3680043.8.498.1234
series_instance_uid:
  description: Series Instance UID of the generated series.
  returned: always
  type: str
  sample: 1.2.826.0.1.3680043.8.498.5678
instances:
  description: One entry per image sent, with its SOP Instance UID and status.
  returned: always
  type: list
  elements: dict
  sample: [{"sop_instance_uid": "1.2.826.0.1.3680043.8.498.9", "code": 0, "code_hex": "0x0000", "category": "Success"}]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hospital.imaging.plugins.module_utils import dicom_net


class StoreCheck(object):
    """Send generated test images and count the answers."""

    def __init__(self, params):
        self.params = params
        self.study_uid = None
        self.series_uid = None
        self.datasets = []

    def generate(self):
        self.study_uid, self.series_uid, self.datasets = dicom_net.make_test_instances(
            self.params['count'], patient_id=self.params['test_patient_id'],
            patient_name=self.params['test_patient_name'], station=self.params['calling_aet'].strip())

    def __call__(self, assoc):
        instances = []
        worst = None
        for ds in self.datasets:
            status = assoc.send_c_store(ds)
            info = dicom_net.describe_status(status)
            instances.append(dict(sop_instance_uid=str(ds.SOPInstanceUID), code=info['code'],
                                  code_hex=info['code_hex'], category=info['category']))
            if worst is None or info['category'] != 'Success':
                worst = status
            if not assoc.is_established:
                break
        stored = sum(1 for i in instances if i['category'] == 'Success')
        warnings = sum(1 for i in instances if i['category'] == 'Warning')
        return worst, dict(sent=len(instances), stored=stored, stored_with_warning=warnings,
                           not_stored=len(self.datasets) - stored - warnings, instances=instances)

    def empty(self):
        return dict(sent=0, stored=0, stored_with_warning=0, not_stored=len(self.datasets), instances=[],
                    patient_id=self.params['test_patient_id'], study_instance_uid=self.study_uid,
                    series_instance_uid=self.series_uid)


def main():
    argument_spec = dicom_net.dicom_argument_spec()
    argument_spec.update(
        count=dict(type='int', default=1),
        test_patient_id=dict(type='str', default=dicom_net.DEFAULT_TEST_PATIENT_ID),
        test_patient_name=dict(type='str', default='TEST^IMAGING^CHECK'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=False)
    p = module.params
    errors = []
    if not 1 <= p['count'] <= 1000:
        errors.append('count %d is out of range (1-1000)' % p['count'])
    pid = p['test_patient_id']
    if not pid or not pid.strip() or len(pid) > 64 or '\\' in pid or any(ord(c) < 0x20 for c in pid):
        errors.append('test_patient_id %r must be 1-64 characters without backslash or control characters' % pid)
    name = p['test_patient_name']
    if not name or len(name) > 64 or '\\' in name or any(ord(c) < 0x20 for c in name):
        errors.append('test_patient_name %r must be 1-64 characters without backslash or control characters' % name)
    store = StoreCheck(p)
    if not errors and dicom_net.HAS_PYDICOM:
        store.generate()

    def operation(assoc):
        status, extra = store(assoc)
        return status, dict(extra, patient_id=p['test_patient_id'], study_instance_uid=store.study_uid,
                            series_instance_uid=store.series_uid)

    defaults = store.empty()
    dicom_net.run_check(module, [dicom_net.SECONDARY_CAPTURE], operation, extra_errors=errors, defaults=defaults)


if __name__ == '__main__':
    main()
