# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IQ checks of one host: what the roles recorded compared with what the host has.

The comparison logic is in small pure functions (``compare_*``) so it is unit-tested without a
host; the readers take a ``run`` callable (argv -> (rc, stdout, stderr)) so tests can feed
recorded command output. Nothing here changes the host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import grp
import hashlib
import os
import pwd
import re
import stat

from ansible_collections.hospital.imaging.plugins.module_utils import pki_paths
from ansible_collections.hospital.imaging.plugins.module_utils.validation_records import combine, merged, result

# --------------------------------------------------------------------------- pure comparisons


def normalise_mode(mode):
    if mode is None:
        return None
    if isinstance(mode, int):
        return "%04o" % mode
    text = str(mode).strip()
    if re.match(r"^0?[0-7]{3,4}$", text):
        return "%04o" % int(text, 8)
    return text


def compare_packages(expected, installed):
    """expected: {name: version or None}; installed: {name: version}. Returns mismatch list."""
    problems = []
    for name in sorted(expected):
        want = expected[name]
        have = installed.get(name)
        if have is None:
            problems.append("%s: not installed (recorded %s)" % (name, want))
        elif want not in (None, "", "*") and str(want) != str(have):
            problems.append("%s: installed %s, recorded %s" % (name, have, want))
    return problems


def compare_file(expected, actual):
    """expected: {path, owner, group, mode, sha256?}; actual: stat dict or None."""
    path = expected.get("path")
    if not actual or not actual.get("exists"):
        return ["%s: missing" % path]
    problems = []
    for key in ("owner", "group"):
        if expected.get(key) not in (None, "") and expected[key] != actual.get(key):
            problems.append("%s: %s %s, expected %s" % (path, key, actual.get(key), expected[key]))
    if expected.get("mode") not in (None, ""):
        if normalise_mode(expected["mode"]) != normalise_mode(actual.get("mode")):
            problems.append("%s: mode %s, expected %s" % (path, actual.get("mode"), normalise_mode(expected["mode"])))
    if expected.get("sha256") and expected["sha256"] != actual.get("sha256"):
        problems.append("%s: sha256 %s, expected %s" % (path, actual.get("sha256"), expected["sha256"]))
    return problems


def compare_services(expected, actual):
    """actual: {name: {enabled, active}}."""
    problems = []
    for name in expected:
        state = actual.get(name) or {}
        if state.get("active") != "active":
            problems.append("%s: %s (expected active)" % (name, state.get("active", "unknown")))
        if state.get("enabled") not in ("enabled", "static", "alias", "indirect", "generated", "enabled-runtime"):
            problems.append("%s: %s at boot (expected enabled)" % (name, state.get("enabled", "unknown")))
    return problems


def parse_ufw_status(text):
    """Parse ``ufw status verbose``: {active, incoming, outgoing, routed, rules:[{to, action, from}]}."""
    out = {"active": False, "incoming": None, "outgoing": None, "routed": None, "rules": []}
    in_rules = False
    for line in text.splitlines():
        line = line.rstrip()
        if line.startswith("Status:"):
            out["active"] = line.split(":", 1)[1].strip() == "active"
        elif line.startswith("Default:"):
            for part in line.split(":", 1)[1].split(","):
                match = re.match(r"\s*(\w+)\s+\((\w+)\)", part)
                if match:
                    out[match.group(2)] = match.group(1)
        elif line.startswith("--"):
            in_rules = True
        elif in_rules and line.strip():
            cols = re.split(r"\s{2,}", line.strip())
            if len(cols) >= 3:
                out["rules"].append({"to": cols[0], "action": cols[1], "from": cols[2]})
    return out


