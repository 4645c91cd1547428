# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter judging whether the archive refused a DICOM node, as a validation report row."""

from __future__ import annotations

DOCUMENTATION = r"""
name: dicom_refusal_row
short_description: Judge an access-control check over DICOM and return its validation report row
version_added: 0.1.0
description:
  - Takes the results of repeated M(hospital.imaging.dicom_store) attempts by a node the archive must refuse,
    the archive's log since the first attempt, and C-FIND lookups of the attempts' studies, and returns the
    report row (requirement, host, check, status, expected, actual, message, evidence).
  - The refusal is judged from what the archive says and does, not from how the socket closed. An
    A-ASSOCIATE-RJ is a refusal. An association aborted or closed after the request is a refusal when the
    archive's log shows its rejection of that calling AE title from the attempt's address (Orthanc's
    C(Rejected association for remote AET <AET> on IP <ip>)), or when O(min_attempts) requests were all
    closed and a C-FIND finds none of their studies. An accepted association or a stored image fails the
    check; a connection failure, refused TLS session or timeout without rejection evidence is an error
    (inconclusive).
  - The judging is done by C(plugins/module_utils/dicom_verdict.py); this filter only unpacks registered results.
positional: _input
options:
  _input:
    description:
      - The registered dicom_store result, a registered loop of them (with C(results)), or a list of results.
    type: raw
    required: true
  requirement:
    description: Requirement identifier of the row, for example C(OQ-DICOM-002).
    type: str
    required: true
  host:
    description: Inventory host the row is about.
    type: str
    required: true
  check:
    description: Name of the check in the row.
    type: str
    required: true
  calling_aet:
    description: Calling AE title the archive must refuse; by default the one in the attempts' evidence.
    type: str
  journal:
    description:
      - The archive's log since the first attempt began, as text or as a registered command result (its
        C(stdout) is used; a failed read counts as no log).
    type: raw
  lookups:
    description:
      - C-FIND lookups of the attempts' studies, as a registered loop of M(hospital.imaging.dicom_find) whose
        items are the Study Instance UIDs, or as a mapping of Study Instance UID to the number of matches.
    type: raw
  min_attempts:
    description: Closed attempts needed for a refusal proved by the lookups alone.
    type: int
    default: 3
  error:
    description: Why the attempts could not be made, if they could not (for example the block's rescue message).
    type: str
  probe_host:
    description: Host the attempts ran on, named in the message when they could not run there.
    type: str
"""

EXAMPLES = r"""
- name: Record the undeclared AE title check
  ansible.builtin.set_fact:
    validation_host_results: >-
      {{ validation_host_results + [validation_dicom_unknown | hospital.imaging.dicom_refusal_row(
           requirement='OQ-DICOM-002', host=inventory_hostname, check='dicom_store (undeclared AE)',
           journal=validation_dicom_refusal_journal, lookups=validation_dicom_refusal_lookups)] }}
"""

RETURN = r"""
_value:
  description:
    - The report row. RV(_value.status) is V(pass) (refused), V(fail) (the archive accepted) or V(error)
      (inconclusive or not run); RV(_value.actual.basis) names the evidence that decided (V(A-ASSOCIATE-RJ),
      V(archive-log), V(repeated-refusal), V(store-refused), V(accepted), V(inconclusive), V(not-run)).
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.hospital.imaging.plugins.module_utils.dicom_verdict import (
    MIN_ATTEMPTS, attempts_of, journal_text, lookup_matches, refusal_row)


def _attempts(value):
    try:
        return attempts_of(value)
    except TypeError as exc:
        raise AnsibleFilterError("dicom_refusal_row: %s" % exc) from exc


def _journal(value):
    return journal_text(value)


def _lookups(value):
    try:
        return lookup_matches(value)
    except TypeError as exc:
        raise AnsibleFilterError("dicom_refusal_row: %s" % exc) from exc


def dicom_refusal_row(attempts, requirement, host, check, calling_aet=None, journal=None, lookups=None,
                      min_attempts=MIN_ATTEMPTS, error=None, probe_host=None):
    """Return the report row of an access-control check (see DOCUMENTATION)."""
    return refusal_row(str(requirement), str(host), str(check), _attempts(attempts), calling_aet=calling_aet,
                       journal=_journal(journal), lookups=_lookups(lookups), min_attempts=int(min_attempts),
                       error=error, probe_host=probe_host)


class FilterModule:
    """Ansible filter plugin."""

    def filters(self):
        return {"dicom_refusal_row": dicom_refusal_row}
