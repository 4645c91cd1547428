# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input validation for the preflight play: pure functions, no I/O, unit-tested on their own.

Every function returns a list of problems (strings that name the host, the variable and the rule)
instead of raising, so the preflight play can report every problem at once.
"""

from __future__ import annotations

import posixpath
import re

from ansible_collections.hospital.imaging.plugins.module_utils import dicom_ae, network_rules, orthanc_index, orthanc_layout

PLACEHOLDER_PATTERNS = (
    r"^change[ _-]?me",
    r"^changeit$",
    r"^password\d*$",
    r"^secret\d*$",
    r"^todo\b",
    r"^fixme\b",
    r"^x{3,}$",
    r"^<.*>$",
    r"^\{\{.*\}\}$",
    r"^replace[ _-]?me",
    r"^example",
)
# The inventory groups come from the role-to-group map (playbooks/vars/role_groups.yml): see known_groups.
PARENT_GROUP = "imaging"
REQUIRED_GROUPS = ("imaging_db", "imaging_dicom", "imaging_web")
# A service group needs the tiers it talks to.
GROUP_NEEDS = {
    "imaging_dicom": ("imaging_db",),
    "imaging_app": ("imaging_db", "imaging_cache"),
    "imaging_backup": ("imaging_dicom",),
}


def is_placeholder(value):
    text = str(value).strip().lower()
    return any(re.search(p, text) for p in PLACEHOLDER_PATTERNS)


def check_cidr(host, name, value):
    """A CIDR must parse, and carry no host bits (10.0.0.1/24 is a typo for 10.0.0.0/24)."""
    error = network_rules.cidr_error(value)
    if error is None:
        return []
    if not isinstance(value, str):
        return ["%s: %s: %r %s" % (host, name, value, error.replace("(", "(rule: ", 1))]
    return ["%s: %s: %r %s" % (host, name, value, error)]


def check_port(host, name, value, allow_zero=False):
    error = network_rules.port_error(value, allow_zero)
    if error is None:
        return []
    shown = value if isinstance(value, int) and not isinstance(value, bool) else repr(value)
    return ["%s: %s: %s %s" % (host, name, shown, error)]


def check_network_vars(host, hostvars, prefixes):
    """CIDR and port variables of the collection (names starting with one of the prefixes)."""
    problems = []
    for name in sorted(hostvars):
        if not name.startswith(prefixes):
            continue
        value = hostvars[name]
        if name.endswith("_cidrs"):
            if not isinstance(value, (list, tuple)):
                problems.append("%s: %s: must be a list of CIDRs, got %r" % (host, name, value))
                continue
            for item in value:
                problems.extend(check_cidr(host, name, item))
        elif name.endswith("_cidr"):
            problems.extend(check_cidr(host, name, value))
        elif name.endswith("_port"):
            problems.extend(check_port(host, name, value))
    return problems


def site_ports(hostvars, prefix="imaging_"):
    """port -> the site-wide port variables (imaging_*_port) that name it."""
    seen = {}
    for name in sorted(hostvars):
        if name.startswith(prefix) and name.endswith("_port"):
            try:
                seen.setdefault(int(str(hostvars[name]), 10), []).append(name)
            except ValueError:
                continue  # reported by check_port
    return seen


def check_distinct_ports(host, hostvars, prefix="imaging_"):
    """The site-wide listener ports (imaging_*_port) of one host must not collide."""
    seen = site_ports(hostvars, prefix)
    return ["%s: %s: the same port %d is used more than once (rule: listener ports are distinct)"
            % (host, ", ".join(names), port) for port, names in sorted(seen.items()) if len(names) > 1]


def known_groups(role_groups):
    """The inventory groups of the role-to-group map (role -> groups): the parent group first, then each
    group in the order the map names it first."""
    known = [PARENT_GROUP]
    for groups in role_groups.values():
        for name in groups:
            if name not in known:
                known.append(name)
    return tuple(known)


def check_groups(groups, role_groups):
    """Group membership: required tiers present, every tier host under `imaging`, no unknown imaging_* group.
    The known groups are those of ``role_groups``, the role-to-group map."""
    known = known_groups(role_groups)
    problems = []
    for name in sorted(groups):
        if name.startswith("imaging") and name not in known:
            problems.append("inventory: group %s is not a known group (known: %s)" % (name, ", ".join(known)))
    for name in REQUIRED_GROUPS:
        if not groups.get(name):
            problems.append("inventory: group %s has no host (rule: every site needs %s)" % (name, ", ".join(REQUIRED_GROUPS)))
    parent = set(groups.get(PARENT_GROUP, []))
    for name in known[1:]:
        for host in groups.get(name, []):
            if host not in parent:
                problems.append("inventory: %s is in %s but not in its parent group imaging" % (host, name))
    for name, needs in GROUP_NEEDS.items():
        if groups.get(name):
            for need in needs:
                if not groups.get(need):
                    problems.append("inventory: group %s has hosts but %s, which it needs, has none" % (name, need))
    return problems


def check_secrets(host, host_groups, hostvars, required):
    """Every required vault_* secret for the host's groups: set, a string, long enough, no placeholder."""
    problems = []
    for entry in required:
        name = entry["name"]
        wanted = set(entry.get("groups") or ["imaging"])
        if not wanted & set(host_groups):
            continue
        min_length = int(entry.get("min_length", 16))
        if name not in hostvars or hostvars[name] is None:
            problems.append("%s: %s: is not set (rule: required secret for %s; put it in the vault)"
                            % (host, name, ", ".join(sorted(wanted))))
            continue
        value = hostvars[name]
        if not isinstance(value, str):
            problems.append("%s: %s: must be a string" % (host, name))
        elif is_placeholder(value):
            problems.append("%s: %s: is a placeholder (rule: a real secret, not an example value)" % (host, name))
        elif len(value) < min_length:
            problems.append("%s: %s: is shorter than %d characters (rule: min_length)" % (host, name, min_length))
    return problems


