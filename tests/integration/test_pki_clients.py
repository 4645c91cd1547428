"""The pki role issues a client certificate for every modality that calls a DICOM TLS listener.

The role's own task files (ca.yml, then client_certificates.yml) run over the local connection against
a temporary pki_ca_dir; the issued files are then checked with openssl and with a real TLS handshake
against a server that requires a client certificate signed by the CA.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import threading

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
PASSPHRASE = "test-ca-passphrase-5d1f0c7e9a3b"

# Two archive hosts: the control node issues the certificates both ask for, once each. A modality's
# address is never read (mr1's names a host that does not exist, as a fact of another host may be missing).
INVENTORY = """\
all:
  hosts:
    pacs1:
      orthanc_modalities:
        - {name: ct1, aet: SITECT1, host: 10.40.0.11, port: 104, listener: tls}
        - {name: us1, aet: SITEUS1, host: 10.40.0.12, port: 104}
        - {name: cr1, aet: SITECR1, host: 10.40.0.13, port: 104, listener: plain}
    pacs2:
      orthanc_modalities:
        - {name: ct1, aet: SITECT1, host: 10.40.0.11, port: 104, listener: tls}
        - {name: mr1, aet: SITEMR1, host: "{{ hostvars['nowhere'].ansible_host }}", port: 11112, listener: both}
        - {name: xa1, aet: SITEXA1, host: 10.40.0.15, port: 104, listener: tls, state: absent}
"""
EXPECTED = {"ct1": "SITECT1", "mr1": "SITEMR1"}
PER_HOST = {"pacs1": ["ct1"], "pacs2": ["ct1", "mr1"]}

PLAYBOOK = """\
- name: Issue the modalities' client certificates with the pki role's own tasks
  hosts: all
  gather_facts: false
  tasks:
    - name: Create the internal CA (a later run reuses it)
      ansible.builtin.include_role:
        name: hospital.imaging.pki
        tasks_from: ca.yml
      when: (pki_ca_dir ~ '/ca.crt') is not file
    - name: Issue the client certificates
      ansible.builtin.include_role:
        name: hospital.imaging.pki
        tasks_from: client_certificates.yml
        public: true
    - name: Show what each host's pki record lists
      ansible.builtin.debug:
        msg: "RECORD {{ inventory_hostname }}={{ __pki_client_records | to_json }}"
"""


def run_playbook(tmp_path, ca_dir, *extra, expect_rc=0):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    playbook = tmp_path / "clients.yml"
    playbook.write_text(PLAYBOOK, encoding="utf-8")
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_CALLBACK_RESULT_FORMAT="json", PATH=VENV_BIN + os.pathsep + os.environ["PATH"])
    cmd = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(inventory), str(playbook),
           "-e", "ansible_connection=local", "-e", "ansible_become=false",
           "-e", "ansible_python_interpreter=" + os.path.join(VENV_BIN, "python"),
           "-e", "pki_ca_dir=" + str(ca_dir), "-e", "pki_ca_passphrase=" + PASSPHRASE,
           "-e", "pki_ca_key_size=3072"] + list(extra)
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, cwd=ROOT)
    assert result.returncode == expect_rc, result.stdout + result.stderr
    assert "PRIVATE KEY" not in result.stdout + result.stderr
    assert PASSPHRASE not in result.stdout + result.stderr
    return result


def changed(result):
    counts = re.findall(r"^\S+\s*: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", result.stdout, re.M)
    assert counts, result.stdout
    return sum(int(c) for c in counts)


def records(result):
    """Each host's client_certificates, as its pki record would list them."""
    found = [json.loads(m) for m in re.findall(r'^\s*"msg": ("RECORD .*")$', result.stdout, re.M)]
    assert len(found) == 2, result.stdout
    return {m.split("=", 1)[0].removeprefix("RECORD "): json.loads(m.split("=", 1)[1]) for m in found}


