"""Switching a DICOM listener off in the inventory, and on again: the orthanc role's record changes, and
with it, and nothing else touched, the firewall, the validation probes and the sandbox printout.

Disruptive (runs after the tiers' tests, before validation's): each case converges the imaging tier with one
switch set, checks every consumer, and the final case converges it back to the inventory's own settings (both
listeners).
"""
import json
import os

import pytest

from conftest import (dicom_listeners, inventory_runner, orthanc_record, printed_commands, run_playbook, runs_in_pass,
                      stack_host)

EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp/hospital-imaging-validation")
DICOM_NAME = inventory_runner().get_hosts("imaging_dicom")[0]
PORTS = {"dicom": 4242, "dicom-tls": 4243}

# The full-stack scenario runs on Debian 12 and 13; this re-converging test runs in the Debian 13 pass
# (MOLECULE_DISTRO=trixie), the repeated-validation test in the Debian 12 one, to keep CI in its budget.
pytestmark = [pytest.mark.disruptive, runs_in_pass("trixie")]


def _ufw_ports(host):
    """The ports ufw allows, with the rule comments the firewall role wrote."""
    added = host.check_output("ufw show added")
    return {int(line.split(" port ")[1].split()[0]) for line in added.splitlines() if " port " in line}


def _validation_rows(tag):
    reports = os.path.join(EPHEMERAL, "listener-reports-" + tag)
    # (only the DICOM rows matter here: the backup and restore drills are left out of these runs)
    proc = run_playbook("playbooks/validate.yml", "--tags", "oq", "-e", "validation_fail_on_verdict=false",
                        "-e", "validation_backup_enabled=false", "-e", "validation_report_root=%s" % reports)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    with open(os.path.join(os.path.realpath(os.path.join(reports, "latest")), "report.json")) as handle:
        report = json.load(handle)
    return [r for r in report["results"] if r["requirement"] == "OQ-DICOM-001"]


def _converge(*extra):
    # molecule/default/imaging.yml: playbooks/imaging.yml after the test client's facts, which the
    # scenario's inventory reads (its modality CIDRs name the client's address)
    proc = run_playbook("molecule/default/imaging.yml", "--tags", "orthanc", *extra)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    return proc


@pytest.fixture(scope="module")
def other_ports():
    """The ports ufw allows before the first switch, other than the DICOM ones (the other tiers', the backup host's)."""
    return _ufw_ports(stack_host(DICOM_NAME)) - set(PORTS.values())


# The last case converges back to the inventory's own settings, whose validation run the verify step
# already judged (test_validation.py): it checks the record, the firewall and the printout only.
@pytest.mark.parametrize("extra, remaining, validate", [
    (["-e", "orthanc_dicom_tls_enabled=false"], ["dicom"], True),
    (["-e", "orthanc_dicom_plain_enabled=false"], ["dicom-tls"], True),
    ([], ["dicom", "dicom-tls"], False),
], ids=["tls-off", "plain-off", "both-again"])
def test_a_listener_switch_changes_every_consumer(extra, remaining, validate, other_ports):
    host = stack_host(DICOM_NAME)
    _converge(*extra)
    listeners = dicom_listeners(host)
    assert [item["name"] for item in listeners] == remaining
    # the firewall opens exactly the recorded DICOM ports, and keeps every other tier's rule (a run of one tier
    # learns the addresses of hosts outside its play, such as the backup host's for the off-host index backups)
    opened = _ufw_ports(host)
    for name, port in PORTS.items():
        assert (port in opened) is (name in remaining), (name, sorted(opened))
    assert other_ports and other_ports <= opened, (sorted(other_ports - opened), sorted(opened))
    # the printout shows a command for each recorded listener and no other
    commands = printed_commands()[1]
    assert sorted(c.split(" *.dcm")[0].rsplit(" ", 1)[1] for c in commands) == sorted(str(i["port"]) for i in listeners)
    # the process serving each listener runs; a switched-off second process is gone
    services = orthanc_record(host)["services"]
    assert host.service("orthanc-dicom-tls").is_running is ("orthanc-dicom-tls" in services)
    if not validate:
        return
    # validation probes exactly the recorded listeners, and each one passes
    rows = _validation_rows("-".join(remaining))
    assert len(rows) == len(listeners), rows
    for item in listeners:
        assert any(str(item["port"]) in json.dumps(row) for row in rows), (item, rows)
    assert all(row["status"] == "pass" for row in rows), rows
