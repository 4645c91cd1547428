#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: orthanc_modality
short_description: Declare the remote DICOM nodes (modalities) that Orthanc knows
version_added: 0.1.0
description:
  - Declares, updates and removes the remote DICOM application entities (modalities) of an Orthanc archive
    through its REST API (C(/modalities)), from one list that may hold hundreds of entries.
  - Reads every declared modality once, compares, and writes only the differences; returns the list of actions.
  - Validates every entry first (AE title by DICOM PS3.5 VR AE, duplicates, port range, host form, the archive's
    own AE title) and writes nothing when any entry is invalid.
  - For modalities to survive a restart of Orthanc, its configuration needs C(DicomModalitiesInDatabase=true).
author:
  - hospital.imaging contributors (@hospital-imaging)
extends_documentation_fragment:
  - hospital.imaging.orthanc
attributes:
  check_mode:
    support: full
    description: Reports what would change (C(changed), RV(actions), diff) without writing.
  diff_mode:
    support: full
    description: One before/after pair per modality that is created, updated or removed.
options:
  modalities:
    description:
      - The remote DICOM nodes. Each is identified in Orthanc by O(modalities[].name).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Orthanc's symbolic name for the node (part of the REST path).
          - Letters, digits, C(.), C(_) and C(-), at most 64 characters.
          - Defaults to the AE title when that is a valid name.
        type: str
      aet:
        description:
          - AE title of the remote node. 1-16 printable ASCII characters, no backslash, not only spaces;
            leading and trailing spaces are removed.
          - Required when O(modalities[].state=present), unless O(modalities[].name) alone is given for removal.
        type: str
      host:
        description:
          - Host of the remote node. Must be an IP address when O(check_modality_host=true).
          - Required when O(modalities[].state=present).
        type: str
      port:
        description:
          - TCP port of the remote node's DICOM service (1-65535).
          - Required when O(modalities[].state=present).
        type: int
      manufacturer:
        description:
          - Orthanc's manufacturer profile for this node (query quirks).
        type: str
        default: Generic
        choices: [Generic, GenericNoWildcardInDates, GenericNoUniversalWildcard, Vitrea, GE]
      allow_echo:
        description: Whether the node may send C-ECHO to Orthanc.
        type: bool
        default: true
      allow_find:
        description: Whether the node may send C-FIND to Orthanc.
        type: bool
        default: true
      allow_get:
        description: Whether the node may send C-GET to Orthanc.
        type: bool
        default: true
      allow_move:
        description: Whether the node may send C-MOVE to Orthanc.
        type: bool
        default: true
      allow_store:
        description: Whether the node may send C-STORE to Orthanc.
        type: bool
        default: true
      use_dicom_tls:
        description: Whether Orthanc uses DICOM TLS when it opens associations to this node (Orthanc 1.9 or newer).
        type: bool
        default: false
      state:
        description: Whether the node is declared (V(present)) or removed (V(absent)).
        type: str
        choices: [present, absent]
        default: present
  purge:
    description:
      - Remove every modality Orthanc knows that O(modalities) does not name.
    type: bool
    default: false
  own_aet:
    description:
      - The archive's own AE title (Orthanc's C(DicomAet), set by the C(orthanc) role). A node declared with this
        AE title is refused.
    type: str
  check_modality_host:
    description:
      - Set as Orthanc's C(DicomCheckModalityHost). When true, Orthanc compares the address of an incoming
        association with the node's host, so every host must be an IP address.
    type: bool
    default: true
seealso:
  - module: hospital.imaging.orthanc_peer
  - module: hospital.imaging.dicom_echo
  - name: Orthanc REST API
    description: The C(/modalities) routes this module uses.
    link: https://orthanc.uclouvain.be/api/
'''

EXAMPLES = r'''
- name: Declare the CT and MR scanners and the viewing workstation
  hospital.imaging.orthanc_modality:
    url: http://127.0.0.1:8042
    username: ansible
    password: "{{ vault_orthanc_admin_password }}"
    own_aet: "{{ imaging_archive_aet }}"
    modalities:
      - aet: CT_ROOM1
        host: 10.20.1.11
        port: 104
        allow_get: false
      - aet: MR_ROOM2
        host: 10.20.1.12
        port: 11112
        manufacturer: GenericNoWildcardInDates
      - name: viewer
        aet: WORKSTATION01
        host: 10.30.0.5
        port: 4006
        allow_store: false

- name: Keep exactly the nodes of the inventory, removing any other
  hospital.imaging.orthanc_modality:
    url: https://pacs.example.org
    ca_path: "{{ lookup('hospital.imaging.pki_path', 'ca.crt') }}"
    username: ansible
    password: "{{ vault_orthanc_admin_password }}"
    own_aet: "{{ imaging_archive_aet }}"
    modalities: "{{ imaging_modalities }}"
    purge: true

- name: Retire one scanner
  hospital.imaging.orthanc_modality:
    username: ansible
    password: "{{ vault_orthanc_admin_password }}"
    modalities:
      - name: CT_ROOM1
        state: absent
