# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write a service's sandbox drop-in (or its own unit) through hospital.imaging.managed_files, verified first."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.hospital.imaging.plugins.module_utils import systemd_dropin

ARGUMENT_SPEC = dict(
    unit=dict(type='str', required=True),
    instance=dict(type='str'),
    dropin=dict(type='str', default='hardening.conf'),
    src=dict(type='str'),
    content=dict(type='str'),
    unit_src=dict(type='str'),
    unit_content=dict(type='str'),
    recovery=dict(type='dict', options=dict(
        restart_sec=dict(type='int', required=True),
        start_limit_burst=dict(type='int', required=True),
        start_limit_interval_sec=dict(type='int', required=True),
    )),
)


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp

        _validation, args = self.validate_argument_spec(
            argument_spec=ARGUMENT_SPEC,
            mutually_exclusive=[('src', 'content', 'recovery'), ('unit_src', 'unit_content')],
        )
        found = systemd_dropin.problems(args)
        if found:
            raise AnsibleActionFail('; '.join(found))

        # managed_files renders the templates (with the task's variables, loop item included), writes
        # each candidate only after its systemd-analyze verify passed, and hides the content.
        task = self._task.copy()
        task.args = dict(files=systemd_dropin.plan(args))
        files_action = self._shared_loader_obj.action_loader.get(
            'hospital.imaging.managed_files', task=task, connection=self._connection,
            play_context=self._play_context, loader=self._loader, templar=self._templar,
            shared_loader_obj=self._shared_loader_obj)
        result.update(files_action.run(task_vars=task_vars))
        result['unit'] = args['unit']
        result['verified_unit'] = systemd_dropin.verified_unit(args['unit'], args.get('instance'))
        return result
