# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side preflight: validates every host's inputs at once, changes nothing anywhere."""

from __future__ import annotations

import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.hospital.imaging.plugins.module_utils import orthanc_index
from ansible_collections.hospital.imaging.plugins.module_utils import preflight as checks

import yaml

try:  # ansible-core 2.19+: only strings marked as trusted are rendered as templates
    from ansible.template import trust_as_template
except ImportError:  # older ansible-core renders every string
    def trust_as_template(value):
        return value

display = Display()

COLLECTION_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES_DIR = os.path.join(COLLECTION_DIR, "roles")
# The role-to-group map, written once for the playbooks (imaging_role_groups) and read here.
ROLE_GROUPS_FILE = os.path.join(COLLECTION_DIR, "playbooks", "vars", "role_groups.yml")


def load_role_groups():
    """The collection's role-to-group map (role -> inventory groups)."""
    with open(ROLE_GROUPS_FILE, encoding="utf-8") as handle:
        return (yaml.safe_load(handle) or {})["imaging_role_groups"]


def load_role_defaults(role):
    path = os.path.join(ROLES_DIR, role, "defaults", "main.yml")
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return trusted(yaml.safe_load(handle) or {})  # the collection's own files: their templates render


def trusted(value):
    """The collection's own role defaults (read from its files) may be rendered as templates."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [trusted(item) for item in value]
    if isinstance(value, dict):
        return {key: trusted(item) for key, item in value.items()}
    return value


def without_defaults(options):
    """The spec with its defaults removed: the role's own defaults are the role's business (they may need
    facts gathered later); preflight checks only what the site supplies (inventory, vault, extra vars)."""
    clean = {}
    for name, option in options.items():
        option = {k: v for k, v in option.items() if k != "default"}
        if isinstance(option.get("options"), dict):
            option["options"] = without_defaults(option["options"])
        clean[name] = option
    return clean


def load_role_spec(role):
    path = os.path.join(ROLES_DIR, role, "meta", "argument_specs.yml")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return ((data.get("argument_specs") or {}).get("main") or {}).get("options") or {}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("required_secrets", "roles", "supported_os", "hosts"))

    @staticmethod
    def _resolve(templar, source, host, name, problems=None):
        """(found, value) of a variable rendered as the roles will see it. A value that cannot be rendered
        is a problem when `problems` is given; without it (a role default built from facts gathered later)
        it is left unchecked."""
        try:
            return True, templar.template(source[name])
        except KeyError:
            return False, None
        except AnsibleError as exc:
            if problems is not None:
                problems.append("%s: %s: cannot be resolved (%s)" % (host, name, str(exc).splitlines()[0]))
            return False, None

    def _check_data_watched(self, templar, variables, host, host_groups):
        def value(name):
            return self._resolve(templar, variables, host, name)[1]

        aide = None
        enabled = value("os_hardening_file_integrity_enabled")
        if enabled is None or boolean(enabled, strict=False):
            aide = value("os_hardening_aide_exclude_paths")
        problems = []
        for group, data_name, watch_name, shared_name, unless in checks.DATA_WATCHES:
            if group not in host_groups or (unless and boolean(value(unless), strict=False)):
                continue
            data_dir, watch_dir = value(data_name), value(watch_name)
            if data_dir is None or watch_dir is None:
                continue
            problems.extend(checks.check_data_watched(host, data_name, data_dir, watch_name, watch_dir, shared_name,
                                                      aide if isinstance(aide, list) else None))
        return problems

    # Values checked as the roles will see them: set by the site, or the role default when it resolves now.
    EFFECTIVE = tuple(sorted(set(
        [name for _group, name in checks.AE_TITLE_VARS]
        + list(checks.LIMITS) + list(checks.FORMATS)
        + [name for _group, name, _when in checks.LISTENERS]
        + [switch.lstrip("!") for _group, _name, when in checks.LISTENERS if when for switch in when.split("&")]
        + [switch for _group, switch, _cidrs, _service in checks.TLS_LISTENERS]
        + [cidrs for _group, _switch, cidrs, _service in checks.TLS_LISTENERS]
        + ["orthanc_modalities", "orthanc_dicom_check_modality_host", "orthanc_dicom_tls_enabled",
           "orthanc_dicom_plain_enabled", "orthanc_dicom_port", "orthanc_dicom_tls_port",
           "orthanc_database_mode", "orthanc_database_name", "orthanc_database_host", "imaging_databases", "imaging_redis_users",
           "imaging_modality_cidrs", "redis_admin_user", "redis_bind_addresses", "pgbouncer_client_tls_sslmode",
           "app_services_list", "disk_encryption_devices", "pki_key_type", "pki_key_size", "pki_ca_key_size",
           "validation_dicom_listeners", "orthanc_backup_enabled", "orthanc_backup_offsite_host", "imaging_environment",
           "postgresql_backup_enabled", "postgresql_backup_offsite_host"])))

    @staticmethod
    def _role_applies(name, roles, host_groups):
        """A role's variable counts on the hosts of that role's groups; imaging_* everywhere."""
        owners = [role for role in roles if name.startswith(role + "_")]
        if not owners:
            return True
        role = max(owners, key=len)
        return bool(set(roles[role]) & set(host_groups))

    def _effective(self, templar, variables, hv, resolved, host, roles, host_groups):
        values, by_site = {}, set()
        for name in self.EFFECTIVE:
            if not self._role_applies(name, roles, host_groups):
                continue
            if name in hv:
                if name in resolved:
                    values[name] = resolved[name]
                    by_site.add(name)
                continue
            found, value = self._resolve(templar, variables, host, name)
            if found:
                values[name] = value
        return values, by_site

    def _check_semantics(self, host, host_groups, values, by_site, resolved, groups=None):
        problems = []
        problems.extend(checks.check_ae_titles(host, [
            (name, values[name], name in by_site)
            for group, name in checks.AE_TITLE_VARS if group in host_groups and name in values]))
        if "imaging_dicom" in host_groups and "orthanc_modalities" in values:
            check_host = values.get("orthanc_dicom_check_modality_host", True)
            problems.extend(checks.check_modalities(
                host, "orthanc_modalities", values["orthanc_modalities"], values.get("orthanc_aet"),
                boolean(check_host, strict=False) if checks.dicom_ae.is_boolean(check_host) else True,
                values.get("orthanc_dicom_plain_enabled", True), values.get("orthanc_dicom_tls_enabled", True)))
        problems.extend(checks.check_limits(host, {k: v for k, v in values.items()
                                                   if k in checks.LIMITS or k in checks.FORMATS}))
        problems.extend(checks.check_related_limits(host, values))
        databases = values.get("imaging_databases")
        redis_users = values.get("imaging_redis_users")
        if databases is not None:
            problems.extend(checks.check_databases(host, "imaging_databases", databases))
        if redis_users is not None:
            problems.extend(checks.check_redis_users(host, "imaging_redis_users", redis_users,
                                                     values.get("redis_admin_user", "admin")))
        if "imaging_dicom" in host_groups:
            problems.extend(checks.check_orthanc_index(host, values.get("orthanc_database_mode", orthanc_index.DEFAULT_MODE),
                                                       values.get("orthanc_database_name"), databases,
                                                       values.get("orthanc_database_host")))
        if "app_services_list" in values:
            names = [d.get("name") for d in databases or [] if isinstance(d, dict)]
            users = [u.get("name") for u in redis_users or [] if isinstance(u, dict)]
            problems.extend(checks.check_app_services(host, "app_services_list", values["app_services_list"],
                                                      names, users))
        if "disk_encryption_devices" in values:
            problems.extend(checks.check_disk_devices(host, "disk_encryption_devices",
                                                      values["disk_encryption_devices"]))
        problems.extend(checks.check_tls_exposure(host, host_groups, values))
        problems.extend(checks.check_validation_agrees(host, values))
        problems.extend(checks.check_offsite_backup(host, host_groups, values, groups))
        clashes = {port for port, names in checks.site_ports(resolved).items() if len(names) > 1}
        apps = values.get("app_services_list")
        problems.extend(checks.check_listener_ports(host, host_groups, values,
                                                    apps if isinstance(apps, list) else None, clashes))
        return problems

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        required = args.get("required_secrets") or []
        roles = args.get("roles") or {}
        supported = args.get("supported_os") or ["Debian 12", "Debian 13"]
        all_hostvars = task_vars["hostvars"]
        groups = {k: list(v) for k, v in task_vars["groups"].items()}
        hosts = args.get("hosts") or task_vars.get("ansible_play_hosts_all") or sorted(set(groups.get("imaging", [])))
        specs = {}
        for role in roles:
            spec = load_role_spec(role)
            specs[role] = None if spec is None else without_defaults(spec)
        prefixes = tuple(["imaging_"] + ["%s_" % role for role in roles])
        # What the site's values may refer to: the roles' defaults (lowest precedence), this play's variables.
        base = {}
        for role in roles:
            base.update(load_role_defaults(role))
        base.update(task_vars)

        problems = checks.check_groups(groups, load_role_groups())
        for host in hosts:
            hv = all_hostvars.raw_get(host)  # untemplated: templated below with every variable in reach
            host_groups = [g for g, members in groups.items() if host in members]
            names = [n for n in hv.keys() if n.startswith(prefixes) or n.startswith("vault_")]
            variables = dict(base)
            variables.update(hv)
            templar = self._templar.copy_with_new_env(available_variables=variables)
            resolved = {}
            for name in names:
                ok, value = self._resolve(templar, hv, host, name, problems)
                if ok:
                    resolved[name] = value
            problems.extend(checks.check_network_vars(host, resolved, prefixes))
            problems.extend(checks.check_distinct_ports(host, resolved))
            problems.extend(checks.check_secrets(host, host_groups, resolved, required))
            facts = hv.get("ansible_facts") or {}
            problems.extend(checks.check_os(host, facts, supported))
            for role, role_groups in roles.items():
                spec = specs.get(role)
                if spec is None or not set(role_groups) & set(host_groups):
                    continue
                params = {k: resolved[k] for k in spec if k in resolved}
                outcome = ArgumentSpecValidator(spec).validate(params)
                for message in outcome.error_messages:
                    problems.append("%s: role %s: %s" % (host, role, message))
            problems.extend(self._check_data_watched(templar, variables, host, host_groups))
            values, by_site = self._effective(templar, variables, hv, resolved, host, roles, host_groups)
            problems.extend(self._check_semantics(host, host_groups, values, by_site, resolved, groups))

        # keep the order stable and drop repeats (group problems are not per host)
        seen, ordered = set(), []
        for problem in problems:
            if problem not in seen:
                seen.add(problem)
                ordered.append(problem)
        result.update(changed=False, problems=ordered, hosts_checked=list(hosts))
        if ordered:
            result["failed"] = True
            result["msg"] = "Preflight found %d problem(s); nothing was changed on any host:\n- %s" % (
                len(ordered), "\n- ".join(ordered))
        else:
            result["msg"] = "Preflight passed for %d host(s)" % len(hosts)
        return result
