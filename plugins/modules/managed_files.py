#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: managed_files
short_description: Manage a list of files and directories in one call
version_added: "1.0.0"
description:
  - Brings a list of paths to the wanted state in one module call. Each file gets its content, owner,
    group and mode; each directory exists with its owner, group and mode; an absent path is removed.
  - Only what differs is changed. Content is compared byte for byte with the file in place.
  - New content is written to a temporary file in the target's directory, checked with O(files[].validate)
    when given, then moved over the target atomically. When the check fails the target is left untouched
    and the task fails, naming the path and quoting the command's error output.
  - O(files[].src) names a template of the role's C(templates/) directory. The action plugin of the same
    name renders it on the controller with the task's variables (C(ansible_managed) included), as
    M(ansible.builtin.template) does, and hands the module the result as O(files[].content).
  - The content is never echoed in the result; in diff mode the differences of text files are returned.
author:
  - hospital.imaging contributors (@hospital-imaging)
attributes:
  check_mode:
    support: full
    description: Nothing is changed; the result names the paths that would change.
  diff_mode:
    support: full
    description: Text content differences and attribute changes are returned per path.
  action:
    support: full
    description: The action plugin renders O(files[].src) templates on the controller.
options:
  files:
    description:
      - The paths to manage, in order. Directories are handled before the files listed after them.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path of the file or directory.
        type: path
        required: true
      state:
        description:
          - V(file) writes the file (content optional when the file only needs its attributes checked).
          - V(directory) creates the directory and its missing parents.
          - V(absent) removes the file, or the directory with everything in it.
        type: str
        choices: [file, directory, absent]
        default: file
      content:
        description:
          - The whole content of the file. Mutually exclusive with O(files[].src).
          - Without O(files[].content) or O(files[].src) an existing file keeps its content, only its
            attributes are set; a missing one is created empty.
        type: str
      src:
        description:
          - A template file, looked up in the role's C(templates/) directory like M(ansible.builtin.template).
          - Rendered by the action plugin; the module itself refuses it.
        type: str
      owner:
        description: Owner name or uid.
        type: str
      group:
        description: Group name or gid.
        type: str
      mode:
        description: Permissions, as a quoted octal string such as V("0644"), or symbolic.
        type: str
      validate:
        description:
          - Command run on the candidate file before it replaces the target; C(%s) is replaced by the
            candidate's path. The file is not replaced unless the command exits 0.
        type: str
      backup:
        description: Keep a timestamped copy of the previous file when the content changes.
        type: bool
        default: false
"""

EXAMPLES = r"""
- name: Write the SSH daemon configuration and the banner, checked first
  hospital.imaging.managed_files:
    files:
      - path: /etc/ssh/sshd_config
        src: sshd_config.j2
        owner: root
        group: root
        mode: "0600"
        validate: /usr/sbin/sshd -T -f %s
        backup: true
      - path: /etc/issue.net
        content: "Authorised use only.\n"
        owner: root
        group: root
        mode: "0644"
  notify: Reload ssh

- name: Create a drop-in directory and remove a stale file
  hospital.imaging.managed_files:
    files:
      - path: /etc/systemd/journald.conf.d
        state: directory
        mode: "0755"
      - path: /etc/systemd/journald.conf.d/old.conf
        state: absent
"""

RETURN = r"""
changed_paths:
  description: The paths that were changed (in check mode, that would be changed).
  returned: always
  type: list
  elements: str
  sample: [/etc/ssh/sshd_config]
results:
  description: One entry per path, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The path.
      type: str
      returned: always
    state:
      description: The wanted state.
      type: str
      returned: always
    changed:
      description: Whether this path was (or would be) changed.
      type: bool
      returned: always
    changes:
      description: What differed, among V(created), V(content), V(owner), V(group), V(mode), V(removed).
      type: list
      elements: str
      returned: always
    checksum:
      description: SHA-1 of the wanted content of a file.
      type: str
      returned: when the content is managed
    backup_file:
      description: The copy of the previous file.
      type: str
      returned: when a backup was made
