"""The DICOM refusal verdict (OQ-DICOM-002/003) judged from recorded evidence."""

from __future__ import annotations

import pytest

from ansible_collections.hospital.imaging.plugins.module_utils import dicom_verdict as dv

AET = "STRANGER"
ORTHANC_LINE = "W0412 10:15:02.123456 DICOM-3 CommandDispatcher.cpp:598] Rejected association for remote AET %s on IP %s"


def attempt(outcome, result=None, stored=0, address="172.18.0.2", study="1.2.3.%d", number=1, status=None,
            request_sent=True, error=None, reason=None, operation_error=None):
    return {
        "association": {"calling_aet": AET, "outcome": outcome, "result": result or outcome,
                        "established": outcome == "established", "reason": reason, "error": error,
                        "request_sent": request_sent, "local_address": address},
        "stored": stored, "stored_with_warning": 0, "study_instance_uid": study % number if "%" in study else study,
        "status": status or {"code": None, "category": None}, "operation_error": operation_error,
        "msg": "association %s" % (result or outcome),
    }


def closed(number=1, address="172.18.0.2"):
    return attempt("aborted", error="the peer closed the connection after the association request without answering",
                   number=number, address=address)


def rejected(number=1):
    return attempt("rejected", "rejected-permanent", reason="calling-AE-title-not-recognized", number=number)


def three(make):
    return [make(n) for n in (1, 2, 3)]


ABSENT = {"1.2.3.1": 0, "1.2.3.2": 0, "1.2.3.3": 0}


@pytest.mark.parametrize("attempts, journal, lookups, status, basis", [
    # (a) A-ASSOCIATE-RJ
    (three(rejected), None, {}, "pass", "A-ASSOCIATE-RJ"),
    ([rejected(1), closed(2), closed(3)], "", {}, "pass", "A-ASSOCIATE-RJ"),
    # (b) closed, and the archive's log rejects that AE title from that address
    (three(closed), ORTHANC_LINE % (AET, "172.18.0.2"), {}, "pass", "archive-log"),
    ([closed(1, "::ffff:172.18.0.2")], ORTHANC_LINE % (AET, "172.18.0.2"), {}, "pass", "archive-log"),
    ([closed(1, None)], ORTHANC_LINE % (AET, "10.0.0.9"), {}, "pass", "archive-log"),
    # the rejection is of another AE title or another address: no proof
    (three(closed), ORTHANC_LINE % ("VALIDATION", "172.18.0.2"), {}, "error", "inconclusive"),
    (three(closed), ORTHANC_LINE % (AET, "10.0.0.9"), {}, "error", "inconclusive"),
    (three(closed), ORTHANC_LINE % (AET + "X", "172.18.0.2"), {}, "error", "inconclusive"),
    # (c) no log, but three closed requests and none of their studies in the archive
    (three(closed), None, ABSENT, "pass", "repeated-refusal"),
    (three(closed), "", ABSENT, "pass", "repeated-refusal"),
    (three(closed)[:2], None, ABSENT, "error", "inconclusive"),
    (three(closed), None, dict(ABSENT, **{"1.2.3.3": None}), "error", "inconclusive"),
    (three(closed), None, dict(ABSENT, **{"1.2.3.2": 1}), "error", "inconclusive"),
    (three(closed), None, {}, "error", "inconclusive"),
    # (d) accepted: whatever else happened, the control failed
    ([attempt("established", "accepted", stored=1)], ORTHANC_LINE % (AET, "172.18.0.2"), {}, "fail", "accepted"),
    ([rejected(1), attempt("established", "accepted", stored=1, number=2)], None, {}, "fail", "accepted"),
    ([closed(1), attempt("aborted", stored=1, number=2)], ORTHANC_LINE % (AET, "172.18.0.2"), ABSENT,
     "fail", "accepted"),
    ([attempt("established", "accepted", operation_error="AttributeError: aborted")], None, {}, "fail", "accepted"),
    ([attempt("no-accepted-context")], None, {}, "fail", "accepted"),
    # accepted, but the C-STORE answered with a failure status and nothing stored: the request refused
    ([attempt("established", "accepted", status={"code": 0xA700, "category": "Failure"})], None, {},
     "pass", "store-refused"),
    # (e) another reason, and no rejection evidence
    (three(lambda n: attempt("connection-failed", error="[Errno 111] Connection refused", number=n)),
     ORTHANC_LINE % (AET, "172.18.0.2"), ABSENT, "error", "inconclusive"),
    ([attempt("connection-failed", error="the peer refused the TLS session: TLSV13_ALERT_CERTIFICATE_REQUIRED")],
     None, {}, "error", "inconclusive"),
    ([attempt("timeout", error="no answer within acse_timeout")], None, {}, "error", "inconclusive"),
    ([attempt("aborted", request_sent=False)], ORTHANC_LINE % (AET, "172.18.0.2"), {}, "error", "inconclusive"),
    # nothing ran
    ([], None, {}, "error", "not-run"),
    ([{"failed": True, "msg": "invalid arguments: port 0 is out of range"}], None, {}, "error", "not-run"),
    ([{"skipped": True}], None, {}, "error", "not-run"),
])
def test_judge_refusal(attempts, journal, lookups, status, basis):
    verdict = dv.judge_refusal(attempts, calling_aet=AET, journal=journal, lookups=lookups)
    assert (verdict["status"], verdict["basis"]) == (status, basis), verdict["message"]
    assert verdict["actual"]["basis"] == basis
    assert verdict["message"]


