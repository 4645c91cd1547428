"""IQ-AUD-003: the PHI databases' pgaudit settings are the recorded ones, and never below what people need."""

from __future__ import annotations

from ansible_collections.hospital.imaging.plugins.module_utils import validation_iq as iq

RECORDED = [{"database": "orthanc", "classes": "ddl, role, read, write", "roles": {"orthanc": "ddl, role"}},
            {"database": "worklist", "classes": "ddl, role, read, write", "roles": {}}]
LIVE = ("orthanc||pgaudit.log=ddl, role, read, write\n"
        "orthanc|orthanc|pgaudit.log=ddl, role\n"
        "worklist||pgaudit.log=ddl, role, read, write\n")


def runner(out, rc=0):
    calls = []

    def run(cmd):
        calls.append(cmd)
        return rc, out, "psql: error" if rc else ""
    return run, calls


def test_the_recorded_settings_pass():
    run, calls = runner(LIVE)
    res = iq.check_database_audit(RECORDED, run)
    assert res["status"] == "pass", res["message"]
    assert calls[0][:4] == ["runuser", "-u", "postgres", "--"]
    assert res["actual"] == {"orthanc": {"": "ddl, role, read, write", "orthanc": "ddl, role"},
                             "worklist": {"": "ddl, role, read, write"}}


def test_a_role_narrowed_without_a_record_fails():
    run, _calls = runner(LIVE + "worklist|worklist|pgaudit.log=ddl, role\n")
    res = iq.check_database_audit(RECORDED, run)
    assert res["status"] == "fail"
    assert "worklist: role worklist has pgaudit.log 'ddl, role', which the record does not declare" in res["message"]


def test_a_database_without_read_and_write_logging_fails():
    live = LIVE.replace("worklist||pgaudit.log=ddl, role, read, write", "worklist||pgaudit.log=ddl, role, write")
    recorded = [RECORDED[0], dict(RECORDED[1], classes="ddl, role, write")]
    res = iq.check_database_audit(recorded, runner(live)[0])
    assert res["status"] == "fail"
    assert "worklist: people and applications are not audited for ddl, role, read and write" in res["message"]


def test_a_service_role_without_ddl_fails_even_when_recorded():
    live = LIVE.replace("orthanc|orthanc|pgaudit.log=ddl, role", "orthanc|orthanc|pgaudit.log=none")
    recorded = [dict(RECORDED[0], roles={"orthanc": "none"}), RECORDED[1]]
    res = iq.check_database_audit(recorded, runner(live)[0])
    assert res["status"] == "fail"
    assert "orthanc: role orthanc is not audited for ddl and role ('none')" in res["message"]


def test_a_missing_database_setting_fails():
    res = iq.check_database_audit(RECORDED, runner("orthanc|orthanc|pgaudit.log=ddl, role\n")[0])
    assert res["status"] == "fail"
    assert "orthanc: every role gets pgaudit.log None, recorded 'ddl, role, read, write'" in res["message"]


def test_psql_failing_is_an_error_and_no_record_is_not_applicable():
    assert iq.check_database_audit(RECORDED, runner("", rc=2)[0])["status"] == "error"
    assert iq.check_database_audit([], runner("")[0])["status"] == "not_applicable"