"""

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

from hashlib import sha1

MAX_DIFF_BYTES = 104448


def _checksum(data):
    return sha1(data).hexdigest()


def _set_attributes(module, path, item):
    """Set owner, group and mode; return the names of the attributes that differed."""
    changes = []
    if item.get('owner') is not None and module.set_owner_if_different(path, item['owner'], False):
        changes.append('owner')
    if item.get('group') is not None and module.set_group_if_different(path, item['group'], False):
        changes.append('group')
    if item.get('mode') is not None and module.set_mode_if_different(path, item['mode'], False):
        changes.append('mode')
    return changes


def _text_diff(path, before, after):
    if before is None:
        before = b''
    if len(before) > MAX_DIFF_BYTES or len(after) > MAX_DIFF_BYTES or b'\x00' in before or b'\x00' in after:
        return {'before_header': path, 'after_header': path,
                'before': '(binary or large content: %s)\n' % _checksum(before),
                'after': '(binary or large content: %s)\n' % _checksum(after)}
    return {'before_header': path, 'after_header': path,
            'before': to_text(before, errors='surrogate_or_strict'),
            'after': to_text(after, errors='surrogate_or_strict')}


def _validate(module, path, tmp, command, tmpdir):
    if '%s' not in command:
        shutil.rmtree(tmpdir, ignore_errors=True)
        module.fail_json(msg='%s: validate must contain %%s: %s' % (path, command), path=path)
    # Every %s names the candidate; any other % in the command (date +%F, printf) stays as written.
    rc, out, err = module.run_command(command.replace('%s', tmp))
    if rc != 0:
        shutil.rmtree(tmpdir, ignore_errors=True)
        module.fail_json(
            msg='%s: the new content failed validation (%s, exit %d); the file was left unchanged: %s'
                % (path, command, rc, (err or out).strip()),
            path=path, rc=rc, stdout=out, stderr=err)


def _write_file(module, path, data, item, result):
    directory = os.path.dirname(path) or '.'
    if not os.path.isdir(directory):
        module.fail_json(msg='%s: the directory %s does not exist' % (path, directory), path=path)
    # The candidate keeps the target's name (validators such as systemd-analyze read it) in a private
    # directory next to the target, so the final rename stays on one filesystem and is atomic.
    tmpdir = tempfile.mkdtemp(prefix='.managed_files.', dir=directory)
    tmp = os.path.join(tmpdir, os.path.basename(path))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        # The candidate carries the wanted attributes before it is checked and moved into place.
        if os.path.exists(path):
            st = os.stat(path)
            try:
                os.chown(tmp, st.st_uid, st.st_gid)
            except OSError:
                pass
            os.chmod(tmp, st.st_mode & 0o7777)
        for attr, setter in (('owner', module.set_owner_if_different), ('group', module.set_group_if_different),
                             ('mode', module.set_mode_if_different)):
            if item.get(attr) is not None:
                setter(tmp, item[attr], False)
        if item.get('validate'):
            _validate(module, path, tmp, item['validate'], tmpdir)
        if item.get('backup') and os.path.exists(path):
            result['backup_file'] = module.backup_local(path)
        # a new file stays private until its wanted attributes are set
        umask = os.umask(0o077)
        try:
            module.atomic_move(tmp, path, keep_dest_attrs=False)
        finally:
            os.umask(umask)
    except Exception as e:  # pylint: disable=broad-except
        shutil.rmtree(tmpdir, ignore_errors=True)
        module.fail_json(msg='%s: could not write the file: %s' % (path, to_native(e)), path=path)
    shutil.rmtree(tmpdir, ignore_errors=True)


def _manage_file(module, item, result, diffs):
    path = item['path']
    exists = os.path.lexists(path)
    if exists and os.path.isdir(path) and not os.path.islink(path):
        module.fail_json(msg='%s: is a directory, a file is wanted' % path, path=path)
    content = item.get('content')
    data = None if content is None else to_bytes(content, errors='surrogate_or_strict')
    before = None
    if exists:
        with open(path, 'rb') as f:
            before = f.read()
    if data is not None:
        result['checksum'] = _checksum(data)
    if not exists:
        result['changes'].append('created')
    if data is not None and before != data:
        if exists:
            result['changes'].append('content')
        if module._diff:
            diffs.append(_text_diff(path, before, data))
    elif data is None and not exists:
        data = b''
    if result['changes']:
        if not module.check_mode:
            _write_file(module, path, data if data is not None else before, item, result)
            # a new file gets its attributes here (atomic_move applies the umask to what it creates)
            fixed = _set_attributes(module, path, item)
            if 'created' not in result['changes']:
                result['changes'].extend(c for c in fixed if c not in result['changes'])
        else:
            result['changes'].extend(_attribute_changes(module, path, item, exists))
    else:
        result['changes'].extend(_attribute_changes(module, path, item, exists) if module.check_mode
                                 else _set_attributes(module, path, item))


def _attribute_changes(module, path, item, exists):
    """In check mode: the attributes that differ (all of those wanted when the path does not exist)."""
    if not exists:
        return []
    return _set_attributes(module, path, item)  # the setters only report in check mode


def _manage_directory(module, item, result):
    path = item['path']
    if os.path.lexists(path) and not os.path.isdir(path):
        module.fail_json(msg='%s: exists and is not a directory' % path, path=path)
    if not os.path.isdir(path):
        result['changes'].append('created')
        if module.check_mode:
            return
        try:
            os.makedirs(path, 0o700)
        except OSError as e:
            module.fail_json(msg='%s: could not create the directory: %s' % (path, to_native(e)), path=path)
        if item.get('mode') is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(path, 0o777 & ~umask)
        _set_attributes(module, path, item)
        return
    result['changes'].extend(_set_attributes(module, path, item))


def _manage_absent(module, item, result, diffs):
    path = item['path']
    if not os.path.lexists(path):
        return
    result['changes'].append('removed')
    if module._diff:
        diffs.append({'before_header': path, 'after_header': path,
                      'before': {'path': path, 'state': 'directory' if os.path.isdir(path) else 'file'},
                      'after': {'path': path, 'state': 'absent'}})
    if module.check_mode:
        return
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError as e:
        module.fail_json(msg='%s: could not remove it: %s' % (path, to_native(e)), path=path)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type='list', elements='dict', required=True, options=dict(
                path=dict(type='path', required=True),
                state=dict(type='str', default='file', choices=['file', 'directory', 'absent']),
                content=dict(type='str'),
                src=dict(type='str'),
                owner=dict(type='str'),
                group=dict(type='str'),
                mode=dict(type='str'),
                validate=dict(type='str'),
                backup=dict(type='bool', default=False),
            ), mutually_exclusive=[('content', 'src')]),
        ),
        supports_check_mode=True,
    )
    results = []
    changed_paths = []
    diffs = []
    for item in module.params['files']:
        path = item['path']
        if not os.path.isabs(path):
            module.fail_json(msg='%s: the path must be absolute' % path, path=path)
        if item.get('src') is not None:
            module.fail_json(msg='%s: src is rendered by the action plugin; call the module as '
                                 'hospital.imaging.managed_files' % path, path=path)
        result = dict(path=path, state=item['state'], changes=[])
        if item['state'] == 'file':
            _manage_file(module, item, result, diffs)
        elif item['state'] == 'directory':
            _manage_directory(module, item, result)
        else:
            _manage_absent(module, item, result, diffs)
        result['changed'] = bool(result['changes'])
        if result['changed']:
            changed_paths.append(path)
            if module._diff and result['changes'] and item['state'] != 'absent':
                attrs = [c for c in result['changes'] if c in ('owner', 'group', 'mode', 'created')]
                if attrs and not any(d.get('before_header') == path for d in diffs):
                    diffs.append({'before_header': path, 'after_header': path,
                                  'before': {'path': path, 'state': 'absent' if 'created' in attrs else item['state']},
                                  'after': {'path': path, 'state': item['state'],
                                            'changed': ','.join(attrs)}})
        results.append(result)
    out = dict(changed=bool(changed_paths), changed_paths=changed_paths, results=results)
    if module._diff:
        out['diff'] = diffs
    module.exit_json(**out)


if __name__ == '__main__':
    main()
