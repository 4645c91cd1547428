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

A requirement judged on the archive's DICOM listeners says so in its catalogue entry
(``check.listeners``, see ``LISTENER_SETS``): the tasks gather its evidence once per listener the
orthanc role recorded (``validation_dicom_listeners``), every row names the listener it judged
(``listener_label``), and a requirement none of whose listeners is recorded gets a row of its own
(``missing_listener_rows``), never silence.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from collections import namedtuple
from collections.abc import Mapping

from ansible_collections.hospital.imaging.plugins.module_utils import dicom_verdict
from ansible_collections.hospital.imaging.plugins.module_utils import validation_iq as iq
from ansible_collections.hospital.imaging.plugins.module_utils import validation_net as net
from ansible_collections.hospital.imaging.plugins.module_utils import validation_records as records_mod
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
    """OQ: a pgBackRest backup into the local repository and the backup host's off-host backup exit 0, and the
    off-host repository restores into a scratch directory that holds PG_VERSION. A restore from the local
    repository fails the row: a lost host loses it (the postgresql record may waive it).

    ev: backup, offsite_backup and restore (registered command results; offsite_backup skipped without an
    off-host repository), restored_version (a registered stat of <restore_dir>/PG_VERSION), restore_dir (its
    path) and repository (offsite or local).
    """
    backup, restore = ev.get("backup") or {}, ev.get("restore") or {}
    offsite_backup = ev.get("offsite_backup") or {}
    repository = ev.get("repository") or "local"
    present = bool(((ev.get("restored_version") or {}).get("stat") or {}).get("exists"))
    offsite_rc = _rc(offsite_backup) if repository == "offsite" else None
    ok = _rc(backup) == 0 and offsite_rc == 0 and _rc(restore) == 0 and present
    return result("pass" if ok else "fail",
                  {"backup_rc": 0, "offsite_backup_rc": 0, "restore_rc": 0, "PG_VERSION": "present", "repository": "offsite"},
                  {"backup_rc": _rc(backup), "offsite_backup_rc": offsite_rc, "restore_rc": _rc(restore),
                   "PG_VERSION": "present" if present else "absent", "repository": repository},
                  "backup rc=%s, off-host backup rc=%s, restore rc=%s from the %s repository into %s"
                  % (_rc(backup), offsite_rc, _rc(restore), repository, ev.get("restore_dir")),
                  {"backup_stdout": _tail(backup, "stdout_lines"), "backup_stderr": _tail(backup, "stderr_lines"),
                   "offsite_backup_stderr": _tail(offsite_backup, "stderr_lines"),
                   "restore_stdout": _tail(restore, "stdout_lines"), "restore_stderr": _tail(restore, "stderr_lines")})