def check_os(host, facts, supported):
    dist = facts.get("distribution")
    major = str(facts.get("distribution_major_version", ""))
    if dist is None:
        return []  # facts not gathered: nothing to compare
    if "%s %s" % (dist, major) not in supported:
        return ["%s: operating system %s %s is not supported (supported: %s)" % (host, dist, major, ", ".join(supported))]
    return []


# Data directories that hold PHI, the audit watch that must cover each, and the shared inventory
# variable that moves the watch (and the AIDE exclusion) with the data:
# (group whose hosts hold it, data directory variable, audit watch variable, shared variable,
#  switch that puts the data elsewhere: images stored in the database cluster, which has its own watch).
DATA_WATCHES = (
    ("imaging_db", "postgresql_data_directory", "auditd_postgresql_data_dir", "imaging_postgresql_data_dir", None),
    ("imaging_dicom", "orthanc_storage_directory", "auditd_image_store", "imaging_image_store_directory",
     "orthanc_postgresql_storage_enabled"),
)


def _within(path, parent):
    path, parent = posixpath.normpath(path), posixpath.normpath(parent)
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def check_data_watched(host, data_name, data_dir, watch_name, watch_dir, shared_name, aide_excludes=None):
    """A PHI data directory must lie under its audit watch and, when AIDE runs, under one of the
    directories AIDE leaves out (a cluster or image store moved to an encrypted volume must take both along)."""
    problems = []
    for name, value in ((data_name, data_dir), (watch_name, watch_dir)):
        if not isinstance(value, str) or not posixpath.isabs(value):
            problems.append("%s: %s: %r is not an absolute path (rule: data directories are absolute paths)"
                            % (host, name, value))
    if problems:
        return problems
    if not _within(data_dir, watch_dir):
        problems.append(
            "%s: %s: %s is outside %s (%s), the directory auditd watches for it (rule: a PHI data directory "
            "lies under its audit watch; set %s to a directory that holds it)"
            % (host, data_name, data_dir, watch_name, watch_dir, shared_name))
    if aide_excludes is not None:
        excludes = [p for p in aide_excludes if isinstance(p, str) and posixpath.isabs(p)]
        if not any(_within(data_dir, parent) for parent in excludes):
            problems.append(
                "%s: %s: %s is under none of os_hardening_aide_exclude_paths (%s) (rule: AIDE leaves PHI data "
                "directories out of its baseline; set %s to a directory that holds it)"
                % (host, data_name, data_dir, ", ".join(excludes) or "none", shared_name))
    return problems


# --- DICOM ---------------------------------------------------------------------------------------------

# The AE titles a site may set (directly or through imaging_archive_aet), by the group whose hosts use them.
AE_TITLE_VARS = (
    ("imaging", "imaging_archive_aet"),
    ("imaging_dicom", "orthanc_aet"),
    ("imaging", "validation_dicom_called_aet"),
    ("imaging", "validation_dicom_calling_aet"),
    ("imaging", "validation_dicom_unknown_aet"),
    ("imaging", "validation_dicom_move_destination_aet"),
    ("imaging", "validation_pq_calling_aet"),
)
AE_RULE = "rule: DICOM PS3.5 AE title, 1-16 characters of printable ASCII, no backslash, not only spaces"


def check_ae_titles(host, values):
    """AE titles by DICOM PS3.5. ``values`` is a list of (name, value, set_by_site) in AE_TITLE_VARS order; a
    value a role default took from another variable is reported under that variable only."""
    problems, reported = [], set()
    for name, value, set_by_site in values:
        errors = dicom_ae.ae_title_errors(value)
        if not errors:
            continue
        key = repr(value)
        if not set_by_site and key in reported:
            continue
        reported.add(key)
        problems.append("%s: %s: %r %s (%s)" % (host, name, value, "; ".join(errors), AE_RULE))
    return problems


def check_modalities(host, name, entries, own_aet=None, check_modality_host=True, plain_enabled=True, tls_enabled=True):
    """Every entry of a modality list, by the rules of the orthanc_modality module (one implementation), and
    each entry's listener (plain, tls or both) among the DICOM listeners the archive opens."""
    def label(index):
        return "%s[%d]" % (name, index)

    problems = []
    found = orthanc_layout.modality_problems(entries, own_aet, check_modality_host, _truthy(plain_enabled),
                                             _truthy(tls_enabled), label)
    for index, key, message in found:
        path = name if index is None else label(index) + ("." + key if key else "")
        entry = entries[index] if index is not None else None
        if key and isinstance(entry, dict) and key in entry and not re.match(r"^('|\"|-?[0-9])", message):
            message = "%r %s" % (entry[key], message)  # the offending value, as the entry gives it
        problems.append("%s: %s: %s" % (host, path, message))
    return problems


