"""Data tier: PostgreSQL, PgBouncer, Redis and pgBackRest, tested with real client connections."""

import json
import shlex
import uuid

import pytest
from conftest import orthanc_config, orthanc_record, run_playbook, runs_in_pass

CA = "/etc/ssl/hospital-imaging/ca.crt"
PGBOUNCER_PORT = 6432
POSTGRESQL_PORT = 5432
REDIS_TLS_PORT = 6380


@pytest.fixture(scope="module")
def hostname(host):
    return host.check_output("hostname")


def psql(host, password, conninfo, sql):
    cmd = f"PGPASSWORD={shlex.quote(password)} PGCONNECT_TIMEOUT=10 psql {shlex.quote(conninfo)} -v ON_ERROR_STOP=1 -Atc {shlex.quote(sql)}"
    return host.run(cmd)


def superuser_sql(host, sql, database="postgres"):
    return host.run(f"runuser -u postgres -- psql -d {database} -v ON_ERROR_STOP=1 -Atc {shlex.quote(sql)}")


def redis(host, args, user=None, password=None, port=REDIS_TLS_PORT, tls=True):
    env = f"REDISCLI_AUTH={shlex.quote(password)} " if password else ""
    opts = f"--tls --cacert {CA} " if tls else ""
    who = f"--user {shlex.quote(user)} " if user else ""
    return host.run(f"{env}redis-cli {opts}-h 127.0.0.1 -p {port} {who}{args}")


# --- PostgreSQL -------------------------------------------------------------------------------


def test_data_postgresql_is_the_distribution_version(host, pg_version):
    expected = {"12": "15", "13": "17"}[host.system_info.release.split(".")[0]]
    assert pg_version == expected
    assert host.package(f"postgresql-{expected}").is_installed
    assert host.package(f"postgresql-{expected}-pgaudit").is_installed
    assert host.service(f"postgresql@{expected}-main").is_running


def test_data_postgresql_settings_are_live(host):
    out = superuser_sql(
        host,
        "SELECT current_setting('password_encryption') || ',' || current_setting('ssl') || ','"
        " || current_setting('ssl_min_protocol_version') || ',' || current_setting('log_connections') || ','"
        " || current_setting('log_disconnections') || ',' || current_setting('shared_preload_libraries')",
    )
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == "scram-sha-256,on,TLSv1.2,on,on,pgaudit"