def _restore_drill(drill, record):
    """The restore drill's part of OQ-BAK-002 (oq_restore_drill.yml's evidence, a dict): ok, actual, message.

    Passes when the index restored to the record's time (exit 0) and started out of recovery, the scratch Orthanc
    answered with the record's instance count, every file the index names is in the restored store (and there is
    one per instance), and, unless the archive is empty, the restored study answered C-FIND (one match) and WADO-RS
    (200, a multipart of DICOM). A drill that could not run fails with its reason.
    """
    if drill.get("skipped") or not drill:
        reason = drill.get("reason") or "the restore drill did not run"
        return False, {"drill": "not run"}, "restore drill not run: %s" % reason
    recorded = record.get("instances") if isinstance(record, dict) else None
    statistics = drill.get("statistics") if isinstance(drill.get("statistics"), dict) else {}
    count = statistics.get("CountInstances")
    named = missing = None
    files = drill.get("files") or []
    if files:
        try:
            named, missing = (int(part) for part in str(files[0]).split())
        except ValueError:
            named = missing = None
    find = drill.get("find") if isinstance(drill.get("find"), dict) else {}
    matches = find.get("matches")
    wado = drill.get("wado_status")
    wado_type = str(drill.get("wado_content_type") or "")
    empty = count == 0
    actual = {
        "index_restore_rc": _rc(drill.get("index_restore")), "index_start_rc": _rc(drill.get("index_start")),
        "in_recovery": drill.get("in_recovery") or None, "instances": count, "recorded_instances": recorded,
        "files_named": named, "files_missing": missing,
        "c_find_matches": None if empty else matches, "wado_rs_status": None if empty else wado,
        "repository": drill.get("repository"),
    }
    ok = (actual["index_restore_rc"] == 0 and actual["index_start_rc"] == 0 and actual["in_recovery"] == "f"
          and isinstance(count, int) and not isinstance(count, bool) and isinstance(recorded, int) and count == recorded
          and missing == 0 and named == count
          and (empty or (matches == 1 and wado == 200 and wado_type.startswith("multipart/related")))
          and drill.get("repository") == "offsite")
    message = ("restore drill to %s from the %s repository: index restore rc=%s, start rc=%s, %s instances (recorded %s), "
               "%s files named, %s missing, C-FIND %s, WADO-RS %s"
               % (drill.get("target_time"), drill.get("repository"), actual["index_restore_rc"], actual["index_start_rc"], count,
                  recorded, named, missing, "skipped (empty archive)" if empty else "%s match(es)" % matches,
                  "skipped" if empty else wado))
    return ok, actual, message


def judge_image_backup_restore(ev):
    """OQ: an image backup exits 0, the newest snapshot of the off-host repository restores into a scratch
    directory, every file there matches the SHA-256 manifest the snapshot carries (an empty store has nothing
    to check), and the restore drill (_restore_drill) on that snapshot and the index at its time passes. A
    restore from the local repository fails the row: a lost host loses it (a role record may waive it).

    ev: backup, restore and sha256 (registered command results; sha256 skipped for an empty store), record
    (the snapshot's record.json as text), restore_dir and repository (offsite or local), drill (the drill's
    evidence, or {skipped, reason}).
    """
    backup, restore, sha = ev.get("backup") or {}, ev.get("restore") or {}, ev.get("sha256") or {}
    try:
        record = json.loads(ev.get("record") or "")
    except ValueError:
        record = {}
    files = record.get("files") if isinstance(record, dict) else None
    checked = _rc(sha) == 0 if files else sha.get("skipped", False) and files == 0
    repository = ev.get("repository") or "local"
    drill = ev.get("drill") if isinstance(ev.get("drill"), dict) else {}
    drill_ok, drill_actual, drill_message = _restore_drill(drill, record)
    ok = (_rc(backup) == 0 and _rc(restore) == 0 and isinstance(files, int) and checked and repository == "offsite"
          and drill_ok)
    return result("pass" if ok else "fail",
                  {"backup_rc": 0, "restore_rc": 0, "manifest": "every file matches", "repository": "offsite",
                   "drill": {"index_restore_rc": 0, "index_start_rc": 0, "in_recovery": "f", "instances": "the recorded count",
                             "files_missing": 0, "c_find_matches": 1, "wado_rs_status": 200, "repository": "offsite"}},
                  {"backup_rc": _rc(backup), "restore_rc": _rc(restore), "files": files,
                   "manifest": "every file matches" if checked else ("no record" if files is None else "mismatch"),
                   "repository": repository, "drill": drill_actual},
                  "image backup rc=%s, restore rc=%s from the %s repository into %s, %s files checked against the snapshot's manifest; %s"
                  % (_rc(backup), _rc(restore), repository, ev.get("restore_dir"), files, drill_message),
                  {"record": record, "backup_stdout": _tail(backup, "stdout_lines"), "backup_stderr": _tail(backup, "stderr_lines"),
                   "restore_stderr": _tail(restore, "stderr_lines"), "sha256_stdout": _tail(sha, "stdout_lines", 20),
                   "sha256_stderr": _tail(sha, "stderr_lines"),
                   "drill": {"target_time": drill.get("target_time"), "study": drill.get("study"),
                             "files": list(drill.get("files") or [])[:6],
                             "index_restore_stderr": _tail(drill.get("index_restore"), "stderr_lines"),
                             "index_start_stdout": _tail(drill.get("index_start"), "stdout_lines"),
                             "index_start_stderr": _tail(drill.get("index_start"), "stderr_lines"),
                             "orthanc_start_stderr": _tail(drill.get("orthanc_start"), "stderr_lines"),
                             "find": {k: v for k, v in (drill.get("find") or {}).items() if k in ("matches", "status", "msg")},
                             "wado_content_type": drill.get("wado_content_type"), "wado_bytes": drill.get("wado_bytes"),
                             "postgresql_log": list(drill.get("postgresql_log") or [])[-20:],
                             "reason": drill.get("reason")}})


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
    "database_audit": Kind(iq.run_database_audit, judge_module, None),
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
    "image_backup_restore": Kind("oq_image_backup", judge_image_backup_restore, "image_backup_restore"),
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


