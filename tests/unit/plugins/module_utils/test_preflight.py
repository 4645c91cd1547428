"""Unit tests of the preflight rules (pure functions)."""

from __future__ import annotations

import pathlib

import pytest
import yaml

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


MAP_FILE = pathlib.Path(__file__).resolve().parents[4] / "playbooks" / "vars" / "role_groups.yml"
ROLE_GROUPS = yaml.safe_load(MAP_FILE.read_text())["imaging_role_groups"]


def _groups(**extra):
    groups = {"all": ["a"], "imaging": ["a"], "imaging_db": ["a"], "imaging_dicom": ["a"], "imaging_web": ["a"],
              "imaging_cache": ["a"], "imaging_app": ["a"]}
    groups.update(extra)
    return groups


def test_consistent_groups_pass():
    assert pf.check_groups(_groups(), ROLE_GROUPS) == []


@pytest.mark.parametrize("extra, fragment", [
    ({"imaging_dbs": ["a"]}, "group imaging_dbs is not a known group"),
    ({"imaging_db": []}, "group imaging_db has no host"),
    ({"imaging_web": ["a", "b"]}, "b is in imaging_web but not in its parent group imaging"),
    ({"imaging_cache": []}, "group imaging_app has hosts but imaging_cache"),
])
def test_inconsistent_groups(extra, fragment):
    assert any(fragment in p for p in pf.check_groups(_groups(**extra), ROLE_GROUPS)), pf.check_groups(_groups(**extra), ROLE_GROUPS)


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


# --- DICOM, limits, entries and listeners -------------------------------------------------------------

@pytest.mark.parametrize("value, fragment", [
    ("THIS_AE_TITLE_IS_TOO_LONG", "is 25 characters long"),
    ("", "is empty"),
    ("   ", "contains only spaces"),
    ("A\\B", "contains a backslash"),
    ("A\x00B", "control character 0x00"),
    ("ÄRZTE", "outside the DICOM default character repertoire"),
    (42, "must be a string"),
])
def test_bad_ae_titles_name_variable_value_and_rule(value, fragment):
    problems = pf.check_ae_titles("pacs1", [("imaging_archive_aet", value, True)])
    assert len(problems) == 1
    assert problems[0].startswith("pacs1: imaging_archive_aet: %r " % value)
    assert fragment in problems[0] and "rule: DICOM PS3.5 AE title" in problems[0]


def test_an_ae_title_taken_from_another_variable_is_reported_once():
    values = [("imaging_archive_aet", "X" * 20, True), ("orthanc_aet", "X" * 20, False),
              ("validation_dicom_called_aet", "X" * 20, False), ("validation_dicom_calling_aet", "OK", True)]
    problems = pf.check_ae_titles("h", values)
    assert len(problems) == 1 and "imaging_archive_aet" in problems[0]
    # set by the site itself, a repeated bad value is named under its own variable too
    assert len(pf.check_ae_titles("h", [values[0], ("orthanc_aet", "X" * 20, True)])) == 2


@pytest.mark.parametrize("entries, check_host, expected", [
    ([{"name": "ct1", "aet": "CT1", "host": "ct1.example", "port": 104}], True,
     "m[0].host: 'ct1.example' is not an IP address"),
    ([{"name": "ct1", "aet": "CT1", "host": "10.0.0.1", "port": 0}], True, "m[0].port: 0 is out of range"),
    ([{"name": "ct1", "aet": "CT1", "host": "10.0.0.1", "port": "104x"}], True, "m[0].port: '104x' is not a port"),
    ([{"name": "ct1", "aet": "CT\\1", "host": "10.0.0.1", "port": 104}], True,
     "m[0].aet: 'CT\\\\1' contains a backslash"),
    ([{"name": "ct1", "aet": "CT1", "host": "10.0.0.1", "port": 104},
      {"name": "ct1", "aet": "CT2", "host": "10.0.0.2", "port": 104}], True, "m[1].name: 'ct1' is already used by m[0]"),
    ([{"name": "a", "aet": "CT1", "host": "10.0.0.1", "port": 104},
      {"name": "b", "aet": "ct1 ", "host": "10.0.0.1", "port": 105}], True,
     "m[1].aet: 'ct1' is already declared for host 10.0.0.1 by m[0]"),
    ([{"name": "a", "aet": "CT1", "host": "ct.example", "port": 104},
      {"name": "b", "aet": "CT1", "host": "ct2.example", "port": 104}], False, "m[1].aet: 'CT1' is already declared by m[0]"),
    ([{"name": "a", "aet": "PACS", "host": "10.0.0.1", "port": 104}], True, "m[0].aet: 'PACS' is the archive's own"),
    ([{"name": "a", "aet": "CT1", "port": 104}], True, "m[0].host: is required"),
    ([{"name": "a", "aet": "CT1", "host": "10.0.0.1", "port": 104, "allow_find": "perhaps"}], True,
     "m[0].allow_find: 'perhaps' is not a boolean"),
    (["CT1"], True, "m[0]: must be a mapping"),
    ("CT1", True, "m: must be a list"),
])
def test_modality_rules(entries, check_host, expected):
    problems = pf.check_modalities("h", "m", entries, "PACS", check_host)
    assert any(p.startswith("h: " + expected) for p in problems), problems


