"""Full stack: run playbooks/validate.yml on the converged host and check the auditor's report.

Runs the same playbook hospitals run, from the controller, against molecule's inventory, writing the
report under the scenario's ephemeral directory; then asserts the verdict, each requirement's result,
that the expected refusals were really observed (evidence, not only a status) on every DICOM listener
the orthanc role recorded, and that three runs (the converge's own among them, the others after the drills of the
other test files) give the same results. The report checked is the converge's own when the scenario's report root
holds it (site.yml ends with the validation stage); else a run of its own.
"""
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest
import yaml

from conftest import INVENTORY, PLAYBOOK_OUTPUTS, inventory_runner, inventory_vars, run_playbook, runs_in_pass

EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp/hospital-imaging-validation")
REPORTS = os.path.join(EPHEMERAL, "validation-reports")
PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

# Where a container cannot do what a real host does, the roles record a waiver.
CONTAINER_WAIVABLE = {"IQ-ENC-002", "IQ-AUD-001", "IQ-AUD-002", "IQ-OSH-SYSCTL", "IQ-OSH-TIME", "IQ-OSH-USB", "OQ-AUD-001"}


def read_report(run_dir):
    with open(os.path.join(run_dir, "report.json")) as handle:
        return json.load(handle)


def _latest_run_dir():
    latest = os.path.join(REPORTS, "latest")
    return os.path.realpath(latest) if os.path.isfile(os.path.join(latest, "report.json")) else None


# The converge's report, found before any test runs validate.yml again.
CONVERGE_RUN = _latest_run_dir()


def _validate():
    """A run of playbooks/validate.yml into the scenario's report root: its report directory."""
    started = time.monotonic()
    proc = run_playbook("playbooks/validate.yml", "-e", "validation_fail_on_verdict=false",
                        "-e", "validation_report_root=%s" % REPORTS)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    run_dir = _latest_run_dir()
    report = read_report(run_dir)
    sys.stdout.write("validation run %s: %s %s (%.0f s)\n" % (run_dir, report["verdict"], report["summary"],
                                                              time.monotonic() - started))
    return run_dir


@pytest.fixture(scope="module")
def run():
    assert INVENTORY, "run by molecule: MOLECULE_INVENTORY_FILE names the scenario's inventory"
    run_dir = CONVERGE_RUN or _validate()
    report = read_report(run_dir)
    sys.stdout.write("validation report checked: %s %s %s\n" % (run_dir, report["verdict"], report["summary"]))
    return run_dir, report


@pytest.fixture(scope="module")
def dicom_listeners(host):
    """The DICOM listeners the orthanc role recorded on the archive host, as "<name> <port> plain|TLS"."""
    record = json.loads(host.file("/etc/ansible/facts.d/imaging_orthanc.fact").content_string)
    return [("%s %s %s" % (item["name"], item["port"], "TLS" if item["tls"] else "plain"), item["tls"])
            for item in record["listeners"] if item["protocol"] == "dicom"]


@pytest.fixture(scope="module")
def site_waived():
    """Requirements the site's inventory waives (site decisions, each with its written reason)."""
    waived = set()
    for name in inventory_runner().get_hosts("imaging"):
        waived |= {w["requirement"] for w in inventory_vars(name, "validation_waivers | default([])")[0]}
    return waived


def rows(report, requirement):
    return [r for r in report["results"] if r["requirement"] == requirement]


def status(report):
    return dict((r["id"], r["status"]) for r in report["requirements"])


def test_verdict_is_pass_with_no_deviation(run):
    _run_dir, report = run
    assert report["deviations"] == [], report["deviations"]
    assert report["verdict"] == "PASS"


def test_every_requirement_is_proved_or_waived_with_a_reason(run, site_waived):
    _run_dir, report = run
    for req, state in status(report).items():
        if req in CONTAINER_WAIVABLE or req in site_waived:
            assert state in ("pass", "waived"), (req, state)
        else:
            assert state == "pass", (req, state, [r["message"] for r in rows(report, req)])
    for waiver in report["waivers"]:
        assert waiver["requirement"] in CONTAINER_WAIVABLE | site_waived and waiver["reason"].strip()


def test_undeclared_and_misplaced_dicom_nodes_were_refused(run):
    _run_dir, report = run
    for req in ("OQ-DICOM-002", "OQ-DICOM-003"):
        for row in rows(report, req):
            assert row["status"] == "pass"
            refused = str(row["actual"]["association"]).startswith("rejected") or row["actual"].get("stored") == 0
            assert refused, row["actual"]


