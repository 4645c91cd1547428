"""Report rendering, schema, manifest, tamper detection and signing, from fixed inputs."""
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
import yaml

from ansible_collections.hospital.imaging.plugins.module_utils import validation_report as vr

RUN = {
    "id": "site-20260101T000000Z", "inventory": "site", "executor": "auditor", "controller": "ctl",
    "ansible_version": "2.19.14", "started_utc": "2026-01-01T00:00:00Z", "finished_utc": "2026-01-01T00:05:00Z",
    "collection": {"name": "hospital.imaging", "version": "0.1.0", "git_commit": "a" * 40, "git_dirty": False},
    "hosts": [{"name": "pacs1", "os": "Debian 12.12 (bookworm)", "kernel": "6.1", "virtualization": "guest docker",
               "address": "10.0.0.5"}],
}
CATALOGUE = [
    {"id": "IQ-PKG-001", "title": "Packages", "statement": "Packages as recorded", "qualification": "IQ",
     "regulations": ["21 CFR 11.10(a)"], "guidelines": [], "risk": "high", "acceptance": "equal",
     "check": {"kind": "packages"}},
    {"id": "IQ-FILE-001", "title": "Files <&> modes", "statement": "Files", "qualification": "IQ",
     "regulations": ["HIPAA 164.312(c)(1)"], "guidelines": ["DICOM server production guide: network security"], "risk": "high", "acceptance": "0640",
     "check": {"kind": "files"}},
    {"id": "IQ-AUD-001", "title": "Audit rules", "statement": "Audit", "qualification": "IQ",
     "regulations": ["HIPAA 164.312(b)"], "guidelines": [], "risk": "high", "acceptance": "loaded",
     "check": {"kind": "audit_rules"}},
    {"id": "OQ-TLS-001", "title": "TLS", "statement": "TLS", "qualification": "OQ", "regulations": ["HIPAA 164.312(e)(1)"],
     "guidelines": [], "risk": "high", "acceptance": "1.2+", "check": {"kind": "tls"}},
    {"id": "PQ-INGEST-001", "title": "Ingest", "statement": "Ingest", "qualification": "PQ", "regulations": ["21 CFR 11.10(a)"],
     "guidelines": [], "risk": "high", "acceptance": "p95 <= 500 ms", "check": {"kind": "pq_ingest"}},
]


def result(req, status, host="pacs1", **kw):
    row = {"requirement": req, "host": host, "check": "x", "status": status, "expected": {"a": 1},
           "actual": {"a": 1 if status == "pass" else 2}, "message": "%s is %s" % (req, status),
           "evidence": {"raw": "output of %s" % req}}
    row.update(kw)
    return row


def passing_results():
    return [result("IQ-PKG-001", "pass"), result("IQ-FILE-001", "pass"),
            result("IQ-AUD-001", "waived", waiver={"id": "auditd-load-rules", "reason": "container: no audit netlink",
                                                   "source": "role auditd"}),
            result("OQ-TLS-001", "pass"), result("PQ-INGEST-001", "pass")]


PQ = {"pacs1": {"metrics": {"instances_per_s": 40.1, "store_ms_p95": 120.0},
                "thresholds": {"p95_store_ms": 500, "min_instances_per_s": 5, "min_disk_free_percent": 20},
                "series": {"throughput": [[0, 38], [1, 41], [2, 40]], "store_latency_ms": [[0, 110.0], [1, 130.5]],
                           "disk_free_percent": [[1, 61.0], [2, 60.9]], "cpu_percent": [[1, 80.0], [2, 75.0]]}}}


@pytest.fixture
def schema(project_root):
    with open(os.path.join(project_root, "docs", "report-schema.json")) as handle:
        return json.load(handle)


def write(tmp_path, results, scope=None, pq=None):
    report = vr.build_report(CATALOGUE, results, RUN, scope=scope, pq=pq)
    run_dir = str(tmp_path / "run")
    vr.write_run_dir(run_dir, report)
    with open(os.path.join(run_dir, "report.json")) as handle:
        return run_dir, json.load(handle)