def openssl(*args):
    out = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def files_under(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    """A CA and the client certificates, issued once (verbose, to show no_log holds), and the run's output."""
    tmp_path = tmp_path_factory.mktemp("pki-clients")
    ca_dir = tmp_path / "ca"
    result = run_playbook(tmp_path, ca_dir, "-v")
    return tmp_path, ca_dir / "clients", result


def test_each_tls_modality_gets_a_key_and_a_certificate_beside_the_ca(issued):
    _tmp, clients, _result = issued
    assert files_under(clients) == sorted(["ca.crt"] + [n + ext for n in EXPECTED for ext in (".crt", ".key")])
    assert oct(clients.stat().st_mode & 0o777) == "0o700"
    for name in EXPECTED:
        assert oct((clients / (name + ".key")).stat().st_mode & 0o777) == "0o600"
        assert oct((clients / (name + ".crt")).stat().st_mode & 0o777) == "0o644"
    assert (clients / "ca.crt").read_bytes() == (clients.parent / "ca.crt").read_bytes()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_certificate_chains_to_the_ca_and_is_for_tls_client_authentication(issued, name):
    _tmp, clients, _result = issued
    crt = str(clients / (name + ".crt"))
    assert openssl("verify", "-CAfile", str(clients / "ca.crt"), "-purpose", "sslclient", crt).strip() == crt + ": OK"
    text = openssl("x509", "-in", crt, "-noout", "-text", "-nameopt", "multiline")
    assert re.search(r"^\s*commonName\s*=\s*%s$" % EXPECTED[name], text, re.M), text
    assert re.search(r"X509v3 Extended Key Usage:\s*\n\s*TLS Web Client Authentication\s*\n", text), text
    assert re.search(r"X509v3 Key Usage: critical\s*\n\s*Digital Signature, Key Encipherment\s*\n", text), text
    assert "CA:FALSE" in text
    assert "Public-Key: (3072 bit)" in text
    # the certificate is for the key beside it
    key_pub = openssl("pkey", "-in", str(clients / (name + ".key")), "-pubout")
    assert openssl("x509", "-in", crt, "-noout", "-pubkey") == key_pub


def test_the_certificate_opens_a_tls_session_that_requires_a_client_certificate(issued):
    tmp_path, clients, _result = issued
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", str(tmp_path / "server.key"), "-out", str(tmp_path / "server.crt"), "-days", "1")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(tmp_path / "server.crt"), str(tmp_path / "server.key"))
    server.verify_mode = ssl.CERT_REQUIRED
    server.load_verify_locations(cafile=str(clients / "ca.crt"))
    seen = {}
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _addr = listener.accept()
        with server.wrap_socket(conn, server_side=True) as tls:
            seen["subject"] = dict(item[0] for item in tls.getpeercert()["subject"])
            tls.sendall(b"ok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cafile=str(tmp_path / "server.crt"))
    client.load_cert_chain(str(clients / "ct1.crt"), str(clients / "ct1.key"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with client.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.recv(2) == b"ok"
    thread.join(timeout=10)
    listener.close()
    assert seen["subject"] == {"commonName": "SITECT1"}


def test_each_hosts_record_lists_the_certificates_of_its_modalities(issued):
    _tmp, clients, result = issued
    listed = records(result)
    assert {host: [e["name"] for e in entries] for host, entries in listed.items()} == PER_HOST
    for entry in listed["pacs1"] + listed["pacs2"]:
        assert sorted(entry) == ["ca_path", "common_name", "key_path", "name", "not_after", "path"]
        assert entry["common_name"] == EXPECTED[entry["name"]]
        assert entry["path"] == str(clients / (entry["name"] + ".crt"))
        assert entry["key_path"] == str(clients / (entry["name"] + ".key"))
        assert entry["ca_path"] == str(clients / "ca.crt")
        assert re.fullmatch(r"\d{14}Z", entry["not_after"])


def test_a_second_run_changes_nothing(issued):
    tmp_path, clients, _result = issued
    before = {p: (clients / p).read_bytes() for p in files_under(clients)}
    again = run_playbook(tmp_path, clients.parent)
    assert changed(again) == 0, again.stdout
    assert {p: (clients / p).read_bytes() for p in files_under(clients)} == before


def test_another_key_type_and_renewal_sign_again(issued):
    """After the idempotence test, on one entry each (given explicitly): an ECC key replaces the RSA one,
    with the organisation in the subject; a certificate due for renewal is signed again for the same key."""
    tmp_path, clients, _result = issued
    rsa = {p: (clients / p).read_bytes() for p in files_under(clients)}
    mr1 = json.dumps({"pki_client_certificates": [{"name": "mr1", "common_name": "SITEMR1", "organization": "Site Imaging"}]})
    run_playbook(tmp_path, clients.parent, "-e", mr1, "-e", "pki_key_type=ECC")
    ecc = {p: (clients / p).read_bytes() for p in files_under(clients)}
    assert ecc["mr1.key"] != rsa["mr1.key"] and ecc["mr1.crt"] != rsa["mr1.crt"]
    assert {p: ecc[p] for p in ("ca.crt", "ct1.crt", "ct1.key")} == {p: rsa[p] for p in ("ca.crt", "ct1.crt", "ct1.key")}
    crt = str(clients / "mr1.crt")
    assert openssl("verify", "-CAfile", str(clients / "ca.crt"), "-purpose", "sslclient", crt).strip() == crt + ": OK"
    text = openssl("x509", "-in", crt, "-noout", "-text")
    assert "ASN1 OID: secp384r1" in text
    assert re.search(r"X509v3 Key Usage: critical\s*\n\s*Digital Signature\s*\n", text), text
    assert openssl("x509", "-in", crt, "-noout", "-subject", "-nameopt", "RFC2253").strip() == "subject=CN=SITEMR1,O=Site Imaging"
    assert openssl("x509", "-in", crt, "-noout", "-pubkey") == openssl("pkey", "-in", str(clients / "mr1.key"), "-pubout")
    # due for renewal (expiring within more days than it is valid): signed again, for the same key
    ct1 = json.dumps({"pki_client_certificates": [{"name": "ct1", "common_name": "SITECT1"}]})
    run_playbook(tmp_path, clients.parent, "-e", ct1, "-e", "pki_renew_before_days=1000")
    assert (clients / "ct1.key").read_bytes() == rsa["ct1.key"]
    assert (clients / "ct1.crt").read_bytes() != rsa["ct1.crt"]
    crt = str(clients / "ct1.crt")
    assert openssl("verify", "-CAfile", str(clients / "ca.crt"), "-purpose", "sslclient", crt).strip() == crt + ": OK"


def test_check_mode_on_a_new_directory_creates_nothing(tmp_path):
    ca_dir = tmp_path / "ca"
    result = run_playbook(tmp_path, ca_dir, "--check")
    assert changed(result) > 0
    assert not ca_dir.exists()
    assert records(result) == {"pacs1": [], "pacs2": []}


@pytest.mark.parametrize("entries", [
    [{"name": "../ct1", "common_name": "SITECT1"}],
    [{"name": "ct1", "common_name": "SITECT1"}, {"name": "ct1", "common_name": "OTHER"}],
], ids=["path", "one-name-two-certificates"])
def test_entries_that_cannot_be_written_side_by_side_are_refused(tmp_path, entries):
    """Refused before anything is written (in check mode, which skips creating the CA, to keep it quick)."""
    result = run_playbook(tmp_path, tmp_path / "ca", "--check", "-e", json.dumps({"pki_client_certificates": entries}), expect_rc=2)
    assert "pki_client_certificates: each name is a file name stem" in result.stdout
    assert "Create the client certificate directory" not in result.stdout
