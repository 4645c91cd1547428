"""The input_problems filter gives a role the rules preflight applies, with the same words."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.hospital.imaging.plugins.filter.input_problems import input_problems
from ansible_collections.hospital.imaging.plugins.module_utils import preflight


GOOD_DATABASES = [{"name": "orthanc", "login": "orthanc", "password": "p" * 20, "pool_mode": "session"}]


def test_databases_rule_is_preflight_rule():
    entries = [{"name": "orthanc", "login": "pgbouncer_auth", "password": "Zq9-tiny"}]
    problems = input_problems(entries, "databases", host="db1", name="postgresql_databases",
                              reserved=["postgres", "pgbouncer_auth"])
    assert problems == preflight.check_databases("db1", "postgresql_databases", entries, ("postgres", "pgbouncer_auth"))
    assert "db1: postgresql_databases[0].login: 'pgbouncer_auth' is reserved" in problems[0]
    assert "db1: postgresql_databases[0].password: is shorter than 16 characters" in problems[1]
    assert "Zq9-tiny" not in "\n".join(problems)
    assert input_problems(GOOD_DATABASES, "databases", host="db1") == []


@pytest.mark.parametrize("mode, database, database_host, expected", [
    ("auto", "orthanc", "db1", None),
    ("socket", "orthanc", "pacs1", None),
    ("socket", "orthanc", "db1", "orthanc_database_mode: 'socket' but orthanc_database_host is 'db1'"),
    ("direct", "missing", "db1", "orthanc_database_name: 'missing' is not a database of imaging_databases"),
])
def test_orthanc_index(mode, database, database_host, expected):
    problems = input_problems(GOOD_DATABASES[:1], "orthanc_index", host="pacs1", mode=mode, database_name=database,
                              database_host=database_host)
    assert (problems == []) is (expected is None)
    if expected:
        assert problems[0].startswith("pacs1: " + expected)


def test_redis_app_and_disk_rules():
    users = [{"name": "worklist", "password": "p" * 20, "keys": ["worklist:*"], "categories": ["+@read", "-@dangerous"]}]
    assert input_problems(users, "redis_users", host="c1", admin_user="admin") == []
    assert "redis_users[0].name: 'admin'" in input_problems([dict(users[0], name="admin")], "redis_users", host="c1",
                                                            name="redis_users")[0]
    apps = [{"name": "worklist", "port": 8100, "artifact": {"type": "executable", "src": "app"}, "database": "orthanc"}]
    assert input_problems(apps, "app_services", database_names=["orthanc"]) == []
    assert "app_services_list[0].database: 'orthanc'" in input_problems(apps, "app_services")[0]
    devices = [{"name": "data", "device": "/dev/sdb", "mount_point": "relative"}]
    assert "disk_encryption_devices[0].mount_point: 'relative'" in input_problems(devices, "disk_devices")[0]


def test_unknown_rule():
    with pytest.raises(AnsibleFilterError):
        input_problems([], "nonsense")
