"""The all-in-one host is a real Debian systemd host, converged through the sandbox inventory."""

import json
import os
import re

from conftest import PROJECT, run_playbook, runs_in_pass


def test_systemd_is_pid_1(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded"), state


def test_supported_debian_release(host):
    info = host.system_info
    assert info.distribution == "debian"
    assert info.release.split(".")[0] in ("12", "13")


def waived_services(host):
    """Services a role recorded as unable to run here, with the reason (a waiver), e.g. auditd in a container."""
    waived = set()
    listing = host.run("cat /etc/ansible/facts.d/imaging_*.fact")
    assert listing.rc == 0, listing.stderr
    for name in host.run("ls /etc/ansible/facts.d").stdout.split():
        record = json.loads(host.file("/etc/ansible/facts.d/" + name).content_string)
        for waiver in record.get("waivers", []):
            if waiver.get("id", "").endswith("-service") and waiver.get("reason"):
                waived.add(waiver["id"][: -len("-service")] + ".service")
    return waived


def test_no_failed_units(host):
    cmd = host.run("systemctl list-units --state=failed --no-legend --plain")
    assert cmd.rc == 0, cmd.stderr
    failed = {line.split()[0] for line in cmd.stdout.splitlines() if line.strip()}
    assert failed <= waived_services(host), "failed units without a waiver: %s" % sorted(failed - waived_services(host))


def test_every_role_left_its_record(host):
    roles = {"os_hardening", "auditd", "firewall", "disk_encryption", "pki", "postgresql", "pgbouncer", "redis",
             "orthanc", "nginx", "app_services"}
    present = {name[len("imaging_"):-len(".fact")] for name in host.run("ls /etc/ansible/facts.d").stdout.split()}
    assert roles <= present, sorted(roles - present)


# A full check-mode pass of site.yml takes about three and a half minutes: it runs in the Debian 13 pass of the
# default scenario (the Debian 12 pass runs the repeated validation and the crash drills), to keep CI in its budget.
@runs_in_pass("trixie")
def test_check_mode_changes_nothing():
    """site.yml in check mode on the converged stack: no failure and nothing to change (every role
    supports check mode; validation, which exercises the live stack, says so and stops)."""
    scenario = os.environ.get("MOLECULE_SCENARIO_DIRECTORY", os.path.join(PROJECT, "molecule", "default"))
    run = run_playbook(os.path.join(scenario, "converge.yml"), "--check")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    recap = run.stdout[run.stdout.rindex("PLAY RECAP"):]
    hosts = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", recap, re.MULTILINE)
    assert hosts, recap
    changed = [line for line in run.stdout.splitlines() if line.startswith("changed:")]
    assert all(int(c) == 0 and int(u) == 0 and int(f) == 0 for _name, c, u, f in hosts), recap + "\n".join(changed)
    assert "it does not run in check mode" in run.stdout
