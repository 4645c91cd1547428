"""Unit tests of the preflight rules (pure functions)."""

from __future__ import annotations

import pytest

from ansible_collections.hospital.imaging.plugins.module_utils import preflight as pf


@pytest.mark.parametrize("value", ["10.0.0.0/8", "192.168.10.0/24", "127.0.0.1/32", "fd00::/8"])
def test_valid_cidrs(value):
    assert pf.check_cidr("h", "imaging_x_cidrs", value) == []


@pytest.mark.parametrize("value, fragment", [
    ("10.0.0.0/33", "not a valid CIDR"),
    ("10.0.0.1/24", "has host bits set"),
    ("300.1.1.0/24", "not a valid CIDR"),
    ("clinic-vlan", "not a valid CIDR"),
    (42, "not a CIDR string"),
])
def test_invalid_cidrs_name_the_variable(value, fragment):
    problems = pf.check_cidr("pacs1", "imaging_modality_cidrs", value)
    assert len(problems) == 1
    assert problems[0].startswith("pacs1: imaging_modality_cidrs:")
    assert fragment in problems[0]


@pytest.mark.parametrize("value, ok", [
    (1, True), (65535, True), ("4242", True), (0, False), (65536, False), (-1, False), ("http", False), (True, False),
])
def test_ports(value, ok):
    assert (pf.check_port("h", "imaging_dicom_port", value) == []) is ok


def test_network_vars_only_look_at_collection_prefixes():
    hv = {"imaging_dicom_port": 70000, "ansible_port": 99999, "orthanc_http_port": 0, "imaging_x_cidrs": ["1.2.3.4/40"],
          "imaging_y_cidrs": "10.0.0.0/8"}
    problems = pf.check_network_vars("h", hv, ("imaging_", "orthanc_"))
    text = "\n".join(problems)
    assert "imaging_dicom_port" in text and "orthanc_http_port" in text and "imaging_x_cidrs" in text
    assert "ansible_port" not in text
    assert "imaging_y_cidrs: must be a list" in text
    assert len(problems) == 4


def test_duplicate_ports_are_named_together():
    ports = {"imaging_dicom_port": 4242, "imaging_dicom_tls_port": "4242", "imaging_https_port": 443}
    problems = pf.check_distinct_ports("h", ports)
    assert problems == ["h: imaging_dicom_port, imaging_dicom_tls_port: the same port 4242 is used more than once "
                        "(rule: listener ports are distinct)"]


def _groups(**extra):
    groups = {"all": ["a"], "imaging": ["a"], "imaging_db": ["a"], "imaging_dicom": ["a"], "imaging_web": ["a"],
              "imaging_cache": ["a"], "imaging_app": ["a"]}
    groups.update(extra)
    return groups


def test_consistent_groups_pass():
    assert pf.check_groups(_groups()) == []


@pytest.mark.parametrize("extra, fragment", [
    ({"imaging_dbs": ["a"]}, "group imaging_dbs is not a known group"),
    ({"imaging_db": []}, "group imaging_db has no host"),
    ({"imaging_web": ["a", "b"]}, "b is in imaging_web but not in its parent group imaging"),
    ({"imaging_cache": []}, "group imaging_app has hosts but imaging_cache"),
])
def test_inconsistent_groups(extra, fragment):
    assert any(fragment in p for p in pf.check_groups(_groups(**extra))), pf.check_groups(_groups(**extra))


REQUIRED = [{"name": "vault_db_password", "groups": ["imaging_db"], "min_length": 16},
            {"name": "vault_web_password", "groups": ["imaging_web"], "min_length": 16}]


@pytest.mark.parametrize("value, fragment", [
    (None, "is not set"),
    ("CHANGE_ME", "is a placeholder"),
    ("changeme-please-now", "is a placeholder"),
    ("<db password>", "is a placeholder"),
    ("password1", "is a placeholder"),
    ("short-but-real", "shorter than 16"),
    (12345678901234567, "must be a string"),
])
def test_bad_secrets(value, fragment):
    hv = {} if value is None else {"vault_db_password": value}
    problems = pf.check_secrets("db1", ["imaging", "imaging_db"], hv, REQUIRED)
    assert len(problems) == 1 and problems[0].startswith("db1: vault_db_password:") and fragment in problems[0]


def test_secrets_only_required_for_the_hosts_groups():
    hv = {"vault_db_password": "V3ry-l0ng-r4ndom-secret"}
    assert pf.check_secrets("db1", ["imaging", "imaging_db"], hv, REQUIRED) == []
    assert "vault_web_password" in pf.check_secrets("web1", ["imaging", "imaging_web"], hv, REQUIRED)[0]


@pytest.mark.parametrize("facts, ok", [
    ({"distribution": "Debian", "distribution_major_version": "12"}, True),
    ({"distribution": "Debian", "distribution_major_version": "13"}, True),
    ({"distribution": "Debian", "distribution_major_version": "11"}, False),
    ({"distribution": "Ubuntu", "distribution_major_version": "24"}, False),
])
def test_os(facts, ok):
    assert (pf.check_os("h", facts, ["Debian 12", "Debian 13"]) == []) is ok


WATCH_ARGS = ("postgresql_data_directory", "auditd_postgresql_data_dir", "imaging_postgresql_data_dir")


@pytest.mark.parametrize("data_dir, watch_dir", [
    ("/var/lib/postgresql/15/main", "/var/lib/postgresql"),
    ("/var/lib/postgresql", "/var/lib/postgresql/"),
    ("/srv/phi/postgresql/15/main", "/srv/phi"),
])
def test_data_directory_under_its_watch_passes(data_dir, watch_dir):
    assert pf.check_data_watched("db1", WATCH_ARGS[0], data_dir, WATCH_ARGS[1], watch_dir, WATCH_ARGS[2],
                                 ["/var/lib/postgresql", "/srv/phi"]) == []


def test_data_directory_moved_without_its_watch_is_named_with_the_fix():
    problems = pf.check_data_watched("db1", WATCH_ARGS[0], "/srv/phi/postgresql/15/main", WATCH_ARGS[1],
                                     "/var/lib/postgresql", WATCH_ARGS[2], ["/var/lib/postgresql"])
    assert problems == [
        "db1: postgresql_data_directory: /srv/phi/postgresql/15/main is outside auditd_postgresql_data_dir "
        "(/var/lib/postgresql), the directory auditd watches for it (rule: a PHI data directory lies under its "
        "audit watch; set imaging_postgresql_data_dir to a directory that holds it)",
        "db1: postgresql_data_directory: /srv/phi/postgresql/15/main is under none of os_hardening_aide_exclude_paths "
        "(/var/lib/postgresql) (rule: AIDE leaves PHI data directories out of its baseline; set "
        "imaging_postgresql_data_dir to a directory that holds it)",
    ]


def test_a_sibling_with_a_common_prefix_is_not_inside():
    problems = pf.check_data_watched("db1", WATCH_ARGS[0], "/var/lib/postgresql-old", WATCH_ARGS[1],
                                     "/var/lib/postgresql", WATCH_ARGS[2])
    assert len(problems) == 1 and "is outside auditd_postgresql_data_dir" in problems[0]


def test_relative_data_directory_is_refused():
    problems = pf.check_data_watched("db1", WATCH_ARGS[0], "data/pg", WATCH_ARGS[1], "/var/lib/postgresql",
                                     WATCH_ARGS[2])
    assert problems == ["db1: postgresql_data_directory: 'data/pg' is not an absolute path "
                        "(rule: data directories are absolute paths)"]
