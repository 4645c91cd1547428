"""The dicom_refusal_row filter unpacks what the validation role registers and hands it to dicom_verdict."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hospital.imaging.plugins.filter.dicom_refusal_row import dicom_refusal_row

LINE = "Rejected association for remote AET STRANGER on IP 10.0.0.5"


def closed(uid):
    return {"association": {"calling_aet": "STRANGER", "outcome": "aborted", "result": "aborted",
                            "request_sent": True, "local_address": "10.0.0.5"},
            "stored": 0, "stored_with_warning": 0, "study_instance_uid": uid, "status": {}}


def judge(attempts, **kwargs):
    return dicom_refusal_row(attempts, requirement="OQ-DICOM-002", host="pacs1", check="dicom_store", **kwargs)


@pytest.mark.parametrize("attempts", [
    {"results": [closed("1.1")], "changed": False},
    [closed("1.1")],
    closed("1.1"),
])
def test_attempts_as_registered_loop_list_or_single_result(attempts):
    assert judge(attempts, journal=LINE)["status"] == "pass"


@pytest.mark.parametrize("journal, status", [
    (LINE, "pass"),
    ({"rc": 0, "stdout": LINE}, "pass"),
    ({"rc": 1, "stdout": LINE}, "error"),
    ({"failed": True, "stdout": LINE}, "error"),
    ({"skipped": True}, "error"),
    (None, "error"),
])
def test_journal_as_text_or_command_result(journal, status):
    assert judge([closed("1.1")], journal=journal)["status"] == status


@pytest.mark.parametrize("lookups, status", [
    ({"results": [{"item": u, "success": True, "matches": 0} for u in ("1.1", "1.2", "1.3")]}, "pass"),
    ({"results": [{"item": u, "success": u != "1.2", "matches": 0} for u in ("1.1", "1.2", "1.3")]}, "error"),
    ({"results": [{"item": u, "success": True, "matches": 0} for u in ("1.1", "1.2")] + [{"skipped": True}]},
     "error"),
    ({"1.1": 0, "1.2": 0, "1.3": 0}, "pass"),
    ({"1.1": 0, "1.2": "1", "1.3": 0}, "error"),
    ({}, "error"),
    (None, "error"),
])
def test_lookups_as_registered_find_loop_or_mapping(lookups, status):
    attempts = [closed(u) for u in ("1.1", "1.2", "1.3")]
    assert judge(attempts, lookups=lookups)["status"] == status


def test_min_attempts_is_honoured():
    attempts = [closed(u) for u in ("1.1", "1.2")]
    assert judge(attempts, lookups={"1.1": 0, "1.2": 0}, min_attempts=2)["status"] == "pass"
    assert judge(attempts, lookups={"1.1": 0, "1.2": 0}, min_attempts="3")["status"] == "error"


@pytest.mark.parametrize("attempts, lookups", [("text", None), ([closed("1.1")], ["1.1"])])
def test_bad_input_is_a_filter_error(attempts, lookups):
    with pytest.raises(AnsibleFilterError):
        judge(attempts, lookups=lookups)