'''

RETURN = r'''
actions:
  description: What was done (or, in check mode, would be done), one entry per modality touched.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "create", "name": "CT_ROOM1", "changes": ["AET", "Host", "Port"]},
           {"action": "update", "name": "MR_ROOM2", "changes": ["Port"]}, {"action": "delete", "name": "OLD_CR"}]
  contains:
    action:
      description: One of V(create), V(update), V(delete).
      type: str
      returned: always
    name:
      description: Orthanc's name of the modality.
      type: str
      returned: always
    changes:
      description: The Orthanc fields that differ (for V(create), every field sent).
      type: list
      elements: str
      returned: when some fields differ
summary:
  description: How many modalities were created, updated, deleted, and left unchanged.
  returned: always
  type: dict
  sample: {"created": 1, "updated": 1, "deleted": 1, "unchanged": 497}
modalities:
  description: Orthanc's view of every modality after the run (in check mode, the state that would result).
  returned: success
  type: dict
  sample: {"CT_ROOM1": {"AET": "CT_ROOM1", "Host": "10.20.1.11", "Port": 104, "Manufacturer": "Generic",
           "AllowEcho": true, "AllowFind": true, "AllowGet": false, "AllowMove": true, "AllowStore": true,
           "UseDicomTls": false}}
requests:
  description: Number of REST requests sent to Orthanc (one read, then one per write).
  returned: always
  type: int
  sample: 3
errors:
  description: Every invalid entry, each message naming the entry, when validation refused the list.
  returned: failure
  type: list
  elements: str
  sample: ["modalities[2] (name 'CT1', AET 'CT\\\\1'): aet contains a backslash, which DICOM forbids in an AE title"]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hospital.imaging.plugins.module_utils.dicom_ae import (
    ae_title_errors,
    modality_problems,
    normalize_ae_title,
)
from ansible_collections.hospital.imaging.plugins.module_utils.orthanc_api import orthanc_argument_spec
from ansible_collections.hospital.imaging.plugins.module_utils import orthanc_layout, orthanc_sync

COMPARE_KEYS = ('AET', 'Host', 'Port', 'Manufacturer', 'AllowEcho', 'AllowFind', 'AllowGet', 'AllowMove',
                'AllowStore', 'UseDicomTls')
# What Orthanc assumes when its answer lacks a field (older releases).
DEFAULTS = dict(Manufacturer='Generic', AllowEcho=True, AllowFind=True, AllowGet=True, AllowMove=True,
                AllowStore=True, UseDicomTls=False)


def simple_modality(config):
    """Orthanc's simple format [AET, host, port, manufacturer] as its object format."""
    if isinstance(config, list):
        config = dict(AET=config[0], Host=config[1], Port=int(config[2]),
                      Manufacturer=config[3] if len(config) > 3 else 'Generic')
    return config


class ModalityDeclaration(orthanc_sync.Declaration):
    """Validate the declared list, then bring Orthanc's modalities in line with it."""

    kind = 'modality'
    collection = 'modalities'
    result_key = 'modalities'
    compare_keys = COMPARE_KEYS
    defaults = DEFAULTS

    def validate(self):
        """Return (desired, errors): desired entries as dict(name, state, payload)."""
        entries = self.params['modalities']
        own = self.params.get('own_aet')
        errors = ['own_aet %r %s' % (own, err) for err in (ae_title_errors(own) if own is not None else [])]

        def label(index):
            return orthanc_sync.entry_label('modalities', index, entries[index])

        refused = set()
        for index, key, message in modality_problems(entries, own, self.params['check_modality_host'], label):
            refused.add(index)
            errors.append('%s: %s' % (label(index), '%s %s' % (key, message) if key else message))
        desired = []
        for index, entry in enumerate(entries):
            if index in refused:
                continue
            name = entry.get('name') or normalize_ae_title(entry['aet'])
            payload = None
            if entry['state'] == 'present':
                payload = orthanc_layout.orthanc_modality(entry)
            desired.append(dict(name=name, state=entry['state'], payload=payload))
        return desired, errors

    def read(self, client):
        return self.read_collection(client, simple_modality)


def main():
    argument_spec = orthanc_argument_spec()
    argument_spec.update(
        modalities=dict(
            type='list', elements='dict', required=True,
            options=dict(
                name=dict(type='str'),
                aet=dict(type='str'),
                host=dict(type='str'),
                port=dict(type='int'),
                manufacturer=dict(type='str', default='Generic',
                                  choices=['Generic', 'GenericNoWildcardInDates', 'GenericNoUniversalWildcard',
                                           'Vitrea', 'GE']),
                allow_echo=dict(type='bool', default=True),
                allow_find=dict(type='bool', default=True),
                allow_get=dict(type='bool', default=True),
                allow_move=dict(type='bool', default=True),
                allow_store=dict(type='bool', default=True),
                use_dicom_tls=dict(type='bool', default=False),
                state=dict(type='str', default='present', choices=['present', 'absent']),
            ),
        ),
        purge=dict(type='bool', default=False),
        own_aet=dict(type='str'),
        check_modality_host=dict(type='bool', default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    ModalityDeclaration(module).run()


if __name__ == '__main__':
    main()