def test_passing_run_is_schema_valid_and_complete(tmp_path, schema):
    run_dir, report = write(tmp_path, passing_results(), pq=PQ)
    assert vr.schema_errors(report, schema) == []
    assert report["verdict"] == "PASS"
    assert report["summary"]["pass"] == 4 and report["summary"]["waived"] == 1
    assert report["waivers"] == [{"requirement": "IQ-AUD-001", "host": "pacs1", "id": "auditd-load-rules",
                                  "reason": "container: no audit netlink"}]
    html = open(os.path.join(run_dir, "report.html")).read()
    for req in CATALOGUE:
        assert req["id"] in html
    assert "Files &lt;&amp;&gt; modes" in html          # escaped, never raw markup
    assert html.index('id="verdict"') < html.index("Traceability matrix")
    assert "<svg" in html and "limit 500ms" in html and "<script" not in html
    for row in report["results"]:
        with open(os.path.join(run_dir, row["evidence_file"]), "rb") as handle:
            assert vr.sha256_bytes(handle.read()) == row["evidence_sha256"]


def test_failure_sorts_first_and_fails_the_verdict(tmp_path, schema):
    results = passing_results()
    results[1] = result("IQ-FILE-001", "fail", message="/etc/x: mode 0644, expected 0640")
    run_dir, report = write(tmp_path, results)
    assert vr.schema_errors(report, schema) == []
    assert report["verdict"] == "FAIL"
    assert report["requirements"][0]["id"] == "IQ-FILE-001"
    assert report["results"][0]["status"] == "fail"
    assert report["deviations"] == [{"requirement": "IQ-FILE-001", "host": "pacs1", "status": "fail", "risk": "high",
                                     "message": "/etc/x: mode 0644, expected 0640"}]
    html = open(os.path.join(run_dir, "report.html")).read()
    assert "Verdict: FAIL" in html and "mode 0644, expected 0640" in html
    suites = ET.parse(os.path.join(run_dir, "junit.xml")).getroot()
    failures = suites.findall(".//failure")
    assert len(failures) == 1 and "IQ-FILE-001" in suites.find(".//testcase[failure]").get("name")
    assert len(suites.findall(".//skipped")) == 1     # the waiver


def test_requirement_without_result_is_not_run_unless_out_of_scope(tmp_path, schema):
    results = [r for r in passing_results() if r["requirement"] != "PQ-INGEST-001"]
    _run, report = write(tmp_path, results)
    status = dict((r["id"], r["status"]) for r in report["requirements"])
    assert status["PQ-INGEST-001"] == "not_run" and report["verdict"] == "FAIL"
    _run, report = write(tmp_path / "b", results, scope=["IQ", "OQ"])
    status = dict((r["id"], r["status"]) for r in report["requirements"])
    assert status["PQ-INGEST-001"] == "not_in_scope" and report["verdict"] == "PASS"
    assert vr.schema_errors(report, schema) == []


@pytest.mark.parametrize("statuses,expected", [
    ([], "not_run"), (["pass"], "pass"), (["pass", "fail"], "fail"), (["error", "fail"], "error"),
    (["pass", "waived"], "waived"), (["not_applicable"], "not_applicable"), (["not_applicable", "pass"], "pass"),
])
def test_requirement_status(statuses, expected):
    assert vr.requirement_status(statuses) == expected


def test_unknown_status_and_unknown_requirement_become_errors():
    report = vr.build_report(CATALOGUE, [result("IQ-PKG-001", "great"), result("IQ-NOPE-001", "pass")], RUN)
    rows = dict((r["requirement"], r) for r in report["results"])
    assert rows["IQ-PKG-001"]["status"] == "error" and "great" in rows["IQ-PKG-001"]["message"]
    assert rows["IQ-NOPE-001"]["status"] == "error"
    assert report["verdict"] == "FAIL"


def test_same_requirement_twice_on_a_host_keeps_both_evidence_files(tmp_path):
    results = passing_results() + [result("IQ-PKG-001", "pass", message="second")]
    _run, report = write(tmp_path, results)
    files = [r["evidence_file"] for r in report["results"] if r["requirement"] == "IQ-PKG-001"]
    assert len(set(files)) == 2


