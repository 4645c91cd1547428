"""Requirements judged on the archive's recorded DICOM listeners: a row per listener, each naming it, every
listener's row counting for the requirement, and a row (never silence) when the record lists none."""
import copy
import os

import pytest
import yaml

from ansible_collections.hospital.imaging.plugins.filter.validation_rows import validation_rows
from ansible_collections.hospital.imaging.plugins.module_utils import validation_judge as vj
from ansible_collections.hospital.imaging.plugins.module_utils import validation_report as vr

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
ROLE = os.path.join(ROOT, "roles", "validation")
DICOM_HOST = ["imaging", "imaging_dicom"]

# The orthanc role's record with both DICOM listeners on (docs: the listeners' shape and order).
RECORD = [
    {"name": "http", "protocol": "http", "port": 8042, "tls": False, "scope": "loopback", "service": "orthanc"},
    {"name": "dicom", "protocol": "dicom", "port": 4242, "tls": False, "scope": "network", "sources": ["10.40.0.0/24"],
     "service": "orthanc", "client_certificate": False},
    {"name": "dicom-tls", "protocol": "dicom", "port": 4243, "tls": True, "scope": "network",
     "sources": ["10.40.0.0/24", "10.50.0.0/24"], "service": "orthanc-dicom-tls", "client_certificate": True},
    {"name": "dicom-tls-http", "protocol": "http", "port": 8043, "tls": False, "scope": "loopback",
     "service": "orthanc-dicom-tls"},
]
PLAIN, TLS = RECORD[1], RECORD[2]
TLS_ONLY = dict(TLS, service="orthanc")

ECHO = {"changed": False, "success": True, "status": {"code": 0, "code_hex": "0x0000", "category": "Success"},
        "association": {"outcome": "established", "established": True}}
STORE = {"changed": False, "success": True, "sent": 2, "stored": 2, "patient_id": "HOSPITAL-IMAGING-TEST",
         "study_instance_uid": "1.2.826.0.1.3680043.8.498.1"}
FIND = {"changed": False, "success": True, "matches": 1}
MOVE = {"changed": False, "success": True, "suboperations": {"completed": 2, "failed": 0, "warning": 0, "remaining": 0}}


def attempt(outcome, result, stored=0, uid="1.2.3.1"):
    return {"changed": False, "success": stored > 0, "sent": 1, "stored": stored, "study_instance_uid": uid,
            "association": {"outcome": outcome, "result": result, "established": outcome == "established",
                            "request_sent": True, "local_address": "127.0.0.1"}}


REJECTED = {"results": [attempt("rejected", "rejected-permanent", uid="1.2.3.%d" % i) for i in range(3)]}
ACCEPTED = {"results": [attempt("established", "accepted", stored=1)]}
EVIDENCE_OK = {"echo": ECHO, "store": STORE, "find": FIND, "move": MOVE, "unknown": REJECTED, "wrong_host": REJECTED,
               "unknown_aet": "UNDECLARED", "calling_aet": "VALIDATION", "probe_host": "sandbox",
               "journal": {"rc": 0, "stdout": ""}, "lookups": {}, "min_attempts": 3, "failure": None}
HANDSHAKE_OK = {"changed": False, "status": "pass", "expected": {"min_version": "1.2", "refuse_below": "1.2"},
                "actual": {"version": "TLSv1.3", "below_1.2": "refused"}, "message": "TLSv1.3; TLS 1.1 refused",
                "evidence": {"modern": {"version": "TLSv1.3"}, "below_1.2": {"ok": False, "stage": "handshake"}},
                "requirement": "OQ-DICOM-004", "check": "tls", "duration_s": 0.2}


def requirement(rid, kind, listeners):
    return {"id": rid, "title": rid, "qualification": rid.split("-")[0], "regulations": [], "risk": "high",
            "check": {"kind": kind, "groups": ["imaging_dicom"], "listeners": listeners}}


