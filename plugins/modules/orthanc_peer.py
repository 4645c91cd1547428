#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: orthanc_peer
short_description: Declare the other Orthanc servers (peers) an Orthanc archive reaches over HTTPS
version_added: 0.1.0
description:
  - Declares, updates and removes Orthanc peers through the REST API (C(/peers)), from one list.
  - Reads every peer once, compares URL and user name, and writes only the differences; returns the list of actions.
  - Validates every entry first (HTTPS URL, names, duplicates, credentials given together) and writes nothing
    when any entry is invalid.
  - Orthanc does not return stored passwords, so a password change is only written when
    O(update_password=always) (which then reports a change on every run for peers with a password).
  - Orthanc verifies the certificate of every HTTPS peer with its global C(HttpsVerifyPeers) and
    C(HttpsCACertificates) settings (set by the C(orthanc) role).
author:
  - hospital.imaging contributors (@hospital-imaging)
extends_documentation_fragment:
  - hospital.imaging.orthanc
attributes:
  check_mode:
    support: full
    description: Reports what would change without writing.
  diff_mode:
    support: full
    description: One before/after pair per peer that is created, updated or removed (passwords masked).
options:
  peers:
    description:
      - The peers, each identified in Orthanc by O(peers[].name).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Orthanc's symbolic name for the peer (letters, digits, C(.), C(_), C(-); at most 64 characters).
        type: str
        required: true
      url:
        description:
          - Root URL of the peer's REST API. Must use C(https).
          - Required when O(peers[].state=present).
        type: str
      username:
        description:
          - User name the archive uses on the peer. Requires O(peers[].password).
        type: str
      password:
        description:
          - Password of O(peers[].username).
        type: str
      state:
        description: Whether the peer is declared (V(present)) or removed (V(absent)).
        type: str
        choices: [present, absent]
        default: present
  purge:
    description:
      - Remove every peer Orthanc knows that O(peers) does not name.
    type: bool
    default: false
  update_password:
    description:
      - V(on_create) sends a peer's password only when the peer is created or its URL or user name changes.
      - V(always) sends it on every run (Orthanc cannot tell whether it differs).
    type: str
    choices: [always, on_create]
    default: on_create
seealso:
  - module: hospital.imaging.orthanc_modality
'''

EXAMPLES = r'''
- name: Declare the teaching-file archive as a peer
  hospital.imaging.orthanc_peer:
    username: ansible
    password: "{{ vault_orthanc_admin_password }}"
    peers:
      - name: teaching
        url: https://teaching-pacs.example.org/
        username: forwarder
        password: "{{ vault_teaching_forwarder_password }}"

- name: Keep only the declared peers
  hospital.imaging.orthanc_peer:
    username: ansible
    password: "{{ vault_orthanc_admin_password }}"
    peers: "{{ imaging_orthanc_peers }}"
    purge: true
'''

RETURN = r'''
actions:
  description: What was done (or, in check mode, would be done), one entry per peer touched.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "create", "name": "teaching", "changes": ["Url", "Username"]}]
  contains:
    action:
      description: One of V(create), V(update), V(delete).
      type: str
      returned: always
    name:
      description: Orthanc's name of the peer.
      type: str
      returned: always
    changes:
      description: The fields that differ.
      type: list
      elements: str
      returned: when some fields differ
summary:
  description: How many peers were created, updated, deleted, and left unchanged.
  returned: always
  type: dict
  sample: {"created": 1, "updated": 0, "deleted": 0, "unchanged": 2}
peers:
  description: Orthanc's view of every peer after the run (URL and user name; never a password).
  returned: success
  type: dict
  sample: {"teaching": {"Url": "https://teaching-pacs.example.org/", "Username": "forwarder"}}
requests:
  description: Number of REST requests sent to Orthanc.
  returned: always
  type: int
  sample: 2
errors:
  description: Every invalid entry, each message naming the entry, when validation refused the list.
  returned: failure
  type: list
  elements: str
  sample: ["peers[0] (name 'teaching'): url 'http://x' must use https"]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.parse import urlparse
from ansible_collections.hospital.imaging.plugins.module_utils.orthanc_api import orthanc_argument_spec
from ansible_collections.hospital.imaging.plugins.module_utils import orthanc_sync

COMPARE_KEYS = ('Url', 'Username')
DEFAULTS = dict(Username=None)


def normalize_url(url):
    url = url.strip()
    return url if url.endswith('/') else url + '/'


def simple_peer(config):
    """A peer as the fields compared: the URL and user name (Orthanc never returns the password)."""
    if isinstance(config, list):  # simple format: [url, username, password]
        config = dict(Url=config[0], Username=config[1] if len(config) > 1 else None)
    elif isinstance(config, str):
        config = dict(Url=config, Username=None)
    return dict(Url=config.get('Url'), Username=config.get('Username') or None)


class PeerDeclaration(orthanc_sync.Declaration):
    """Validate the declared peers, then bring Orthanc's peers in line with them."""

    kind = 'peer'
    collection = 'peers'
    result_key = 'peers'
    compare_keys = COMPARE_KEYS
    defaults = DEFAULTS
    secret_keys = ('Password',)

    def validate(self):
        errors = []
        desired = []
        seen = {}
        for index, entry in enumerate(self.params['peers']):
            label = orthanc_sync.entry_label('peers', index, entry)
            problems = list(orthanc_sync.name_errors(entry['name']))
            payload = None
            if entry['state'] == 'present':
                url = entry.get('url')
                if not url:
                    problems.append('url is required when state is present')
                else:
                    parsed = urlparse(url.strip())
                    if parsed.scheme != 'https' or not parsed.netloc:
                        problems.append('url %r must be an https:// URL (peers are reached over HTTPS)' % url)
                if bool(entry.get('username')) != bool(entry.get('password')):
                    problems.append('username and password must be given together')
                if not problems:
                    payload = dict(Url=normalize_url(url), Username=entry.get('username') or None)
                    if entry.get('password'):
                        payload['Password'] = entry['password']
            if entry['name'] in seen:
                problems.append('name %r is already used by %s' % (entry['name'], seen[entry['name']]))
            else:
                seen[entry['name']] = label
            if problems:
                errors.extend('%s: %s' % (label, p) for p in problems)
            else:
                desired.append(dict(name=entry['name'], state=entry['state'], payload=payload,
                                    force_update=bool(payload and payload.get('Password')
                                                      and self.params['update_password'] == 'always')))
        return desired, errors

    def read(self, client):
        return self.read_collection(client, simple_peer)

    def shown(self, payload):
        return dict(Url=payload['Url'], Username=payload['Username'])


def main():
    argument_spec = orthanc_argument_spec()
    argument_spec.update(
        peers=dict(
            type='list', elements='dict', required=True,
            options=dict(
                name=dict(type='str', required=True),
                url=dict(type='str'),
                username=dict(type='str'),
                password=dict(type='str', no_log=True),
                state=dict(type='str', default='present', choices=['present', 'absent']),
            ),
        ),
        purge=dict(type='bool', default=False),
        update_password=dict(type='str', default='on_create', choices=['always', 'on_create'], no_log=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    PeerDeclaration(module).run()


if __name__ == '__main__':
    main()