def test_same_ae_title_from_two_addresses_is_allowed_when_orthanc_checks_hosts():
    entries = [{"name": "a", "aet": "CT1", "host": "10.0.0.1", "port": 104},
               {"name": "b", "aet": "CT1", "host": "10.0.0.2", "port": 104}]
    assert pf.check_modalities("h", "m", entries, "PACS", True) == []


@pytest.mark.parametrize("name, value, ok", [
    ("orthanc_limit_nofile", 65536, True), ("orthanc_limit_nofile", -1, False), ("orthanc_limit_nofile", "65536", True),
    ("orthanc_dicom_threads", 0, False), ("postgresql_max_connections", 262144, False),
    ("auditd_num_logs", 999, True), ("auditd_num_logs", 1000, False), ("orthanc_limit_find_results", 0, True),
    ("postgresql_checkpoint_completion_target", 0.9, True), ("postgresql_checkpoint_completion_target", 1.5, False),
    ("validation_pq_min_disk_free_percent", "many", False),
    ("redis_maxmemory", "256mb", True), ("redis_maxmemory", "2GB", False), ("redis_maxmemory", "a lot", False),
    ("nginx_rest_max_body_size", "512m", True), ("nginx_proxy_read_timeout", "10 minutes", False),
])
def test_limits(name, value, ok):
    assert (pf.check_limits("h", {name: value}) == []) is ok


def test_related_limits():
    problems = pf.check_related_limits("h", {
        "pki_renew_before_days": 800, "pki_cert_validity_days": 730, "pki_key_type": "RSA", "pki_key_size": 1024,
        "postgresql_min_wal_size_mb": 8192, "postgresql_max_wal_size_mb": 4096,
        "pgbouncer_default_pool_size": 600, "pgbouncer_max_client_conn": 500})
    text = "\n".join(problems)
    assert len(problems) == 4
    for name in ("pki_renew_before_days", "pki_key_size", "postgresql_min_wal_size_mb", "pgbouncer_default_pool_size"):
        assert "h: %s:" % name in text
    assert pf.check_related_limits("h", {"pki_key_type": "ECC", "pki_key_size": 384}) == []


def test_database_entries_never_show_a_password():
    entries = [{"name": "orthanc", "login": "Orthanc", "password": "s3cret-value-xyz", "pool_mode": "sessions"},
               {"name": "orthanc", "login": "orthanc_owner", "password": ""}]
    problems = pf.check_databases("h", "imaging_databases", entries)
    text = "\n".join(problems)
    assert "imaging_databases[0].login: 'Orthanc' is not a lower-case SQL identifier" in text
    assert "imaging_databases[0].pool_mode: 'sessions' is not one of session, transaction, statement" in text
    assert "imaging_databases[1].login: 'orthanc_owner' is reserved" in text
    assert "imaging_databases[1].password: is not set" in text
    assert "imaging_databases[1].name: 'orthanc' is already used by imaging_databases[0]" in text
    assert "s3cret" not in text


