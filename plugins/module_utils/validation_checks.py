# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only IQ/OQ checks of one host.

Every check returns a result dict: status (pass, fail, waived, error, not_applicable),
expected, actual, message, evidence. Nothing here changes the host. The comparison logic is
in small pure functions (``compare_*``) so it is unit-tested without a host; the readers take
a ``run`` callable (argv -> (rc, stdout, stderr)) so tests can feed recorded command output.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import grp
import hashlib
import json
import os
import pwd
import re
import socket
import ssl
import stat
import time

FACTS_DIR = "/etc/ansible/facts.d"


def result(status, expected=None, actual=None, message="", evidence=None):
    return {"status": status, "expected": expected, "actual": actual, "message": message,
            "evidence": evidence if evidence is not None else {}}


# --------------------------------------------------------------------------- local facts


def load_role_records(facts_dir=FACTS_DIR):
    """Read every imaging_<role>.fact file. Returns (records by role, errors)."""
    records, errors = {}, []
    for path in sorted(glob.glob(os.path.join(facts_dir, "imaging_*.fact"))):
        role = os.path.basename(path)[len("imaging_"):-len(".fact")]
        try:
            with open(path) as handle:
                data = json.load(handle)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (IOError, OSError, ValueError) as exc:
            errors.append("%s: %s" % (path, exc))
            continue
        data.setdefault("role", role)
        data["_path"] = path
        records[role] = data
    return records, errors


