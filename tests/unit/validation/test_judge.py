"""The kind table, the row constructor and the judge of every check kind (validation_judge)."""
import copy

import pytest
import yaml

from ansible_collections.hospital.imaging.plugins.filter.dicom_refusal_row import dicom_refusal_row
from ansible_collections.hospital.imaging.plugins.filter.validation_rows import validation_rows
from ansible_collections.hospital.imaging.plugins.module_utils import validation_judge as vj
from ansible_collections.hospital.imaging.plugins.modules import validation_check

CATALOGUE = "roles/validation/files/catalogue.yml"
ROW_KEYS = set(vj.ROW_KEYS)


@pytest.fixture(scope="module")
def catalogue(request):
    root = request.config.rootpath
    with open(str(root / CATALOGUE)) as handle:
        return yaml.safe_load(handle)["validation_catalogue"]


def entry(kind, rid="REQ-001", groups=("imaging",)):
    return {"id": rid, "check": {"kind": kind, "groups": list(groups)}}


# --------------------------------------------------------------------------- the table


def test_every_catalogue_kind_has_a_runner_and_a_judge(catalogue, request):
    """A runner is a function the module runs, or the validation task file that gathers the evidence."""
    tasks = request.config.rootpath / "roles" / "validation" / "tasks"
    for item in catalogue:
        kind = item["check"]["kind"]
        assert kind in vj.KINDS, item["id"]
        assert callable(vj.KINDS[kind].judge)
        run = vj.KINDS[kind].run
        assert callable(run) or (tasks / (run + ".yml")).is_file(), (item["id"], run)


def test_the_module_runs_exactly_the_kinds_with_a_runner_function():
    assert sorted(validation_check.SPECS) == vj.module_kinds()


def test_row_has_every_key_and_defaults_an_empty_result_to_error():
    made = vj.row("IQ-PKG-001", "h1", "packages", {})
    assert set(made) == ROW_KEYS
    assert made["status"] == "error" and made["evidence"] == {} and made["waiver"] is None


# --------------------------------------------------------------------------- module kinds

MODULE_PASS = {"changed": False, "status": "pass", "expected": {"nginx": "enabled+active"},
               "actual": {"nginx": "enabled+active"}, "message": "1 service(s) enabled and active",
               "evidence": {"systemctl": []}, "requirement": "IQ-SVC-001", "check": "services", "duration_s": 0.12,
               "invocation": {"module_args": {}}}
MODULE_WAIVED = dict(MODULE_PASS, status="waived", message="waived (role): no USB on a VM",
                     waiver={"id": "W-1", "reason": "no USB on a VM", "source": "role"})
MODULE_FAILED = {"failed": True, "msg": "invalid params for the tcp check: port: must be int", "changed": False}


@pytest.mark.parametrize("kind", vj.module_kinds())
@pytest.mark.parametrize("ret,status,message", [
    (MODULE_PASS, "pass", "1 service(s) enabled and active"),
    (MODULE_WAIVED, "waived", "waived (role): no USB on a VM"),
    (MODULE_FAILED, "error", "invalid params for the tcp check: port: must be int"),
    ({}, "error", "the check returned no result"),
])
def test_module_kinds_are_judged_from_the_module_return(kind, ret, status, message):
    res = dict(copy.deepcopy(ret), item=entry(kind, "IQ-SVC-001"))
    rows = validation_rows([res], host="h1")
    assert len(rows) == 1 and set(rows[0]) == ROW_KEYS
    made = rows[0]
    assert (made["requirement"], made["host"], made["check"], made["status"], made["message"]) == (
        "IQ-SVC-001", "h1", kind, status, message)
    if status == "waived":
        assert made["waiver"]["id"] == "W-1"
    if ret is MODULE_PASS:
        assert made["duration_s"] == 0.12 and made["evidence"] == {"systemctl": []}


def test_module_rows_skip_skipped_items_and_read_a_product_item():
    results = [{"skipped": True, "item": entry("http")},
               dict(MODULE_PASS, item=[entry("health", "OQ-APP-001"), {"url": "https://h1/health"}])]
    rows = validation_rows(results, host="h1")
    assert [(r["requirement"], r["check"], r["status"]) for r in rows] == [("OQ-APP-001", "health", "pass")]


def test_health_without_url_is_not_applicable():
    from ansible_collections.hospital.imaging.plugins.module_utils import validation_net as net
    res = net.run_health(None, {"url": None})
    assert res["status"] == "not_applicable" and res["expected"] == [] and res["evidence"] == {}