# --- limits and sizes ----------------------------------------------------------------------------------

# name: (lowest, highest or None, why). The engines' own ranges where they have one.
LIMITS = {
    "orthanc_limit_nofile": (1024, 1048576, "LimitNOFILE of Orthanc: every association and stored file needs descriptors"),
    "orthanc_dicom_threads": (1, 256, "DicomThreadsCount"),
    "orthanc_http_threads": (1, 1000, "HttpThreadsCount"),
    "orthanc_concurrent_jobs": (1, 128, "ConcurrentJobs"),
    "orthanc_postgresql_index_connections": (1, 100, "IndexConnectionsCount of the PostgreSQL plugin"),
    "orthanc_maximum_storage_cache_mb": (0, 1048576, "MaximumStorageCacheSize in MB"),
    "orthanc_limit_find_results": (0, None, "LimitFindResults, 0 is unlimited"),
    "orthanc_limit_find_instances": (0, None, "LimitFindInstances, 0 is unlimited"),
    "orthanc_health_retries": (1, 600, "two-second tries"),
    "pgbouncer_max_client_conn": (1, 100000, "max_client_conn"),
    "pgbouncer_default_pool_size": (1, 10000, "default_pool_size"),
    "postgresql_max_connections": (1, 262143, "PostgreSQL's max_connections range"),
    "postgresql_log_min_duration_statement": (-1, 2147483647, "milliseconds, -1 is off"),
    "postgresql_shared_buffers_mb": (1, 1048576, "shared_buffers in MB"),
    "postgresql_effective_cache_size_mb": (1, 16777216, "effective_cache_size in MB"),
    "postgresql_maintenance_work_mem_mb": (1, 2097151, "maintenance_work_mem in MB"),
    "postgresql_work_mem_kb": (64, 2147483647, "work_mem in kB"),
    "postgresql_max_wal_size_mb": (2, 2147483647, "max_wal_size in MB"),
    "postgresql_min_wal_size_mb": (2, 2147483647, "min_wal_size in MB"),
    "postgresql_checkpoint_completion_target": (0.0, 1.0, "checkpoint_completion_target"),
    "postgresql_random_page_cost": (0.0, 1.0e10, "random_page_cost"),
    "postgresql_effective_io_concurrency": (0, 1000, "effective_io_concurrency"),
    "postgresql_max_worker_processes": (0, 262143, "max_worker_processes"),
    "postgresql_max_parallel_workers": (0, 1024, "max_parallel_workers"),
    "postgresql_max_parallel_workers_per_gather": (0, 1024, "max_parallel_workers_per_gather"),
    "postgresql_backup_retention_full": (1, 9999999, "pgBackRest repo1-retention-full"),
    "postgresql_backup_retention_diff": (1, 9999999, "pgBackRest repo1-retention-diff"),
    "auditd_max_log_file": (1, None, "max_log_file in MB"),
    "auditd_num_logs": (0, 999, "auditd's num_logs range"),
    "auditd_freq": (0, None, "freq"),
    "auditd_backlog_limit": (1, None, "the kernel's audit backlog"),
    "auditd_retention_days": (1, None, "days the audit trail is kept"),
    "disk_encryption_keyfile_size": (32, 8388608, "bytes of a LUKS keyfile: at least 256 bits, at most cryptsetup's 8 MiB"),
    "pki_ca_validity_days": (1, 36500, "days"),
    "pki_cert_validity_days": (1, 36500, "days"),
    "pki_renew_before_days": (0, 36500, "days"),
    "os_hardening_password_max_days": (1, 99999, "PASS_MAX_DAYS"),
    "os_hardening_password_min_days": (0, 99999, "PASS_MIN_DAYS"),
    "os_hardening_password_warn_age": (0, 99999, "PASS_WARN_AGE"),
    "os_hardening_sha_crypt_rounds": (5000, 999999999, "SHA_CRYPT rounds"),
    "os_hardening_pwquality_minlen": (8, 256, "pam_pwquality minlen"),
    "os_hardening_pwquality_minclass": (0, 4, "pam_pwquality minclass"),
    "os_hardening_faillock_deny": (1, 100, "pam_faillock deny"),
    "os_hardening_faillock_unlock_time": (0, None, "seconds, 0 is never"),
    "os_hardening_password_history": (0, 400, "remembered passwords"),
    "os_hardening_session_timeout": (1, None, "seconds of an idle shell"),
    "os_hardening_ssh_max_auth_tries": (1, 100, "MaxAuthTries"),
    "os_hardening_ssh_max_sessions": (1, 1000, "MaxSessions"),
    "os_hardening_ssh_login_grace_time": (1, 3600, "LoginGraceTime in seconds (0 would never time out)"),
    "os_hardening_ssh_client_alive_interval": (0, None, "ClientAliveInterval in seconds"),
    "os_hardening_ssh_client_alive_count_max": (0, None, "ClientAliveCountMax"),
    "nginx_hsts_max_age": (0, None, "seconds"),
    "nginx_upstream_max_fails": (0, None, "max_fails"),
    "nginx_auth_burst": (0, None, "requests"),
    "app_services_health_retries": (1, 600, "two-second tries"),
    "validation_cert_min_days": (0, 36500, "days"),
    "validation_min_rsa_bits": (2048, 16384, "bits"),
    "validation_pq_associations": (1, 64, "parallel associations"),
    "validation_pq_duration": (1, 3600, "seconds"),
    "validation_pq_min_instances_per_s": (1, None, "instances per second"),
    "validation_pq_p95_store_ms": (1, None, "milliseconds"),
    "validation_pq_max_find_ms": (1, None, "milliseconds"),
    "validation_pq_min_disk_free_percent": (0, 100, "percent"),
    "validation_pq_rows": (1, 4096, "pixels"),
    "validation_pq_columns": (1, 4096, "pixels"),
}
# Every service's crash recovery (systemd_dropin recovery): the same ranges the helper enforces.
# Each role's value defaults to the site-wide imaging_* one, which defaults to RECOVERY_DEFAULTS (the roles' defaults).
RECOVERY_ROLES = ("postgresql", "pgbouncer", "redis", "nginx", "orthanc", "app_services", "backup_target")
RECOVERY_DEFAULTS = {"restart_sec": 2, "start_limit_burst": 5, "start_limit_interval_sec": 60}
for _role in ("imaging",) + RECOVERY_ROLES:
    LIMITS["%s_restart_sec" % _role] = (1, 300, "RestartSec, seconds between a crash and the next start")
    LIMITS["%s_start_limit_burst" % _role] = (1, 100, "StartLimitBurst, starts within the start limit's window")
    LIMITS["%s_start_limit_interval_sec" % _role] = (1, 86400, "StartLimitIntervalSec, the start limit's window in seconds")
