"""Every role's argument spec says all it can: types, list elements, choices its defaults and examples meet.

Ansible validates a role's spec when the role runs, and preflight validates the site's values against the
same specs (without their defaults) before any host changes. These tests keep the specs complete and keep
the literal defaults and the inventories shipped with the collection valid against them.
"""

from __future__ import annotations

import pathlib

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.hospital.imaging.plugins.action.preflight import without_defaults

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file())
TYPES = {"str", "int", "bool", "float", "path", "list", "dict", "raw"}
# Variable files a site or a test scenario supplies, each with the roles it feeds.
# A site's vault (vault.yml, ansible-vault encrypted, never in the repository) is not a shipped file.
VARIABLE_FILES = sorted(p for p in (
    list((ROOT / "inventories").glob("*/group_vars/all/*.yml"))
    + list((ROOT / "inventories").glob("*/group_vars/all.yml"))
    + list((ROOT / "molecule").glob("*/inventory/group_vars/*.yml"))
    + list((ROOT / "molecule").glob("*/inventory/host_vars/*.yml"))
    + list((ROOT / "molecule").glob("*/host_vars/*.yml"))
) if p.name != "vault.yml")
INVENTORY_FILES = sorted(list((ROOT / "inventories").glob("*/hosts.yml")) + list((ROOT / "molecule").glob("*/inventory/*.yml")))


def spec_of(role):
    data = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    return data["argument_specs"]["main"]["options"]


def walk(options, path=""):
    """(dotted name, option) of every option, sub-options included."""
    for name, option in options.items():
        yield path + name, option
        if isinstance(option.get("options"), dict):
            yield from walk(option["options"], path + name + ".")


def templated(value):
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, list):
        return any(templated(v) for v in value)
    if isinstance(value, dict):
        return any(templated(v) for v in value.values())
    return False


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_every_option_has_a_known_type_and_every_list_its_elements(role):
    problems = []
    for name, option in walk(spec_of(role)):
        kind = option.get("type")
        if kind not in TYPES:
            problems.append("%s: type %r" % (name, kind))
        if kind == "list" and option.get("elements") not in TYPES:
            problems.append("%s: a list without elements" % name)
        if "options" in option and not (kind == "dict" or (kind == "list" and option.get("elements") == "dict")):
            problems.append("%s: sub-options on a %s" % (name, kind))
        if option.get("choices") is not None and not isinstance(option["choices"], list):
            problems.append("%s: choices is not a list" % name)
    assert not problems, "%s:\n  " % role.name + "\n  ".join(problems)


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_sub_options_carry_no_default(role):
    """A sub-option's default would be applied nowhere (role validation does not set variables): the role's
    tasks default it, and the description says to what."""
    nested = [name for name, option in walk(spec_of(role)) if "." in name and "default" in option]
    assert not nested, nested


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_literal_defaults_meet_the_spec(role):
    """Defaults without a template are checked here; templated ones are checked when the role runs."""
    options = spec_of(role)
    params = {name: option["default"] for name, option in options.items()
              if "default" in option and not templated(option["default"])}
    outcome = ArgumentSpecValidator(without_defaults(options)).validate(params)
    assert not outcome.error_messages, outcome.error_messages


def inventory_variables(group):
    """Every variable mapping of a YAML inventory group: its vars, its hosts' and its children's."""
    group = group or {}
    yield group.get("vars") or {}
    for host_vars in (group.get("hosts") or {}).values():
        yield host_vars or {}
    for child in (group.get("children") or {}).values():
        yield from inventory_variables(child)


def spec_problems(values):
    problems = []
    for role in ROLES:
        options = without_defaults(spec_of(role))
        params = {k: v for k, v in values.items()
                  if k in options and not (isinstance(v, str) and templated(v))}
        if not params:
            continue
        outcome = ArgumentSpecValidator(options).validate(params)
        problems.extend("%s: %s" % (role.name, message) for message in outcome.error_messages)
    return problems


@pytest.mark.parametrize("path", VARIABLE_FILES, ids=[str(p.relative_to(ROOT)) for p in VARIABLE_FILES])
def test_shipped_variable_files_meet_the_specs(path):
    """The example inventories' and the scenarios' variables pass every role's spec, as preflight checks them.
    A value that is a template as a whole is rendered at run time and is left to that check."""
    assert not spec_problems(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


@pytest.mark.parametrize("path", INVENTORY_FILES, ids=[str(p.relative_to(ROOT)) for p in INVENTORY_FILES])
def test_shipped_inventory_host_and_group_values_meet_the_specs(path):
    inventory = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    problems = []
    for group in inventory.values():
        for values in inventory_variables(group):
            problems.extend(spec_problems(values))
    assert not problems, problems


def case(spec_role, name, value):
    return pytest.param(spec_role, name, value, id="%s-%s" % (spec_role, name))


REFUSED = [
    case("orthanc", "orthanc_modalities", [{"name": "ct1", "aet": "CT1", "host": "10.40.0.5"}]),
    case("orthanc", "orthanc_modalities", [{"name": "ct1", "aet": "CT1", "host": "10.40.0.5", "port": 104,
                                            "allow_moves": True}]),
    case("orthanc", "orthanc_users", [{"name": "viewer"}]),
    case("orthanc", "orthanc_storage_access_on_find", "Sometimes"),
    case("postgresql", "postgresql_databases", [{"name": "ris", "login": "ris", "password": "x" * 32,
                                                 "pool_mode": "sessions"}]),
    case("pgbouncer", "pgbouncer_databases", [{"login": "ris", "pool_mode": "session"}]),
    case("redis", "redis_users", [{"name": "ris", "password": "x" * 32, "keys": ["ris:*"]}]),
    case("redis", "redis_maxmemory_policy", "evict-everything"),
    case("app_services", "app_services_list", [{"name": "ris", "port": 8100, "artifact": {"type": "jar", "src": "a"}}]),
    case("app_services", "app_services_list", [{"name": "ris", "artifact": {"type": "deb", "src": "a.deb"}}]),
    case("auditd", "auditd_disk_full_action", "panic"),
    case("auditd", "auditd_flush", "sometimes"),
    case("firewall", "firewall_logging", "loud"),
    case("firewall", "firewall_extra_rules", [{"port": 2379, "proto": "sctp", "sources": ["10.1.0.0/24"]}]),
    case("disk_encryption", "disk_encryption_devices", [{"name": "data", "device": "/dev/sdb"}]),
    case("disk_encryption", "disk_encryption_filesystem", "ntfs"),
    case("pki", "pki_ecc_curve", "sect163k1"),
    case("validation", "validation_waivers", [{"id": "w1", "requirement": "OQ-DICOM-004"}]),
    case("validation", "validation_credentials", {"dicomweb": {"username": "u", "password": "p", "token": "t"}}),
]


@pytest.mark.parametrize("role_name,name,value", REFUSED)
def test_bad_site_values_are_refused(role_name, name, value):
    options = without_defaults(spec_of(ROOT / "roles" / role_name))
    outcome = ArgumentSpecValidator(options).validate({name: value})
    assert outcome.error_messages, "%s=%r was accepted" % (name, value)
    assert any(name in message or "found in" in message or "must be one of" in message
               for message in outcome.error_messages), outcome.error_messages