# --------------------------------------------------------------------------- OQ-DICOM-001

ECHO = {"changed": False, "success": True, "status": {"code": 0, "code_hex": "0x0000", "category": "Success"},
        "association": {"outcome": "established", "established": True}}
STORE = {"changed": False, "success": True, "sent": 2, "stored": 2, "patient_id": "HOSPITAL-IMAGING-TEST",
         "study_instance_uid": "1.2.826.0.1.3680043.8.498.1"}
FIND = {"changed": False, "success": True, "matches": 1, "identifiers": [{"StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1"}]}
MOVE = {"changed": False, "success": True, "suboperations": {"completed": 2, "failed": 0, "warning": 0, "remaining": 0}}
DICOM_OK = {"echo": ECHO, "store": STORE, "find": FIND, "move": MOVE}


def test_dicom_operations_pass():
    res = vj.judge_dicom_operations(DICOM_OK)
    assert res["status"] == "pass"
    assert res["actual"] == {"echo": "0x0000", "stored": 2, "sent": 2, "find_matches": 1, "move": MOVE["suboperations"]}
    assert res["expected"] == {"echo": "0x0000", "store": "all stored", "find": ">= 1 match", "move": "completed, 0 failed"}
    assert set(res["evidence"]) == {"echo", "store", "find", "move"}


@pytest.mark.parametrize("change", [
    {"find": dict(FIND, matches=0)},
    {"move": dict(MOVE, suboperations={"completed": 1, "failed": 1, "warning": 0, "remaining": 0})},
    {"move": dict(MOVE, suboperations={"completed": 0, "failed": 0, "warning": 0, "remaining": 0})},
    {"echo": dict(ECHO, success=False, status={"code_hex": "0xC000"})},
    {"store": dict(STORE, success=False, stored=1)},
])
def test_dicom_operations_fail(change):
    res = vj.judge_dicom_operations(dict(DICOM_OK, **change))
    assert res["status"] == "fail" and res["message"].startswith("{")


def test_dicom_operations_not_run_is_an_error_with_the_reason():
    res = vj.judge_dicom_operations({"echo": ECHO, "failure": "Failed to import the required Python library (pynetdicom)"})
    assert res["status"] == "error" and "pynetdicom" in res["message"]
    assert res["actual"]["stored"] == "not run" and res["actual"]["move"] == "not run"


# --------------------------------------------------------------------------- OQ-DICOM-002/003

def attempt(outcome, result, stored=0, uid="1.2.3.1"):
    return {"changed": False, "success": stored > 0, "sent": 1, "stored": stored, "study_instance_uid": uid,
            "association": {"outcome": outcome, "result": result, "established": outcome == "established",
                            "request_sent": True, "local_address": "10.0.0.5",
                            "pdus_received": ["A_ASSOCIATE_RJ"] if outcome == "rejected" else []}}


REJECTED = {"results": [attempt("rejected", "rejected-permanent", uid="1.2.3.%d" % i) for i in range(3)]}
ACCEPTED = {"results": [attempt("established", "accepted", stored=1)]}
JOURNAL = {"rc": 0, "stdout": "W1201 Rejected association for remote AET UNDECLARED on IP 10.0.0.5\n", "changed": False}
LOOKUPS = {"results": [{"item": "1.2.3.%d" % i, "success": True, "matches": 0} for i in range(3)]}


@pytest.mark.parametrize("kind,key,aet,probe", [
    ("dicom_unknown_aet", "unknown", "UNDECLARED", None),
    ("dicom_wrong_host", "wrong_host", "VALIDATION", "probe1"),
])
@pytest.mark.parametrize("attempts,status", [(REJECTED, "pass"), (ACCEPTED, "fail"), ({}, "error")])
def test_refusal_kinds_give_the_dicom_refusal_row(kind, key, aet, probe, attempts, status):
    ev = {key: attempts, "journal": JOURNAL, "lookups": LOOKUPS, "min_attempts": 3, "failure": None,
          "unknown_aet": "UNDECLARED", "calling_aet": "VALIDATION", "probe_host": "probe1"}
    made = vj.judged_row(entry(kind, "OQ-DICOM-00x", ["imaging_dicom"]), "h1", ev)
    old = dicom_refusal_row(attempts, requirement="OQ-DICOM-00x", host="h1", check=vj.check_name(kind), calling_aet=aet,
                            journal=JOURNAL, lookups=LOOKUPS, min_attempts=3, error=None, probe_host=probe)
    assert made["status"] == status
    assert dict(old, waiver=None, duration_s=None) == made


