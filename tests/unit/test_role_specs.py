"""Every role's meta/argument_specs.yml is the source of truth: defaults/main.yml must match it."""

from __future__ import annotations

import pathlib

import pytest
import yaml

ROLES = sorted(p for p in (pathlib.Path(__file__).parents[2] / "roles").glob("*") if p.is_dir())


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_defaults_match_argument_spec(role):
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
    defaults_file = role / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else {}
    defaults = defaults or {}
    options = spec.get("options", {})
    assert sorted(defaults) == sorted(k for k, v in options.items() if "default" in v or k in defaults)
    for name, value in defaults.items():
        assert name.startswith(role.name + "_"), f"{name} lacks the role prefix"
        assert options[name].get("default") == value, name
        assert options[name].get("description"), f"{name} has no description"