def test_manifest_lists_every_file_and_verifies(tmp_path):
    run_dir, _report = write(tmp_path, passing_results(), pq=PQ)
    listed = vr.parse_manifest(open(os.path.join(run_dir, vr.MANIFEST)).read())
    on_disk = set()
    for root, _dirs, files in os.walk(run_dir):
        for name in files:
            on_disk.add(os.path.relpath(os.path.join(root, name), run_dir))
    assert set(listed) == on_disk - {vr.MANIFEST}
    assert {"report.html", "report.json", "junit.xml"} <= set(listed)
    assert vr.verify_run_dir(run_dir)["ok"] is True


def flip_one_byte(path):
    with open(path, "r+b") as handle:
        data = bytearray(handle.read())
        data[len(data) // 2] ^= 0x01
        handle.seek(0)
        handle.write(data)


def test_one_changed_evidence_byte_fails_verification(tmp_path, project_root):
    run_dir, report = write(tmp_path, passing_results())
    evidence = os.path.join(run_dir, report["results"][0]["evidence_file"])
    flip_one_byte(evidence)
    res = vr.verify_run_dir(run_dir)
    assert res["ok"] is False and res["changed"] == [report["results"][0]["evidence_file"]]
    cli = subprocess.run([os.path.join(project_root, "scripts", "report-verify"), run_dir], check=False,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert cli.returncode == 1
    assert "CHANGED " + report["results"][0]["evidence_file"] in cli.stdout and "NOT VERIFIED" in cli.stdout


def test_missing_and_added_files_fail_verification(tmp_path):
    run_dir, _report = write(tmp_path, passing_results())
    os.remove(os.path.join(run_dir, "junit.xml"))
    with open(os.path.join(run_dir, "evidence", "smuggled.json"), "w") as handle:
        handle.write("{}")
    res = vr.verify_run_dir(run_dir)
    assert res["missing"] == ["junit.xml"] and res["extra"] == ["evidence/smuggled.json"] and not res["ok"]


def test_malformed_or_absent_manifest_is_reported(tmp_path):
    run_dir, _report = write(tmp_path, passing_results())
    with open(os.path.join(run_dir, vr.MANIFEST), "a") as handle:
        handle.write("not a manifest line\n")
    assert "malformed" in vr.verify_run_dir(run_dir)["error"]
    os.remove(os.path.join(run_dir, vr.MANIFEST))
    assert vr.verify_run_dir(run_dir)["ok"] is False


@pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="ssh-keygen is not installed")
def test_signed_manifest_verifies_and_detects_tampering(tmp_path, project_root):
    key = str(tmp_path / "signer")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "qa@hospital", "-f", key], check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text("qa@hospital %s" % open(key + ".pub").read())
    run_dir, report = write(tmp_path, passing_results())
    vr.sign_manifest(run_dir, key)
    res = vr.verify_run_dir(run_dir, allowed_signers=str(allowed), identity="qa@hospital")
    assert res["ok"] and res["signature"]["ok"], res
    # Re-hashing a tampered file into the manifest does not help: the signature breaks.
    flip_one_byte(os.path.join(run_dir, "report.html"))
    entries = vr.build_manifest(run_dir)
    with open(os.path.join(run_dir, vr.MANIFEST), "w") as handle:
        handle.write(vr.manifest_text(entries))
    res = vr.verify_run_dir(run_dir, allowed_signers=str(allowed), identity="qa@hospital")
    assert res["changed"] == [] and res["signature"]["ok"] is False and res["ok"] is False
    cli = subprocess.run([os.path.join(project_root, "scripts", "report-verify"), run_dir,
                          "--allowed-signers", str(allowed), "--identity", "qa@hospital"],
                         stdout=subprocess.PIPE, universal_newlines=True, check=False)
    assert cli.returncode == 1 and "SIGNATURE BAD" in cli.stdout


def test_svg_chart_draws_threshold_and_handles_no_samples():
    svg = vr.svg_line_chart("latency", [(0, 10), (1, 20)], "ms", threshold=500)
    assert svg.startswith("<svg") and "polyline" in svg and "limit 500ms" in svg
    assert "no samples" in vr.svg_line_chart("empty", [])
    ET.fromstring(svg)   # well-formed XML