# --------------------------------------------------------------------------- OQ-BAK-001

BACKUP_OK = {"rc": 0, "changed": True, "stdout_lines": ["P00   INFO: backup command end: completed successfully"],
             "stderr_lines": []}
RESTORED = {"stat": {"exists": True, "path": "/var/tmp/validation-restore-x/PG_VERSION"}}


OFFSITE = {"offsite_backup": BACKUP_OK, "repository": "offsite"}


def test_backup_restore_pass():
    res = vj.judge_backup_restore(dict(OFFSITE, backup=BACKUP_OK, restore=BACKUP_OK, restored_version=RESTORED,
                                       restore_dir="/var/tmp/validation-restore-x"))
    assert res["status"] == "pass"
    assert res["actual"] == {"backup_rc": 0, "offsite_backup_rc": 0, "restore_rc": 0, "PG_VERSION": "present", "repository": "offsite"}
    assert res["message"] == ("backup rc=0, off-host backup rc=0, restore rc=0 from the offsite repository into "
                              "/var/tmp/validation-restore-x")
    assert res["evidence"]["backup_stdout"] == BACKUP_OK["stdout_lines"]


@pytest.mark.parametrize("ev", [
    dict(OFFSITE, backup=dict(BACKUP_OK, rc=50, stderr_lines=["ERROR: [050]: unable to acquire lock"]), restore=BACKUP_OK,
         restored_version=RESTORED),
    dict(OFFSITE, backup=BACKUP_OK, restore=BACKUP_OK, restored_version={"stat": {"exists": False}}),
    dict(OFFSITE, backup=BACKUP_OK, restore={"skipped": True}, restored_version=RESTORED),
    # the backup host's own backup failed (its database host's TLS server unreachable)
    dict(OFFSITE, offsite_backup=dict(BACKUP_OK, rc=1), backup=BACKUP_OK, restore=BACKUP_OK, restored_version=RESTORED),
    # only the local repository: a lost host loses it
    {"backup": BACKUP_OK, "offsite_backup": {"skipped": True}, "repository": "local", "restore": BACKUP_OK, "restored_version": RESTORED},
])
def test_backup_restore_fail(ev):
    res = vj.judge_backup_restore(dict(ev, restore_dir="/var/tmp/x"))
    assert res["status"] == "fail"


def test_backup_stdout_is_cut_to_the_last_40_lines():
    many = dict(BACKUP_OK, stdout_lines=[str(i) for i in range(100)])
    res = vj.judge_backup_restore(dict(OFFSITE, backup=many, restore=BACKUP_OK, restored_version=RESTORED))
    assert res["evidence"]["backup_stdout"] == [str(i) for i in range(60, 100)]


# --------------------------------------------------------------------------- OQ-BAK-002

IMAGE_RECORD = '{"taken_at": "2026-12-02 18:00:00.000001", "files": 12, "instances": 12, "manifest_sha256": "ab"}'
OK = {"rc": 0, "stdout_lines": [], "stderr_lines": []}
# oq_restore_drill.yml's evidence of a drill that proved everything
DRILL = {"target_time": "2026-12-02 18:00:00.000001", "repository": "offsite", "index_restore": OK, "index_start": OK,
         "in_recovery": "f", "orthanc_start": OK, "statistics": {"CountInstances": 12}, "statistics_status": 200,
         "files": ["12 0"], "study": "1.2.3", "find": {"matches": 1}, "wado_status": 200,
         "wado_content_type": 'multipart/related; type="application/dicom"; boundary=x', "wado_bytes": 1000, "postgresql_log": []}


def test_image_backup_restore_pass():
    res = vj.judge_image_backup_restore({"backup": OK, "restore": OK, "sha256": OK, "record": IMAGE_RECORD, "drill": DRILL,
                                         "restore_dir": "/var/tmp/validation-image-restore-x", "repository": "offsite"})
    assert res["status"] == "pass", res
    assert res["actual"] == {"backup_rc": 0, "restore_rc": 0, "files": 12, "manifest": "every file matches",
                             "repository": "offsite",
                             "drill": {"index_restore_rc": 0, "index_start_rc": 0, "in_recovery": "f", "instances": 12,
                                       "recorded_instances": 12, "files_named": 12, "files_missing": 0, "c_find_matches": 1,
                                       "wado_rs_status": 200, "repository": "offsite"}}
    assert res["evidence"]["record"]["manifest_sha256"] == "ab"
    assert "12 instances (recorded 12)" in res["message"] and "C-FIND 1 match(es), WADO-RS 200" in res["message"]