def test_every_recorded_dicom_listener_was_probed(run, dicom_listeners, site_waived):
    """OQ-DICOM-001 to 003 judged once on each DICOM listener of the record, OQ-DICOM-004 once on each TLS one."""
    _run_dir, report = run
    assert dicom_listeners, "the orthanc record lists no DICOM listener"
    for req in ("OQ-DICOM-001", "OQ-DICOM-002", "OQ-DICOM-003", "OQ-DICOM-004"):
        wanted = sorted(label for label, tls in dicom_listeners if tls or req != "OQ-DICOM-004")
        judged = sorted(row["check"].rsplit(" [", 1)[-1].rstrip("]") for row in rows(report, req))
        assert judged == wanted, (req, [row["check"] for row in rows(report, req)])
        for row in rows(report, req):
            assert row["status"] == "pass" or (req in site_waived and row["status"] == "waived"), (req, row["message"])
            assert row["evidence"]["listener"]["protocol"] == "dicom", (req, row["evidence"].get("listener"))


def test_tls_below_1_2_was_refused_by_the_servers(run, site_waived):
    _run_dir, report = run
    for req in ("OQ-TLS-001", "OQ-DICOM-004"):
        if req in site_waived:
            continue
        for row in rows(report, req):
            old = row["evidence"]["below_1.2"]
            assert old["ok"] is False and old["stage"] == "handshake", old
            assert row["evidence"]["modern"]["version"] in ("TLSv1.2", "TLSv1.3")


def test_unauthenticated_web_and_database_access_was_refused(run):
    _run_dir, report = run
    for row in rows(report, "OQ-WEB-002"):
        assert row["actual"]["status"] == 401
    for row in rows(report, "OQ-WEB-003"):
        assert row["actual"]["stow_without_credentials"] == 401 and row["actual"]["stow"] == 200
    for row in rows(report, "OQ-PG-001"):
        assert row["actual"] == {"tls_with_password": "ok", "plaintext": "refused", "wrong_password": "refused"}
    for row in rows(report, "OQ-REDIS-001"):
        assert row["actual"]["unauthenticated"].startswith("-NOAUTH") and row["actual"]["authenticated"] == "+PONG"


def test_pq_figures_meet_the_thresholds(run):
    _run_dir, report = run
    for host, pq in report["pq"].items():
        metrics, limits = pq["metrics"], pq["thresholds"]
        sys.stdout.write("PQ %s: %s\n" % (host, json.dumps(metrics, sort_keys=True)))
        assert metrics["store_failures"] == 0 and metrics["missing"] == 0
        assert metrics["instances_per_s"] >= limits["min_instances_per_s"]
        assert metrics["store_ms_p95"] <= limits["p95_store_ms"]
        assert metrics["disk_free_percent_min"] >= limits["min_disk_free_percent"]
    assert report["pq"], "no PQ ran"


def test_the_restore_drill_brought_back_images_and_index_together_on_a_scratch_target(run, host):
    """OQ-BAK-002: the newest off-host snapshot and the index at its time, restored on a scratch target, hold the
    recorded instances, every file the index names, and answer C-FIND and WADO-RS; nothing of the drill is left."""
    _run_dir, report = run
    drills = rows(report, "OQ-BAK-002")
    assert drills, "no OQ-BAK-002 row"
    for row in drills:
        drill = row["actual"]["drill"]
        sys.stdout.write("restore drill on %s: %s\n" % (row["host"], json.dumps(drill, sort_keys=True)))
        assert row["status"] == "pass", row["message"]
        assert drill["repository"] == "offsite" and drill["index_restore_rc"] == 0 and drill["in_recovery"] == "f"
        assert drill["instances"] > 0 and drill["instances"] == drill["recorded_instances"] == drill["files_named"], drill
        assert drill["files_missing"] == 0 and drill["c_find_matches"] == 1 and drill["wado_rs_status"] == 200, drill
        assert row["evidence"]["drill"]["study"], row["evidence"]["drill"]
    assert host.run("systemctl is-active validation-restore-drill").stdout.strip() != "active"
    assert host.run("ls -d /var/tmp/validation-restore-drill-* /var/tmp/validation-image-restore-*").rc != 0