# name: (pattern, what it means). Sizes and durations as the engines read them.
FORMATS = {
    "redis_maxmemory": (r"^[0-9]+(b|k|kb|m|mb|g|gb)?$", "a size Redis reads, such as 256mb or 2gb"),
    "nginx_rest_max_body_size": (r"^[0-9]+[kKmMgG]?$", "a size NGINX reads, such as 512m (0 is unlimited)"),
    "nginx_proxy_read_timeout": (r"^[0-9]+(ms|s|m|h|d)?$", "a time NGINX reads, such as 600s"),
    "nginx_upstream_fail_timeout": (r"^[0-9]+(ms|s|m|h|d)?$", "a time NGINX reads, such as 30s"),
    "os_hardening_umask": (r"^0?[0-7]{3}$", "an octal umask such as 027"),
}


def _number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        return int(str(value).strip(), 10)
    except ValueError:
        try:
            return float(str(value).strip())
        except ValueError:
            return None


def check_limits(host, values):
    """Numeric settings inside the engine's range, sizes and durations in the engine's syntax."""
    problems = []
    for name in sorted(values):
        value = values[name]
        if name in LIMITS:
            low, high, why = LIMITS[name]
            number = _number(value)
            if number is None:
                problems.append("%s: %s: %r is not a number (rule: %s)" % (host, name, value, why))
            elif number < low or (high is not None and number > high):
                bounds = "%s-%s" % (low, high) if high is not None else "at least %s" % low
                problems.append("%s: %s: %s is out of range (rule: %s, %s)" % (host, name, value, bounds, why))
        if name in FORMATS:
            pattern, meaning = FORMATS[name]
            if not isinstance(value, (str, int)) or isinstance(value, bool) or not re.match(pattern, str(value).strip()):
                problems.append("%s: %s: %r is not %s" % (host, name, value, meaning))
    return problems


def _recovery_problems(host, values, num):
    """A start limit a crash loop could never reach, per role, with the values the role will use."""
    problems = []
    for prefix in ("imaging",) + RECOVERY_ROLES:
        used = {}
        for key, default in RECOVERY_DEFAULTS.items():
            names = ["%s_%s" % (prefix, key)] + (["imaging_%s" % key] if prefix != "imaging" else [])
            name = next((n for n in names if n in values), None)
            used[key] = (name, num(name)) if name else ("%s (default)" % names[0], default)
        if not any(name in values for name, _value in used.values() if name.startswith(prefix + "_")):
            continue
        (delay_name, delay), (burst_name, burst) = used["restart_sec"], used["start_limit_burst"]
        window_name, window = used["start_limit_interval_sec"]
        if None not in (delay, burst, window) and window <= burst * delay:
            problems.append("%s: %s: %s is not longer than %s x %s (%s x %s) (rule: a crash loop must reach the "
                            "start limit and leave the unit failed)"
                            % (host, window_name, window, burst_name, delay_name, burst, delay))
    return problems