def compare_firewall(expected, status):
    problems = []
    if not status.get("active"):
        problems.append("ufw is not active")
    for key in ("incoming", "outgoing", "routed"):
        want = expected.get("default_" + key)
        if want and status.get(key) != want:
            problems.append("default %s policy %s, expected %s" % (key, status.get(key), want))
    for rule in expected.get("rules") or []:
        port = str(rule.get("port"))
        proto = rule.get("proto")
        source = rule.get("from", "Anywhere")
        found = False
        for have in status.get("rules", []):
            to = have["to"].split(" ")[0]
            to_port, _sep, to_proto = to.partition("/")
            if to_port != port or (proto and to_proto and to_proto != proto):
                continue
            if not have["action"].startswith(rule.get("action", "ALLOW")):
                continue
            if source not in (None, "any") and have["from"].split(" ")[0] != source:
                continue
            found = True
            break
        if not found:
            problems.append("no %s rule for port %s%s from %s" % (
                rule.get("action", "ALLOW"), port, "/" + proto if proto else "", source))
    for forbidden in expected.get("closed_ports") or []:
        for have in status.get("rules", []):
            if have["to"].split("/")[0].split(" ")[0] == str(forbidden) and have["action"].startswith("ALLOW"):
                problems.append("port %s is allowed (%s from %s) but must stay closed" % (
                    forbidden, have["to"], have["from"]))
    return problems


def parse_openssl_text(text):
    """Pick the key facts out of ``openssl x509 -noout -text -dates -subject -issuer``."""
    info = {}
    match = re.search(r"Public-Key: \((\d+) bit\)", text)
    info["key_bits"] = int(match.group(1)) if match else None
    match = re.search(r"Public Key Algorithm: (\S+)", text)
    info["key_algorithm"] = match.group(1) if match else None
    match = re.search(r"notAfter=(.+)", text)
    info["not_after"] = match.group(1).strip() if match else None
    match = re.search(r"notBefore=(.+)", text)
    info["not_before"] = match.group(1).strip() if match else None
    match = re.search(r"^subject=(.+)$", text, re.M)
    info["subject"] = match.group(1).strip() if match else None
    match = re.search(r"^issuer=(.+)$", text, re.M)
    info["issuer"] = match.group(1).strip() if match else None
    match = re.search(r"X509v3 Subject Alternative Name:.*?\n\s*(.+)", text)
    info["san"] = [s.strip() for s in match.group(1).split(",")] if match else []
    match = re.search(r"Signature Algorithm: (\S+)", text)
    info["signature_algorithm"] = match.group(1) if match else None
    return info


def min_key_bits_for(algorithm, rsa_bits, ec_bits):
    if algorithm and ("ec" in algorithm.lower() or "ed25519" in algorithm.lower()):
        return ec_bits
    return rsa_bits


def parse_timedatectl(text):
    out = {}
    for line in text.splitlines():
        key, _sep, value = line.partition("=")
        if key:
            out[key.strip()] = value.strip()
    return out


# --------------------------------------------------------------------------- IQ readers


def check_records(records, errors, expected_roles):
    missing = sorted(set(expected_roles) - set(records))
    actual = {"roles": sorted(records), "unreadable": errors}
    evidence = dict((role, {"path": rec["_path"], "packages": len(rec.get("packages") or {}),
                            "files": len(rec.get("files") or []), "services": rec.get("services") or [],
                            "waivers": rec.get("waivers") or []}) for role, rec in records.items())
    problems = ["no record for role %s" % r for r in missing] + errors
    return result("fail" if problems else "pass", {"roles": sorted(expected_roles)}, actual,
                  "; ".join(problems) or "%d role record(s) present and readable" % len(records), evidence)


def installed_packages(names, run):
    if not names:
        return {}
    rc, out, _err = run(["dpkg-query", "-W", "-f", "${Package}\t${Version}\t${db:Status-Status}\n"] + sorted(names))
    found = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2] == "installed":
            found[parts[0]] = parts[1]
    return found