def test_image_backup_restore_of_an_empty_store_passes_without_a_check():
    empty = dict(DRILL, statistics={"CountInstances": 0}, files=["0 0"], study="", find={}, wado_status=None, wado_content_type="")
    res = vj.judge_image_backup_restore({"backup": OK, "restore": OK, "sha256": {"skipped": True}, "drill": empty,
                                         "record": '{"files": 0, "instances": 0}', "repository": "offsite"})
    assert res["status"] == "pass", res
    assert "C-FIND skipped (empty archive)" in res["message"]


@pytest.mark.parametrize("drill", [
    {"skipped": True, "reason": "the index is reached over the network (db1), not on this host"},
    None,
    dict(DRILL, index_restore=dict(OK, rc=1, stderr_lines=["ERROR: [075]: no backup set found to restore"])),
    dict(DRILL, index_start=dict(OK, rc=1)),
    dict(DRILL, in_recovery="t"),
    dict(DRILL, in_recovery=""),
    dict(DRILL, statistics={"CountInstances": 11}),
    dict(DRILL, statistics={}),
    dict(DRILL, files=["12 1", "0f3e"]),
    dict(DRILL, files=[]),
    dict(DRILL, files=["11 0"]),
    dict(DRILL, find={"matches": 0}),
    dict(DRILL, find={"failed": True, "msg": "association rejected"}),
    dict(DRILL, wado_status=404),
    dict(DRILL, wado_content_type="application/json"),
    dict(DRILL, repository="local"),
])
def test_image_backup_restore_fails_when_the_drill_does(drill):
    """Every file of the snapshot matches, but the drill on the scratch target failed, or did not run."""
    ev = {"backup": OK, "restore": OK, "sha256": OK, "record": IMAGE_RECORD, "repository": "offsite"}
    if drill is not None:
        ev["drill"] = drill
    res = vj.judge_image_backup_restore(ev)
    assert res["status"] == "fail", res
    assert "restore drill" in res["message"]


def test_image_backup_restore_fails_without_an_instance_count_in_the_record():
    res = vj.judge_image_backup_restore({"backup": OK, "restore": OK, "sha256": OK, "drill": DRILL, "repository": "offsite",
                                         "record": '{"taken_at": "2026-12-02 18:00:00.000001", "files": 12, "instances": null}'})
    assert res["status"] == "fail" and res["actual"]["drill"]["recorded_instances"] is None, res


def test_image_backup_restore_from_the_local_repository_fails_and_a_record_waiver_waives_it():
    """Every file matches, but the snapshot came from this host's own repository: a lost host loses it."""
    res = vj.judge_image_backup_restore({"backup": OK, "restore": OK, "sha256": OK, "record": IMAGE_RECORD, "drill": DRILL,
                                         "repository": "local"})
    assert res["status"] == "fail" and res["actual"]["repository"] == "local", res
    assert "from the local repository" in res["message"]
    made = vj.row("OQ-BAK-002", "h1", "image_backup_restore", res)
    waiver = {"id": "orthanc-backup-offsite", "requirement": "OQ-BAK-002", "reason": "no imaging_backup host in the sandbox"}
    waived = vj.waived_rows([made], [], {"orthanc": {"waivers": [waiver]}})[0]
    assert waived["status"] == "waived", waived


@pytest.mark.parametrize("ev", [
    {"backup": dict(OK, rc=1, stderr_lines=["Fatal: wrong password or no key found"]), "restore": OK, "sha256": OK,
     "record": IMAGE_RECORD},
    {"backup": OK, "restore": dict(OK, rc=1), "sha256": OK, "record": IMAGE_RECORD},
    {"backup": OK, "restore": OK, "sha256": dict(OK, rc=1, stdout_lines=["./ab/cd/x: FAILED"]), "record": IMAGE_RECORD},
    {"backup": OK, "restore": OK, "sha256": {"skipped": True}, "record": IMAGE_RECORD},
    {"backup": OK, "restore": OK, "sha256": OK, "record": ""},
    {"backup": OK, "restore": OK, "sha256": {"skipped": True}, "record": "not json"},
])
def test_image_backup_restore_fail(ev):
    res = vj.judge_image_backup_restore(dict(ev, restore_dir="/var/tmp/x", repository="offsite", drill=DRILL))
    assert res["status"] == "fail", res