# The catalogue's DICOM and PQ entries as the judge sees them (the role's own catalogue is held to these below).
CATALOGUE = [
    requirement("OQ-DICOM-001", "dicom_operations", "every_dicom"),
    requirement("OQ-DICOM-002", "dicom_unknown_aet", "every_dicom"),
    requirement("OQ-DICOM-003", "dicom_wrong_host", "every_dicom"),
    requirement("OQ-DICOM-004", "tls", "every_dicom_tls"),
    {"id": "OQ-TLS-001", "title": "TLS", "qualification": "OQ", "check": {"kind": "tls", "groups": ["imaging_web"]}},
    requirement("PQ-INGEST-001", "pq_ingest", "first_dicom"),
    requirement("PQ-FIND-001", "pq_find", "first_dicom"),
    requirement("PQ-RES-001", "pq_resources", "first_dicom"),
    requirement("PQ-INT-001", "pq_integrity", "first_dicom"),
]


@pytest.fixture(scope="module")
def catalogue():
    return copy.deepcopy(CATALOGUE)


def by_id(catalogue, rid):
    return next(e for e in catalogue if e["id"] == rid)


def dicom_rows(catalogue, listener, evidence):
    return validation_rows(catalogue, host="pacs1", source="evidence", runner="oq_dicom", group_names=DICOM_HOST,
                           listener=listener, evidence=evidence)


def handshake_rows(catalogue, listener, ret=None):
    ret = copy.deepcopy(ret or HANDSHAKE_OK)
    return validation_rows([dict(ret, item=by_id(catalogue, "OQ-DICOM-004"))], host="pacs1", listener=listener)


def report_of(catalogue, rows):
    return vr.build_report(catalogue, rows, {"id": "t", "hosts": []})


def status_of(report):
    return dict((r["id"], r["status"]) for r in report["requirements"])


@pytest.mark.parametrize("listener,label", [(PLAIN, "dicom 4242 plain"), (TLS, "dicom-tls 4243 TLS"),
                                            ({"port": 11112, "tls": "true"}, "dicom-tls 11112 TLS")])
def test_listener_label(listener, label):
    assert vj.listener_label(listener) == label


# --------------------------------------------------------------------------- a row per listener


def test_each_listener_gets_its_own_rows_naming_it(catalogue):
    rows = dicom_rows(catalogue, PLAIN, EVIDENCE_OK) + dicom_rows(catalogue, TLS, EVIDENCE_OK) + handshake_rows(catalogue, TLS)
    assert [(r["requirement"], r["check"], r["status"]) for r in rows] == [
        ("OQ-DICOM-001", "dicom_echo+store+find+move [dicom 4242 plain]", "pass"),
        ("OQ-DICOM-002", "dicom_store (undeclared AE) [dicom 4242 plain]", "pass"),
        ("OQ-DICOM-003", "dicom_store (declared AE, wrong address) [dicom 4242 plain]", "pass"),
        ("OQ-DICOM-001", "dicom_echo+store+find+move [dicom-tls 4243 TLS]", "pass"),
        ("OQ-DICOM-002", "dicom_store (undeclared AE) [dicom-tls 4243 TLS]", "pass"),
        ("OQ-DICOM-003", "dicom_store (declared AE, wrong address) [dicom-tls 4243 TLS]", "pass"),
        ("OQ-DICOM-004", "tls [dicom-tls 4243 TLS]", "pass"),
    ]
    for made in rows:
        assert made["message"].startswith(vj.listener_label(made["evidence"]["listener"]) + ": ")
        assert set(made) == set(vj.ROW_KEYS)
    assert rows[-1]["evidence"]["below_1.2"] == {"ok": False, "stage": "handshake"}
    assert validation_rows(catalogue, host="pacs1", source="listeners", group_names=DICOM_HOST, listeners=[PLAIN, TLS]) == []


@pytest.mark.parametrize("failing", [PLAIN, TLS])
def test_a_requirement_fails_when_it_fails_on_either_listener(catalogue, failing):
    rows = []
    for listener in (PLAIN, TLS):
        evidence = dict(EVIDENCE_OK, unknown=ACCEPTED) if listener is failing else EVIDENCE_OK
        rows += dicom_rows(catalogue, listener, evidence)
    rows += handshake_rows(catalogue, TLS)
    report = report_of(catalogue, rows)
    states = status_of(report)
    assert states["OQ-DICOM-002"] == "fail" and report["verdict"] == "FAIL"
    assert states["OQ-DICOM-001"] == states["OQ-DICOM-003"] == states["OQ-DICOM-004"] == "pass"
    deviations = [d for d in report["deviations"] if d["requirement"] == "OQ-DICOM-002"]
    assert len(deviations) == 1 and deviations[0]["message"].startswith(vj.listener_label(failing) + ": the archive accepted")