def test_data_postgresql_tuning_follows_the_host(host):
    mem_kb = int(host.check_output("awk '/MemTotal/ {print $2}' /proc/meminfo"))
    out = superuser_sql(host, "SELECT setting::bigint * 8 FROM pg_settings WHERE name = 'shared_buffers'")
    shared_kb = int(out.stdout.strip())
    assert shared_kb == min(mem_kb // 1024 // 4, 8192) * 1024
    cost = superuser_sql(host, "SHOW random_page_cost").stdout.strip()
    assert cost == "1.1"
    target = superuser_sql(host, "SHOW checkpoint_completion_target").stdout.strip()
    assert target == "0.9"


def test_data_postgresql_listens_only_where_told(host):
    addresses = superuser_sql(host, "SHOW listen_addresses").stdout.strip().split(",")
    assert "*" not in addresses and "0.0.0.0" not in addresses
    assert "127.0.0.1" in addresses


def test_data_no_md5_or_trust_anywhere(host, pg_version):
    for path in (f"/etc/postgresql/{pg_version}/main/pg_hba.conf", "/etc/pgbouncer/pgbouncer.ini"):
        content = host.file(path).content_string
        for line in content.splitlines():
            if line.strip().startswith(("#", ";")):
                continue
            assert "trust" not in line.split() and "md5" not in line.split() and "password" not in line.split()
            assert not line.startswith("host ")
    out = superuser_sql(host, "SELECT count(*) FROM pg_authid WHERE rolpassword IS NOT NULL AND rolpassword NOT LIKE 'SCRAM-SHA-256$%'")
    assert out.stdout.strip() == "0"
    rules = superuser_sql(host, "SELECT count(*) FROM pg_hba_file_rules WHERE auth_method IN ('trust', 'md5', 'password') OR error IS NOT NULL")
    assert rules.stdout.strip() == "0"


def test_data_pgbouncer_tls_scram_verify_full_succeeds(host, secret, hostname):
    for db, login in (("orthanc", "orthanc"), ("worklist", "worklist")):
        password = secret(f"vault_db_{login}_password")
        conninfo = f"host={hostname} port={PGBOUNCER_PORT} dbname={db} user={login} sslmode=verify-full sslrootcert={CA}"
        out = psql(host, password, conninfo, "SELECT session_user, current_database()")
        assert out.rc == 0, out.stderr
        assert out.stdout.strip() == f"{login}|{db}"


def test_data_pgbouncer_refuses_plaintext(host, secret):
    out = psql(host, secret("vault_db_worklist_password"), f"host=127.0.0.1 port={PGBOUNCER_PORT} dbname=worklist user=worklist sslmode=disable", "SELECT 1")
    assert out.rc != 0
    assert "SSL required" in out.stderr


def test_data_pgbouncer_refuses_a_wrong_password(host):
    out = psql(host, "not-the-password-" + uuid.uuid4().hex, f"host=127.0.0.1 port={PGBOUNCER_PORT} dbname=worklist user=worklist sslmode=require", "SELECT 1")
    assert out.rc != 0
    assert "password authentication failed" in out.stderr or "SASL authentication failed" in out.stderr


def test_data_pgbouncer_refuses_a_login_outside_its_database(host, secret):
    out = psql(host, secret("vault_db_orthanc_password"), f"host=127.0.0.1 port={PGBOUNCER_PORT} dbname=worklist user=orthanc sslmode=require", "SELECT 1")
    assert out.rc != 0


def test_data_pgbouncer_server_side_is_tls(host, secret):
    password = secret("vault_db_worklist_password")
    out = psql(host, password, f"host=127.0.0.1 port={PGBOUNCER_PORT} dbname=worklist user=worklist sslmode=require", "SELECT pg_backend_pid()")
    assert out.rc == 0, out.stderr
    pid = out.stdout.strip()
    ssl = superuser_sql(host, f"SELECT ssl, version FROM pg_stat_ssl WHERE pid = {int(pid)}")
    assert ssl.stdout.strip().startswith("t|TLSv1.")


def test_data_pgbouncer_auth_file_holds_no_plaintext(host):
    userlist = host.file("/etc/pgbouncer/userlist.txt")
    assert userlist.user == "root" and userlist.group == "postgres" and userlist.mode == 0o640
    entries = [shlex.split(line) for line in userlist.content_string.splitlines() if line.strip() and not line.lstrip().startswith((";", "#"))]
    names = [entry[0] for entry in entries]
    assert {"pgbouncer_admin", "pgbouncer_stats"} <= set(names)
    # Names only in the messages: a failing entry must not print its secret.
    malformed = [entry[0] for entry in entries if len(entry) != 2]
    plaintext = [entry[0] for entry in entries if len(entry) == 2 and entry[1] != "" and not entry[1].startswith("SCRAM-SHA-256$")]
    assert not malformed and not plaintext, f"entries that are malformed {malformed} or not a SCRAM secret {plaintext}"


def test_data_pgbouncer_lookup_role_logs_in_with_its_certificate_only(host, secret, pg_version):
    rules = superuser_sql(host, "SELECT auth_method, address, 'map=pooler' = ANY(options) FROM pg_hba_file_rules WHERE 'pgbouncer_auth' = ANY(user_name)")
    assert rules.stdout.strip().splitlines() == ["cert|127.0.0.1|t"]
    # A pooled login has PgBouncer run auth_query (at least once since it started); every
    # server login of the lookup role was a certificate login (the only rule that admits it).
    pooled = psql(host, secret("vault_db_worklist_password"), f"host=127.0.0.1 port={PGBOUNCER_PORT} dbname=worklist user=worklist sslmode=require", "SELECT 1")
    assert pooled.rc == 0, pooled.stderr
    log = host.run(f"grep -c 'connection authorized: user=pgbouncer_auth database=worklist SSL enabled' /var/log/postgresql/postgresql-{pg_version}-main.log")
    assert int(log.stdout.strip() or 0) >= 1
    # With the host certificate it gets in without a password and can only run the lookup.
    cert = "sslcert=/etc/pgbouncer/tls/server.crt sslkey=/etc/pgbouncer/tls/server.key"
    conninfo = f"host=127.0.0.1 port={POSTGRESQL_PORT} dbname=worklist user=pgbouncer_auth sslmode=verify-ca sslrootcert={CA} {cert}"
    lookup = host.run(f"runuser -u postgres -- psql {shlex.quote(conninfo)} -w -Atc 'SELECT usename FROM pgbouncer.get_auth($$worklist$$)'")
    assert lookup.rc == 0, lookup.stderr
    assert lookup.stdout.strip() == "worklist"
    for sql in ("SELECT count(*) FROM pg_authid", "SELECT count(*) FROM pgbouncer.get_auth($$postgres$$) WHERE passwd IS NOT NULL"):
        out = host.run(f"runuser -u postgres -- psql {shlex.quote(conninfo)} -w -Atc {shlex.quote(sql)}")
        assert out.rc != 0 or out.stdout.strip() == "0", out.stderr
    # Without the certificate no password gets it in, directly or through PgBouncer.
    for port in (POSTGRESQL_PORT, PGBOUNCER_PORT):
        out = psql(host, "not-the-password-" + uuid.uuid4().hex, f"host=127.0.0.1 port={port} dbname=worklist user=pgbouncer_auth sslmode=require", "SELECT 1")
        assert out.rc != 0


def test_data_pgbouncer_pool_modes(host, secret):
    out = psql(
        host, secret("vault_db_pgbouncer_admin_password"),
        f"host=127.0.0.1 port={PGBOUNCER_PORT} dbname=pgbouncer user=pgbouncer_admin sslmode=require", "SHOW DATABASES",
    )
    assert out.rc == 0, out.stderr
    rows = [line.split("|") for line in out.stdout.splitlines()]
    modes = {row[0]: row for row in rows}
    assert "session" in modes["orthanc"]
    assert "transaction" in modes["worklist"]


def test_data_orthanc_pool_keeps_session_advisory_locks(host, secret):
    conninfo = f"host=127.0.0.1 port={PGBOUNCER_PORT} dbname=orthanc user=orthanc sslmode=require"
    sql = "SELECT pg_advisory_lock(4242); SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
    out = psql(host, secret("vault_db_orthanc_password"), conninfo, sql)
    assert out.rc == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "1"


def test_data_objects_belong_to_the_owner_role(host, secret):
    conninfo = f"host=127.0.0.1 port={PGBOUNCER_PORT} dbname=worklist user=worklist sslmode=require"
    table = "t_" + uuid.uuid4().hex[:8]
    out = psql(host, secret("vault_db_worklist_password"), conninfo,
               f"BEGIN; CREATE TABLE {table}(x int); SELECT tableowner FROM pg_tables WHERE tablename = '{table}'; ROLLBACK;")
    assert out.rc == 0, out.stderr
    assert "worklist_owner" in out.stdout


def test_data_direct_postgresql_requires_tls(host, secret):
    password = secret("vault_db_worklist_password")
    plain = psql(host, password, f"host=127.0.0.1 port={POSTGRESQL_PORT} dbname=worklist user=worklist sslmode=disable", "SELECT 1")
    assert plain.rc != 0
    assert "no encryption" in plain.stderr
    tls = psql(host, password, f"host=127.0.0.1 port={POSTGRESQL_PORT} dbname=worklist user=worklist sslmode=verify-full sslrootcert={CA}", "SELECT 1")
    assert tls.rc == 0, tls.stderr


def test_data_pgaudit_logs_writes_in_phi_databases(host, secret, pg_version):
    marker = "audit_" + uuid.uuid4().hex[:12]
    conninfo = f"host=127.0.0.1 port={PGBOUNCER_PORT} dbname=worklist user=worklist sslmode=require"
    out = psql(host, secret("vault_db_worklist_password"), conninfo, f"BEGIN; CREATE TABLE {marker}(x int); INSERT INTO {marker} VALUES (1); ROLLBACK;")
    assert out.rc == 0, out.stderr
    log = host.run(f"grep -c 'AUDIT: SESSION.*{marker}' /var/log/postgresql/postgresql-{pg_version}-main.log")
    assert int(log.stdout.strip() or 0) >= 2


def test_data_orthanc_index_is_the_local_socket(host):
    """PostgreSQL runs on the archive host: every Orthanc process holds its index session over the socket."""
    record = orthanc_record(host)
    assert record["index"]["mode"] == "socket"
    assert record["index"]["tls"] is False
    rows = superuser_sql(host, "SELECT application_name, client_addr IS NULL FROM pg_stat_activity "
                               "WHERE usename = 'orthanc' AND application_name LIKE 'orthanc%' ORDER BY 1")
    assert rows.rc == 0, rows.stderr
    services = sorted(record["services"])
    assert rows.stdout.split() == [f"{service}|t" for service in services]
    # and no Orthanc process has a TCP connection to PostgreSQL or PgBouncer
    tcp = host.run(f"ss -Htnp state established '( dport = :{POSTGRESQL_PORT} or dport = :{PGBOUNCER_PORT} )'")
    assert "Orthanc" not in tcp.stdout


def test_data_the_fast_index_path_keeps_durability(host):
    """The index path changed, durability did not: every commit flushed, every file synced, every attachment hashed."""
    assert superuser_sql(host, "SHOW synchronous_commit").stdout.strip() == "on"
    assert superuser_sql(host, "SHOW fsync").stdout.strip() == "on"
    assert superuser_sql(host, "SHOW full_page_writes").stdout.strip() == "on"
    overrides = superuser_sql(host, "SELECT count(*) FROM pg_db_role_setting, unnest(setconfig) AS c "
                                    "WHERE c LIKE 'synchronous_commit=%' OR c LIKE 'fsync=%'")
    assert overrides.stdout.strip() == "0"
    for directory in ("/etc/orthanc", "/etc/orthanc-dicom-tls"):
        if host.file(f"{directory}/orthanc.json").exists:
            settings = orthanc_config(host, directory)
            assert settings["SyncStorageArea"] is True and settings["StoreMD5ForAttachments"] is True, directory


def test_data_pgaudit_logs_people_not_the_orthanc_service(host, secret, pg_version):
    """The administrator's write in Orthanc's index is audited; Orthanc's own index writes are not."""
    log_path = f"/var/log/postgresql/postgresql-{pg_version}-main.log"
    settings = superuser_sql(host, "SELECT coalesce(r.rolname, '*') || ' ' || array_to_string(s.setconfig, '|') "
                                   "FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                                   "LEFT JOIN pg_roles r ON r.oid = s.setrole WHERE d.datname = 'orthanc' ORDER BY 1")
    rows = dict(line.split(" ", 1) for line in settings.stdout.splitlines())
    assert "pgaudit.log=ddl, role, read, write" in rows["*"].split("|")
    assert "pgaudit.log=ddl, role" in rows["orthanc"].split("|")
    marker = "audit_" + uuid.uuid4().hex[:12]
    out = superuser_sql(host, f"CREATE TEMP TABLE {marker}(x int); INSERT INTO {marker} VALUES (1); SELECT x FROM {marker}",
                        database="orthanc")
    assert out.rc == 0, out.stderr
    people = host.run(f"grep -E 'AUDIT: SESSION,[0-9]+,[0-9]+,(WRITE|READ),(INSERT|SELECT).*{marker}' {log_path}")
    assert len(people.stdout.splitlines()) == 2, people.stdout
    # Orthanc writes its index (an instance created through its REST API, then deleted): none of it is logged.
    admin = "admin:" + secret("vault_orthanc_admin_password")
    created = host.run("curl -sf -u %s -X POST http://127.0.0.1:8042/tools/create-dicom --data %s", admin,
                       json.dumps({"Tags": {"PatientName": "AUDIT^PROBE", "PatientID": marker}}))
    assert created.rc == 0, created.stderr
    instance = json.loads(created.stdout)["ID"]
    found = superuser_sql(host, f"SELECT count(*) FROM maindicomtags WHERE value = '{marker}'", database="orthanc")
    assert found.stdout.strip() != "0"
    assert host.run("curl -sf -u %s -X DELETE http://127.0.0.1:8042/instances/%s", admin, instance).rc == 0
    orthanc = host.run(f"grep -c 'user=orthanc db=orthanc.*AUDIT: SESSION,[0-9]*,[0-9]*,\\(WRITE\\|READ\\)' {log_path}")
    assert orthanc.stdout.strip() == "0"


def test_data_local_facts_recorded(host):
    for role in ("postgresql", "pgbouncer", "redis"):
        fact = json.loads(host.file(f"/etc/ansible/facts.d/imaging_{role}.fact").content_string)
        assert fact["role"] == role
        assert fact["packages"] and all(fact["packages"].values())
        assert all(listener["tls"] for listener in fact["listeners"])


def test_data_data_directory_is_recorded_with_its_volume_or_a_waiver(host, pg_version):
    fact = json.loads(host.file("/etc/ansible/facts.d/imaging_postgresql.fact").content_string)
    live = superuser_sql(host, "SHOW data_directory").stdout.strip()
    assert fact["data_directory"] == live
    volume = fact["data_volume"]
    source = host.run(f"findmnt --noheadings --output SOURCE --mountpoint {shlex.quote(volume)}").stdout.strip() if volume else ""
    on_luks = bool(source) and host.run(f"lsblk --nodeps --noheadings --output TYPE {shlex.quote(source)}").stdout.strip() == "crypt"
    device_mapper = host.run("grep -qw device-mapper /proc/devices").rc == 0
    waivers = [w for w in fact["waivers"] if w["id"] == "postgresql-data-encrypted-volume"]
    if on_luks:
        assert live.startswith(volume + "/") and not waivers
    elif device_mapper:
        # A real host: a named volume that is not usable stops the role, so none is named here.
        assert volume == "" and not waivers
    else:
        assert len(waivers) == 1 and waivers[0]["requirement"] == "IQ-ENC-002"
        assert "no device-mapper" in waivers[0]["reason"] and waivers[0]["reason"].endswith(f"the data directory stays {live}")


def test_data_a_mount_that_is_not_luks_is_not_taken_for_the_encrypted_volume(host, pg_version):
    if host.run("grep -qw device-mapper /proc/devices").rc == 0:
        pytest.skip("a kernel with device-mapper: the role refuses such a mount instead (not reproducible without a LUKS device)")
    volume = "/srv/imaging-pgdata-test"
    fact_file = "/etc/ansible/facts.d/imaging_postgresql.fact"
    host.run_expect([0], f"mkdir -p {volume} && mount -t tmpfs -o size=16m tmpfs {volume}")
    try:
        run = run_playbook("playbooks/data.yml", "--tags", "postgresql_facts", "-e", json.dumps({"imaging_postgresql_data_volume": volume}))
        assert run.returncode == 0, run.stdout[-3000:]
        fact = json.loads(host.file(fact_file).content_string)
    finally:
        host.run(f"umount {volume} && rmdir {volume}")
    assert fact["data_volume"] == volume
    assert fact["data_directory"] == f"/var/lib/postgresql/{pg_version}/main"
    waiver = [w for w in fact["waivers"] if w["id"] == "postgresql-data-encrypted-volume"][0]
    assert f"{volume} is mounted from tmpfs;" in waiver["reason"]
    assert not host.file(f"{volume}/{pg_version}").exists
    # The record of the real configuration again.
    again = run_playbook("playbooks/data.yml", "--tags", "postgresql_facts")
    assert again.returncode == 0, again.stdout[-3000:]
    assert json.loads(host.file(fact_file).content_string)["data_volume"] != volume


# --- Redis ------------------------------------------------------------------------------------


def test_data_redis_without_auth_gets_noauth(host):
    out = redis(host, "PING")
    assert "NOAUTH" in out.stdout + out.stderr


def test_data_redis_default_user_is_off(host):
    out = redis(host, "PING", user="default", password="anything")
    assert "PONG" not in out.stdout
    assert "WRONGPASS" in out.stdout + out.stderr


def test_data_redis_plain_port_is_closed(host):
    out = redis(host, "PING", port=6379, tls=False)
    assert out.rc != 0 or "PONG" not in out.stdout


def test_data_redis_app_user_works_within_its_keys(host, secret):
    password = secret("vault_redis_worklist_password")
    key = "worklist:test:" + uuid.uuid4().hex[:8]
    assert redis(host, f"SET {key} 1", user="worklist", password=password).stdout.strip() == "OK"
    assert redis(host, f"GET {key}", user="worklist", password=password).stdout.strip() == "1"
    assert "NOPERM" in redis(host, "SET other:key 1", user="worklist", password=password).stdout


@pytest.mark.parametrize("command", ["FLUSHALL", "FLUSHDB", "KEYS 'worklist:*'", "CONFIG GET maxmemory", "DEBUG SLEEP 0", "SHUTDOWN NOSAVE"])
def test_data_redis_app_user_refused_dangerous_commands(host, secret, command):
    out = redis(host, command, user="worklist", password=secret("vault_redis_worklist_password"))
    # DEBUG is also switched off server-wide (enable-debug-command no): refused either way.
    assert "NOPERM" in out.stdout + out.stderr or "DEBUG command not allowed" in out.stdout


def test_data_redis_persistence_and_limits(host, secret):
    password = secret("vault_redis_admin_password")
    for key, expected in (("appendonly", "yes"), ("appendfsync", "everysec"), ("protected-mode", "yes"), ("port", "0"), ("maxmemory-policy", "noeviction")):
        out = redis(host, f"CONFIG GET {key}", user="admin", password=password)
        assert out.stdout.split() == [key, expected], out.stdout
    acl = redis(host, "ACL LIST", user="admin", password=password).stdout
    default_line = [line for line in acl.splitlines() if line.startswith("user default ")][0]
    assert " off " in default_line


def test_data_redis_acl_file_holds_no_plaintext(host):
    acl = host.file("/etc/redis/users.acl")
    assert acl.user == "redis" and acl.mode == 0o640
    for line in acl.content_string.splitlines():
        assert " >" not in line and "nopass" not in line


# --- Backup and restore (destructive: last) ----------------------------------------------------


BAD_INPUTS = {
    "cidr": ({"imaging_db_client_cidrs": ["10.1.300.0/24"]}, "imaging_db_client_cidrs"),
    "pool_mode": ({"imaging_databases": [{"name": "worklist", "login": "worklist", "password": "x" * 32, "pool_mode": "sessions", "phi": True}]},
                  "postgresql_databases[0].pool_mode: 'sessions' is not one of"),
    "redis_dangerous": ({"imaging_redis_users": [{"name": "worklist", "password": "x" * 32, "keys": ["worklist:*"], "categories": ["+@read", "+@dangerous"]}]},
                        "redis_users[0].categories: '+@dangerous'"),
    "missing_password": ({"imaging_databases": [{"name": "worklist", "login": "worklist", "password": "", "pool_mode": "transaction", "phi": True}]},
                         "postgresql_databases[0].password: is not set"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_data_bad_input_is_refused_before_any_change(case):
    extra, message = BAD_INPUTS[case]
    result = run_playbook("playbooks/data.yml", "-e", json.dumps(extra))
    assert result.returncode != 0
    assert message in result.stdout + result.stderr, result.stderr[-3000:]
    assert "Check the data tier inputs" in result.stdout
    assert " changed=0 " in result.stdout
    assert "TASK [hospital.imaging.postgresql : Install" not in result.stdout


def proof_table(host, prefix, rows):
    """A table of ``rows`` random rows in the worklist database: its name, checksum query and checksum."""
    table = prefix + uuid.uuid4().hex[:8]
    checksum_sql = f"SELECT count(*) || ':' || md5(string_agg(id || ':' || payload, ',' ORDER BY id)) FROM {table}"
    created = superuser_sql(
        host,
        f"CREATE TABLE {table} (id int PRIMARY KEY, payload text NOT NULL);"
        f" INSERT INTO {table} SELECT g, md5(random()::text) FROM generate_series(1, {rows}) g",
        database="worklist",
    )
    assert created.rc == 0, created.stderr
    checksum = superuser_sql(host, checksum_sql, database="worklist").stdout.strip()
    assert checksum.startswith(f"{rows}:")
    return table, checksum_sql, checksum


# These drills are the index's own (pgBackRest, point in time): the images stay out of them. The restore of
# index and images together is test_backup.py's.
INDEX_ONLY = ("-e", "imaging_image_backup_enabled=false")


def destroy_and_restore(host, pg_version, *extra):
    """Stop PostgreSQL, delete its data directory (the one the role recorded), run restore.yml."""
    data_dir = json.loads(host.file("/etc/ansible/facts.d/imaging_postgresql.fact").content_string)["data_directory"]
    host.run_expect([0], f"systemctl stop postgresql@{pg_version}-main")
    host.run_expect([0], f"rm -rf {shlex.quote(data_dir)}")
    assert not host.file(data_dir).exists
    restore = run_playbook("playbooks/restore.yml", "-e", "restore_confirm=true", *INDEX_ONLY, *extra)
    assert restore.returncode == 0, restore.stdout[-3000:]
    assert "Restored and proven against backup" in restore.stdout


# The index-only restores run in the Debian 13 pass of the default scenario; the Debian 12 pass restores the
# index to a point in time (its image snapshot's) together with the images, from off the host (test_backup.py).
INDEX_ONLY_RESTORE_PASS = runs_in_pass("trixie")


@pytest.mark.disruptive
@INDEX_ONLY_RESTORE_PASS
def test_data_backup_and_restore_lose_nothing(host, pg_version):
    table, checksum_sql, before = proof_table(host, "restore_proof_", 5000)

    backup = run_playbook("playbooks/backup.yml", *INDEX_ONLY)
    assert backup.returncode == 0, backup.stdout[-3000:]
    assert "proof table:" in backup.stdout, backup.stdout[-3000:]

    destroy_and_restore(host, pg_version)

    after = superuser_sql(host, checksum_sql, database="worklist").stdout.strip()
    assert after == before
    superuser_sql(host, f"DROP TABLE {table}", database="worklist")


@pytest.mark.disruptive
@INDEX_ONLY_RESTORE_PASS
def test_data_point_in_time_restore_keeps_before_and_drops_after(host, pg_version):
    """Rows A, a backup, time T, rows B; the data directory destroyed; restored to T: A, not B."""
    table, checksum_sql, before = proof_table(host, "pitr_proof_", 3000)

    backup = run_playbook("playbooks/backup.yml", *INDEX_ONLY)
    assert backup.returncode == 0, backup.stdout[-3000:]

    # T from PostgreSQL's own clock, strictly between the backup and rows B.
    target = superuser_sql(host, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')").stdout.strip()
    host.run_expect([0], "sleep 1")
    rows_b = superuser_sql(host, f"INSERT INTO {table} SELECT g, 'after the target' FROM generate_series(3001, 4000) g", database="worklist")
    assert rows_b.rc == 0, rows_b.stderr
    assert superuser_sql(host, f"SELECT count(*) FROM {table}", database="worklist").stdout.strip() == "4000"
    # Archive the WAL that holds rows B: recovery has to see a commit after T to stop there.
    segment = superuser_sql(host, "SELECT pg_walfile_name(pg_switch_wal())").stdout.strip()
    done_sql = shlex.quote(f"SELECT coalesce(last_archived_wal >= '{segment}', false) FROM pg_stat_archiver")
    archived = host.run(f"for i in $(seq 60); do [ \"$(runuser -u postgres -- psql -Atc {done_sql})\" = t ] && exit 0; sleep 1; done; exit 1")
    assert archived.rc == 0, f"WAL segment {segment} was not archived"

    destroy_and_restore(host, pg_version, "-e", json.dumps({"postgresql_restore_target_time": target}))

    after = superuser_sql(host, checksum_sql, database="worklist").stdout.strip()
    assert after == before
    assert superuser_sql(host, f"SELECT count(*) FROM {table} WHERE id > 3000", database="worklist").stdout.strip() == "0"

    # The promoted cluster is writable and archives its WAL again.
    assert superuser_sql(host, "SELECT pg_is_in_recovery()").stdout.strip() == "f"
    assert superuser_sql(host, f"DROP TABLE {table}", database="worklist").rc == 0
    check = host.run("runuser -u postgres -- pgbackrest --stanza=main check")
    assert check.rc == 0, check.stdout + check.stderr
