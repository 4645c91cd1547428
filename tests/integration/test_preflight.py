"""Preflight refuses bad input with one message naming every variable, and touches no host.

Runs playbooks/site.yml against a real systemd test host (a container from scripts/testhosts)
and compares the container's filesystem changes (`docker diff`) before and after.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import time
import uuid

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)


@pytest.fixture(scope="module")
def test_host():
    out = run([os.path.join(ROOT, "scripts", "testhosts"), "bookworm"])
    assert out.returncode == 0, out.stderr
    image = out.stdout.split()[1]
    name = "preflight-test-" + uuid.uuid4().hex[:8]
    started = run(["docker", "run", "-d", "--name", name, "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
                   "--security-opt", "seccomp=unconfined", "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                   "--tmpfs", "/run", "--tmpfs", "/run/lock", "--stop-signal", "SIGRTMIN+3", "-e", "container=docker",
                   image, "/lib/systemd/systemd"])
    assert started.returncode == 0, started.stderr
    for _attempt in range(30):
        state = run(["docker", "exec", name, "systemctl", "is-system-running", "--wait"]).stdout.strip()
        if state in ("running", "degraded"):
            break
    try:
        yield name
    finally:
        run(["docker", "rm", "-f", name])


# What systemd itself writes while the host runs (journal, private tmp of its services).
SYSTEMD_CHURN = ("/var/log/journal", "/systemd-private-", "/var/lib/systemd/")


def filesystem_changes(container):
    """The container's changes against its image, without systemd's own runtime churn."""
    lines = run(["docker", "diff", container]).stdout.splitlines()
    return sorted(line for line in lines if not any(part in line for part in SYSTEMD_CHURN))


def host_snapshot(container):
    """SHA-256 of every file under /etc and the installed package list, to prove a run changed nothing."""
    out = run(["docker", "exec", container, "sh", "-c",
               "find /etc -xdev -type f -print0 | sort -z | xargs -0 sha256sum; "
               "dpkg-query -W -f '${Package} ${Version} ${Status}\\n'"])
    assert out.returncode == 0 and out.stdout, out.stderr
    return out.stdout


def make_inventory(tmp_path, drop_secret):
    """A copy of the sandbox inventory with a plain-text vault holding every secret but one."""
    inv = tmp_path / "inventory"
    shutil.copytree(os.path.join(ROOT, "inventories", "sandbox"), inv,
                    ignore=shutil.ignore_patterns("vault.yml", ".vault-pass"))
    with open(os.path.join(ROOT, "playbooks", "vars", "secrets.yml"), encoding="utf-8") as fh:
        required = yaml.safe_load(fh)["imaging_required_secrets"]
    assert required, "playbooks/vars/secrets.yml lists no secret"
    vault = {e["name"]: "Gx7-" + uuid.uuid4().hex + uuid.uuid4().hex for e in required}
    dropped = None
    if drop_secret:
        dropped = required[0]["name"]
        del vault[dropped]
    (inv / "group_vars" / "all" / "vault.yml").write_text(yaml.safe_dump(vault), encoding="utf-8")
    return inv, dropped


def playbook(inv, container, playbook_name, *extra):
    env = dict(os.environ, IMAGING_SANDBOX_CONTAINER=container, ANSIBLE_REMOTE_TMP="/run/ansible-tmp",
               ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               PATH=VENV_BIN + os.pathsep + os.environ["PATH"])
    return run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(inv),
                os.path.join(ROOT, "playbooks", playbook_name)] + list(extra), env=env, cwd=ROOT)


def test_good_input_passes_preflight(tmp_path, test_host):
    inv = make_inventory(tmp_path, drop_secret=False)[0]
    result = playbook(inv, test_host, "preflight.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed=0" in result.stdout and "Validate every input before any host changes" in result.stdout


def test_bad_input_is_refused_before_any_change(tmp_path, test_host):
    inv, dropped = make_inventory(tmp_path, drop_secret=True)
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump({
        "imaging_modality_cidrs": ["10.20.0.0/16", "10.0.0.0/33"],   # invalid CIDR
        "imaging_dicom_port": 70000,                                 # out of range
        "imaging_https_port": 4243,                                  # same as imaging_dicom_tls_port
        "postgresql_data_directory": "/srv/phi/postgresql/15/main",   # moved without its audit watch
    }), encoding="utf-8")
    before = filesystem_changes(test_host)
    result = playbook(inv, test_host, "site.yml", "-e", "@" + str(bad))
    after = filesystem_changes(test_host)
    out = result.stdout
    assert result.returncode != 0
    # one failed task, whose one message names every variable and rule
    assert out.count("fatal: [") == 1, out
    found = re.search(r"Preflight found (\d+) problem\(s\)", out)
    assert found and int(found.group(1)) >= 4, out
    # every variable that refers to the missing secret is named too
    assert "cannot be resolved ('%s' is undefined)" % dropped in out
    assert "imaging_modality_cidrs: '10.0.0.0/33' is not a valid CIDR" in out
    assert "imaging_dicom_port: 70000 is out of range (rule: integer 1-65535)" in out
    assert "imaging_dicom_tls_port, imaging_https_port: the same port 4243 is used more than once" in out
    assert "%s: is not set" % dropped in out
    assert ("postgresql_data_directory: /srv/phi/postgresql/15/main is outside auditd_postgresql_data_dir "
            "(/var/lib/postgresql), the directory auditd watches for it") in out
    assert "set imaging_postgresql_data_dir to a directory that holds it" in out
    # nothing after preflight ran, and the host's filesystem is exactly as before
    assert "PLAY [Harden every host]" not in out
    assert before == after, "the host changed:\n" + "\n".join(sorted(set(after) - set(before)))


MODALITY = {"name": "ct1", "aet": "CT1", "host": "10.20.1.11", "port": 104}


def modalities(*changes):
    """A list of modality entries: MODALITY with each change applied (a dict per entry)."""
    return [dict(MODALITY, **change) for change in changes]


# One fault per entry: (id, extra variables, fragments the one preflight message must contain). Every
# category of input rule and every role is here; the variable and its path inside a list are named.
CATALOGUE = [
    # AE titles (DICOM PS3.5)
    ("ae-too-long", {"imaging_archive_aet": "THIS_AE_TITLE_IS_TOO_LONG"},
     ["imaging_archive_aet: 'THIS_AE_TITLE_IS_TOO_LONG' is 25 characters long", "rule: DICOM PS3.5 AE title"]),
    ("ae-empty", {"imaging_archive_aet": ""}, ["imaging_archive_aet: '' is empty"]),
    ("ae-backslash", {"orthanc_aet": "PACS\\MAIN"}, ["orthanc_aet: 'PACS\\\\MAIN' contains a backslash"]),
    ("ae-control-character", {"validation_dicom_calling_aet": "VALID\tATION"},
     ["validation_dicom_calling_aet: 'VALID\\tATION' contains the control character 0x09"]),
    ("ae-only-spaces", {"validation_dicom_unknown_aet": "    "},
     ["validation_dicom_unknown_aet: '    ' contains only spaces"]),
    ("ae-not-ascii", {"validation_pq_calling_aet": "PRÜFUNG"},
     ["validation_pq_calling_aet: 'PRÜFUNG' contains 'Ü', which is outside the DICOM default character repertoire"]),
    # modality entries
    ("modality-host-name", {"orthanc_modalities": modalities({"host": "ct1.radiology.example"})},
     ["orthanc_modalities[0].host: 'ct1.radiology.example' is not an IP address", "DicomCheckModalityHost"]),
    ("modality-port-zero", {"orthanc_modalities": modalities({"port": 0})},
     ["orthanc_modalities[0].port: 0 is out of range (rule: integer 1-65535)"]),
    ("modality-port-too-high", {"orthanc_modalities": modalities({}, {"name": "mr1", "aet": "MR1", "port": 70000})},
     ["orthanc_modalities[1].port: 70000 is out of range"]),
    ("modality-name-repeated", {"orthanc_modalities": modalities({}, {"aet": "CT2", "host": "10.20.1.12"})},
     ["orthanc_modalities[1].name: 'ct1' is already used by orthanc_modalities[0]"]),
    ("modality-aet-host-repeated", {"orthanc_modalities": modalities({}, {"name": "ct1b", "host": " 10.20.1.11"})},
     ["orthanc_modalities[1].aet: 'CT1' is already declared for host 10.20.1.11 by orthanc_modalities[0]"]),
    ("modality-aet-invalid", {"orthanc_modalities": modalities({"aet": "CT_ROOM_NUMBER_ONE"})},
     ["orthanc_modalities[0].aet: 'CT_ROOM_NUMBER_ONE' is 18 characters long"]),
    ("modality-aet-is-archive", {"orthanc_modalities": modalities({"aet": "sandboxpacs"})},
     ["orthanc_modalities[0].aet: 'sandboxpacs' is the archive's own AE title"]),
    ("modality-host-missing", {"orthanc_modalities": [{"name": "ct1", "aet": "CT1", "port": 104}]},
     ["orthanc_modalities[0].host: is required when state is present"]),
    ("modality-unknown-key", {"orthanc_modalities": modalities({"allow_sotre": True})},
     ["orthanc_modalities[0].allow_sotre: True is not a modality key"]),
    ("modality-not-boolean", {"orthanc_modalities": modalities({"allow_store": "sometimes"})},
     ["orthanc_modalities[0].allow_store: 'sometimes' is not a boolean"]),
    # numeric limits and sizes, one per role
    ("orthanc-nofile-negative", {"orthanc_limit_nofile": -1},
     ["orthanc_limit_nofile: -1 is out of range (rule: 1024-1048576"]),
    ("orthanc-threads-zero", {"orthanc_dicom_threads": 0}, ["orthanc_dicom_threads: 0 is out of range"]),
    ("postgresql-connections-zero", {"postgresql_max_connections": 0},
     ["postgresql_max_connections: 0 is out of range (rule: 1-262143"]),
    ("pgbouncer-pool-zero", {"pgbouncer_default_pool_size": 0}, ["pgbouncer_default_pool_size: 0 is out of range"]),
    ("redis-maxmemory-words", {"redis_maxmemory": "a lot"},
     ["redis_maxmemory: 'a lot' is not a size Redis reads"]),
    ("auditd-num-logs", {"auditd_num_logs": 1000}, ["auditd_num_logs: 1000 is out of range (rule: 0-999"]),
    ("disk-keyfile-tiny", {"disk_encryption_keyfile_size": 8}, ["disk_encryption_keyfile_size: 8 is out of range"]),
    ("pki-weak-rsa", {"pki_key_size": 1024}, ["pki_key_size: 1024 is out of range (rule: RSA keys of 2048-16384 bits"]),
    ("pki-renew-after-expiry", {"pki_renew_before_days": 800},
     ["pki_renew_before_days: 800 is not shorter than pki_cert_validity_days (730)"]),
    ("ssh-auth-tries-zero", {"os_hardening_ssh_max_auth_tries": 0},
     ["os_hardening_ssh_max_auth_tries: 0 is out of range"]),
    ("nginx-max-fails-negative", {"nginx_upstream_max_fails": -1}, ["nginx_upstream_max_fails: -1 is out of range"]),
    ("app-health-retries-zero", {"app_services_health_retries": 0}, ["app_services_health_retries: 0 is out of range"]),
    ("pq-disk-free-percent", {"validation_pq_min_disk_free_percent": 150},
     ["validation_pq_min_disk_free_percent: 150 is out of range (rule: 0-100"]),
    ("firewall-ssh-port-zero", {"firewall_ssh_port": 0}, ["firewall_ssh_port: 0 is out of range (rule: integer 1-65535)"]),
    ("postgresql-restart-sec-zero", {"postgresql_restart_sec": 0},
     ["postgresql_restart_sec: 0 is out of range (rule: 1-300"]),
    ("site-restart-sec-never-reaches-the-limit", {"imaging_restart_sec": 100},
     ["imaging_start_limit_interval_sec (default): 60 is not longer than imaging_start_limit_burst (default) x "
      "imaging_restart_sec (5 x 100)"]),
    ("nginx-start-limit-never-reached", {"nginx_restart_sec": 30, "nginx_start_limit_burst": 10,
                                         "nginx_start_limit_interval_sec": 300},
     ["nginx_start_limit_interval_sec: 300 is not longer than nginx_start_limit_burst x nginx_restart_sec (10 x 30)",
      "rule: a crash loop must reach the start limit"]),
    # choices that break an engine
    ("orthanc-index-through-pgbouncer", {"orthanc_database_mode": "pgbouncer"},
     ["orthanc_database_mode: 'pgbouncer' is not one of auto, socket, direct", "never through PgBouncer"]),
    ("orthanc-index-socket-remote", {"orthanc_database_mode": "socket", "orthanc_database_host": "db-elsewhere"},
     ["orthanc_database_mode: 'socket' but orthanc_database_host is 'db-elsewhere'", "use auto or direct"]),
    ("orthanc-index-audit-without-ddl", {"imaging_databases": [
        {"name": "orthanc", "login": "orthanc", "password": "{{ vault_db_orthanc_password }}", "pool_mode": "session",
         "login_audit": "read"},
        {"name": "worklist", "login": "worklist", "password": "{{ vault_db_worklist_password }}"}]},
     ["imaging_databases[0].login_audit: 'read'", "keep ddl and role"]),
    ("database-login-reserved", {"imaging_databases": [
        {"name": "orthanc", "login": "postgres", "password": "{{ vault_db_orthanc_password }}", "pool_mode": "session"},
        {"name": "worklist", "login": "worklist", "password": "{{ vault_db_worklist_password }}"}]},
     ["imaging_databases[0].login: 'postgres' is reserved"]),
    ("postgresql-tls-off", {"postgresql_tls_enabled": False},
     ["postgresql_tls_enabled: false, but PostgreSQL is reachable from postgresql_client_cidrs",
      "rule: TLS on every listener beyond loopback"]),
    ("redis-tls-off", {"redis_tls_enabled": False}, ["redis_tls_enabled: false, but Redis is reachable"]),
    ("nginx-tls-off", {"nginx_tls_enabled": False}, ["nginx_tls_enabled: false, but NGINX is reachable"]),
    ("pgbouncer-sslmode-prefer", {"pgbouncer_client_tls_sslmode": "prefer"},
     ["pgbouncer_client_tls_sslmode: 'prefer' lets clients from imaging_db_client_cidrs connect without TLS"]),
    ("plain-dicom-without-host-check", {"orthanc_dicom_check_modality_host": False},
     ["orthanc_dicom_check_modality_host: false while plain DICOM is on"]),
    ("no-dicom-listener", {"orthanc_dicom_plain_enabled": False, "orthanc_dicom_tls_enabled": False},
     ["orthanc_dicom_plain_enabled, orthanc_dicom_tls_enabled: both false (rule: the archive opens at least one DICOM listener)"]),
    ("modality-on-a-listener-switched-off", {"orthanc_dicom_tls_enabled": False, "orthanc_modalities": modalities({"listener": "tls"})},
     ["orthanc_modalities[0].listener: 'tls' needs the DICOM TLS listener, which orthanc_dicom_tls_enabled switches off"]),
    ("modality-listener-unknown", {"orthanc_modalities": modalities({"listener": "dicom"})},
     ["orthanc_modalities[0].listener: 'dicom' is not one of plain, tls, both"]),
    ("redis-user-all-keys", {"imaging_redis_users": [
        {"name": "worklist", "password": "{{ vault_redis_worklist_password }}", "keys": ["*"],
         "categories": ["+@read", "-@dangerous"]}]},
     ["imaging_redis_users[0].keys: '*' (rule: key patterns narrower than '*')"]),
    ("orthanc-find-choice", {"orthanc_storage_access_on_find": "Sometimes"},
     ["orthanc_storage_access_on_find must be one of: Always, Answers, Never"]),
    # cross-role facts
    ("validation-tls-contradicts-archive", {"validation_dicom_listeners": [{"port": 4243, "tls": False, "service": "orthanc"}]},
     ["validation_dicom_listeners[0]: port 4243 plain is not a DICOM listener the archive opens (4242 plain, 4243 TLS)"]),
    ("validation-port-not-the-archive", {"validation_dicom_listeners": [{"port": 11112, "tls": True, "service": "orthanc-dicom-tls"}]},
     ["validation_dicom_listeners[0]: port 11112 TLS is not a DICOM listener the archive opens"]),
    ("validation-calls-another-aet", {"validation_dicom_called_aet": "OTHERPACS"},
     ["validation_dicom_called_aet: 'OTHERPACS' is not the archive's AE title orthanc_aet ('SANDBOXPACS')"]),
    ("listener-port-clash", {"orthanc_http_port": 5432},
     ["orthanc_http_port, postgresql_port: the same port 5432 is opened by 2 listeners on this host"]),
    ("cidr-host-bits", {"imaging_clinical_cidrs": ["10.30.0.1/16"]},
     ["imaging_clinical_cidrs: '10.30.0.1/16' is not a valid CIDR (10.30.0.1/16 has host bits set)"]),
]
CATALOGUE_IDS = [entry[0] for entry in CATALOGUE]


@pytest.fixture(scope="module")
def catalogue_inventory(tmp_path_factory):
    return make_inventory(tmp_path_factory.mktemp("catalogue"), drop_secret=False)[0]


def write_fault(inv, fault_id, extra):
    path = inv.parent / ("fault-%s.json" % fault_id)
    path.write_text(json.dumps(extra), encoding="utf-8")
    return path


def vault_values(inv):
    return [str(v) for v in yaml.safe_load((inv / "group_vars" / "all" / "vault.yml").read_text(encoding="utf-8")).values()]


def assert_refused_in_preflight(result, fragments, secrets=()):
    out = result.stdout
    assert result.returncode != 0, out
    assert out.count("fatal: [") == 1 and "Preflight found" in out, out + result.stderr
    for fragment in fragments:
        assert fragment in out, "%r not in:\n%s" % (fragment, out)
    assert "PLAY [Harden every host]" not in out
    leaked = [name for name in secrets if name in out + result.stderr]
    assert not leaked, "a secret's value is in the output"


def test_catalogue_is_broad():
    assert len(CATALOGUE) >= 30 and len(set(CATALOGUE_IDS)) == len(CATALOGUE)
    named = "\n".join(name for _id, extra, _fragments in CATALOGUE for name in extra)
    for role in ("os_hardening", "auditd", "firewall", "disk_encryption", "pki", "postgresql", "pgbouncer", "redis",
                 "orthanc", "nginx", "app_services", "validation"):
        assert role + "_" in named, "no bad input of role %s" % role


@pytest.mark.parametrize("fault_id, extra, fragments", CATALOGUE, ids=CATALOGUE_IDS)
def test_site_refuses_bad_input_and_leaves_the_host_unchanged(catalogue_inventory, test_host, fault_id, extra, fragments):
    before = host_snapshot(test_host)
    result = playbook(catalogue_inventory, test_host, "site.yml", "-e",
                      "@" + str(write_fault(catalogue_inventory, fault_id, extra)))
    assert_refused_in_preflight(result, fragments, vault_values(catalogue_inventory))
    assert host_snapshot(test_host) == before, "the host changed"


def test_catalogue_through_preflight_alone_under_two_minutes(catalogue_inventory, test_host):
    started = time.monotonic()

    def one(entry):
        fault_id, extra, fragments = entry
        result = playbook(catalogue_inventory, test_host, "preflight.yml", "-e",
                          "@" + str(write_fault(catalogue_inventory, fault_id, extra)))
        return fault_id, result, fragments

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(one, CATALOGUE))
    elapsed = time.monotonic() - started
    secrets = vault_values(catalogue_inventory)
    for _fault_id, result, fragments in outcomes:
        assert_refused_in_preflight(result, fragments, secrets)
    assert elapsed < 120, "the catalogue took %.0f s through playbooks/preflight.yml" % elapsed


def test_check_mode_refuses_in_preflight_too(catalogue_inventory, test_host):
    """The run a site starts with (--check) stops at the same place, before any tier is even simulated."""
    extra = {"imaging_archive_aet": "THIS_AE_TITLE_IS_TOO_LONG"}
    before = host_snapshot(test_host)
    result = playbook(catalogue_inventory, test_host, "site.yml", "--check", "-e",
                      "@" + str(write_fault(catalogue_inventory, "check-mode", extra)))
    assert_refused_in_preflight(result, ["imaging_archive_aet: 'THIS_AE_TITLE_IS_TOO_LONG' is 25 characters long"])
    assert "changed=0" in result.stdout
    assert host_snapshot(test_host) == before