def test_the_tls_handshake_failing_on_one_of_two_tls_listeners_fails_oq_dicom_004(catalogue):
    second = dict(TLS, name="dicom-tls-b", port=4244)
    bad = dict(HANDSHAKE_OK, status="fail", message="TLS 1.1 accepted")
    rows = handshake_rows(catalogue, TLS) + handshake_rows(catalogue, second, bad)
    assert [r["check"] for r in rows] == ["tls [dicom-tls 4243 TLS]", "tls [dicom-tls-b 4244 TLS]"]
    assert status_of(report_of(catalogue, rows))["OQ-DICOM-004"] == "fail"


def test_the_evidence_of_a_listener_outside_an_entrys_set_makes_no_row():
    entry = {"id": "OQ-X", "check": {"kind": "dicom_operations", "groups": ["imaging_dicom"], "listeners": "every_dicom_tls"}}
    assert vj.evidence_rows([entry], "pacs1", DICOM_HOST, "oq_dicom", EVIDENCE_OK, PLAIN) == []
    assert [r["status"] for r in vj.evidence_rows([entry], "pacs1", DICOM_HOST, "oq_dicom", EVIDENCE_OK, TLS)] == ["pass"]


def test_the_pq_rows_name_the_listener_they_ingested_through(catalogue):
    ret = {"ingest": {"status": "pass", "expected": {}, "actual": {"instances_per_s": 40}, "message": "40 instances/s"}}
    rows = validation_rows(catalogue, host="pacs1", source="evidence", runner="pq", group_names=DICOM_HOST, listener=PLAIN,
                           evidence=ret)
    assert rows[0]["check"] == "pq_dicom_ingest:ingest [dicom 4242 plain]" and rows[0]["status"] == "pass"


# --------------------------------------------------------------------------- no DICOM TLS listener recorded


def test_no_tls_listener_recorded_fails_oq_dicom_004_and_says_why(catalogue):
    rows = validation_rows(catalogue, host="pacs1", source="listeners", group_names=DICOM_HOST, listeners=[PLAIN])
    assert [(r["requirement"], r["check"], r["status"]) for r in rows] == [("OQ-DICOM-004", "tls", "fail")]
    assert "no DICOM TLS listener is recorded (orthanc_dicom_tls_enabled false)" in rows[0]["message"]
    assert rows[0]["actual"] == {"listeners": ["dicom 4242 plain"]}
    every = dicom_rows(catalogue, PLAIN, EVIDENCE_OK) + rows
    report = report_of(catalogue, every)
    assert status_of(report)["OQ-DICOM-004"] == "fail" and report["verdict"] == "FAIL"


def test_no_tls_listener_recorded_is_waived_only_by_a_written_waiver(catalogue):
    site = [{"id": "no-dicom-tls", "requirement": "OQ-DICOM-004", "reason": "modalities on an isolated VLAN only"}]
    rows = validation_rows(catalogue, host="pacs1", source="listeners", group_names=DICOM_HOST, listeners=[PLAIN],
                           waivers=site)
    assert rows[0]["status"] == "waived" and rows[0]["waiver"]["id"] == "no-dicom-tls"
    assert "orthanc_dicom_tls_enabled false" in rows[0]["evidence"]["unwaived_finding"]
    assert status_of(report_of(catalogue, dicom_rows(catalogue, PLAIN, EVIDENCE_OK) + rows))["OQ-DICOM-004"] == "waived"
    role = {"imaging_orthanc": {"waivers": [{"id": "orthanc-plain-only", "requirement": "OQ-DICOM-004",
                                             "reason": "the site turned DICOM TLS off"}]}, "other": {"x": 1}}
    by_role = validation_rows(catalogue, host="pacs1", source="listeners", group_names=DICOM_HOST, listeners=[PLAIN],
                              records=role)
    assert by_role[0]["status"] == "waived" and by_role[0]["waiver"]["source"] == "role orthanc"
    unwritten = [{"id": "w", "requirement": "OQ-DICOM-004", "reason": "  "}]
    assert validation_rows(catalogue, host="pacs1", source="listeners", group_names=DICOM_HOST, listeners=[PLAIN],
                           waivers=unwritten)[0]["status"] == "fail"