def check_related_limits(host, values):
    """Settings whose ranges depend on each other."""
    problems = []

    def num(name):
        return _number(values[name]) if name in values else None

    renew, validity = num("pki_renew_before_days"), num("pki_cert_validity_days")
    if renew is not None and validity is not None and renew >= validity:
        problems.append("%s: pki_renew_before_days: %s is not shorter than pki_cert_validity_days (%s) (rule: a "
                        "certificate is renewed before it expires, not at every run)" % (host, renew, validity))
    for name in ("pki_key_size", "pki_ca_key_size"):
        size = num(name)
        if values.get("pki_key_type", "RSA") == "RSA" and size is not None and not 2048 <= size <= 16384:
            problems.append("%s: %s: %s is out of range (rule: RSA keys of 2048-16384 bits)" % (host, name, size))
    low, high = num("postgresql_min_wal_size_mb"), num("postgresql_max_wal_size_mb")
    if low is not None and high is not None and low > high:
        problems.append("%s: postgresql_min_wal_size_mb: %s is above postgresql_max_wal_size_mb (%s) (rule: "
                        "min_wal_size <= max_wal_size)" % (host, low, high))
    pool, clients = num("pgbouncer_default_pool_size"), num("pgbouncer_max_client_conn")
    if pool is not None and clients is not None and pool > clients:
        problems.append("%s: pgbouncer_default_pool_size: %s is above pgbouncer_max_client_conn (%s) (rule: a pool "
                        "is never larger than the clients it serves)" % (host, pool, clients))
    minimum, maximum = num("os_hardening_password_min_days"), num("os_hardening_password_max_days")
    if minimum is not None and maximum is not None and minimum > maximum:
        problems.append("%s: os_hardening_password_min_days: %s is above os_hardening_password_max_days (%s) "
                        "(rule: a password can be changed before it expires)" % (host, minimum, maximum))
    problems.extend(_recovery_problems(host, values, num))
    return problems


# --- entries of the data tier and the applications ------------------------------------------------------

SQL_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
PGAUDIT_CLASSES = ('read', 'write', 'function', 'role', 'ddl', 'misc', 'misc_set', 'all', 'none')
POOL_MODES = ("session", "transaction", "statement")
RESERVED_LOGINS = ("postgres", "pgbouncer", "pgbouncer_auth")
REDIS_USER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
REDIS_CATEGORY = re.compile(r"^[+-]@?[a-z|]+$")
REDIS_FORBIDDEN = ("+@all", "+@dangerous", "+@admin", "allcommands", "+flushall", "+flushdb", "+config", "+debug",
                   "+keys", "+shutdown", "+acl", "+module")
APP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
APP_ARTIFACT_TYPES = ("executable", "wheel", "tarball", "deb")
DEVICE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def _entries(host, name, entries, problems):
    """The (index, entry) pairs of a list of mappings; anything else is a problem."""
    if entries is None:
        return []
    if not isinstance(entries, (list, tuple)):
        problems.append("%s: %s: must be a list of mappings" % (host, name))
        return []
    pairs = []
    for index, entry in enumerate(entries):
        if isinstance(entry, dict):
            pairs.append((index, entry))
        else:
            problems.append("%s: %s[%d]: must be a mapping" % (host, name, index))
    return pairs


def _password(host, path, entry, min_length, rule):
    """A password is set and long enough; its value never appears in a message."""
    value = entry.get("password")
    if value is None or value == "":
        return ["%s: %s.password: is not set (rule: %s)" % (host, path, rule)]
    if len(str(value)) < min_length:
        return ["%s: %s.password: is shorter than %d characters (rule: %s)" % (host, path, min_length, rule)]
    return []


def _unique(host, name, pairs, key, problems):
    seen = {}
    for index, entry in pairs:
        value = entry.get(key)
        if value is None:
            continue
        if value in seen:
            problems.append("%s: %s[%d].%s: %r is already used by %s[%d] (rule: unique %s)"
                            % (host, name, index, key, value, name, seen[value], key))
        else:
            seen[value] = index


def check_databases(host, name, entries, reserved=RESERVED_LOGINS, password_min_length=16):
    """imaging_databases: one database and login per consumer (PostgreSQL, PgBouncer and Orthanc read it)."""
    problems = []
    pairs = _entries(host, name, entries, problems)
    for index, entry in pairs:
        path = "%s[%d]" % (name, index)
        for key in ("name", "login"):
            value = entry.get(key)
            if not isinstance(value, str) or not SQL_IDENTIFIER.match(value):
                problems.append("%s: %s.%s: %r is not a lower-case SQL identifier (rule: ^[a-z_][a-z0-9_]{0,62}$)"
                                % (host, path, key, value))
        login, db = entry.get("login"), entry.get("name")
        if isinstance(login, str) and (login in reserved or login == "%s_owner" % db):
            problems.append("%s: %s.login: %r is reserved (rule: a login of its own, not %s or the owner role %s_owner)"
                            % (host, path, login, "/".join(reserved), db))
        problems.extend(_password(host, path, entry, password_min_length, "every login has a vault_* password"))
        mode = entry.get("pool_mode", "session")
        if mode not in POOL_MODES:
            problems.append("%s: %s.pool_mode: %r is not one of %s" % (host, path, mode, ", ".join(POOL_MODES)))
        if "phi" in entry and not dicom_ae.is_boolean(entry["phi"]):
            problems.append("%s: %s.phi: %r is not a boolean" % (host, path, entry["phi"]))
        if "login_audit" in entry:
            problems.extend(_login_audit_problems(host, path, entry["login_audit"]))
    _unique(host, name, pairs, "name", problems)
    _unique(host, name, pairs, "login", problems)
    return problems