def test_report_files_and_manifest(run):
    run_dir, report = run
    for name in ("report.html", "report.json", "junit.xml", "manifest.sha256"):
        assert os.path.isfile(os.path.join(run_dir, name))
    html = open(os.path.join(run_dir, "report.html")).read()
    for req in report["requirements"]:
        assert 'id="req-%s"' % req["id"] in html
    suites = ET.parse(os.path.join(run_dir, "junit.xml")).getroot()
    assert suites.findall(".//failure") == [] and suites.findall(".//error") == []
    verify = subprocess.run([os.path.join(PROJECT, "scripts", "report-verify"), run_dir], check=False,
                            stdout=subprocess.PIPE, universal_newlines=True)
    assert verify.returncode == 0 and "VERIFIED" in verify.stdout
    assert report["run"]["collection"]["git_commit"] and report["run"]["hosts"]


@pytest.fixture(scope="module")
def repeated_runs(run):
    """Three runs of playbooks/validate.yml: the ``run`` fixture's (the converge's own, in the scenario), then as
    many more as make three, on the host the drills of the other test files left behind."""
    run_dirs = [run[0]]
    while len(run_dirs) < 3:
        run_dirs.append(_validate())
        assert run_dirs[-1] not in run_dirs[:-1], "run %d wrote no report of its own" % len(run_dirs)
    return [read_report(run_dir) for run_dir in run_dirs]


# The full-stack scenario runs on Debian 12 and 13: the repeated runs happen in the Debian 12 pass (the
# listener-switching test, test_listeners.py, in the Debian 13 one), to keep CI in its budget.
@runs_in_pass("bookworm")
def test_validation_gives_the_same_results_three_times(repeated_runs):
    """Determinism: the host validated three times (before and after the drills) gives the same status for every requirement (and the same
    rows: requirement, host, check with its listener, status), and PASS each time."""
    first = status(repeated_runs[0])
    first_rows = sorted((r["requirement"], r["host"], r["check"], r["status"]) for r in repeated_runs[0]["results"])
    for number, report in enumerate(repeated_runs, 1):
        assert report["verdict"] == "PASS", (number, report["deviations"])
        changed = dict((req, (first.get(req), state)) for req, state in status(report).items() if first.get(req) != state)
        assert not changed and set(status(report)) == set(first), (number, changed)
        assert sorted((r["requirement"], r["host"], r["check"], r["status"]) for r in report["results"]) == first_rows, number


def test_no_secret_in_logs_journal_reports_or_output(run, host):
    """No vault secret in the host's logs and journal (after every drill), any report file, or the output of any
    playbook the tests ran (validation runs among them: the repeated runs here, the listener probes of
    test_listeners.py)."""
    run_dir, _report = run
    with open(os.path.join(PROJECT, "playbooks", "vars", "secrets.yml")) as handle:
        names = [entry["name"] for entry in yaml.safe_load(handle)["imaging_required_secrets"]]
    stack = inventory_runner().get_hosts("imaging")[0]
    secrets = [value for value in inventory_vars(stack, *names) if value]
    assert len(secrets) == len(names)
    host.run("install -m 0600 /dev/null /root/.secrets-probe")
    for value in secrets:
        host.run("printf '%%s\\n' %s >> /root/.secrets-probe", value)
    try:
        logs = host.run("grep -rlF -f /root/.secrets-probe /var/log")
        assert logs.stdout.strip() == "", "secrets in log files: %s" % logs.stdout.split()
        journal = host.run("journalctl --no-pager -q | grep -cF -f /root/.secrets-probe")
        assert journal.stdout.strip() == "0", "secrets in %s journal lines" % journal.stdout.strip()
    finally:
        host.run("rm -f /root/.secrets-probe")
    # (assertions name where a secret was found, never the secret)
    assert any(playbook == "playbooks/validate.yml" for playbook, _output in PLAYBOOK_OUTPUTS), "no validation output to check"
    for playbook, output in PLAYBOOK_OUTPUTS:
        assert not any(value in output for value in secrets), "a secret in the output of %s" % playbook
    leaked = []
    for directory, _dirs, files in os.walk(os.path.dirname(run_dir)):
        for name in files:
            with open(os.path.join(directory, name), "rb") as handle:
                content = handle.read()
            if any(value.encode() in content for value in secrets):
                leaked.append(os.path.relpath(os.path.join(directory, name), os.path.dirname(run_dir)))
    assert leaked == [], "secrets in report files: %s" % leaked