def check_packages(expected, run):
    if not expected:
        return result("not_applicable", {}, {}, "no packages recorded on this host")
    installed = installed_packages(list(expected), run)
    problems = compare_packages(expected, installed)
    return result("fail" if problems else "pass", expected, installed,
                  "; ".join(problems) or "%d package(s) installed at the recorded version" % len(expected),
                  {"command": "dpkg-query -W", "installed": installed})


def stat_file(path):
    try:
        info = os.lstat(path)
    except OSError:
        return {"path": path, "exists": False}
    out = {"path": path, "exists": True, "mode": "%04o" % stat.S_IMODE(info.st_mode),
           "size": info.st_size, "type": "directory" if stat.S_ISDIR(info.st_mode) else (
               "link" if stat.S_ISLNK(info.st_mode) else "file")}
    try:
        out["owner"] = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        out["owner"] = str(info.st_uid)
    try:
        out["group"] = grp.getgrgid(info.st_gid).gr_name
    except KeyError:
        out["group"] = str(info.st_gid)
    if out["type"] == "file":
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(65536), b""):
                    digest.update(chunk)
            out["sha256"] = digest.hexdigest()
        except (IOError, OSError) as exc:
            out["sha256"] = None
            out["read_error"] = str(exc)
    return out


def check_files(expected, stat_fn=stat_file):
    if not expected:
        return result("not_applicable", [], [], "no managed files recorded on this host")
    actual, problems = [], []
    for item in expected:
        got = stat_fn(item["path"])
        actual.append(got)
        problems.extend(compare_file(item, got))
    return result("fail" if problems else "pass", expected, actual,
                  "; ".join(problems) or "%d managed file(s) present with the recorded owner and mode" % len(expected),
                  {"files": actual})


def check_services(expected, run):
    if not expected:
        return result("not_applicable", [], {}, "no services recorded on this host")
    actual = {}
    for name in expected:
        _rc, enabled, _e = run(["systemctl", "is-enabled", name])
        _rc, active, _e = run(["systemctl", "is-active", name])
        _rc, show, _e = run(["systemctl", "show", name, "-p", "ActiveEnterTimestamp,MainPID,SubState,FragmentPath"])
        actual[name] = {"enabled": enabled.strip() or "unknown", "active": active.strip() or "unknown",
                        "show": show.strip().splitlines()}
    problems = compare_services(expected, actual)
    return result("fail" if problems else "pass", {"services": expected, "state": "enabled and active"},
                  dict((k, {"enabled": v["enabled"], "active": v["active"]}) for k, v in actual.items()),
                  "; ".join(problems) or "%d service(s) enabled and active" % len(expected), actual)


def check_accounts(users, groups):
    actual, problems = {"users": {}, "groups": {}}, []
    for name in users:
        try:
            entry = pwd.getpwnam(name)
            actual["users"][name] = {"uid": entry.pw_uid, "gid": entry.pw_gid, "home": entry.pw_dir,
                                     "shell": entry.pw_shell}
        except KeyError:
            problems.append("user %s missing" % name)
    for name in groups:
        try:
            entry = grp.getgrnam(name)
            actual["groups"][name] = {"gid": entry.gr_gid, "members": list(entry.gr_mem)}
        except KeyError:
            problems.append("group %s missing" % name)
    if not users and not groups:
        return result("not_applicable", {}, actual, "no service accounts recorded on this host")
    return result("fail" if problems else "pass", {"users": users, "groups": groups}, actual,
                  "; ".join(problems) or "%d user(s) and %d group(s) present" % (len(users), len(groups)), actual)