@pytest.mark.parametrize("login_audit, expected", [
    ("ddl, role", None),
    ("all, -write, -read", None),
    ("ddl", "login_audit: 'ddl' (rule: a service role's DDL and role changes are always audited"),
    ("all, -role", "login_audit: 'all, -role' (rule: a service role's DDL and role changes"),
    ("ddl, role, writes", "login_audit: 'ddl, role, writes' is not a list of pgaudit classes"),
    (["ddl"], "login_audit: ['ddl'] is not a list of pgaudit classes"),
])
def test_a_service_role_keeps_ddl_and_role_auditing(login_audit, expected):
    entry = {"name": "orthanc", "login": "orthanc", "password": "Zq9-" + "x" * 20, "login_audit": login_audit}
    problems = pf.check_databases("h", "imaging_databases", [entry])
    assert (problems == []) is (expected is None), problems
    if expected:
        assert problems[0].startswith("h: imaging_databases[0]." + expected)


@pytest.mark.parametrize("mode, database_host, expected", [
    ("auto", "db1", None),
    ("auto", "h", None),
    ("socket", "h", None),
    ("direct", "db1", None),
    ("socket", "db1", "orthanc_database_mode: 'socket' but orthanc_database_host is 'db1'"),
    ("pgbouncer", "db1", "orthanc_database_mode: 'pgbouncer' is not one of auto, socket, direct"),
])
def test_orthanc_index_path(mode, database_host, expected):
    problems = pf.check_orthanc_index("h", mode, "orthanc", [{"name": "orthanc", "pool_mode": "session"}], database_host)
    assert (problems == []) is (expected is None)
    if expected:
        assert problems[0].startswith("h: " + expected)


def test_redis_users_and_app_services():
    users = [{"name": "default", "keys": ["*"], "categories": ["+@all"], "password": "x" * 20}]
    text = "\n".join(pf.check_redis_users("h", "imaging_redis_users", users))
    for fragment in (".name: 'default'", ".keys: '*'", ".categories: '+@all'", "must end with -@dangerous"):
        assert fragment in text
    apps = [{"name": "Worklist", "port": 80, "artifact": {"type": "zip", "src": "x"}, "database": "nope"},
            {"name": "viewer", "port": 8100, "artifact": {"type": "wheel", "src": "x.whl"}}]
    text = "\n".join(pf.check_app_services("h", "app_services_list", apps, ["orthanc"], []))
    for fragment in ("[0].name: 'Worklist'", "[0].port: 80", "[0].artifact:", "[0].database: 'nope'",
                     "[1].command: is not set"):
        assert fragment in text


def test_tls_stays_on_beyond_loopback():
    groups = ["imaging", "imaging_db", "imaging_cache", "imaging_web", "imaging_dicom"]
    wide = ["127.0.0.0/8", "10.0.0.0/8"]
    values = {"postgresql_tls_enabled": False, "postgresql_client_cidrs": wide,
              "redis_tls_enabled": "false", "imaging_cache_client_cidrs": ["127.0.0.1/32"],
              "pgbouncer_client_tls_sslmode": "allow", "imaging_db_client_cidrs": wide,
              "redis_plain_port": 6379, "redis_bind_addresses": ["127.0.0.1", "10.0.0.5"],
              "orthanc_dicom_plain_enabled": True, "orthanc_dicom_check_modality_host": False,
              "imaging_modality_cidrs": wide}
    text = "\n".join(pf.check_tls_exposure("h", groups, values))
    assert "postgresql_tls_enabled: false, but PostgreSQL is reachable" in text
    assert "redis_tls_enabled" not in text  # loopback only
    assert "pgbouncer_client_tls_sslmode: 'allow'" in text
    assert "redis_plain_port: 6379 is open on 127.0.0.1, 10.0.0.5" in text
    assert "orthanc_dicom_check_modality_host: false while plain DICOM is on" in text
    # a host outside the groups is not judged by them
    assert pf.check_tls_exposure("h", ["imaging"], values) == []


def test_listener_ports_across_roles():
    groups = ["imaging", "imaging_db", "imaging_dicom", "imaging_app"]
    values = {"postgresql_port": 5432, "orthanc_http_port": "5432", "orthanc_dicom_tls_enabled": True,
              "orthanc_dicom_plain_enabled": False, "orthanc_dicom_tls_port": 4243, "orthanc_dicom_port": 4243,
              "orthanc_dicom_tls_http_port": 22, "os_hardening_ssh_port": 22, "redis_tls_port": 22}
    apps = [{"name": "a", "port": 4243}]
    problems = pf.check_listener_ports("h", groups, values, apps)
    assert problems == [
        "h: app_services_list[0].port, orthanc_dicom_tls_port: the same port 4243 is opened by 2 listeners on this "
        "host (rule: every listener has a port of its own)",
        "h: orthanc_http_port, postgresql_port: the same port 5432 is opened by 2 listeners on this host (rule: "
        "every listener has a port of its own)"]
    assert pf.check_listener_ports("h", groups, values, apps, already={4243, 5432}) == []