# --------------------------------------------------------------------------- listeners

# The listeners a requirement is judged on (its catalogue entry's check.listeners), among the DICOM
# listeners the orthanc role recorded (validation_dicom_listeners, in the record's order: plain first):
# every_dicom and every_dicom_tls give a row per listener of the set, first_dicom one row, on the
# listener the tasks chose (validation_pq_dicom_listener).
LISTENER_SETS = {
    "every_dicom": "every recorded DICOM listener",
    "every_dicom_tls": "every recorded DICOM TLS listener",
    "first_dicom": "the first recorded DICOM listener",
}
NO_LISTENER = ("the orthanc record (ansible_local.imaging_orthanc.listeners) lists no DICOM listener: "
               "nothing was probed")
NO_TLS_LISTENER = ("no DICOM TLS listener is recorded (orthanc_dicom_tls_enabled false): DICOM traffic to the archive "
                   "is not encrypted; a site that decided so records a waiver for this requirement")


def _truthy(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "yes", "on", "1", "y", "t")


def is_dicom_listener(listener):
    """Whether a value is a DICOM listener entry of the record (protocol dicom, or none given, and a port)."""
    return (isinstance(listener, Mapping) and listener.get("port") not in (None, "")
            and listener.get("protocol", "dicom") == "dicom")


def in_set(listeners, listener):
    """Whether a DICOM listener belongs to a catalogue entry's listener set."""
    if not is_dicom_listener(listener):
        return False
    return listeners != "every_dicom_tls" or _truthy(listener.get("tls"))


def listener_label(listener):
    """How a row names the listener it judged: name, port and plain or TLS (``dicom-tls 4243 TLS``)."""
    tls = _truthy(listener.get("tls"))
    return "%s %s %s" % (listener.get("name") or ("dicom-tls" if tls else "dicom"), listener.get("port"),
                         "TLS" if tls else "plain")


def _on_listener(made, listener):
    """A row that names the listener it judged: in its check, its finding and its evidence."""
    label = listener_label(listener)
    evidence = dict(made["evidence"]) if isinstance(made["evidence"], Mapping) else {"items": made["evidence"]}
    evidence["listener"] = dict(listener)
    return dict(made, check="%s [%s]" % (made["check"], label), message="%s: %s" % (label, made["message"]),
                evidence=evidence)


def _recorded(listeners):
    return [listener_label(x) for x in listeners or [] if is_dicom_listener(x)]