# --------------------------------------------------------------------------- PQ

PQ_RETURN = {
    "changed": False,
    "ingest": {"status": "pass", "expected": {"min_instances_per_s": 5}, "message": "41.2 instances/s",
               "actual": {"instances_per_s": 41.2, "p95_store_ms": 180.3, "failures": 0}, "evidence": {}},
    "find": {"status": "fail", "expected": {"p95_find_ms": 100}, "message": "p95 C-FIND 350 ms",
             "actual": {"p95_find_ms": 350.1, "finds": 15, "failures": 0}, "evidence": {}},
    "resources": {"status": "pass", "expected": {}, "actual": {"disk_free_percent_min": 61.2}, "message": "ok", "evidence": {}},
    "integrity": {"status": "pass", "expected": {}, "actual": {"found": 1236, "missing": 0}, "message": "ok", "evidence": {}},
    "metrics": {"instances_per_s": 41.2}, "series": {}, "thresholds": {},
}


@pytest.mark.parametrize("kind,section,status", [
    ("pq_ingest", "ingest", "pass"), ("pq_find", "find", "fail"),
    ("pq_resources", "resources", "pass"), ("pq_integrity", "integrity", "pass")])
def test_pq_kinds_read_their_section(kind, section, status):
    made = vj.judged_row(entry(kind, "PQ-X", ["imaging_dicom"]), "h1", PQ_RETURN)
    assert made["status"] == status and made["check"] == "pq_dicom_ingest:" + section
    assert made["actual"] == PQ_RETURN[section]["actual"]


@pytest.mark.parametrize("kind", ["pq_ingest", "pq_find", "pq_resources", "pq_integrity"])
def test_pq_kinds_error_when_the_load_test_did_not_run(kind):
    res = vj.KINDS[kind].judge({"failed": True, "msg": "pynetdicom is required"})
    assert res["status"] == "error" and res["message"] == "pynetdicom is required"
    assert vj.KINDS[kind].judge({})["message"] == "the load test returned no result"


PLAIN = {"name": "dicom", "protocol": "dicom", "port": 4242, "tls": False, "scope": "network", "sources": ["10.0.0.0/24"],
         "service": "orthanc", "client_certificate": False}


def test_evidence_rows_pick_the_runner_and_the_host_groups(catalogue):
    rows = validation_rows(catalogue, host="h1", source="evidence", runner="pq", group_names=["imaging", "imaging_dicom"],
                           evidence=PQ_RETURN, listener=PLAIN)
    assert [r["requirement"] for r in rows] == ["PQ-INGEST-001", "PQ-FIND-001", "PQ-RES-001", "PQ-INT-001"]
    assert validation_rows(catalogue, host="h1", source="evidence", runner="pq", group_names=["imaging_web"],
                           evidence=PQ_RETURN, listener=PLAIN) == []
    dicom = validation_rows(catalogue, host="h1", source="evidence", runner="oq_dicom", group_names=["imaging_dicom"],
                            listener=PLAIN,
                            evidence=dict(DICOM_OK, unknown=REJECTED, wrong_host=REJECTED, journal=JOURNAL, lookups=LOOKUPS,
                                          min_attempts=3, unknown_aet="UNDECLARED", calling_aet="VALIDATION"))
    assert [(r["requirement"], r["status"]) for r in dicom] == [
        ("OQ-DICOM-001", "pass"), ("OQ-DICOM-002", "pass"), ("OQ-DICOM-003", "pass")]


# --------------------------------------------------------------------------- inventory

def test_inventory_rows_mark_requirements_without_hosts(catalogue):
    groups = {"all": ["h1"], "imaging": ["h1"], "imaging_dicom": ["h1"], "imaging_db": ["h1"], "imaging_web": [],
              "ungrouped": []}
    rows = validation_rows(catalogue, host="sandbox", source="inventory", groups=groups)
    web = [r for r in rows if r["requirement"] == "OQ-TLS-001"]
    served = {"imaging", "imaging_dicom", "imaging_db"}
    assert {r["requirement"] for r in rows} == {e["id"] for e in catalogue if not set(e["check"]["groups"]) & served}
    assert web[0] == {"requirement": "OQ-TLS-001", "host": "sandbox", "check": "tls", "status": "not_applicable",
                      "expected": {"groups": ["imaging_web"]}, "actual": {"hosts": []},
                      "message": "no host of the inventory is in imaging_web", "evidence": {}, "waiver": None, "duration_s": None}
