# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter turning gathered validation evidence into report rows, judged by the catalogue entry's kind."""

from __future__ import annotations

DOCUMENTATION = r"""
name: validation_rows
short_description: Judge validation evidence by its check kind and return the report rows
version_added: 0.1.0
description:
  - Every row is judged by the function that C(plugins/module_utils/validation_judge.py) names for the catalogue
    entry's C(check.kind) (its C(KINDS) table) and made by its one row constructor; the tasks only gather evidence.
  - O(source=module) takes a registered loop of M(hospital.imaging.validation_check) calls whose C(item) is a catalogue
    entry (or a list whose first element is one); a call that failed is an C(error) row.
  - O(source=evidence) takes the catalogue and returns the rows of the entries whose kind the task file O(runner)
    gathers and whose groups include one of O(group_names), each judged from O(evidence).
  - O(source=inventory) takes the catalogue and returns a C(not_applicable) row for each entry none of whose groups
    holds a host in O(groups) (the inventory's C(groups)).
  - O(source=listeners) takes the catalogue and returns, for each entry judged on every DICOM listener of a set
    (its C(check.listeners) is C(every_dicom) or C(every_dicom_tls)) that applies to O(group_names), a row when
    O(listeners) holds no listener of that set; an C(error) when the orthanc record lists no DICOM listener at all,
    a C(fail) when it lists no DICOM TLS listener for a TLS requirement.
  - With O(listener), every row names the DICOM listener it judged (C(dicom 4242 plain), C(dicom-tls 4243 TLS)) in
    its C(check), its message and C(evidence.listener); an entry judged on listeners (C(check.listeners)) without a
    DICOM listener is an C(error) row.
  - O(waivers) and O(records) apply to the rows of O(source=evidence) and O(source=listeners) as
    M(hospital.imaging.validation_check) applies them to its own result.
positional: _input
options:
  _input:
    description: Registered validation_check results (O(source=module)) or the catalogue (otherwise).
    type: list
    elements: dict
    required: true
  host:
    description: Inventory host (or, for O(source=inventory), the inventory's name) the rows are about.
    type: str
    required: true
  source:
    description: What O(_input) is.
    type: str
    choices: [module, evidence, listeners, inventory]
    default: module
  runner:
    description: For O(source=evidence), the task file that gathered the evidence (C(oq_dicom), C(oq_backup), C(pq)).
    type: str
  group_names:
    description: For O(source=evidence) and O(source=listeners), the host's groups.
    type: list
    elements: str
  evidence:
    description: For O(source=evidence), the gathered evidence (registered results) the kind's judge reads.
    type: dict
  groups:
    description: For O(source=inventory), the inventory's groups and their hosts.
    type: dict
  listener:
    description:
      - For O(source=module) and O(source=evidence), the DICOM listener (an entry of the orthanc record's
        C(listeners)) the results were gathered on.
    type: dict
  listeners:
    description: For O(source=listeners), the recorded DICOM listeners the tasks probed (C(validation_dicom_listeners)).
    type: list
    elements: dict
  waivers:
    description: For O(source=evidence) and O(source=listeners), the inventory's waivers (C(validation_waivers)).
    type: list
    elements: dict
  records:
    description:
      - For O(source=evidence) and O(source=listeners), the host's local facts (C(ansible_local)), whose role
        records (C(imaging_<role>)) may hold waivers.
    type: dict
"""

EXAMPLES = r"""
- name: Record the DICOM requirements that no recorded listener can prove
  ansible.builtin.set_fact:
    validation_host_results: >-
      {{ validation_host_results + (validation_catalogue | hospital.imaging.validation_rows(
           host=inventory_hostname, source='listeners', group_names=group_names, listeners=validation_dicom_listeners,
           waivers=validation_waivers, records=ansible_local | default({}))) }}

- name: Record the backup and restore result
  ansible.builtin.set_fact:
    validation_host_results: >-
      {{ validation_host_results + (validation_catalogue | hospital.imaging.validation_rows(
           host=inventory_hostname, source='evidence', runner='oq_backup', group_names=group_names,
           evidence={'backup': validation_backup, 'restore': validation_restore,
                     'restored_version': validation_restored_version, 'restore_dir': validation_restore_dir.path})) }}
"""

RETURN = r"""
_value:
  description:
    - The report rows (requirement, host, check, status, expected, actual, message, evidence, waiver, duration_s).
  type: list
  elements: dict
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.hospital.imaging.plugins.module_utils import validation_judge as vj


def _plain(value):
    """Registered results as plain dicts and lists (Ansible hands lazy containers to filters)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _entry(item):
    """The parts of a catalogue entry a row needs (the rest, templated lazily, is left alone)."""
    check = item["check"]
    out = {"kind": str(check["kind"]), "groups": [str(g) for g in check.get("groups") or []]}
    if check.get("listeners") is not None:
        out["listeners"] = str(check["listeners"])
    return {"id": str(item["id"]), "check": out}


def _result(res):
    item = res.get("item")
    if isinstance(item, (list, tuple)) and item:
        item = item[0]
    out = {k: _plain(v) for k, v in res.items() if k != "item"}
    if not res.get("skipped"):
        out["item"] = _entry(item)
    return out


def validation_rows(data, host, source="module", runner=None, group_names=None, evidence=None, groups=None,
                    listener=None, listeners=None, waivers=None, records=None):
    """Return the report rows (see DOCUMENTATION)."""
    try:
        listener = _plain(listener) if listener else None
        if source == "module":
            return vj.module_rows([_result(r) for r in data or []], str(host), listener)
        if source == "evidence":
            if not runner:
                raise AnsibleFilterError("validation_rows: source=evidence needs runner")
            rows = vj.evidence_rows([_entry(e) for e in data or []], str(host), [str(g) for g in group_names or []], runner,
                                    _plain(evidence or {}), listener)
            return vj.waived_rows(rows, _plain(waivers or []), vj.role_records(_plain(records or {})))
        if source == "listeners":
            rows = vj.missing_listener_rows([_entry(e) for e in data or []], str(host), [str(g) for g in group_names or []],
                                            _plain(listeners or []))
            return vj.waived_rows(rows, _plain(waivers or []), vj.role_records(_plain(records or {})))
        if source == "inventory":
            return vj.inventory_rows([_entry(e) for e in data or []], str(host), _plain(groups or {}))
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError("validation_rows: malformed input: %s" % exc) from exc
    raise AnsibleFilterError("validation_rows: unknown source %r" % source)


class FilterModule:
    """Ansible filter plugin."""

    def filters(self):
        return {"validation_rows": validation_rows}