def merged(records, key):
    """Merge one key of every role record: dicts are merged, lists concatenated with the role."""
    out_dict, out_list = {}, []
    for role in sorted(records):
        value = records[role].get(key)
        if isinstance(value, dict):
            out_dict.update(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    item = dict(item)
                    item.setdefault("role", role)
                out_list.append(item)
    return out_dict if out_dict else out_list


def find_waiver(requirement, records, extra_waivers=None):
    """The first waiver (from a role record or the inventory) naming this requirement."""
    candidates = []
    for role in sorted(records):
        for waiver in records[role].get("waivers") or []:
            if isinstance(waiver, dict):
                candidates.append(dict(waiver, source="role %s" % role))
    for waiver in extra_waivers or []:
        if isinstance(waiver, dict):
            candidates.append(dict(waiver, source=waiver.get("source", "inventory")))
    for waiver in candidates:
        if waiver.get("requirement") == requirement and str(waiver.get("reason", "")).strip():
            return {"id": waiver.get("id", ""), "reason": waiver["reason"], "source": waiver["source"]}
    return None


def apply_waiver(res, waiver):
    """A failing result with a written waiver becomes waived; a pass stays a pass."""
    if waiver and res["status"] in ("fail", "error"):
        res = dict(res)
        res["status"] = "waived"
        res["evidence"] = dict(res.get("evidence") or {}, unwaived_finding=res["message"])
        res["message"] = "waived (%s): %s" % (waiver["source"], waiver["reason"])
        res["waiver"] = waiver
    return res


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


def percentile(values, pct):
    """Nearest-rank percentile (pct in 0..100) of a list of numbers; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(-(-pct * len(ordered) // 100)))
    return ordered[min(rank, len(ordered)) - 1]


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
        mount = dev.get("mount") or dev.get("mountpoint")
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


# --------------------------------------------------------------------------- OQ probes


def tcp_connect(host, port, timeout):
    start = time.time()
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout)
        sock.close()
        return True, round((time.time() - start) * 1000, 2), "connected"
    except (socket.error, OSError) as exc:
        return False, round((time.time() - start) * 1000, 2), str(exc)


def check_tcp(host, port, expect, timeout):
    opened, ms, text = tcp_connect(host, port, timeout)
    actual = "open" if opened else "closed"
    return result("pass" if actual == expect else "fail", {"host": host, "port": port, "state": expect},
                  {"state": actual, "detail": text}, "%s:%s is %s (%s)" % (host, port, actual, text),
                  {"elapsed_ms": ms, "error": None if opened else text})


_TLS_VERSIONS = {"1.0": "TLSv1", "1.1": "TLSv1_1", "1.2": "TLSv1_2", "1.3": "TLSv1_3"}


def tls_handshake(host, port, server_name, ca, version_min=None, version_max=None, timeout=5.0, verify=True,
                  client_cert=None, client_key=None):
    """One TLS handshake; returns a dict with ok, version, cipher, peer subject or the error."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if client_cert:
        ctx.load_cert_chain(client_cert, client_key)
    if verify and ca:
        ctx.load_verify_locations(cafile=ca)
        ctx.check_hostname = bool(server_name)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if version_min:
        ctx.minimum_version = getattr(ssl.TLSVersion, _TLS_VERSIONS[version_min])
    if version_max:
        ctx.maximum_version = getattr(ssl.TLSVersion, _TLS_VERSIONS[version_max])
        if version_max in ("1.0", "1.1"):
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    out = {"host": host, "port": int(port), "server_name": server_name, "offered_min": version_min,
           "offered_max": version_max}
    try:
        raw = socket.create_connection((host, int(port)), timeout=timeout)
    except (socket.error, OSError) as exc:
        out.update(ok=False, stage="connect", error=str(exc))
        return out
    try:
        with ctx.wrap_socket(raw, server_hostname=server_name or host) as tls:
            cert = tls.getpeercert() or {}
            out.update(ok=True, version=tls.version(), cipher=tls.cipher()[0] if tls.cipher() else None,
                       peer_subject=_name(cert.get("subject")), peer_issuer=_name(cert.get("issuer")),
                       not_after=cert.get("notAfter"))
    except ssl.SSLError as exc:
        out.update(ok=False, stage="handshake", error=str(exc), reason=getattr(exc, "reason", None))
    except (socket.error, OSError) as exc:
        out.update(ok=False, stage="handshake", error=str(exc))
    finally:
        raw.close()
    return out


def _name(rdns):
    if not rdns:
        return None
    return ", ".join("%s=%s" % kv for rdn in rdns for kv in rdn)


def client_side_refusal(attempt):
    """True when an old-protocol attempt failed on our side (we could not even offer it)."""
    reason = str(attempt.get("reason") or "") + " " + str(attempt.get("error") or "")
    return "NO_PROTOCOLS_AVAILABLE" in reason or "no protocols available" in reason


def check_tls(host, port, server_name, ca, min_version, refuse_below, timeout, client_cert=None, client_key=None):
    good = tls_handshake(host, port, server_name, ca, version_min=min_version, timeout=timeout,
                         client_cert=client_cert, client_key=client_key)
    attempts = {"modern": good}
    problems = []
    if not good.get("ok"):
        problems.append("TLS %s+ handshake with CA verification failed: %s" % (min_version, good.get("error")))
    if refuse_below:
        old_max = {"1.2": "1.1", "1.3": "1.2"}.get(refuse_below)
        old = tls_handshake(host, port, server_name, ca, version_min="1.0", version_max=old_max,
                            timeout=timeout, verify=False, client_cert=client_cert, client_key=client_key)
        attempts["below_%s" % refuse_below] = old
        if old.get("ok"):
            problems.append("server accepted %s below TLS %s" % (old.get("version"), refuse_below))
        elif client_side_refusal(old):
            return result("error", {"handshake": "ok", "refused_below": refuse_below}, attempts,
                          "this client cannot offer TLS below %s, the refusal was not observed" % refuse_below, attempts)
    actual = {"handshake": "ok" if good.get("ok") else "failed", "version": good.get("version"),
              "refused_below": refuse_below if refuse_below and not attempts.get("below_%s" % refuse_below, {}).get("ok") else None}
    return result("fail" if problems else "pass", {"handshake": "ok", "min_version": min_version,
                                                   "refused_below": refuse_below}, actual,
                  "; ".join(problems) or "%s:%s negotiated %s%s" % (host, port, good.get("version"), (
                      "; older than TLS %s refused (%s)" % (refuse_below, attempts["below_%s" % refuse_below].get("error"))
                      if refuse_below else "")), attempts)


def check_redis(host, port, server_name, ca, username, password, timeout):
    """PING without credentials must be refused (NOAUTH); after AUTH it must answer PONG."""
    ctx = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
    ctx.check_hostname = bool(server_name)
    evidence = {}

    def talk(commands):
        raw = socket.create_connection((host, int(port)), timeout=timeout)
        replies = []
        try:
            with ctx.wrap_socket(raw, server_hostname=server_name or host) as tls:
                evidence["tls_version"] = tls.version()
                for cmd in commands:
                    payload = "*%d\r\n" % len(cmd) + "".join("$%d\r\n%s\r\n" % (len(c.encode()), c) for c in cmd)
                    tls.sendall(payload.encode())
                    replies.append(tls.recv(4096).decode("utf-8", "replace").strip())
        finally:
            raw.close()
        return replies

    try:
        anon = talk([["PING"]])[0]
        auth_cmd = ["AUTH", username, password] if username else ["AUTH", password]
        authed = talk([auth_cmd, ["PING"]])
    except (ssl.SSLError, socket.error, OSError) as exc:
        return result("fail", {"unauthenticated": "NOAUTH", "authenticated": "PONG"}, None,
                      "could not talk TLS to redis %s:%s: %s" % (host, port, exc), evidence)
    evidence.update(unauthenticated_ping=anon, auth_reply=authed[0], authenticated_ping=authed[1])
    actual = {"unauthenticated": anon, "authenticated": authed[1]}
    problems = []
    if not anon.startswith("-NOAUTH"):
        problems.append("PING without credentials answered %r" % anon)
    if authed[1] != "+PONG":
        problems.append("PING after AUTH answered %r" % authed[1])
    return result("fail" if problems else "pass", {"unauthenticated": "-NOAUTH ...", "authenticated": "+PONG"},
                  actual, "; ".join(problems) or "redis refused an anonymous PING and answered after AUTH", evidence)


def check_postgresql(host, port, dbname, user, password, ca, server_name, run, timeout):
    """Through PgBouncer: TLS with verify-full and the password succeeds; plaintext and a wrong password fail."""
    def attempt(sslmode, secret):
        conninfo = "host=%s port=%s dbname=%s user=%s sslmode=%s connect_timeout=%d" % (
            server_name or host, port, dbname, user, sslmode, int(timeout))
        if sslmode == "verify-full" and ca:
            conninfo += " sslrootcert=%s" % ca
        if server_name and server_name != host:
            conninfo += " hostaddr=%s" % host
        rc, out, err = run(["psql", "-X", "-A", "-t", "-w", conninfo, "-c", "select 1"],
                           environ_update={"PGPASSWORD": secret})
        return {"sslmode": sslmode, "rc": rc, "stdout": out.strip(), "stderr": err.strip()}

    good = attempt("verify-full", password)
    plain = attempt("disable", password)
    wrong = attempt("verify-full", password + "-wrong")
    evidence = {"tls_scram": good, "plaintext": plain, "wrong_password": wrong}
    problems = []
    if good["rc"] != 0 or good["stdout"] != "1":
        problems.append("TLS connection with the password failed: %s" % good["stderr"])
    if plain["rc"] == 0:
        problems.append("plaintext connection was accepted")
    if wrong["rc"] == 0:
        problems.append("a wrong password was accepted")
    actual = {"tls_with_password": "ok" if good["rc"] == 0 else "refused",
              "plaintext": "ok" if plain["rc"] == 0 else "refused",
              "wrong_password": "ok" if wrong["rc"] == 0 else "refused"}
    return result("fail" if problems else "pass",
                  {"tls_with_password": "ok", "plaintext": "refused", "wrong_password": "refused"}, actual,
                  "; ".join(problems) or "TLS+password accepted; plaintext (%s) and wrong password (%s) refused" % (
                      plain["stderr"].splitlines()[-1] if plain["stderr"] else "", wrong["stderr"].splitlines()[-1] if wrong["stderr"] else ""),
                  evidence)


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


def http_request(url, method, headers, body, ca, timeout, username=None, password=None):
    """One HTTP request; returns {status, reason, elapsed_ms, headers, body_excerpt} or {error}."""
    import base64
    try:
        from urllib.request import Request, build_opener, HTTPSHandler
        from urllib.error import HTTPError, URLError
    except ImportError:  # pragma: no cover - Python 2 is not supported
        raise
    headers = dict(headers or {})
    if username is not None:
        token = base64.b64encode(("%s:%s" % (username, password or "")).encode()).decode()
        headers["Authorization"] = "Basic " + token
    data = body.encode("utf-8") if isinstance(body, str) else body
    ctx = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
    opener = build_opener(HTTPSHandler(context=ctx))
    req = Request(url, data=data, headers=headers, method=method)
    start = time.time()
    try:
        resp = opener.open(req, timeout=timeout)
        status, reason, payload, hdrs = resp.status, resp.reason, resp.read(2048), dict(resp.headers)
    except HTTPError as exc:
        status, reason, payload, hdrs = exc.code, exc.reason, exc.read(2048), dict(exc.headers or {})
    except (URLError, ssl.SSLError, socket.error, OSError) as exc:
        return {"url": url, "error": str(getattr(exc, "reason", exc)), "elapsed_ms": round((time.time() - start) * 1000, 2)}
    return {"url": url, "method": method, "status": status, "reason": str(reason),
            "elapsed_ms": round((time.time() - start) * 1000, 2),
            "headers": dict((k, v) for k, v in hdrs.items() if k.lower() in ("content-type", "www-authenticate", "server")),
            "body_excerpt": payload.decode("utf-8", "replace")[:512]}


def check_http(url, method, expect_status, headers, body, ca, timeout, username=None, password=None):
    got = http_request(url, method, headers, body, ca, timeout, username, password)
    expected = {"url": url, "method": method, "status": list(expect_status), "authenticated": username is not None}
    if "error" in got:
        return result("fail", expected, {"error": got["error"]}, "%s %s failed: %s" % (method, url, got["error"]), got)
    ok = got["status"] in expect_status
    return result("pass" if ok else "fail", expected, {"status": got["status"], "reason": got["reason"]},
                  "%s %s%s answered %s %s%s" % (method, url, " with credentials" if username is not None else " without credentials",
                                                got["status"], got["reason"], "" if ok else " (expected %s)" % "/".join(
                                                    str(s) for s in expect_status)), got)


# --------------------------------------------------------------------------- DICOMweb round trip

_LONG_VRS = ("OB", "OW", "OF", "SQ", "UT", "UN")


def _element(group, elem, vr, value):
    import struct
    if isinstance(value, str):
        raw = value.encode("ascii")
        if len(raw) % 2:
            raw += b"\x00" if vr == "UI" else b" "
    else:
        raw = value
        if len(raw) % 2:
            raw += b"\x00"
    head = struct.pack("<HH", group, elem) + vr.encode("ascii")
    if vr in _LONG_VRS:
        return head + b"\x00\x00" + struct.pack("<I", len(raw)) + raw
    return head + struct.pack("<H", len(raw)) + raw


def make_uid():
    import uuid
    return "2.25.%d" % uuid.uuid4().int


def synthetic_dicom(patient_id, study_uid, series_uid, sop_uid):
    """A small Secondary Capture instance as DICOM Part 10 bytes (explicit VR little endian)."""
    import struct
    sc = "1.2.840.10008.5.1.4.1.1.7"

    def us(value):
        return struct.pack("<H", value)

    meta_body = b"".join([
        _element(0x0002, 0x0001, "OB", b"\x00\x01"),
        _element(0x0002, 0x0002, "UI", sc),
        _element(0x0002, 0x0003, "UI", sop_uid),
        _element(0x0002, 0x0010, "UI", "1.2.840.10008.1.2.1"),
        _element(0x0002, 0x0012, "UI", "2.25.302153137123418424376812893913463437387"),
    ])
    meta = _element(0x0002, 0x0000, "UL", struct.pack("<I", len(meta_body))) + meta_body
    data = b"".join([
        _element(0x0008, 0x0016, "UI", sc),
        _element(0x0008, 0x0018, "UI", sop_uid),
        _element(0x0008, 0x0020, "DA", time.strftime("%Y%m%d", time.gmtime())),
        _element(0x0008, 0x0060, "CS", "OT"),
        _element(0x0010, 0x0010, "PN", "VALIDATION^OQ"),
        _element(0x0010, 0x0020, "LO", patient_id),
        _element(0x0020, 0x000D, "UI", study_uid),
        _element(0x0020, 0x000E, "UI", series_uid),
        _element(0x0020, 0x0013, "IS", "1"),
        _element(0x0028, 0x0002, "US", us(1)),
        _element(0x0028, 0x0004, "CS", "MONOCHROME2"),
        _element(0x0028, 0x0010, "US", us(8)),
        _element(0x0028, 0x0011, "US", us(8)),
        _element(0x0028, 0x0100, "US", us(8)),
        _element(0x0028, 0x0101, "US", us(8)),
        _element(0x0028, 0x0102, "US", us(7)),
        _element(0x0028, 0x0103, "US", us(0)),
        _element(0x7FE0, 0x0010, "OB", bytes(bytearray(range(64)))),
    ])
    return b"\x00" * 128 + b"DICM" + meta + data


def check_dicomweb(base_url, ca, timeout, username, password, patient_id="VALIDATION-OQ"):
    """STOW-RS then WADO-RS (metadata) with credentials succeed; both without credentials get 401."""
    study, series, sop = make_uid(), make_uid(), make_uid()
    body = synthetic_dicom(patient_id, study, series, sop)
    boundary = "validation-%s" % sop.rsplit(".", 1)[-1][:20]
    multipart = (("--%s\r\nContent-Type: application/dicom\r\n\r\n" % boundary).encode() + body
                 + ("\r\n--%s--\r\n" % boundary).encode())
    stow_headers = {"Content-Type": 'multipart/related; type="application/dicom"; boundary=%s' % boundary,
                    "Accept": "application/dicom+json"}
    wado_url = "%s/studies/%s/series/%s/instances/%s/metadata" % (base_url.rstrip("/"), study, series, sop)
    stow_url = "%s/studies" % base_url.rstrip("/")
    anon_stow = http_request(stow_url, "POST", stow_headers, multipart, ca, timeout)
    stow = http_request(stow_url, "POST", stow_headers, multipart, ca, timeout, username, password)
    wado = http_request(wado_url, "GET", {"Accept": "application/dicom+json"}, None, ca, timeout, username, password)
    anon_wado = http_request(wado_url, "GET", {"Accept": "application/dicom+json"}, None, ca, timeout)
    evidence = {"study_instance_uid": study, "sop_instance_uid": sop, "stow": stow, "wado": wado,
                "stow_without_credentials": anon_stow, "wado_without_credentials": anon_wado}
    actual = {"stow": stow.get("status", stow.get("error")), "wado": wado.get("status", wado.get("error")),
              "wado_has_instance": sop in (wado.get("body_excerpt") or ""),
              "stow_without_credentials": anon_stow.get("status", anon_stow.get("error")),
              "wado_without_credentials": anon_wado.get("status", anon_wado.get("error"))}
    problems = []
    if actual["stow"] != 200:
        problems.append("STOW-RS with credentials answered %s" % actual["stow"])
    if actual["wado"] != 200 or not actual["wado_has_instance"]:
        problems.append("WADO-RS metadata with credentials answered %s%s" % (
            actual["wado"], "" if actual["wado_has_instance"] else " without the stored instance"))
    for key in ("stow_without_credentials", "wado_without_credentials"):
        if actual[key] != 401:
            problems.append("%s answered %s, expected 401" % (key.replace("_", " "), actual[key]))
    expected = {"stow": 200, "wado": 200, "wado_has_instance": True, "stow_without_credentials": 401,
                "wado_without_credentials": 401}
    return result("fail" if problems else "pass", expected, actual,
                  "; ".join(problems) or "STOW-RS stored %s and WADO-RS returned it; both refused (401) without credentials" % sop,
                  evidence)