def check_certificate(cert, ca, min_days, rsa_bits, ec_bits, run, key=None):
    evidence, problems = {"path": cert, "ca": ca}, []
    if not os.path.isfile(cert):
        return result("fail", {"path": cert}, None, "%s: missing" % cert, evidence)
    rc, text, err = run(["openssl", "x509", "-in", cert, "-noout", "-text", "-dates", "-subject", "-issuer",
                         "-fingerprint", "-sha256"])
    if rc != 0:
        return result("error", {"path": cert}, None, "openssl could not read %s: %s" % (cert, err.strip()), evidence)
    info = parse_openssl_text(text)
    match = re.search(r"Fingerprint=(\S+)", text)
    info["sha256_fingerprint"] = match.group(1) if match else None
    evidence["certificate"] = info
    if ca:
        rc, out, err = run(["openssl", "verify", "-CAfile", ca, cert])
        info["chain"] = (out + err).strip()
        if rc != 0:
            problems.append("%s does not chain to %s: %s" % (cert, ca, (out + err).strip()))
    rc, out, _err = run(["openssl", "x509", "-in", cert, "-noout", "-checkend", str(int(min_days) * 86400)])
    info["expires_within_%d_days" % int(min_days)] = rc != 0
    if rc != 0:
        problems.append("%s expires within %d days (notAfter %s)" % (cert, int(min_days), info.get("not_after")))
    want_bits = min_key_bits_for(info.get("key_algorithm"), rsa_bits, ec_bits)
    if info.get("key_bits") is None or info["key_bits"] < want_bits:
        problems.append("%s key is %s bits, at least %d required" % (cert, info.get("key_bits"), want_bits))
    if key:
        key_stat = stat_file(key)
        evidence["key"] = dict((k, key_stat.get(k)) for k in ("path", "exists", "owner", "group", "mode"))
        if not key_stat.get("exists"):
            problems.append("%s: key missing" % key)
        elif int(key_stat["mode"], 8) & 0o077 & ~0o040:
            problems.append("%s: key mode %s is readable by others" % (key, key_stat["mode"]))
        else:
            rc1, pub1, _e1 = run(["openssl", "x509", "-in", cert, "-noout", "-pubkey"])
            rc2, pub2, _e2 = run(["openssl", "pkey", "-in", key, "-pubout"])
            evidence["key"]["matches_certificate"] = rc1 == 0 and rc2 == 0 and pub1.strip() == pub2.strip()
            if not evidence["key"]["matches_certificate"]:
                problems.append("%s does not match %s" % (key, cert))
    expected = {"path": cert, "chains_to": ca, "valid_for_days_at_least": int(min_days), "min_key_bits": want_bits}
    actual = {"not_after": info.get("not_after"), "key_bits": info.get("key_bits"), "subject": info.get("subject"),
              "issuer": info.get("issuer"), "chain": info.get("chain")}
    return result("fail" if problems else "pass", expected, actual, "; ".join(problems) or "%s valid" % cert, evidence)


def check_luks(devices, run, require_open=True):
    if not devices:
        return result("not_applicable", [], [], "no encrypted data volumes recorded on this host")
    actual, problems = [], []
    for dev in devices:
        path = dev.get("device") or dev.get("path")
        name = dev.get("name")
        item = {"device": path, "name": name}
        rc, _out, err = run(["cryptsetup", "isLuks", path])
        item["is_luks"] = rc == 0
        if rc != 0:
            problems.append("%s is not a LUKS volume%s" % (path, (": " + err.strip()) if err.strip() else ""))
        else:
            rc, out, _err = run(["cryptsetup", "luksDump", path])
            match = re.search(r"^Version:\s*(\d+)", out, re.M)
            item["luks_version"] = int(match.group(1)) if match else None
            match = re.search(r"cipher:\s*(\S+)", out)
            item["cipher"] = match.group(1) if match else None
            if item["luks_version"] != 2:
                problems.append("%s is LUKS%s, expected LUKS2" % (path, item["luks_version"]))
        if name:
            item["open"] = os.path.exists(os.path.join("/dev/mapper", name))
            if require_open and not item["open"]:
                problems.append("%s is not open as /dev/mapper/%s" % (path, name))
        mount = dev.get("mount_point") or dev.get("mount") or dev.get("mountpoint")
        if mount:
            item["mounted"] = os.path.ismount(mount)
            if require_open and not item["mounted"]:
                problems.append("%s is not mounted" % mount)
        actual.append(item)
    return result("fail" if problems else "pass", {"volumes": devices, "open_and_mounted": require_open}, actual,
                  "; ".join(problems) or "%d LUKS2 volume(s)%s" % (len(devices), " open and mounted" if require_open else ""),
                  {"volumes": actual})