@pytest.mark.parametrize("values, fragment", [
    ({"validation_dicom_listeners": [{"port": 4243, "tls": False}]},
     "validation_dicom_listeners[0]: port 4243 plain is not a DICOM listener the archive opens (4242 plain, 4243 TLS)"),
    ({"orthanc_dicom_tls_enabled": False, "validation_dicom_listeners": [{"port": 4242, "tls": False},
                                                                         {"port": 4243, "tls": True}]},
     "validation_dicom_listeners[1]: port 4243 TLS is not a DICOM listener the archive opens (4242 plain)"),
    ({"validation_dicom_called_aet": "OTHER"}, "validation_dicom_called_aet: 'OTHER' is not the archive's AE title"),
    ({"validation_dicom_listeners": [{"port": "4243", "tls": "yes"}], "validation_dicom_called_aet": " pacs "}, None),
])
def test_validation_probes_the_archive_it_validates(values, fragment):
    archive = {"orthanc_dicom_tls_enabled": True, "orthanc_dicom_tls_port": 4243, "orthanc_dicom_port": 4242,
               "orthanc_dicom_plain_enabled": True, "orthanc_aet": "PACS"}
    problems = pf.check_validation_agrees("h", dict(archive, **values))
    assert (problems == []) is (fragment is None), problems
    if fragment:
        assert len(problems) == 1 and fragment in problems[0]
    assert pf.check_validation_agrees("h", {k: v for k, v in values.items() if k != "validation_dicom_called_aet"}) == []


@pytest.mark.parametrize("role", pf.RECOVERY_ROLES)
def test_a_start_limit_that_can_never_be_reached_is_refused(role):
    loop = {"%s_restart_sec" % role: 10, "%s_start_limit_burst" % role: 5, "%s_start_limit_interval_sec" % role: 50}
    problems = pf.check_related_limits("h", loop)
    assert len(problems) == 1 and "h: %s_start_limit_interval_sec: 50" % role in problems[0]
    assert "rule: a crash loop must reach the start limit" in problems[0]
    assert pf.check_related_limits("h", dict(loop, **{"%s_start_limit_interval_sec" % role: 51})) == []
    assert pf.check_limits("h", {"%s_restart_sec" % role: 0}) != []
    assert pf.check_limits("h", {"%s_start_limit_burst" % role: 101}) != []


def test_the_site_wide_recovery_values_are_checked_with_the_defaults_they_meet():
    # imaging_restart_sec alone: 5 starts x 100 s never fit the default 60 s window, for every role
    problems = pf.check_related_limits("h", {"imaging_restart_sec": 100})
    assert problems == ["h: imaging_start_limit_interval_sec (default): 60 is not longer than imaging_start_limit_burst "
                        "(default) x imaging_restart_sec (5 x 100) (rule: a crash loop must reach the start limit and leave the unit failed)"]
    assert pf.check_limits("h", {"imaging_start_limit_burst": 0}) != []
    # a role's own window fixes it for that role; the site-wide values still apply to the others
    fixed = pf.check_related_limits("h", {"imaging_restart_sec": 100, "orthanc_start_limit_interval_sec": 600})
    assert len(fixed) == 1 and fixed[0].startswith("h: imaging_start_limit_interval_sec (default): 60")
    assert pf.check_related_limits("h", {"redis_restart_sec": 100}) == [
        "h: redis_start_limit_interval_sec (default): 60 is not longer than redis_start_limit_burst (default) x "
        "redis_restart_sec (5 x 100) (rule: a crash loop must reach the start limit and leave the unit failed)"]


