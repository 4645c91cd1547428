# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which function runs each check kind, which judges its evidence, and the one report row constructor.

``KINDS`` is the one table: a catalogue entry's ``check.kind`` names a row. A kind that
``validation_check`` runs names its runner (``run(ctx, params)`` in validation_iq or validation_net,
which gathers and judges with the pure ``compare_*`` helpers) and ``judge_module``, which turns the
module's return (or its failure) into a result. A kind whose evidence the playbook gathers (DICOM
associations, pgBackRest, the PQ load test) names the task file that gathers it and a pure judge of
that evidence. Every report row is made by ``row``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from collections import namedtuple

from ansible_collections.hospital.imaging.plugins.module_utils import dicom_verdict
from ansible_collections.hospital.imaging.plugins.module_utils import validation_iq as iq
from ansible_collections.hospital.imaging.plugins.module_utils import validation_net as net
from ansible_collections.hospital.imaging.plugins.module_utils.validation_records import result

ROW_KEYS = ("requirement", "host", "check", "status", "expected", "actual", "message", "evidence", "waiver", "duration_s")


def percentile(values, pct):
    """Nearest-rank percentile (pct in 0..100) of a list of numbers; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(-(-pct * len(ordered) // 100)))
    return ordered[min(rank, len(ordered)) - 1]


def row(requirement, host, check, res):
    """The report row of one requirement on one host from a result dict (see validation_records.result)."""
    res = res or {}
    return {
        "requirement": requirement,
        "host": host,
        "check": check,
        "status": res.get("status") or "error",
        "expected": res.get("expected"),
        "actual": res.get("actual"),
        "message": res.get("message") or "",
        "evidence": res.get("evidence") if res.get("evidence") is not None else {},
        "waiver": res.get("waiver") or None,
        "duration_s": res.get("duration_s"),
    }


# --------------------------------------------------------------------------- judges


def judge_module(res):
    """A validation_check return: its result, or an error result when the module failed before judging."""
    res = dict(res or {})
    if res.get("status"):
        return res
    return dict(result("error", res.get("expected"), res.get("actual"),
                       res.get("message") or res.get("msg") or "the check returned no result", res.get("evidence")),
                waiver=res.get("waiver"), duration_s=res.get("duration_s"))


def _int(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def judge_dicom_operations(ev):
    """OQ as the declared node: C-ECHO, C-STORE, C-FIND (>= 1 match) and C-MOVE (completed, 0 failed).

    ev: echo, store, find, move (the dicom_* modules' returns, {} when not run) and failure (why the
    block stopped, if it did).
    """
    echo, store, find, move = (ev.get(k) or {} for k in ("echo", "store", "find", "move"))
    subops = move.get("suboperations") if isinstance(move.get("suboperations"), dict) else {}
    actual = {
        "echo": (echo.get("status") or {}).get("code_hex", "not run") if isinstance(echo.get("status"), dict) else "not run",
        "stored": store.get("stored", "not run"),
        "sent": store.get("sent", "not run"),
        "find_matches": find.get("matches", "not run"),
        "move": move.get("suboperations", "not run"),
    }
    ok = (bool(echo.get("success")) and bool(store.get("success")) and bool(find.get("success"))
          and _int(find.get("matches"), 0) >= 1 and bool(move.get("success"))
          and _int(subops.get("failed"), 1) == 0 and _int(subops.get("completed"), 0) >= 1)
    error = ev.get("failure")
    status = "pass" if ok else ("error" if error else "fail")
    expected = {"echo": "0x0000", "store": "all stored", "find": ">= 1 match", "move": "completed, 0 failed"}
    evidence = {"echo": echo, "store": store, "find": find, "move": move}
    return result(status, expected, actual, error or _json(actual), evidence)


def _json(value):
    return json.dumps(value)


def _refusal(ev, key, calling_aet, probe_host=None):
    res = dicom_verdict.refusal_row(
        "", "", "", dicom_verdict.attempts_of(ev.get(key)), calling_aet=calling_aet,
        journal=dicom_verdict.journal_text(ev.get("journal")), lookups=dicom_verdict.lookup_matches(ev.get("lookups")),
        min_attempts=_int(ev.get("min_attempts"), dicom_verdict.MIN_ATTEMPTS), error=ev.get("failure"), probe_host=probe_host)
    return result(res["status"], res["expected"], res["actual"], res["message"], res["evidence"])


def judge_dicom_unknown_aet(ev):
    """OQ: the archive refused an undeclared AE title (ev: unknown, journal, lookups, min_attempts, failure, unknown_aet)."""
    return _refusal(ev, "unknown", ev.get("unknown_aet"))


def judge_dicom_wrong_host(ev):
    """OQ: the archive refused the declared AE title from another address (ev: wrong_host, calling_aet, probe_host, ...)."""
    return _refusal(ev, "wrong_host", ev.get("calling_aet"), probe_host=ev.get("probe_host"))


def _tail(res, key, lines=40):
    return list((res or {}).get(key) or [])[-lines:]


def _rc(res):
    rc = (res or {}).get("rc")
    return rc if isinstance(rc, int) and not isinstance(rc, bool) else None


def judge_backup_restore(ev):
    """OQ: a pgBackRest backup and a restore into a scratch directory exit 0 and yield PG_VERSION.

    ev: backup and restore (registered command results), restored_version (a registered stat of
    <restore_dir>/PG_VERSION) and restore_dir (its path).
    """
    backup, restore = ev.get("backup") or {}, ev.get("restore") or {}
    present = bool(((ev.get("restored_version") or {}).get("stat") or {}).get("exists"))
    ok = _rc(backup) == 0 and _rc(restore) == 0 and present
    return result("pass" if ok else "fail",
                  {"backup_rc": 0, "restore_rc": 0, "PG_VERSION": "present"},
                  {"backup_rc": _rc(backup), "restore_rc": _rc(restore), "PG_VERSION": "present" if present else "absent"},
                  "backup rc=%s, restore rc=%s into %s" % (_rc(backup), _rc(restore), ev.get("restore_dir")),
                  {"backup_stdout": _tail(backup, "stdout_lines"), "backup_stderr": _tail(backup, "stderr_lines"),
                   "restore_stdout": _tail(restore, "stdout_lines"), "restore_stderr": _tail(restore, "stderr_lines")})


def pq_judge(section):
    """The judge of one section of the pq_dicom_ingest return (validation_pq judges each section)."""
    def judge(ev):
        part = ev.get(section) if isinstance(ev.get(section), dict) else {}
        if part.get("status"):
            return result(part["status"], part.get("expected"), part.get("actual"), part.get("message", ""), part.get("evidence"))
        return result("error", None, None, ev.get("msg") or "the load test returned no result")
    judge.__name__ = "judge_pq_" + section
    return judge


# --------------------------------------------------------------------------- the table

# run: a runner function (validation_check runs it) or the task file that gathers the evidence;
# judge: evidence (or module return) -> result; check: the row's check name (the kind when None).
Kind = namedtuple("Kind", ["run", "judge", "check"])

KINDS = {
    "records": Kind(iq.run_records, judge_module, None),
    "packages": Kind(iq.run_packages, judge_module, None),
    "files": Kind(iq.run_files, judge_module, None),
    "services": Kind(iq.run_services, judge_module, None),
    "accounts": Kind(iq.run_accounts, judge_module, None),
    "certificates": Kind(iq.run_certificates, judge_module, None),
    "luks": Kind(iq.run_luks, judge_module, None),
    "sysctl": Kind(iq.run_sysctl, judge_module, None),
    "firewall": Kind(iq.run_firewall, judge_module, None),
    "audit_rules": Kind(iq.run_audit_rules, judge_module, None),
    "time_sync": Kind(iq.run_time_sync, judge_module, None),
    "audit_event": Kind(iq.run_audit_event, judge_module, None),
    "tcp": Kind(net.run_tcp, judge_module, None),
    "remote_closed_ports": Kind(net.run_tcp, judge_module, None),
    "tls": Kind(net.run_tls, judge_module, None),
    "http": Kind(net.run_http, judge_module, None),
    "health": Kind(net.run_health, judge_module, None),
    "dicomweb": Kind(net.run_dicomweb, judge_module, None),
    "postgresql": Kind(net.run_postgresql, judge_module, None),
    "redis": Kind(net.run_redis, judge_module, None),
    "dicom_operations": Kind("oq_dicom", judge_dicom_operations, "dicom_echo+store+find+move"),
    "dicom_unknown_aet": Kind("oq_dicom", judge_dicom_unknown_aet, "dicom_store (undeclared AE)"),
    "dicom_wrong_host": Kind("oq_dicom", judge_dicom_wrong_host, "dicom_store (declared AE, wrong address)"),
    "backup_restore": Kind("oq_backup", judge_backup_restore, "backup_restore"),
    "pq_ingest": Kind("pq", pq_judge("ingest"), "pq_dicom_ingest:ingest"),
    "pq_find": Kind("pq", pq_judge("find"), "pq_dicom_ingest:find"),
    "pq_resources": Kind("pq", pq_judge("resources"), "pq_dicom_ingest:resources"),
    "pq_integrity": Kind("pq", pq_judge("integrity"), "pq_dicom_ingest:integrity"),
}


def module_kinds():
    """The kinds validation_check runs."""
    return sorted(k for k, v in KINDS.items() if callable(v.run))


def check_name(kind):
    return KINDS[kind].check or kind


def applies(entry, group_names):
    return bool(set(entry["check"].get("groups") or []) & set(group_names or []))


def judged_row(entry, host, evidence):
    """The row of a catalogue entry on a host, judged from its evidence by the entry's kind."""
    kind = entry["check"]["kind"]
    if kind not in KINDS:
        return row(entry["id"], host, kind, result("error", None, None, "no judge for check kind %r" % kind))
    return row(entry["id"], host, check_name(kind), KINDS[kind].judge(evidence or {}))


def module_rows(results, host):
    """Rows from a registered loop of validation_check calls whose item is a catalogue entry (or [entry, ...])."""
    rows = []
    for res in results or []:
        if res.get("skipped"):
            continue
        entry = res.get("item")
        if isinstance(entry, (list, tuple)):
            entry = entry[0]
        rows.append(judged_row(entry, host, res))
    return rows


def evidence_rows(catalogue, host, group_names, runner, evidence):
    """Rows of the catalogue entries gathered by one task file (runner) that apply to the host's groups."""
    return [judged_row(e, host, evidence) for e in catalogue
            if KINDS.get(e["check"]["kind"], Kind(None, None, None)).run == runner and applies(e, group_names)]


def inventory_rows(catalogue, inventory, groups):
    """not_applicable rows of the requirements whose inventory groups hold no host (groups: the inventory's)."""
    rows = []
    for entry in catalogue:
        wanted = entry["check"].get("groups") or []
        if any((groups or {}).get(g) for g in wanted):
            continue
        rows.append(row(entry["id"], inventory, entry["check"]["kind"],
                        result("not_applicable", {"groups": wanted}, {"hosts": []},
                               "no host of the inventory is in " + ", ".join(wanted))))
    return rows