def test_a_tls_only_archive_leaves_no_gap(catalogue):
    assert validation_rows(catalogue, host="pacs1", source="listeners", group_names=DICOM_HOST, listeners=[TLS_ONLY]) == []


# --------------------------------------------------------------------------- no DICOM listener recorded


@pytest.mark.parametrize("listeners", [[], None, [RECORD[0], RECORD[3]], [{"port": 4243, "tls": True, "protocol": "http"}]],
                         ids=["empty", "none", "http-only", "not-dicom"])
def test_no_dicom_listener_recorded_makes_every_oq_dicom_row_an_error(catalogue, listeners):
    rows = validation_rows(catalogue, host="pacs1", source="listeners", group_names=DICOM_HOST, listeners=listeners)
    assert [(r["requirement"], r["status"]) for r in rows] == [
        ("OQ-DICOM-001", "error"), ("OQ-DICOM-002", "error"), ("OQ-DICOM-003", "error"), ("OQ-DICOM-004", "error")]
    for made in rows:
        assert "the orthanc record (ansible_local.imaging_orthanc.listeners) lists no DICOM listener" in made["message"]
        assert made["actual"] == {"listeners": []}
    report = report_of(catalogue, rows)
    assert report["verdict"] == "FAIL" and all(status_of(report)[r["requirement"]] == "error" for r in rows)


def test_no_dicom_listener_rows_only_on_hosts_the_requirements_apply_to(catalogue):
    assert validation_rows(catalogue, host="web1", source="listeners", group_names=["imaging", "imaging_web"], listeners=[]) == []


@pytest.mark.parametrize("listener", [None, {}, {"name": "dicom"}, RECORD[0]], ids=["none", "empty", "no-port", "http"])
def test_pq_without_a_dicom_listener_is_an_error_row_per_requirement(catalogue, listener):
    rows = validation_rows(catalogue, host="pacs1", source="evidence", runner="pq", group_names=DICOM_HOST, listener=listener,
                           evidence={"skipped": True, "false_condition": "validation_pq_dicom_listener is mapping"})
    assert [(r["requirement"], r["status"]) for r in rows] == [
        ("PQ-INGEST-001", "error"), ("PQ-FIND-001", "error"), ("PQ-RES-001", "error"), ("PQ-INT-001", "error")]
    assert all("lists no DICOM listener" in r["message"] for r in rows)


def test_dicom_evidence_without_a_listener_is_an_error_not_a_pass(catalogue):
    rows = validation_rows(catalogue, host="pacs1", source="evidence", runner="oq_dicom", group_names=DICOM_HOST,
                           evidence=EVIDENCE_OK)
    assert [r["status"] for r in rows] == ["error", "error", "error"]


def test_an_unknown_listener_set_is_an_error():
    entry = {"id": "OQ-X", "check": {"kind": "dicom_operations", "groups": ["imaging_dicom"], "listeners": "all"}}
    made = vj.judged_row(entry, "pacs1", EVIDENCE_OK, PLAIN)
    assert made["status"] == "error" and "unknown listener set 'all'" in made["message"]


def test_waivers_apply_to_evidence_rows_too(catalogue):
    site = [{"id": "w", "requirement": "OQ-DICOM-002", "reason": "the modality vendor's AE filter is tested separately"}]
    rows = validation_rows(catalogue, host="pacs1", source="evidence", runner="oq_dicom", group_names=DICOM_HOST,
                           listener=PLAIN, evidence=dict(EVIDENCE_OK, unknown=ACCEPTED), waivers=site)
    states = dict((r["requirement"], r["status"]) for r in rows)
    assert states == {"OQ-DICOM-001": "pass", "OQ-DICOM-002": "waived", "OQ-DICOM-003": "pass"}