def _login_audit_problems(host, path, value):
    classes = [c.strip().lower() for c in value.split(",")] if isinstance(value, str) else None
    if not classes or any(c.lstrip("-") not in PGAUDIT_CLASSES for c in classes):
        return ["%s: %s.login_audit: %r is not a list of pgaudit classes (rule: comma-separated, of %s)"
                % (host, path, value, ", ".join(PGAUDIT_CLASSES))]
    granted = set(PGAUDIT_CLASSES) if "all" in classes else {c for c in classes if not c.startswith("-")}
    if not {"ddl", "role"} <= granted - {c[1:] for c in classes if c.startswith("-")}:
        return ["%s: %s.login_audit: %r (rule: a service role's DDL and role changes are always audited: keep ddl "
                "and role)" % (host, path, value)]
    return []


def check_orthanc_index(host, mode, database_name, databases, database_host=None):
    """The index is a database the data tier declares, reached by a path orthanc_index knows (socket only locally)."""
    problems = []
    if mode not in orthanc_index.MODES:
        problems.append("%s: orthanc_database_mode: %r is not one of %s (rule: the index is reached over PostgreSQL's "
                        "local socket or one direct verify-full TLS connection, never through PgBouncer)"
                        % (host, mode, ", ".join(orthanc_index.MODES)))
    elif mode == "socket" and database_host is not None and database_host != host:
        problems.append("%s: orthanc_database_mode: 'socket' but orthanc_database_host is %r (rule: the socket is "
                        "PostgreSQL's on this host; use auto or direct for a remote index)" % (host, database_host))
    if not isinstance(databases, (list, tuple)):
        return problems
    if not any(isinstance(e, dict) and e.get("name") == database_name for e in databases):
        problems.append("%s: orthanc_database_name: %r is not a database of imaging_databases (rule: Orthanc's index is "
                        "one of the data tier's databases)" % (host, database_name))
    return problems


def check_redis_users(host, name, entries, admin_user="admin", password_min_length=16):
    problems = []
    pairs = _entries(host, name, entries, problems)
    for index, entry in pairs:
        path = "%s[%d]" % (name, index)
        user = entry.get("name")
        if not isinstance(user, str) or not REDIS_USER_NAME.match(user) or user in ("default", admin_user):
            problems.append("%s: %s.name: %r (rule: a lower-case name ^[a-z][a-z0-9_-]{0,63}$, not default or %s)"
                            % (host, path, user, admin_user))
        keys = entry.get("keys")
        if not isinstance(keys, list) or not keys:
            problems.append("%s: %s.keys: must be a non-empty list of key patterns" % (host, path))
        else:
            for key in keys:
                if not isinstance(key, str) or re.match(r"^[~%]?\*$", key):
                    problems.append("%s: %s.keys: %r (rule: key patterns narrower than '*')" % (host, path, key))
        categories = entry.get("categories")
        if not isinstance(categories, list) or not categories:
            problems.append("%s: %s.categories: must be a non-empty list such as [+@read, -@dangerous]" % (host, path))
        else:
            for rule in categories:
                if not isinstance(rule, str) or not REDIS_CATEGORY.match(rule) or rule.lower() in REDIS_FORBIDDEN:
                    problems.append("%s: %s.categories: %r (rule: +@category or -@category, never %s)"
                                    % (host, path, rule, " ".join(REDIS_FORBIDDEN)))
            if "-@dangerous" not in categories:
                problems.append("%s: %s.categories: must end with -@dangerous" % (host, path))
        problems.extend(_password(host, path, entry, password_min_length, "every Redis user has a vault_* password"))
    _unique(host, name, pairs, "name", problems)
    return problems


def check_app_services(host, name, entries, database_names=(), redis_users=()):
    problems = []
    pairs = _entries(host, name, entries, problems)
    for index, entry in pairs:
        path = "%s[%d]" % (name, index)
        app = entry.get("name")
        if not isinstance(app, str) or not APP_NAME.match(app):
            problems.append("%s: %s.name: %r (rule: lower-case letters, digits and dashes, ^[a-z][a-z0-9-]{0,30}$)"
                            % (host, path, app))
        port = _number(entry.get("port"))
        if not isinstance(port, int) or not 1024 < port <= 65535:
            problems.append("%s: %s.port: %r (rule: an unprivileged port 1025-65535)" % (host, path, entry.get("port")))
        artifact = entry.get("artifact")
        if not isinstance(artifact, dict) or artifact.get("type") not in APP_ARTIFACT_TYPES or not artifact.get("src"):
            problems.append("%s: %s.artifact: %r (rule: a mapping with type one of %s and src)"
                            % (host, path, artifact, ", ".join(APP_ARTIFACT_TYPES)))
        elif "command" not in entry and artifact.get("type") != "executable":
            problems.append("%s: %s.command: is not set (rule: required unless the artifact is an executable)"
                            % (host, path))
        database = entry.get("database")
        if database is not None and database not in database_names:
            problems.append("%s: %s.database: %r is not a database of imaging_databases" % (host, path, database))
        user = entry.get("redis_user")
        if user is not None and user not in redis_users:
            problems.append("%s: %s.redis_user: %r is not a user of imaging_redis_users" % (host, path, user))
    _unique(host, name, pairs, "name", problems)
    _unique(host, name, pairs, "port", problems)
    return problems