def test_catalogue_is_complete_and_traceable(project_root):
    with open(os.path.join(project_root, "roles", "validation", "files", "catalogue.yml")) as handle:
        catalogue = yaml.safe_load(handle)["validation_catalogue"]
    ids = [r["id"] for r in catalogue]
    assert len(ids) == len(set(ids))
    regs = set()
    for req in catalogue:
        assert req["id"].startswith(req["qualification"] + "-")
        for key in ("title", "statement", "acceptance", "risk", "check", "regulations"):
            assert req.get(key), (req["id"], key)
        assert req["risk"] in ("high", "medium", "low")
        assert req["check"]["kind"] and req["check"]["groups"]
        regs.update(req["regulations"])
    for item in ("HIPAA 164.312(a)(1)", "HIPAA 164.312(a)(2)(iv)", "HIPAA 164.312(b)", "HIPAA 164.312(c)(1)",
                 "HIPAA 164.312(d)", "HIPAA 164.312(e)(1)", "21 CFR 11.10(a)", "21 CFR 11.10(d)", "21 CFR 11.10(e)"):
        assert item in regs, item
    assert {"IQ", "OQ", "PQ"} == set(r["qualification"] for r in catalogue)
    report = vr.build_report(catalogue, [], RUN)
    html = vr.render_html(report)
    for req in catalogue:
        assert 'id="req-%s"' % req["id"] in html


INTERNAL_REFERENCE = re.compile(
    r"seed|source doc|\b\w+\.(txt|md)\b|\bissues?\b|\bsessions? (log|notes?)\b|internal note|\btodo\b|\bfixme\b",
    re.IGNORECASE)


def catalogue_strings(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from catalogue_strings(key)
            yield from catalogue_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from catalogue_strings(item)
    elif isinstance(value, str):
        yield value


@pytest.mark.parametrize("text,internal", [
    ("seed:dicom-server HIPAA checklist, audit logging enabled", True),
    ("see 000_dicom_server.txt", True),
    ("as the source document asks", True),
    ("fixed in issue 12", True),
    ("DICOM server production guide, HIPAA compliance checklist: audit logging enabled", False),
    ("HIPAA 164.312(e)(1)", False),
    ("21 CFR 11.10(e)", False),
    ("Orthanc's TLS session closes after the refusal", False),
])
def test_internal_reference_pattern(text, internal):
    assert bool(INTERNAL_REFERENCE.search(text)) is internal


def test_catalogue_carries_no_internal_reference(project_root):
    """Auditors read every catalogue field in the report: regulations and guidelines, no project-internal sources."""
    with open(os.path.join(project_root, "roles", "validation", "files", "catalogue.yml")) as handle:
        catalogue = yaml.safe_load(handle)["validation_catalogue"]
    found = []
    for req in catalogue:
        for text in catalogue_strings(req):
            if INTERNAL_REFERENCE.search(text):
                found.append((req["id"], text))
    assert not found, found
    for req in catalogue:
        for guideline in req.get("guidelines") or []:
            assert guideline.startswith("DICOM server production guide"), (req["id"], guideline)
        for regulation in req["regulations"]:
            assert re.match(r"(HIPAA 164|21 CFR 11)\.\d+\(", regulation), (req["id"], regulation)


def test_report_module_writes_the_run_and_the_latest_link(tmp_path, run_module):
    from ansible_collections.hospital.imaging.plugins.modules import validation_report as module
    args = {"path": str(tmp_path / "reports" / "site-1"), "catalogue": CATALOGUE, "results": passing_results(),
            "run": RUN, "latest_link": str(tmp_path / "reports" / "latest")}
    res = run_module(module, args)
    assert res.rc == 0 and res["verdict"] == "PASS" and res["files"] >= 8 and res["signed"] is False
    assert os.path.realpath(str(tmp_path / "reports" / "latest")) == str(tmp_path / "reports" / "site-1")
    again = run_module(module, args)
    assert again.failed and "written once" in again["msg"]
    args.update(path=str(tmp_path / "reports" / "site-2"), catalogue=CATALOGUE + CATALOGUE[:1])
    dup = run_module(module, args)
    assert dup.failed and "IQ-PKG-001" in dup["msg"]
    args.update(catalogue=CATALOGUE, results=passing_results()[:-1], scope=["IQ", "OQ", "PQ"])
    res = run_module(module, args)
    assert res["verdict"] == "FAIL" and res["deviations"][0]["requirement"] == "PQ-INGEST-001"
    assert os.path.realpath(str(tmp_path / "reports" / "latest")) == str(tmp_path / "reports" / "site-2")
