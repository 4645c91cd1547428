"""The role-to-group map (playbooks/vars/role_groups.yml) is the one source of which hosts run which role:
the plays' hosts, preflight's groups and tables, and the roles that read it agree with it."""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

from ansible_collections.hospital.imaging.plugins.filter.roles_by_group import roles_by_group
from ansible_collections.hospital.imaging.plugins.module_utils import preflight as pf

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
MAP_FILE = ROOT / "playbooks" / "vars" / "role_groups.yml"
ROLE_GROUPS = yaml.safe_load(MAP_FILE.read_text())["imaging_role_groups"]
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))
PREFIX = "hospital.imaging."


def _plays():
    for path in PLAYBOOKS:
        for play in yaml.safe_load(path.read_text()) or []:
            if "hosts" in play and play["hosts"] != "localhost":
                yield path.name, play


def _walk_tasks(tasks):
    for task in tasks or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _walk_tasks(task.get(key))


def _play_roles(play):
    """The collection roles a play runs (roles:, include_role, import_role), without the collection prefix."""
    names = [r["role"] if isinstance(r, dict) else r for r in play.get("roles") or []]
    for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
        for task in _walk_tasks(play.get(section)):
            for key in ("ansible.builtin.include_role", "ansible.builtin.import_role"):
                if key in task:
                    names.append(task[key]["name"])
    return {n[len(PREFIX):] if n.startswith(PREFIX) else n for n in names}


def _pattern_groups(pattern):
    return set(re.split(r"[:,]", pattern))


def test_map_names_existing_roles_and_known_groups():
    roles = {p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir()}
    assert roles <= set(ROLE_GROUPS), "roles missing from the map: %s" % sorted(roles - set(ROLE_GROUPS))
    assert set(ROLE_GROUPS) - roles == {"pgbackrest"}, "the map names roles that do not exist"
    for role, groups in ROLE_GROUPS.items():
        assert groups and all(g == pf.PARENT_GROUP or g.startswith(pf.PARENT_GROUP + "_") for g in groups), role


@pytest.mark.parametrize("name, play", list(_plays()), ids=lambda v: v if isinstance(v, str) else v.get("name"))
def test_play_hosts_agree_with_the_map(name, play):
    """A play's hosts are exactly the groups of the roles it runs; a play without a role (preflight) runs on
    the parent group, which holds every host."""
    assert "vars/role_groups.yml" in (play.get("vars_files") or []), "%s: %s does not load the map" % (
        name, play["name"])
    roles = _play_roles(play)
    unknown = roles - set(ROLE_GROUPS)
    assert not unknown, "%s: %s runs roles the map does not name: %s" % (name, play["name"], sorted(unknown))
    wanted = set().union(*(ROLE_GROUPS[r] for r in roles)) if roles else {pf.PARENT_GROUP}
    assert _pattern_groups(play["hosts"]) == wanted, "%s: %s: hosts %r, the map says %s" % (
        name, play["name"], play["hosts"], ":".join(sorted(wanted)))


def test_preflight_play_passes_the_map():
    play = yaml.safe_load((ROOT / "playbooks" / "preflight.yml").read_text())[0]
    task = play["tasks"][0]["hospital.imaging.preflight"]
    assert task["roles"] == "{{ imaging_role_groups }}"


def test_preflight_knows_the_groups_of_the_map():
    known = pf.known_groups(ROLE_GROUPS)
    assert known[0] == pf.PARENT_GROUP
    assert set(known) == set().union(*ROLE_GROUPS.values())
    assert set(pf.REQUIRED_GROUPS) <= set(known)
    for group, needs in pf.GROUP_NEEDS.items():
        assert {group, *needs} <= set(known)


def _owner(name):
    owners = [role for role in ROLE_GROUPS if name.startswith(role + "_")]
    return max(owners, key=len) if owners else None


def _tables():
    for group, name, *_rest in pf.DATA_WATCHES:
        yield group, name
    yield from pf.AE_TITLE_VARS
    for group, switch, _cidrs, _service in pf.TLS_LISTENERS:
        yield group, switch
    for group, name, _when in pf.LISTENERS:
        yield group, name


@pytest.mark.parametrize("group, name", list(_tables()))
def test_preflight_tables_name_a_group_of_the_owning_role(group, name):
    """Preflight checks a role's variable on hosts of that role's groups (validation probes from every host, so
    its variables may be checked on any group)."""
    role = _owner(name)
    assert group in pf.known_groups(ROLE_GROUPS)
    if role is None or role == "validation":
        return
    assert group in ROLE_GROUPS[role], "%s is checked on %s, the map puts %s on %s" % (
        name, group, role, ", ".join(ROLE_GROUPS[role]))


def test_roles_by_group_turns_the_map_around():
    assert roles_by_group(ROLE_GROUPS, exclude=["pgbackrest", "validation"]) == {
        "imaging": ["os_hardening", "auditd", "firewall", "disk_encryption", "pki"],
        "imaging_db": ["postgresql", "pgbouncer"],
        "imaging_cache": ["redis"],
        "imaging_dicom": ["orthanc"],
        "imaging_web": ["nginx"],
        "imaging_app": ["app_services"],
        "imaging_backup": ["backup_target"],
    }
    assert roles_by_group({"a": ["g1", "g2"], "b": ["g2"]}) == {"g1": ["a"], "g2": ["a", "b"]}


def test_roles_by_group_refuses_a_bad_map():
    from ansible.errors import AnsibleFilterError
    with pytest.raises(AnsibleFilterError):
        roles_by_group(["not", "a", "map"])
    with pytest.raises(AnsibleFilterError):
        roles_by_group({"postgresql": "imaging_db"})
