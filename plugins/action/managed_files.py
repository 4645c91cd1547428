# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render the src templates of hospital.imaging.managed_files on the controller, then run the module once."""

from __future__ import annotations

import copy
import os

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.template import generate_ansible_template_vars

try:  # ansible-core 2.19+: only strings marked as trusted are rendered as templates
    from ansible.template import trust_as_template
except ImportError:  # older ansible-core renders every string
    def trust_as_template(value):
        return value

HIDDEN = "(content not shown)"


class ActionModule(ActionBase):

    TRANSFERS_FILES = False

    def _render(self, item, task_vars):
        src = item["src"]
        try:
            source = self._find_needle("templates", src)
        except AnsibleError as e:
            raise AnsibleActionFail("%s: %s" % (item.get("path"), to_text(e)))
        template_data = trust_as_template(self._read_source(source))
        searchpath = list(task_vars.get("ansible_search_path", [])) + [self._loader._basedir, os.path.dirname(source)]
        expanded = []
        for p in searchpath:
            expanded.extend([os.path.join(p, "templates"), p])
        temp_vars = task_vars.copy()
        template_vars = generate_ansible_template_vars(src, fullpath=source, dest_path=item.get("path"))
        if "ansible_managed" in temp_vars:  # a value set by the inventory wins over the generated one
            template_vars.pop("ansible_managed", None)
        temp_vars.update(template_vars)
        templar = self._templar.copy_with_new_env(searchpath=expanded, available_variables=temp_vars)
        options = dict(escape_backslashes=False,
                       overrides=dict(trim_blocks=True, lstrip_blocks=False, newline_sequence="\n"))
        if not hasattr(templar, "evaluate_expression"):  # before ansible-core 2.19: keep the text, never parse it into data
            options["convert_data"] = False
        rendered = templar.template(template_data, **options)
        return "" if rendered is None else to_text(rendered)

    def _read_source(self, source):
        """The template's text; ansible-core 2.19+ reads it with its origin, older releases through the vault-aware real file."""
        if hasattr(self._loader, "get_text_file_contents"):
            return self._loader.get_text_file_contents(source)
        real = self._loader.get_real_file(source)
        try:
            with open(real, "rb") as handle:
                return to_text(handle.read(), errors="surrogate_or_strict")
        finally:
            self._loader.cleanup_tmp_file(real)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp

        files = self._task.args.get("files")
        if not isinstance(files, list):
            raise AnsibleActionFail("files must be a list of dicts")
        module_files = []
        for item in files:
            if not isinstance(item, dict) or not item.get("path"):
                raise AnsibleActionFail("each entry of files needs a path: %r" % (item,))
            item = dict(item)
            if item.get("src") is not None:
                if item.get("content") is not None:
                    raise AnsibleActionFail("%s: content and src are mutually exclusive" % item["path"])
                item["content"] = self._render(item, task_vars)
                del item["src"]
            module_files.append(item)

        module_args = dict(self._task.args)
        module_args["files"] = module_files
        result.update(self._execute_module(module_name="hospital.imaging.managed_files",
                                           module_args=module_args, task_vars=task_vars))
        self._hide_content(result)
        return result

    @staticmethod
    def _hide_content(result):
        """The content of a file never appears in the result, only in the diff when diff mode asks."""
        invocation = result.get("invocation")
        if not isinstance(invocation, dict):
            return
        args = copy.deepcopy(invocation.get("module_args") or {})
        for entry in args.get("files") or []:
            if isinstance(entry, dict) and entry.get("content") is not None:
                entry["content"] = HIDDEN
        invocation["module_args"] = args
