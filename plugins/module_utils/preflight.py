# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input validation for the preflight play: pure functions, no I/O, unit-tested on their own.

Every function returns a list of problems (strings that name the host, the variable and the rule)
instead of raising, so the preflight play can report every problem at once.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re

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
KNOWN_GROUPS = ("imaging", "imaging_db", "imaging_cache", "imaging_dicom", "imaging_web", "imaging_app")
REQUIRED_GROUPS = ("imaging_db", "imaging_dicom", "imaging_web")
# A service group needs the tiers it talks to.
GROUP_NEEDS = {
    "imaging_dicom": ("imaging_db",),
    "imaging_app": ("imaging_db", "imaging_cache"),
}


def is_placeholder(value):
    text = str(value).strip().lower()
    return any(re.search(p, text) for p in PLACEHOLDER_PATTERNS)


def check_cidr(host, name, value):
    """A CIDR must parse, and carry no host bits (10.0.0.1/24 is a typo for 10.0.0.0/24)."""
    if not isinstance(value, str):
        return ["%s: %s: %r is not a CIDR string (rule: a network such as 10.20.0.0/16)" % (host, name, value)]
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        return ["%s: %s: %r is not a valid CIDR (%s)" % (host, name, value, exc)]
    return []


def check_port(host, name, value):
    if isinstance(value, bool):
        return ["%s: %s: %r is not a port number (rule: integer 1-65535)" % (host, name, value)]
    try:
        port = int(str(value), 10)
    except ValueError:
        return ["%s: %s: %r is not a port number (rule: integer 1-65535)" % (host, name, value)]
    if not 1 <= port <= 65535:
        return ["%s: %s: %s is out of range (rule: integer 1-65535)" % (host, name, port)]
    return []


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


def check_distinct_ports(host, hostvars, prefix="imaging_"):
    """The site-wide listener ports (imaging_*_port) of one host must not collide."""
    seen = {}
    for name in sorted(hostvars):
        if name.startswith(prefix) and name.endswith("_port"):
            try:
                seen.setdefault(int(str(hostvars[name]), 10), []).append(name)
            except ValueError:
                continue  # reported by check_port
    return ["%s: %s: the same port %d is used more than once (rule: listener ports are distinct)"
            % (host, ", ".join(names), port) for port, names in sorted(seen.items()) if len(names) > 1]


def check_groups(groups):
    """Group membership: required tiers present, every tier host under `imaging`, no unknown imaging_* group."""
    problems = []
    for name in sorted(groups):
        if name.startswith("imaging") and name not in KNOWN_GROUPS:
            problems.append("inventory: group %s is not a known group (known: %s)" % (name, ", ".join(KNOWN_GROUPS)))
    for name in REQUIRED_GROUPS:
        if not groups.get(name):
            problems.append("inventory: group %s has no host (rule: every site needs %s)" % (name, ", ".join(REQUIRED_GROUPS)))
    parent = set(groups.get("imaging", []))
    for name in KNOWN_GROUPS[1:]:
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
