# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Declare a named collection of Orthanc objects (modalities, peers) idempotently:
read everything once, compare, and write only the differences."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.hospital.imaging.plugins.module_utils.dicom_ae import node_name_errors
from ansible_collections.hospital.imaging.plugins.module_utils.orthanc_api import OrthancClient, OrthancError


def name_errors(name):
    return [err if err == 'has no name' else 'name ' + err for err in node_name_errors(name)]


def entry_label(kind, index, entry):
    parts = []
    if entry.get('name'):
        parts.append('name %r' % entry['name'])
    if entry.get('aet') is not None:
        parts.append('AET %r' % entry['aet'])
    return '%s[%d]%s' % (kind, index, ' (%s)' % ', '.join(parts) if parts else '')


def plan(existing, desired, purge, compare_keys, defaults=None):
    """Compute the actions that turn ``existing`` into ``desired``.

    existing: name -> current Orthanc representation (dict)
    desired: list of dict(name, state, payload) in input order
    compare_keys: keys of the payload that decide whether an update is needed
    defaults: values assumed when Orthanc's answer lacks a key (older versions)
    Returns a list of actions: dict(action, name, before, after, payload, changes).
    """
    defaults = defaults or {}
    actions = []
    named = set()
    for item in desired:
        name = item['name']
        named.add(name)
        current = existing.get(name)
        if item['state'] == 'absent':
            if current is not None:
                actions.append(dict(action='delete', name=name, before=current, after=None, payload=None, changes=[]))
            continue
        payload = item['payload']
        if current is None:
            actions.append(dict(action='create', name=name, before=None, after=payload, payload=payload,
                                changes=sorted(k for k in compare_keys if k in payload)))
            continue
        changes = []
        for key in compare_keys:
            if key not in payload:
                continue
            have = current.get(key, defaults.get(key))
            if have != payload[key]:
                changes.append(key)
        if item.get('force_update'):
            changes.append('Password')
        if changes:
            before = dict((k, current.get(k, defaults.get(k))) for k in compare_keys if k in payload)
            actions.append(dict(action='update', name=name, before=before, after=payload, payload=payload,
                                changes=changes))
    if purge:
        for name in sorted(existing):
            if name not in named:
                actions.append(dict(action='delete', name=name, before=existing[name], after=None, payload=None,
                                    changes=[]))
    return actions


def apply(client, collection, actions):
    """Write the actions through the REST API (PUT to create/update, DELETE to remove)."""
    for action in actions:
        path = client.path(collection, action['name'])
        if action['action'] == 'delete':
            client.delete(path)
        else:
            client.put(path, action['payload'])


def public_action(action):
    """What a module returns for an action: no payload, no secret."""
    result = dict(action=action['action'], name=action['name'])
    if action['changes']:
        result['changes'] = action['changes']
    return result


def diff_for(kind, action, secret_keys=()):
    def clean(value):
        if value is None:
            return {}
        if isinstance(value, dict):
            return dict((k, ('********' if k in secret_keys else v)) for k, v in value.items())
        return dict(value=value)
    return dict(before_header='%s %s' % (kind, action['name']), after_header='%s %s' % (kind, action['name']),
                before=clean(action['before']), after=clean(action['after']))


def summarize(actions, desired):
    """Counts for the module result: created, updated, deleted, unchanged (declared present, nothing to do)."""
    touched = set(a['name'] for a in actions)
    return dict(
        created=sum(1 for a in actions if a['action'] == 'create'),
        updated=sum(1 for a in actions if a['action'] == 'update'),
        deleted=sum(1 for a in actions if a['action'] == 'delete'),
        unchanged=sum(1 for d in desired if d['state'] == 'present' and d['name'] not in touched),
    )


class Declaration(object):
    """A module that declares one named collection of Orthanc objects.

    Subclasses name the collection and give validate() (the declared list as dict(name, state,
    payload), and every problem) and read() (Orthanc's current objects, by name); run() does the rest:
    refuse an invalid list before any request, read once, plan, diff, write (not in check mode), report.
    """

    kind = None            # 'modality': in messages and diff headers
    collection = None      # 'modalities': the REST collection
    result_key = None      # the result key holding the objects after the run
    compare_keys = ()
    defaults = None
    secret_keys = ()

    def __init__(self, module):
        self.module = module
        self.params = module.params

    def validate(self):
        raise NotImplementedError

    def read(self, client):
        raise NotImplementedError

    def shown(self, payload):
        """How an object appears in the result (subclasses drop secrets)."""
        return payload

    def read_collection(self, client, simple_format):
        """GET /<collection>?expand as {name: config}; ``simple_format`` turns Orthanc's list form into a dict."""
        answer = client.get('/%s?expand' % self.collection)
        if isinstance(answer, list):
            # Orthanc ignored "expand" (very old release): read each one.
            answer = dict((n, client.get(client.path(self.collection, n, 'configuration'))) for n in answer)
        if not isinstance(answer, dict):
            raise OrthancError('GET /%s?expand returned %r, not an object: check that url points at Orthanc'
                               % (self.collection, type(answer).__name__))
        return dict((name, simple_format(config)) for name, config in answer.items())

    def run(self):
        result = dict(changed=False, actions=[], summary=dict(created=0, updated=0, deleted=0, unchanged=0),
                      requests=0)
        desired, errors = self.validate()
        if errors:
            self.module.fail_json(msg='%d invalid %s entr%s, nothing was written: %s' % (
                len(errors), self.kind, 'y' if len(errors) == 1 else 'ies', '; '.join(errors)), errors=errors, **result)
        client = None
        try:
            client = OrthancClient.from_module(self.module)
            existing = self.read(client)
            actions = plan(existing, desired, self.params['purge'], self.compare_keys, self.defaults)
            result['actions'] = [public_action(a) for a in actions]
            result['summary'] = summarize(actions, desired)
            result['changed'] = bool(actions)
            if self.module._diff:
                result['diff'] = [diff_for(self.kind, a, secret_keys=self.secret_keys) for a in actions]
            if actions and not self.module.check_mode:
                apply(client, self.collection, actions)
            after = dict(existing)
            for action in actions:
                if action['action'] == 'delete':
                    after.pop(action['name'], None)
                else:
                    after[action['name']] = self.shown(action['payload'])
            result[self.result_key] = after
            result['requests'] = client.requests
        except OrthancError as err:
            result['requests'] = client.requests if client is not None else 0
            self.module.fail_json(msg=str(err), http_status=err.status, **result)
        finally:
            if client is not None:
                client.close()
        self.module.exit_json(**result)