@pytest.mark.parametrize("role", pf.RECOVERY_ROLES)
def test_preflight_checks_recovery_with_the_defaults_the_roles_use(role):
    root = pathlib.Path(pf.__file__).resolve().parents[2] / "roles" / role
    defaults = yaml.safe_load((root / "defaults" / "main.yml").read_text())
    specs = yaml.safe_load((root / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    for key, value in pf.RECOVERY_DEFAULTS.items():
        expected = "{{ imaging_%s | default(%d) }}" % (key, value)
        assert defaults["%s_%s" % (role, key)] == expected
        assert specs["%s_%s" % (role, key)]["default"] == expected


OFFSITE_GROUPS = {"imaging_dicom": ["pacs1"], "imaging_backup": ["backup1"]}


def test_production_refuses_image_backups_without_an_off_host_repository():
    values = {"imaging_environment": "production", "orthanc_backup_enabled": True, "orthanc_backup_offsite_host": ""}
    assert pf.check_offsite_backup("pacs1", ["imaging", "imaging_dicom"], values, {"imaging_dicom": ["pacs1"]}) == [
        "pacs1: orthanc_backup_offsite_host: is empty (rule: imaging_environment production keeps the image backups off "
        "the host: put a host in the imaging_backup group)"]
    # a sandbox may go without (the orthanc role records the waiver); so may a host whose image backup is off
    assert pf.check_offsite_backup("pacs1", ["imaging_dicom"], dict(values, imaging_environment="sandbox"), {}) == []
    assert pf.check_offsite_backup("pacs1", ["imaging_dicom"], dict(values, orthanc_backup_enabled="false"), {}) == []
    # only the Orthanc hosts are asked about the image backups
    assert pf.check_offsite_backup("db1", ["imaging_db"], dict(values, postgresql_backup_offsite_host="b1"),
                                   {"imaging_backup": ["b1"]}) == []


def test_production_refuses_index_backups_without_an_off_host_repository():
    values = {"imaging_environment": "production", "postgresql_backup_enabled": True, "postgresql_backup_offsite_host": ""}
    assert pf.check_offsite_backup("db1", ["imaging", "imaging_db"], values, {"imaging_db": ["db1"]}) == [
        "db1: postgresql_backup_offsite_host: is empty (rule: imaging_environment production keeps the index backups off "
        "the host: put a host in the imaging_backup group)"]
    assert pf.check_offsite_backup("db1", ["imaging_db"], dict(values, postgresql_backup_enabled=False), {}) == []
    assert pf.check_offsite_backup("db1", ["imaging_db"], dict(values, postgresql_backup_offsite_host="db2"),
                                   {"imaging_backup": ["b1"]}) == [
        "db1: postgresql_backup_offsite_host: db2 is not a host of the imaging_backup group (rule: the off-host repository "
        "is an imaging_backup host)"]
    # an all-in-one host names both problems, one per backup
    both = pf.check_offsite_backup("aio", ["imaging_db", "imaging_dicom"], dict(values, orthanc_backup_offsite_host=""), {})
    assert [p.split(":")[1].strip() for p in both] == ["orthanc_backup_offsite_host", "postgresql_backup_offsite_host"]


@pytest.mark.parametrize("host, target, rule", [
    ("pacs1", "pacs2", "is not a host of the imaging_backup group"),
    ("backup1", "backup1", "names this host itself"),
])
def test_the_off_host_repository_is_another_imaging_backup_host(host, target, rule):
    values = {"imaging_environment": "sandbox", "orthanc_backup_offsite_host": target}
    problems = pf.check_offsite_backup(host, ["imaging_dicom"], values, OFFSITE_GROUPS)
    assert len(problems) == 1 and problems[0].startswith("%s: orthanc_backup_offsite_host: " % host) and rule in problems[0]
    assert pf.check_offsite_backup("pacs1", ["imaging_dicom"], dict(values, orthanc_backup_offsite_host="backup1"),
                                   OFFSITE_GROUPS) == []


def test_a_backup_host_needs_hosts_to_back_up():
    problems = pf.check_groups({"imaging": ["db1", "web1", "b1"], "imaging_db": ["db1"], "imaging_web": ["web1"],
                                "imaging_dicom": [], "imaging_backup": ["b1"]},
                               {"orthanc": ["imaging_dicom"], "postgresql": ["imaging_db"], "nginx": ["imaging_web"],
                                "backup_target": ["imaging_backup"]})
    assert "inventory: group imaging_backup has hosts but imaging_dicom, which it needs, has none" in problems