def read_sysctl(key, proc="/proc/sys"):
    try:
        with open(os.path.join(proc, key.replace(".", "/"))) as handle:
            return " ".join(handle.read().split())
    except (IOError, OSError):
        return None


def compare_sysctl(expected, actual):
    problems = []
    for key in sorted(expected):
        want = " ".join(str(expected[key]).split())
        if actual.get(key) is None:
            problems.append("%s: not readable" % key)
        elif actual[key] != want:
            problems.append("%s = %s, expected %s" % (key, actual[key], want))
    return problems


def check_sysctl(expected, reader=read_sysctl):
    if not expected:
        return result("not_applicable", {}, {}, "no kernel parameters recorded on this host")
    actual = dict((key, reader(key)) for key in expected)
    problems = compare_sysctl(expected, actual)
    return result("fail" if problems else "pass", expected, actual,
                  "; ".join(problems) or "%d kernel parameter(s) as recorded" % len(expected), {"proc_sys": actual})


def check_firewall(expected, run):
    rc, out, err = run(["ufw", "status", "verbose"])
    if rc != 0:
        return result("fail", expected, None, "ufw status failed: %s" % (err.strip() or out.strip()),
                      {"stdout": out, "stderr": err})
    status = parse_ufw_status(out)
    problems = compare_firewall(expected, status)
    return result("fail" if problems else "pass", expected, status,
                  "; ".join(problems) or "ufw active, default policy and %d rule(s) as expected"
                  % len(expected.get("rules") or []), {"ufw_status_verbose": out})


def check_audit_rules(keys, rules_dir, run):
    evidence = {"rules_files": sorted(glob.glob(os.path.join(rules_dir, "*.rules")))}
    rc, out, err = run(["auditctl", "-l"])
    evidence["auditctl_l"] = (out + err).strip()
    loaded = out if rc == 0 else ""
    files_text = ""
    for path in evidence["rules_files"]:
        try:
            with open(path) as handle:
                files_text += handle.read()
        except (IOError, OSError):
            continue
    missing_loaded = [k for k in keys if ("key=%s" % k) not in loaded and ("-k %s" % k) not in loaded]
    missing_files = [k for k in keys if not re.search(r"(-k|key=)\s*%s\b" % re.escape(k), files_text)]
    rc_e, status_out, _e = run(["auditctl", "-s"])
    evidence["auditctl_s"] = status_out.strip()
    enabled = re.search(r"enabled (\d)", status_out)
    problems = []
    if missing_files:
        problems.append("rules files lack keys %s" % ", ".join(missing_files))
    if rc != 0:
        problems.append("audit rules cannot be listed: %s" % (err.strip() or out.strip()))
    elif missing_loaded:
        problems.append("loaded rules lack keys %s" % ", ".join(missing_loaded))
    if not keys and not loaded.strip() or (rc == 0 and "No rules" in loaded):
        problems.append("no audit rules loaded")
    actual = {"loaded_rule_count": len([x for x in loaded.splitlines() if x.startswith("-")]),
              "enabled": enabled.group(1) if enabled else None, "missing_loaded": missing_loaded,
              "missing_in_files": missing_files}
    return result("fail" if problems else "pass", {"keys": keys, "loaded": True}, actual,
                  "; ".join(problems) or "%d audit rule(s) loaded with every key" % actual["loaded_rule_count"], evidence)