def check_disk_devices(host, name, entries):
    problems = []
    pairs = _entries(host, name, entries, problems)
    for index, entry in pairs:
        path = "%s[%d]" % (name, index)
        if not isinstance(entry.get("name"), str) or not DEVICE_NAME.match(entry["name"]):
            problems.append("%s: %s.name: %r (rule: letters, digits, _ or -)" % (host, path, entry.get("name")))
        for key in ("device", "mount_point"):
            value = entry.get(key)
            if not isinstance(value, str) or not posixpath.isabs(value) or value == "/":
                problems.append("%s: %s.%s: %r is not an absolute path below / (rule: required)" % (host, path, key, value))
    _unique(host, name, pairs, "name", problems)
    _unique(host, name, pairs, "mount_point", problems)
    return problems


# --- listeners ------------------------------------------------------------------------------------------

# The TLS switch of each network listener, the networks that may reach it, and what a plain listener
# would expose. A listener reachable beyond loopback keeps TLS on.
TLS_LISTENERS = (
    ("imaging_db", "postgresql_tls_enabled", "postgresql_client_cidrs", "PostgreSQL"),
    ("imaging_db", "pgbouncer_tls_enabled", "imaging_db_client_cidrs", "PgBouncer"),
    ("imaging_cache", "redis_tls_enabled", "imaging_cache_client_cidrs", "Redis"),
    ("imaging_web", "nginx_tls_enabled", "firewall_web_sources", "NGINX"),
)
PLAINTEXT_SSLMODES = ("disable", "allow", "prefer")


def check_tls_exposure(host, host_groups, values):
    """TLS off (or optional) on a listener the inventory opens beyond loopback is refused."""
    problems = []
    for group, switch, cidrs_name, service in TLS_LISTENERS:
        if group not in host_groups or switch not in values or cidrs_name not in values:
            continue
        cidrs = values[cidrs_name]
        if not dicom_ae.is_boolean(values[switch]) or not isinstance(cidrs, list):
            continue
        if not _truthy(values[switch]) and not network_rules.is_loopback_only(cidrs):
            problems.append("%s: %s: false, but %s is reachable from %s (%s) (rule: TLS on every listener beyond "
                            "loopback)" % (host, switch, service, cidrs_name, ", ".join(map(str, cidrs))))
    mode = values.get("pgbouncer_client_tls_sslmode")
    cidrs = values.get("imaging_db_client_cidrs")
    if "imaging_db" in host_groups and mode in PLAINTEXT_SSLMODES and isinstance(cidrs, list) \
            and not network_rules.is_loopback_only(cidrs):
        problems.append("%s: pgbouncer_client_tls_sslmode: %r lets clients from imaging_db_client_cidrs connect "
                        "without TLS (rule: require or verify-* beyond loopback)" % (host, mode))
    plain = _number(values.get("redis_plain_port", 0))
    binds = values.get("redis_bind_addresses")
    if "imaging_cache" in host_groups and plain and isinstance(binds, list) \
            and not all(network_rules.is_loopback_address(a) for a in binds):
        problems.append("%s: redis_plain_port: %s is open on %s (rule: the plain Redis port only on loopback; "
                        "clients use TLS)" % (host, plain, ", ".join(map(str, binds))))
    plain_dicom = values.get("orthanc_dicom_plain_enabled")
    modality_cidrs = values.get("imaging_modality_cidrs")
    if "imaging_dicom" in host_groups and plain_dicom is not None and _truthy(plain_dicom) \
            and not _truthy(values.get("orthanc_dicom_check_modality_host", True)) \
            and isinstance(modality_cidrs, list) and not network_rules.is_loopback_only(modality_cidrs):
        problems.append("%s: orthanc_dicom_check_modality_host: false while plain DICOM is on (orthanc_dicom_plain_enabled) "
                        "and reachable from imaging_modality_cidrs (rule: a plain DICOM listener beyond loopback "
                        "accepts a declared AE title only from its declared address)" % host)
    if "imaging_dicom" in host_groups and "orthanc_dicom_plain_enabled" in values and "orthanc_dicom_tls_enabled" in values \
            and not _truthy(values["orthanc_dicom_plain_enabled"]) and not _truthy(values["orthanc_dicom_tls_enabled"]):
        problems.append("%s: orthanc_dicom_plain_enabled, orthanc_dicom_tls_enabled: both false (rule: the archive "
                        "opens at least one DICOM listener)" % host)
    return problems


# The listeners each role opens on its hosts: (group, port variable, when). A port of 0 is no listener.
LISTENERS = (
    ("imaging", "os_hardening_ssh_port", None),
    ("imaging_db", "postgresql_port", None),
    ("imaging_db", "pgbouncer_listen_port", None),
    ("imaging_cache", "redis_tls_port", None),
    ("imaging_cache", "redis_plain_port", None),
    ("imaging_dicom", "orthanc_dicom_tls_port", "orthanc_dicom_tls_enabled"),
    ("imaging_dicom", "orthanc_dicom_port", "orthanc_dicom_plain_enabled"),
    ("imaging_dicom", "orthanc_dicom_tls_http_port", "orthanc_dicom_plain_enabled&orthanc_dicom_tls_enabled"),
    ("imaging_dicom", "orthanc_http_port", None),
    ("imaging_dicom", "validation_dicom_move_destination_port", None),
    ("imaging_web", "nginx_https_port", None),
    ("imaging_web", "nginx_http_port", None),
)