# --------------------------------------------------------------------------- the role's variables and tasks


@pytest.fixture(scope="module")
def role_catalogue():
    with open(os.path.join(ROLE, "files", "catalogue.yml")) as handle:
        return yaml.safe_load(handle)["validation_catalogue"]


def test_every_listener_set_of_the_catalogue_is_known(role_catalogue):
    sets = set(e["check"].get("listeners") for e in role_catalogue) - {None}
    assert sets == set(vj.LISTENER_SETS)


def test_oq_dicom_004_is_a_tls_check_whose_port_comes_from_each_listener(role_catalogue):
    entry = by_id(role_catalogue, "OQ-DICOM-004")
    assert entry["check"]["kind"] == "tls" and "port" not in entry["check"]["params"]
    assert entry["check"]["params"]["refuse_below"] == "1.2"


def test_the_role_catalogue_declares_what_the_judge_tests_assume(role_catalogue):
    for entry in CATALOGUE:
        own = by_id(role_catalogue, entry["id"])
        assert (own["check"]["kind"], own["check"]["groups"], own["check"].get("listeners")) == (
            entry["check"]["kind"], entry["check"]["groups"], entry["check"].get("listeners")), entry["id"]


def test_the_role_probes_the_recorded_listeners_not_fixed_ports():
    removed = ("validation_dicom_tls ", "validation_dicom_tls:", "validation_dicom_tls |", "validation_dicom_port",
               "validation_dicom_tls_port", "validation_dicom_tls}")
    for directory, _dirs, files in os.walk(ROLE):
        for name in files:
            with open(os.path.join(directory, name)) as handle:
                text = handle.read()
            assert not [r for r in removed if r in text], os.path.join(directory, name)
    with open(os.path.join(ROLE, "defaults", "main.yml")) as handle:
        defaults = yaml.safe_load(handle)
    assert "ansible_local.imaging_orthanc.listeners" in defaults["validation_dicom_listeners"]
    assert "selectattr('protocol', 'equalto', 'dicom')" in defaults["validation_dicom_listeners"]
    assert defaults["validation_pq_dicom_listener"] == "{{ validation_dicom_listeners | first | default(none) }}"


def tasks_of(name):
    with open(os.path.join(ROLE, "tasks", name)) as handle:
        return yaml.safe_load(handle)


def test_the_listener_loop_can_run_twice():
    """The C-MOVE destination is a transient unit of a fixed name: each listener stops it again, whatever happened."""
    outer = tasks_of("oq_dicom.yml")[0]["block"]
    loop = next(t for t in outer if "ansible.builtin.include_tasks" in t and t["ansible.builtin.include_tasks"] == "oq_dicom_listener.yml")
    assert loop["loop"] == "{{ validation_dicom_listeners }}" and loop["loop_control"]["loop_var"] == "validation_dicom_listener"
    tasks = tasks_of("oq_dicom_listener.yml")
    block = next(t for t in tasks if "block" in t)
    starts = [t for t in block["block"] if "systemd-run --unit=validation-move-destination" in str(t.get("ansible.builtin.command"))]
    stops = [t for t in block["always"] if (t.get("ansible.builtin.systemd_service") or {}).get("name") == "validation-move-destination.service"]
    assert len(starts) == 1 and len(stops) == 1 and stops[0]["ansible.builtin.systemd_service"]["state"] == "stopped"
    journal = next(t for t in block["block"] if "journalctl" in str(t.get("ansible.builtin.command")))
    assert "--unit {{ validation_dicom_listener.service }}" in journal["ansible.builtin.command"]["cmd"]
    forget = tasks[0]["ansible.builtin.set_fact"]
    registered = {t["register"] for t in block["block"] if "register" in t} - {"validation_dicom_refusal_since"}
    assert registered <= set(forget) and forget["validation_dicom_error"] is None


def test_the_generic_oq_loop_leaves_listener_requirements_to_oq_dicom():
    first = tasks_of("oq.yml")[0]
    assert "rejectattr('check.listeners', 'defined')" in first["loop"]