def check_time_sync(run):
    rc, out, err = run(["timedatectl", "show"])
    info = parse_timedatectl(out) if rc == 0 else {}
    evidence = {"timedatectl_show": out.strip() or err.strip()}
    for svc in ("systemd-timesyncd", "chrony", "ntpsec"):
        _rc, active, _e = run(["systemctl", "is-active", svc])
        evidence["%s_active" % svc] = active.strip()
    synced = info.get("NTPSynchronized") == "yes"
    actual = {"NTPSynchronized": info.get("NTPSynchronized"), "NTP": info.get("NTP"), "Timezone": info.get("Timezone")}
    if rc != 0:
        return result("fail", {"NTPSynchronized": "yes"}, actual, "timedatectl failed: %s" % err.strip(), evidence)
    return result("pass" if synced else "fail", {"NTPSynchronized": "yes"}, actual,
                  "clock synchronised" if synced else "clock not synchronised (NTPSynchronized=%s)"
                  % info.get("NTPSynchronized"), evidence)


# --------------------------------------------------------------------------- audit trail


def check_audit_event(key, since, run):
    rc, out, err = run(["ausearch", "-k", key, "--start", since, "--format", "text"])
    events = [x for x in out.splitlines() if x.strip()]
    evidence = {"command": "ausearch -k %s --start %s" % (key, since), "rc": rc, "events": events[:50],
                "stderr": err.strip()}
    if rc == 0 and events:
        return result("pass", {"events_with_key": key}, {"events": len(events)},
                      "%d audit event(s) with key %s since %s" % (len(events), key, since), evidence)
    return result("fail", {"events_with_key": key}, {"events": 0},
                  "no audit event with key %s since %s: %s" % (key, since, err.strip() or out.strip()), evidence)


AUDIT_SETTINGS_SQL = (
    "SELECT d.datname, coalesce(r.rolname, ''), c FROM pg_db_role_setting s "
    "JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole, "
    "unnest(s.setconfig) AS c WHERE c LIKE 'pgaudit.log=%'")


def parse_audit_settings(text):
    """psql -At rows (database|role|pgaudit.log=classes) as {database: {role or '': classes}}."""
    found = {}
    for line in text.splitlines():
        parts = line.split("|", 2)
        if len(parts) == 3:
            found.setdefault(parts[0], {})[parts[1]] = parts[2].split("=", 1)[1]
    return found


def _classes(text):
    return sorted(c.strip().lower() for c in (text or "").split(",") if c.strip())


def compare_database_audit(expected, found):
    """expected: [{database, classes, roles: {login: classes}}]; found: parse_audit_settings()."""
    problems = []
    for item in expected:
        db, live = item["database"], found.get(item["database"], {})
        if _classes(live.get("")) != _classes(item["classes"]):
            problems.append("%s: every role gets pgaudit.log %r, recorded %r" % (db, live.get(""), item["classes"]))
        for login, classes in sorted((item.get("roles") or {}).items()):
            if _classes(live.get(login)) != _classes(classes):
                problems.append("%s: role %s gets pgaudit.log %r, recorded %r" % (db, login, live.get(login), classes))
        for login in sorted(set(live) - {""} - set(item.get("roles") or {})):
            problems.append("%s: role %s has pgaudit.log %r, which the record does not declare" % (db, login, live[login]))
        granted = set(_classes(live.get("")))
        if "all" not in granted and not {"ddl", "role", "read", "write"} <= granted:
            problems.append("%s: people and applications are not audited for ddl, role, read and write (%r)"
                            % (db, live.get("")))
        for login, classes in sorted(live.items()):
            got = set(_classes(classes))
            if login and "all" not in got and not {"ddl", "role"} <= got:
                problems.append("%s: role %s is not audited for ddl and role (%r)" % (db, login, classes))
    return problems


