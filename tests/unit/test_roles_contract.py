"""Every role keeps its inputs in one place: argument_specs, defaults and README agree."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir()) if (ROOT / "roles").is_dir() else []


def load(path):
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_role_has_argument_specs(role):
    spec = load(role / "meta" / "argument_specs.yml")
    assert spec and spec["argument_specs"]["main"].get("options") is not None, "%s: no meta/argument_specs.yml" % role.name
    for name, opt in spec["argument_specs"]["main"]["options"].items():
        assert name.startswith(role.name + "_"), "%s: %s lacks the role prefix" % (role.name, name)
        assert opt.get("description"), "%s: %s has no description" % (role.name, name)


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_defaults_match_argument_specs(role):
    spec = load(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = load(role / "defaults" / "main.yml") or {}
    problems = []
    for name, value in defaults.items():
        if name not in spec:
            problems.append("%s is in defaults/main.yml but not in the spec" % name)
        elif "default" not in spec[name]:
            problems.append("%s has a default in defaults/main.yml but none in the spec" % name)
        elif spec[name]["default"] != value:
            problems.append("%s: defaults/main.yml says %r, the spec says %r" % (name, value, spec[name]["default"]))
    for name, opt in spec.items():
        if "default" in opt and name not in defaults:
            problems.append("%s has a default in the spec but not in defaults/main.yml" % name)
    assert not problems, "%s:\n  " % role.name + "\n  ".join(problems)


def test_role_readmes_are_generated_from_the_specs():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "role-docs"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _yaml(path):
    return yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


def test_the_backup_host_and_the_database_hosts_agree_on_pgbackrest():
    """backup_target writes the database clusters' stanzas without the postgresql role's variables: its copy of
    Debian's PostgreSQL versions and the postgresql role's fallback for repo2-path must be the other role's."""
    backup_vars = _yaml("roles/backup_target/vars/main.yml")
    postgresql_vars = _yaml("roles/postgresql/vars/main.yml")
    assert backup_vars["__backup_target_postgresql_versions"] == postgresql_vars["__postgresql_versions_by_debian"]
    repo_path = _yaml("roles/backup_target/defaults/main.yml")["backup_target_pgbackrest_repo_path"]
    assert "default('%s')" % repo_path in postgresql_vars["__postgresql_backup_offsite_repo_path"]
    # the unit names validation starts and the role installs
    assert "imaging-pgbackrest-{{ validation_pgbackrest_stanza }}-diff.service" in (
        ROOT / "roles/validation/tasks/oq_backup.yml").read_text(encoding="utf-8")
    assert 'unit: "imaging-pgbackrest-{{ item.0.stanza }}-{{ item.1 }}.service"' in (
        ROOT / "roles/backup_target/tasks/pgbackrest.yml").read_text(encoding="utf-8")
