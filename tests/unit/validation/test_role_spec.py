"""The validation role's argument spec and defaults agree (the spec is the source of truth)."""
import os

import yaml


def test_defaults_match_the_argument_spec(project_root):
    role = os.path.join(project_root, "roles", "validation")
    with open(os.path.join(role, "defaults", "main.yml")) as handle:
        defaults = yaml.safe_load(handle)
    with open(os.path.join(role, "meta", "argument_specs.yml")) as handle:
        specs = yaml.safe_load(handle)["argument_specs"]
    options = specs["main"]["options"]
    assert set(defaults) == set(options)
    for name, value in defaults.items():
        assert options[name]["default"] == value, name
        assert options[name]["description"], name
    for entry in ("start", "report"):
        for name, option in specs[entry]["options"].items():
            assert option == options[name], (entry, name)