def judged_row(entry, host, evidence, listener=None):
    """The row of a catalogue entry on a host, judged from its evidence by the entry's kind.

    listener: the DICOM listener the evidence was gathered on. An entry judged on listeners (check.listeners)
    without one is an error row: the orthanc record lists no DICOM listener.
    """
    kind = entry["check"]["kind"]
    if kind not in KINDS:
        return row(entry["id"], host, kind, result("error", None, None, "no judge for check kind %r" % kind))
    wanted = entry["check"].get("listeners")
    if wanted is not None and wanted not in LISTENER_SETS:
        return row(entry["id"], host, check_name(kind),
                   result("error", None, None, "unknown listener set %r (one of %s)" % (wanted, ", ".join(sorted(LISTENER_SETS)))))
    if wanted and not is_dicom_listener(listener):
        return row(entry["id"], host, check_name(kind),
                   result("error", {"listeners": LISTENER_SETS[wanted]}, {"listeners": []}, NO_LISTENER))
    made = row(entry["id"], host, check_name(kind), KINDS[kind].judge(evidence or {}))
    return _on_listener(made, listener) if is_dicom_listener(listener) else made


def module_rows(results, host, listener=None):
    """Rows from a registered loop of validation_check calls whose item is a catalogue entry (or [entry, ...]).

    listener: the DICOM listener the calls probed, named in every row.
    """
    rows = []
    for res in results or []:
        if res.get("skipped"):
            continue
        entry = res.get("item")
        if isinstance(entry, (list, tuple)):
            entry = entry[0]
        rows.append(judged_row(entry, host, res, listener))
    return rows


def evidence_rows(catalogue, host, group_names, runner, evidence, listener=None):
    """Rows of the catalogue entries gathered by one task file (runner) that apply to the host's groups.

    listener: the DICOM listener the evidence was gathered on; an entry judged on a listener set that does not
    hold it (every_dicom_tls and a plain listener) has no row from this evidence.
    """
    rows = []
    for entry in catalogue:
        if KINDS.get(entry["check"]["kind"], Kind(None, None, None)).run != runner or not applies(entry, group_names):
            continue
        wanted = entry["check"].get("listeners")
        if wanted in LISTENER_SETS and is_dicom_listener(listener) and not in_set(wanted, listener):
            continue
        rows.append(judged_row(entry, host, evidence, listener))
    return rows


def missing_listener_rows(catalogue, host, group_names, listeners):
    """Rows of the requirements judged on every listener of a set (every_dicom, every_dicom_tls) of which
    ``listeners`` (the recorded DICOM listeners the tasks probed) holds none, on a host they apply to.

    No DICOM listener at all is an error (the orthanc record lists none); DICOM listeners but no TLS one is a
    failure of a TLS requirement (orthanc_dicom_tls_enabled false), which only a written waiver accepts.
    """
    rows = []
    recorded = [x for x in listeners or [] if is_dicom_listener(x)]
    for entry in catalogue:
        wanted = entry["check"].get("listeners")
        if wanted not in ("every_dicom", "every_dicom_tls") or not applies(entry, group_names):
            continue
        if any(in_set(wanted, x) for x in recorded):
            continue
        kind = entry["check"]["kind"]
        check = check_name(kind) if kind in KINDS else kind
        expected, actual = {"listeners": LISTENER_SETS[wanted]}, {"listeners": _recorded(recorded)}
        if not recorded:
            made = result("error", expected, actual, NO_LISTENER)
        else:
            made = result("fail", expected, actual, NO_TLS_LISTENER)
        rows.append(row(entry["id"], host, check, made))
    return rows


def waived_rows(rows, waivers=None, records=None):
    """Rows with the waivers applied: a failing row becomes waived when a role record (records, by role) or the
    inventory (waivers) holds a waiver naming its requirement with a written reason (validation_records)."""
    return [records_mod.apply_waiver(made, records_mod.find_waiver(made["requirement"], records or {}, waivers or []))
            for made in rows]


def role_records(local_facts):
    """The role records among a host's local facts (ansible_local): imaging_<role> -> <role>."""
    return dict((key[len("imaging_"):], value) for key, value in (local_facts or {}).items()
                if key.startswith("imaging_") and isinstance(value, Mapping))


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