def check_database_audit(expected, run):
    if not expected:
        return result("not_applicable", [], {}, "no PHI database recorded on this host")
    rc, out, err = run(["runuser", "-u", "postgres", "--", "psql", "-XAt", "-v", "ON_ERROR_STOP=1", "-c", AUDIT_SETTINGS_SQL])
    if rc != 0:
        return result("error", expected, {}, "could not read the audit settings: %s" % err.strip())
    found = parse_audit_settings(out)
    problems = compare_database_audit(expected, found)
    return result("fail" if problems else "pass", expected, found,
                  "; ".join(problems) or "%d PHI database(s) audited as recorded (every role ddl, role, read, write; "
                  "a service role's own index writes left to its application's audit trail)" % len(expected),
                  {"settings": found})


# --------------------------------------------------------------------------- runners
# Each runner takes the check's context (records, run_cmd, username, password, fail) and its
# validated params; validation_judge.KINDS names them.


def default_accounts(records):
    users, groups = set(), set()
    for item in merged(records, "files") or []:
        if item.get("owner"):
            users.add(item["owner"])
        if item.get("group"):
            groups.add(item["group"])
    for rec in records.values():
        users.update(rec.get("users") or [])
        groups.update(rec.get("groups") or [])
    return sorted(users), sorted(groups)


def default_certificates(records):
    certs = [c for c in merged(records, "certificates") or [] if isinstance(c, dict) and c.get("path")]
    if not certs and "pki" in records:
        certs = [{"path": pki_paths.pki_path("host.crt"), "ca": pki_paths.pki_path("ca.crt"),
                  "key": pki_paths.pki_path("host.key")}]
    return certs


def run_records(ctx, p):
    return check_records(ctx.records, ctx.record_errors, p["roles"])


def run_packages(ctx, p):
    return check_packages(p["packages"] if p["packages"] is not None else merged(ctx.records, "packages") or {}, ctx.run_cmd)


def run_files(ctx, p):
    return check_files(p["files"] if p["files"] is not None else merged(ctx.records, "files") or [])


def run_services(ctx, p):
    return check_services(p["services"] if p["services"] is not None else sorted(set(merged(ctx.records, "services") or [])),
                          ctx.run_cmd)


def run_accounts(ctx, p):
    users, groups = default_accounts(ctx.records)
    return check_accounts(p["users"] if p["users"] is not None else users, p["groups"] if p["groups"] is not None else groups)


def run_certificates(ctx, p):
    certs = p["certificates"] if p["certificates"] is not None else default_certificates(ctx.records)
    if not certs:
        return result("not_applicable", [], [], "no certificates recorded on this host")
    return combine([check_certificate(c["path"], c.get("ca") or c.get("ca_path"), p["min_days"], p["min_rsa_bits"],
                                      p["min_ec_bits"], ctx.run_cmd, key=c.get("key") or c.get("key_path")) for c in certs])


def run_luks(ctx, p):
    devices = p["devices"]
    if devices is None:
        rec = ctx.records.get("disk_encryption") or {}
        devices = rec.get("volumes") or rec.get("luks_devices") or []
    return check_luks(devices, ctx.run_cmd, require_open=p["require_open"])


def run_sysctl(ctx, p):
    values = p["values"]
    if values is None:
        values = (ctx.records.get("os_hardening") or {}).get("sysctl") or {}
    return check_sysctl(values)


def run_firewall(ctx, p):
    return check_firewall(p, ctx.run_cmd)


def run_audit_rules(ctx, p):
    keys = p["keys"]
    if keys is None:
        rec = ctx.records.get("auditd") or {}
        keys = rec.get("keys") or rec.get("audit_keys") or []
    return check_audit_rules(keys, p["rules_dir"], ctx.run_cmd)


def run_time_sync(ctx, p):  # pylint: disable=unused-argument
    return check_time_sync(ctx.run_cmd)


def run_database_audit(ctx, p):
    databases = p["databases"]
    if databases is None:
        databases = (ctx.records.get("postgresql") or {}).get("audit") or []
    return check_database_audit(databases, ctx.run_cmd)


def run_audit_event(ctx, p):
    return check_audit_event(p["key"], p["since"], ctx.run_cmd)
