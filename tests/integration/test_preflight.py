"""Preflight refuses bad input with one message naming every variable, and touches no host.

Runs playbooks/site.yml against a real systemd test host (a container from scripts/testhosts)
and compares the container's filesystem changes (`docker diff`) before and after.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)


@pytest.fixture(scope="module")
def test_host():
    out = run([os.path.join(ROOT, "scripts", "testhosts"), "bookworm"])
    assert out.returncode == 0, out.stderr
    image = out.stdout.split()[1]
    name = "preflight-test-" + uuid.uuid4().hex[:8]
    started = run(["docker", "run", "-d", "--name", name, "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
                   "--security-opt", "seccomp=unconfined", "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                   "--tmpfs", "/run", "--tmpfs", "/run/lock", "--stop-signal", "SIGRTMIN+3", "-e", "container=docker",
                   image, "/lib/systemd/systemd"])
    assert started.returncode == 0, started.stderr
    for _attempt in range(30):
        state = run(["docker", "exec", name, "systemctl", "is-system-running", "--wait"]).stdout.strip()
        if state in ("running", "degraded"):
            break
    try:
        yield name
    finally:
        run(["docker", "rm", "-f", name])


# What systemd itself writes while the host runs (journal, private tmp of its services).
SYSTEMD_CHURN = ("/var/log/journal", "/systemd-private-", "/var/lib/systemd/")


def filesystem_changes(container):
    """The container's changes against its image, without systemd's own runtime churn."""
    lines = run(["docker", "diff", container]).stdout.splitlines()
    return sorted(line for line in lines if not any(part in line for part in SYSTEMD_CHURN))


def make_inventory(tmp_path, drop_secret):
    """A copy of the sandbox inventory with a plain-text vault holding every secret but one."""
    inv = tmp_path / "inventory"
    shutil.copytree(os.path.join(ROOT, "inventories", "sandbox"), inv,
                    ignore=shutil.ignore_patterns("vault.yml", ".vault-pass"))
    with open(os.path.join(ROOT, "playbooks", "vars", "secrets.yml"), encoding="utf-8") as fh:
        required = yaml.safe_load(fh)["imaging_required_secrets"]
    assert required, "playbooks/vars/secrets.yml lists no secret"
    vault = {e["name"]: "Gx7-" + uuid.uuid4().hex + uuid.uuid4().hex for e in required}
    dropped = None
    if drop_secret:
        dropped = required[0]["name"]
        del vault[dropped]
    (inv / "group_vars" / "all" / "vault.yml").write_text(yaml.safe_dump(vault), encoding="utf-8")
    return inv, dropped


def playbook(inv, container, playbook_name, *extra):
    env = dict(os.environ, IMAGING_SANDBOX_CONTAINER=container, ANSIBLE_REMOTE_TMP="/run/ansible-tmp",
               ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               PATH=VENV_BIN + os.pathsep + os.environ["PATH"])
    return run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(inv),
                os.path.join(ROOT, "playbooks", playbook_name)] + list(extra), env=env, cwd=ROOT)


def test_good_input_passes_preflight(tmp_path, test_host):
    inv = make_inventory(tmp_path, drop_secret=False)[0]
    result = playbook(inv, test_host, "preflight.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed=0" in result.stdout and "Validate every input before any host changes" in result.stdout


def test_bad_input_is_refused_before_any_change(tmp_path, test_host):
    inv, dropped = make_inventory(tmp_path, drop_secret=True)
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump({
        "imaging_modality_cidrs": ["10.20.0.0/16", "10.0.0.0/33"],   # invalid CIDR
        "imaging_dicom_port": 70000,                                 # out of range
        "imaging_https_port": 4243,                                  # same as imaging_dicom_tls_port
        "postgresql_data_directory": "/srv/phi/postgresql/15/main",   # moved without its audit watch
    }), encoding="utf-8")
    before = filesystem_changes(test_host)
    result = playbook(inv, test_host, "site.yml", "-e", "@" + str(bad))
    after = filesystem_changes(test_host)
    out = result.stdout
    assert result.returncode != 0
    # one failed task, whose one message names every variable and rule
    assert out.count("fatal: [") == 1, out
    found = re.search(r"Preflight found (\d+) problem\(s\)", out)
    assert found and int(found.group(1)) >= 4, out
    # every variable that refers to the missing secret is named too
    assert "cannot be resolved ('%s' is undefined)" % dropped in out
    assert "imaging_modality_cidrs: '10.0.0.0/33' is not a valid CIDR" in out
    assert "imaging_dicom_port: 70000 is out of range (rule: integer 1-65535)" in out
    assert "imaging_dicom_tls_port, imaging_https_port: the same port 4243 is used more than once" in out
    assert "%s: is not set" % dropped in out
    assert ("postgresql_data_directory: /srv/phi/postgresql/15/main is outside auditd_postgresql_data_dir "
            "(/var/lib/postgresql), the directory auditd watches for it") in out
    assert "set imaging_postgresql_data_dir to a directory that holds it" in out
    # nothing after preflight ran, and the host's filesystem is exactly as before
    assert "PLAY [Harden every host]" not in out
    assert before == after, "the host changed:\n" + "\n".join(sorted(set(after) - set(before)))
