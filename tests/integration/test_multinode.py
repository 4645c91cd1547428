"""The multinode example inventory (each tier on its own hosts) is consistent and gives the firewall
rules a hospital layout needs.

No host of that inventory exists here, and nothing may connect to its addresses: every host is run
over the local connection, which reads the controller only. Preflight and the firewall role's own rule
computation (its preflight tasks) are the same code a real run uses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")

DB, CACHE, WEB, APP, BACKUP = "10.20.1.11", "10.20.1.21", "10.20.1.41", "10.20.1.51", "10.20.9.61"
PACS = ("10.20.1.31", "10.20.1.32")
HOSTS = {
    "db1.pacs.hospital.example": DB,
    "cache1.pacs.hospital.example": CACHE,
    "pacs1.pacs.hospital.example": PACS[0],
    "pacs2.pacs.hospital.example": PACS[1],
    "web1.pacs.hospital.example": WEB,
    "app1.pacs.hospital.example": APP,
    "backup1.pacs.hospital.example": BACKUP,
}

RULES_PLAYBOOK = """\
- name: Compute each host's firewall rules the way the firewall role does
  hosts: imaging
  gather_facts: false
  tasks:
    - name: Give the archive hosts the listeners the orthanc role records (its own layout filter, its defaults)
      ansible.builtin.set_fact:
        ansible_local:
          imaging_orthanc:
            listeners: >-
              {{ ([] | hospital.imaging.orthanc_layout(plain_port=imaging_dicom_port, tls_port=imaging_dicom_tls_port,
                 plain_sources=imaging_modality_cidrs, tls_sources=imaging_modality_cidrs)).listeners }}
      when: "'imaging_dicom' in group_names"
    - name: Compute and check the rules (the firewall role's preflight, which changes nothing)
      ansible.builtin.include_role:
        name: hospital.imaging.firewall
        tasks_from: preflight.yml
    - name: Write them out
      ansible.builtin.copy:
        content: "{{ __firewall_rules | to_json }}"
        dest: "{{ out_dir }}/{{ inventory_hostname }}.json"
        mode: "0600"
      delegate_to: localhost
"""


def run_playbook(inv, playbook, *extra):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               PATH=VENV_BIN + os.pathsep + os.environ["PATH"])
    cmd = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(inv), str(playbook),
           "-e", "ansible_connection=local", "-e", "ansible_become=false",
           "-e", "ansible_python_interpreter=" + os.path.join(VENV_BIN, "python")] + list(extra)
    return subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    """A copy of inventories/multinode with the vault it tells the site to create."""
    inv = tmp_path_factory.mktemp("multinode") / "inventory"
    shutil.copytree(os.path.join(ROOT, "inventories", "multinode"), inv)
    with open(os.path.join(ROOT, "playbooks", "vars", "secrets.yml"), encoding="utf-8") as fh:
        required = yaml.safe_load(fh)["imaging_required_secrets"]
    vault = {e["name"]: "Gx7-" + uuid.uuid4().hex + uuid.uuid4().hex for e in required}
    (inv / "group_vars" / "all" / "vault.yml").write_text(yaml.safe_dump(vault), encoding="utf-8")
    return inv


@pytest.fixture(scope="module")
def rules(inventory, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("rules")
    playbook = out_dir / "rules.yml"
    playbook.write_text(RULES_PLAYBOOK, encoding="utf-8")
    result = run_playbook(inventory, playbook, "-e", "out_dir=" + str(out_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    found = {}
    for host in HOSTS:
        with open(out_dir / (host + ".json"), encoding="utf-8") as fh:
            found[host] = json.load(fh)
    return found


def sources(host_rules, port):
    """The sources allowed to reach a port, or None when the host does not open it."""
    matching = [r for r in host_rules if r["port"] == str(port) and r["proto"] == "tcp"]
    if not matching:
        return None
    return sorted(s for r in matching for s in r["sources"])


def test_multinode_example_passes_preflight(inventory):
    result = run_playbook(inventory, os.path.join(ROOT, "playbooks", "preflight.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validate every input before any host changes" in result.stdout
    recap = dict(re.findall(r"^(\S+)\s*: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", result.stdout, re.M))
    assert recap == {host: "0" for host in HOSTS}, result.stdout


def test_production_without_an_off_host_image_backup_is_refused_before_any_change(inventory, tmp_path):
    """The example is a production inventory: without its imaging_backup host, preflight refuses every Orthanc host."""
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text(encoding="utf-8"))
    del hosts["all"]["children"]["imaging"]["children"]["imaging_backup"]
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts), encoding="utf-8")
    try:
        result = run_playbook(inventory, os.path.join(ROOT, "playbooks", "preflight.yml"))
    finally:
        shutil.copy(os.path.join(ROOT, "inventories", "multinode", "hosts.yml"), inventory / "hosts.yml")
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    for host in ("pacs1.pacs.hospital.example", "pacs2.pacs.hospital.example"):
        assert ("%s: orthanc_backup_offsite_host: is empty (rule: imaging_environment production keeps the image backups off "
                "the host: put a host in the imaging_backup group)" % host) in out, out[-3000:]
    assert ("db1.pacs.hospital.example: postgresql_backup_offsite_host: is empty (rule: imaging_environment production keeps the "
            "index backups off the host: put a host in the imaging_backup group)") in out, out[-3000:]
    assert "changed=1" not in out


def test_the_backup_port_is_open_only_on_the_backup_host_to_the_archive_nodes(rules):
    assert sources(rules["backup1.pacs.hospital.example"], 2222) == sorted(PACS)
    for host in HOSTS:
        if host != "backup1.pacs.hospital.example":
            assert sources(rules[host], 2222) is None, host


def test_pgbackrest_tls_is_open_between_the_database_host_and_the_backup_host_only(rules):
    """The index's off-host repository: the backup host's pgBackRest TLS server to the database host, the database
    host's to the backup host, nowhere else."""
    assert sources(rules["backup1.pacs.hospital.example"], 8432) == [DB]
    assert sources(rules["db1.pacs.hospital.example"], 8432) == [BACKUP]
    for host in HOSTS:
        if host not in ("backup1.pacs.hospital.example", "db1.pacs.hospital.example"):
            assert sources(rules[host], 8432) is None, host


def test_ssh_is_open_on_every_host_only_from_the_management_network(rules):
    for host, host_rules in rules.items():
        assert sources(host_rules, 22) == ["10.10.0.0/24"], host


def test_database_ports_are_open_only_on_the_db_host_to_orthanc_and_the_application(rules):
    for port in (5432, 6432):
        assert sources(rules["db1.pacs.hospital.example"], port) == sorted([*PACS, APP])
        for host in HOSTS:
            if host != "db1.pacs.hospital.example":
                assert sources(rules[host], port) is None, (host, port)


def test_redis_is_open_only_on_the_cache_host_to_its_clients(rules):
    assert sources(rules["cache1.pacs.hospital.example"], 6380) == sorted([*PACS, WEB, APP])
    for host in HOSTS:
        if host != "cache1.pacs.hospital.example":
            assert sources(rules[host], 6380) is None, host


def test_orthanc_nodes_take_dicom_from_modalities_and_rest_only_from_web_and_app(rules):
    for host in ("pacs1.pacs.hospital.example", "pacs2.pacs.hospital.example"):
        assert sources(rules[host], 4242) == ["10.40.0.0/20"]
        assert sources(rules[host], 4243) == ["10.40.0.0/20"]
        assert sources(rules[host], 8042) == sorted([WEB, APP])
    for host in ("db1.pacs.hospital.example", "cache1.pacs.hospital.example",
                 "web1.pacs.hospital.example", "app1.pacs.hospital.example"):
        for port in (4242, 4243, 8042):
            assert sources(rules[host], port) is None, (host, port)


def test_only_the_web_host_is_open_to_the_clinical_network(rules):
    assert sources(rules["web1.pacs.hospital.example"], 443) == ["10.30.0.0/16"]
    assert sources(rules["web1.pacs.hospital.example"], 80) == ["10.30.0.0/16"]
    for host, host_rules in rules.items():
        if host != "web1.pacs.hospital.example":
            assert all("10.30.0.0/16" not in r["sources"] for r in host_rules), host


def test_no_host_opens_a_port_to_itself(rules):
    for host, host_rules in rules.items():
        assert all(HOSTS[host] not in r["sources"] for r in host_rules), host


def test_a_bad_network_in_the_example_is_refused_by_the_firewall_role(inventory, tmp_path):
    playbook = tmp_path / "rules.yml"
    playbook.write_text(RULES_PLAYBOOK, encoding="utf-8")
    result = run_playbook(inventory, playbook, "-e", "out_dir=" + str(tmp_path),
                          "-e", '{"imaging_modality_cidrs": ["10.40.0.0/20", "10.40.0.0/33"]}')
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    # refused on the two hosts whose rules use it, each bad network named once
    assert sorted(re.findall(r"fatal: \[([^\]]+)\]", out)) == ["pacs1.pacs.hospital.example", "pacs2.pacs.hospital.example"]
    assert "firewall: not valid networks in CIDR notation: 10.40.0.0/33. Nothing was changed." in out
    assert not list(tmp_path.glob("pacs*.json"))


INDEX_PLAYBOOK = """\
- name: Render each archive node's index connection the way the orthanc role does
  hosts: imaging_dicom
  gather_facts: false
  tasks:
    - name: Check the index inputs and load the role's defaults and vars (its database tasks, which change nothing)
      ansible.builtin.include_role:
        name: hospital.imaging.orthanc
        tasks_from: database.yml
        public: true
    - name: Write the rendered plugin configuration and the record of the path
      ansible.builtin.copy:
        content: "{{ {'config': lookup('template', roles_dir ~ '/orthanc/templates/postgresql.json.j2'),
                      'record': __orthanc_index.record} | to_json }}"
        dest: "{{ out_dir }}/{{ inventory_hostname }}.json"
        mode: "0600"
      vars:
        __orthanc_process: {service: orthanc}
      delegate_to: localhost
"""


def test_archive_nodes_reach_a_remote_index_with_one_verified_tls_connection(inventory, tmp_path):
    """db1 holds the index; pacs1 and pacs2 each connect straight to it, verify-full, not through PgBouncer."""
    playbook = tmp_path / "index.yml"
    playbook.write_text(INDEX_PLAYBOOK, encoding="utf-8")
    result = run_playbook(inventory, playbook, "-e", "out_dir=" + str(tmp_path),
                          "-e", "roles_dir=" + os.path.join(ROOT, "roles"))
    assert result.returncode == 0, result.stdout + result.stderr
    for host in ("pacs1.pacs.hospital.example", "pacs2.pacs.hospital.example"):
        rendered = json.loads((tmp_path / (host + ".json")).read_text(encoding="utf-8"))
        assert rendered["record"] == {"mode": "direct", "host": "db1.pacs.hospital.example", "port": 5432,
                                      "database": "orthanc", "login": "orthanc", "tls": True, "sslmode": "verify-full",
                                      "ca_file": "/etc/orthanc/tls/ca.crt", "authentication": "scram-sha-256"}
        config = json.loads("\n".join(line for line in rendered["config"].splitlines()
                                      if not line.lstrip().startswith("//")))["PostgreSQL"]
        uri = urlsplit(config["ConnectionUri"])
        assert (uri.hostname, uri.port, uri.path) == ("db1.pacs.hospital.example", 5432, "/orthanc")
        assert parse_qs(uri.query) == {"sslmode": ["verify-full"], "sslrootcert": ["/etc/orthanc/tls/ca.crt"],
                                       "application_name": ["orthanc"]}
        assert not {"Host", "Port", "EnableSsl"} & set(config)
        assert config["EnableIndex"] is True and config["Lock"] is False