@pytest.mark.parametrize("association, outcome", [
    ({"outcome": "aborted"}, "aborted"),
    ({"result": "accepted", "established": True}, "established"),
    ({"result": "rejected-transient"}, "rejected"),
    ({"result": "connection-failed"}, "connection-failed"),
    ({}, "not-attempted"),
    (None, "not-attempted"),
])
def test_outcome_of_evidence_with_and_without_the_outcome_key(association, outcome):
    assert dv.outcome_of(association) == outcome


@pytest.mark.parametrize("text, found", [
    (ORTHANC_LINE % (AET, "172.18.0.2"), [("STRANGER", "172.18.0.2")]),
    ("Rejected association for remote AET STRANGER on IP ::ffff:10.1.2.3", [("STRANGER", "10.1.2.3")]),
    ("Rejected association for remote AET STRANGERS on IP 10.1.2.3", []),
    ("Association Received from AET STRANGER on IP 10.1.2.3", []),
    ("Rejected association, because of a bad called AET in the request (ORTHANC)", []),
    ("", []),
    (None, []),
    ("\n".join([ORTHANC_LINE % (AET, "10.0.0.1"), "noise", ORTHANC_LINE % (AET, "10.0.0.2")]),
     [("STRANGER", "10.0.0.1"), ("STRANGER", "10.0.0.2")]),
])
def test_log_rejections(text, found):
    assert [(r["aet"], r["ip"]) for r in dv.log_rejections(text, AET)] == found


def test_the_inconclusive_message_says_why():
    verdict = dv.judge_refusal(three(closed), calling_aet=AET, journal=ORTHANC_LINE % (AET, "10.0.0.9"))
    assert "inconclusive" in verdict["message"]
    assert "only from 10.0.0.9, not from 172.18.0.2" in verdict["message"]
    assert "no C-FIND proved" in verdict["message"]
    verdict = dv.judge_refusal(three(closed), calling_aet=AET, journal=None)
    assert "the archive log could not be read" in verdict["message"]


def test_the_calling_aet_defaults_to_the_attempts_evidence():
    verdict = dv.judge_refusal([closed()], journal=ORTHANC_LINE % (AET, "172.18.0.2"))
    assert verdict["basis"] == "archive-log"


def test_row_keeps_the_report_shape():
    row = dv.refusal_row("OQ-DICOM-003", "pacs1", "dicom_store (declared AE, wrong address)", three(closed),
                         calling_aet=AET, journal=ORTHANC_LINE % (AET, "172.18.0.2"))
    assert set(row) == {"requirement", "host", "check", "status", "expected", "actual", "message", "evidence"}
    assert (row["requirement"], row["host"], row["status"]) == ("OQ-DICOM-003", "pacs1", "pass")
    assert row["actual"]["stored"] == 0 and row["actual"]["association"] == "aborted"
    assert row["actual"]["attempts"] == 3 and row["actual"]["log_rejections"] == 1
    assert row["evidence"]["log_rejections"][0]["ip"] == "172.18.0.2"
    assert len(row["evidence"]["attempts"]) == 3


def test_row_names_the_probe_host_when_the_check_could_not_run():
    row = dv.refusal_row("OQ-DICOM-003", "pacs1", "x", [{"failed": True, "msg": "No module named pynetdicom"}],
                         probe_host="probe1")
    assert row["status"] == "error"
    assert row["message"] == "the check could not run on probe1: No module named pynetdicom"
    assert row["actual"]["stored"] is None
    row = dv.refusal_row("OQ-DICOM-002", "pacs1", "x", [], error="the DICOM checks failed to run")
    assert row["message"] == "the check could not run: the DICOM checks failed to run"