def _truthy(value):
    return str(value).strip().lower() in ("true", "yes", "on", "1", "y", "t", "1.0")


def check_listener_ports(host, host_groups, values, apps=None, already=()):
    """Every listener a host opens, across roles, has a port of its own. ``already`` holds the ports that a
    site-wide clash (check_distinct_ports) has reported, so a clash is named once."""
    ports = {}
    for group, name, when in LISTENERS:
        if group not in host_groups or name not in values:
            continue
        if when is not None and any(switch.lstrip("!") in values
                                    and _truthy(values[switch.lstrip("!")]) == switch.startswith("!")
                                    for switch in when.split("&")):
            continue
        port = _number(values[name])
        if isinstance(port, int) and port > 0:
            ports.setdefault(port, []).append(name)
    if "imaging_app" in host_groups and isinstance(apps, list):
        for index, app in enumerate(apps):
            port = _number(app.get("port")) if isinstance(app, dict) else None
            if isinstance(port, int) and port > 0:
                ports.setdefault(port, []).append("app_services_list[%d].port" % index)
    return ["%s: %s: the same port %d is opened by %d listeners on this host (rule: every listener has a port of "
            "its own)" % (host, ", ".join(sorted(names)), port, len(names))
            for port, names in sorted(ports.items()) if len(names) > 1 and port not in already]


def archive_listeners(values):
    """The DICOM listeners the orthanc role opens with these values (orthanc_layout decides), or None when the
    values do not say (not an archive host, or a value preflight reports elsewhere)."""
    names = ("orthanc_dicom_plain_enabled", "orthanc_dicom_port", "orthanc_dicom_tls_enabled", "orthanc_dicom_tls_port")
    if any(name not in values for name in names):
        return None
    try:
        found = orthanc_layout.layout([], _truthy(values["orthanc_dicom_plain_enabled"]), int(values["orthanc_dicom_port"]),
                                      _truthy(values["orthanc_dicom_tls_enabled"]), int(values["orthanc_dicom_tls_port"]))
    except (TypeError, ValueError):
        return None
    return [(item["port"], item["tls"]) for item in found["listeners"] if item["protocol"] == "dicom"]


def check_validation_agrees(host, values):
    """Validation probes the DICOM listeners the orthanc role records: a site's validation_dicom_listeners must
    name listeners the archive opens (port and TLS), and validation calls the archive by its own AE title."""
    problems = []
    opened = archive_listeners(values)
    wanted = values.get("validation_dicom_listeners")
    if opened is not None and isinstance(wanted, list):
        for index, item in enumerate(wanted):
            port = _number(item.get("port")) if isinstance(item, dict) else None
            tls = _truthy(item.get("tls", False)) if isinstance(item, dict) else None
            if (port, tls) not in opened:
                problems.append("%s: validation_dicom_listeners[%d]: port %s %s is not a DICOM listener the archive "
                                "opens (%s) (rule: validation probes the DICOM listeners the orthanc role records)" % (
                                    host, index, port, "TLS" if tls else "plain",
                                    ", ".join("%d %s" % (p, "TLS" if t else "plain") for p, t in opened)))
    called, own = values.get("validation_dicom_called_aet"), values.get("orthanc_aet")
    if called is not None and own is not None and not dicom_ae.ae_title_errors(called) \
            and not dicom_ae.ae_title_errors(own) and not dicom_ae.same_ae_title(called, own):
        problems.append("%s: validation_dicom_called_aet: %r is not the archive's AE title orthanc_aet (%r) (rule: "
                        "validation calls the archive by its own AE title)" % (host, called, own))
    return problems


# The backups kept off the host: (the group whose hosts are backed up, the role's switch, the variable naming
# the backup host, what is backed up).
OFFSITE_BACKUPS = (
    ("imaging_dicom", "orthanc_backup_enabled", "orthanc_backup_offsite_host", "image"),
    ("imaging_db", "postgresql_backup_enabled", "postgresql_backup_offsite_host", "index"),
)


def check_offsite_backup(host, host_groups, values, groups):
    """Backups off the host: an imaging_dicom host whose image backup is on (orthanc_backup_offsite_host) and an
    imaging_db host whose pgBackRest backup is on (postgresql_backup_offsite_host) each name an imaging_backup host
    other than itself. imaging_environment production needs one; elsewhere none is allowed (the roles record it as
    a waiver)."""
    problems = []
    members = (groups or {}).get("imaging_backup") or []
    for group, switch, name, what in OFFSITE_BACKUPS:
        if group not in host_groups or not _truthy(values.get(switch, True)):
            continue
        target = values.get(name) or ""
        if not target:
            if values.get("imaging_environment") == "production":
                problems.append("%s: %s: is empty (rule: imaging_environment production keeps the %s backups off the host: put "
                                "a host in the imaging_backup group)" % (host, name, what))
        elif not isinstance(target, str) or target not in members:
            problems.append("%s: %s: %s is not a host of the imaging_backup group (rule: the off-host repository is an "
                            "imaging_backup host)" % (host, name, target))
        elif target == host:
            problems.append("%s: %s: names this host itself (rule: the off-host repository is on another host)" % (host, name))
    return problems
