"""The data tier roles' argument specs and defaults agree, and every public variable has the role prefix."""

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "roles"


@pytest.mark.parametrize("role", ["postgresql", "pgbouncer", "redis"])
def test_spec_matches_defaults(role):
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
    spec = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    assert set(options) == set(defaults)
    for name, value in defaults.items():
        assert name.startswith(role + "_"), name
        assert options[name]["default"] == value, name
        assert options[name].get("description"), name


@pytest.mark.parametrize("role", ["postgresql", "pgbouncer", "redis"])
def test_every_concern_is_switched_and_tagged(role):
    tasks = yaml.safe_load((ROLES / role / "tasks" / "main.yml").read_text())
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
    for task in tasks:
        include = task["ansible.builtin.include_tasks"]["file"]
        concern = include.removesuffix(".yml")
        assert task["when"] == f"{role}_{concern}_enabled | bool"
        assert f"{role}_{concern}" in task["tags"]
        assert defaults[f"{role}_{concern}_enabled"] is True
        assert (ROLES / role / "tasks" / include).is_file()
