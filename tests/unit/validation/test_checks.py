"""The IQ/OQ check logic: pure comparisons (parametrized) and the readers against real local objects."""
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading

import pytest

from ansible_collections.hospital.imaging.plugins.module_utils import validation_iq as iq
from ansible_collections.hospital.imaging.plugins.module_utils import validation_judge as vj
from ansible_collections.hospital.imaging.plugins.module_utils import validation_net as net
from ansible_collections.hospital.imaging.plugins.module_utils import validation_records as vr
from ansible_collections.hospital.imaging.plugins.modules import validation_check


def local_run(argv, environ_update=None):
    env = dict(os.environ, **(environ_update or {}))
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                              check=False)
    except OSError as exc:
        return 127, "", str(exc)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("mode,expected", [("640", "0640"), ("0640", "0640"), (0o600, "0600"), ("u=rw", "u=rw"), (None, None)])
def test_normalise_mode(mode, expected):
    assert iq.normalise_mode(mode) == expected


@pytest.mark.parametrize("expected,installed,problems", [
    ({"nginx": "1.22.1-9"}, {"nginx": "1.22.1-9"}, 0),
    ({"nginx": "1.22.1-9"}, {"nginx": "1.22.1-9+deb12u1"}, 1),
    ({"nginx": "1.22.1-9"}, {}, 1),
    ({"nginx": None, "orthanc": ""}, {"nginx": "1", "orthanc": "2"}, 0),
])
def test_compare_packages(expected, installed, problems):
    assert len(iq.compare_packages(expected, installed)) == problems


@pytest.mark.parametrize("actual,problems", [
    ({"exists": True, "owner": "root", "group": "orthanc", "mode": "0640"}, []),
    ({"exists": True, "owner": "root", "group": "orthanc", "mode": "0644"}, ["/etc/o.json: mode 0644, expected 0640"]),
    ({"exists": True, "owner": "orthanc", "group": "orthanc", "mode": "0640"}, ["/etc/o.json: owner orthanc, expected root"]),
    ({"exists": False}, ["/etc/o.json: missing"]),
])
def test_compare_file(actual, problems):
    assert iq.compare_file({"path": "/etc/o.json", "owner": "root", "group": "orthanc", "mode": "0640"}, actual) == problems


@pytest.mark.parametrize("state,problems", [
    ({"enabled": "enabled", "active": "active"}, 0),
    ({"enabled": "static", "active": "active"}, 0),
    ({"enabled": "enabled", "active": "inactive"}, 1),
    ({"enabled": "disabled", "active": "failed"}, 2),
])
def test_compare_services(state, problems):
    assert len(iq.compare_services(["nginx"], {"nginx": state})) == problems


UFW = """Status: active
Logging: on (low)
Default: deny (incoming), allow (outgoing), deny (routed)
New profiles: skip

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW IN    Anywhere
443/tcp                    ALLOW IN    172.16.0.0/12
4243/tcp                   ALLOW IN    172.16.0.0/12
22/tcp (v6)                ALLOW IN    Anywhere (v6)
"""


def test_parse_ufw_status():
    status = iq.parse_ufw_status(UFW)
    assert status["active"] and status["incoming"] == "deny" and status["outgoing"] == "allow"
    assert {"to": "443/tcp", "action": "ALLOW IN", "from": "172.16.0.0/12"} in status["rules"]


@pytest.mark.parametrize("expected,problems", [
    ({"default_incoming": "deny", "rules": [{"port": 22, "proto": "tcp", "from": "any"}]}, 0),
    ({"default_incoming": "deny", "rules": [{"port": 443, "proto": "tcp", "from": "172.16.0.0/12"}]}, 1 - 1),
    ({"default_incoming": "deny", "rules": [{"port": 443, "from": "10.0.0.0/8"}]}, 1),
    ({"default_incoming": "allow"}, 1),
    ({"default_incoming": "deny", "closed_ports": [8042, 4243]}, 1),
])
def test_compare_firewall(expected, problems):
    assert len(iq.compare_firewall(expected, iq.parse_ufw_status(UFW))) == problems


def test_inactive_firewall_fails():
    assert iq.compare_firewall({}, iq.parse_ufw_status("Status: inactive\n")) == ["ufw is not active"]


@pytest.mark.parametrize("values,pct,expected", [
    ([], 95, None), ([5], 95, 5), (list(range(1, 101)), 95, 95), (list(range(1, 101)), 50, 50), ([3, 1, 2], 100, 3),
])
def test_percentile(values, pct, expected):
    assert vj.percentile(values, pct) == expected


def test_waiver_turns_a_failure_into_waived_but_never_a_pass():
    records = {"auditd": {"waivers": [{"id": "w1", "requirement": "IQ-AUD-001", "reason": "container"}]}}
    waiver = vr.find_waiver("IQ-AUD-001", records)
    assert waiver == {"id": "w1", "reason": "container", "source": "role auditd"}
    failed = vr.apply_waiver(vr.result("fail", message="not loaded"), waiver)
    assert failed["status"] == "waived" and failed["evidence"]["unwaived_finding"] == "not loaded"
    assert vr.apply_waiver(vr.result("pass"), waiver)["status"] == "pass"
    assert vr.find_waiver("IQ-AUD-001", {"auditd": {"waivers": [{"requirement": "IQ-AUD-001", "reason": " "}]}}) is None
    assert vr.find_waiver("IQ-X-001", {}, [{"id": "site", "requirement": "IQ-X-001", "reason": "r"}])["source"] == "inventory"


def test_role_records_are_read_and_broken_ones_reported(tmp_path):
    (tmp_path / "imaging_nginx.fact").write_text(json.dumps({"packages": {"nginx": "1"}, "files": [], "services": ["nginx"]}))
    (tmp_path / "imaging_bad.fact").write_text("{not json")
    (tmp_path / "other.fact").write_text("{}")
    records, errors = vr.load_role_records(str(tmp_path))
    assert list(records) == ["nginx"] and records["nginx"]["role"] == "nginx"
    assert len(errors) == 1 and "imaging_bad.fact" in errors[0]
    res = iq.check_records(records, errors, ["nginx", "orthanc"])
    assert res["status"] == "fail" and "no record for role orthanc" in res["message"]


def test_files_check_on_real_files(tmp_path):
    path = tmp_path / "app.conf"
    path.write_text("listen 443;\n")
    os.chmod(str(path), 0o640)
    me = iq.stat_file(str(path))
    want = [{"path": str(path), "owner": me["owner"], "group": me["group"], "mode": "0640"}]
    good = iq.check_files(want)
    assert good["status"] == "pass"
    import hashlib
    assert good["actual"][0]["sha256"] == hashlib.sha256(b"listen 443;\n").hexdigest()
    os.chmod(str(path), 0o644)
    bad = iq.check_files(want)
    assert bad["status"] == "fail" and "mode 0644, expected 0640" in bad["message"]
    os.remove(str(path))
    assert iq.check_files(want)["message"].endswith("missing")


def test_accounts_check():
    assert iq.check_accounts(["root"], ["root"])["status"] == "pass"
    res = iq.check_accounts(["root", "no-such-user-xyz"], [])
    assert res["status"] == "fail" and "no-such-user-xyz" in res["message"]


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed")
def test_certificate_check_with_real_openssl(tmp_path):
    def sh(*argv):
        subprocess.run(argv, cwd=str(tmp_path), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "30",
       "-subj", "/CN=Test CA")
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "host.key", "-out", "host.csr", "-subj", "/CN=host")
    sh("openssl", "x509", "-req", "-in", "host.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "10",
       "-out", "host.crt")
    sh("openssl", "req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", "weak.key", "-out", "weak.crt", "-days", "100",
       "-subj", "/CN=weak")
    os.chmod(str(tmp_path / "host.key"), 0o600)
    cert, ca, key = str(tmp_path / "host.crt"), str(tmp_path / "ca.crt"), str(tmp_path / "host.key")
    good = iq.check_certificate(cert, ca, 5, 2048, 256, local_run, key=key)
    assert good["status"] == "pass", good["message"]
    assert good["actual"]["key_bits"] == 2048 and good["evidence"]["key"]["matches_certificate"]
    soon = iq.check_certificate(cert, ca, 30, 2048, 256, local_run)
    assert soon["status"] == "fail" and "expires within 30 days" in soon["message"]
    weak = iq.check_certificate(str(tmp_path / "weak.crt"), ca, 5, 2048, 256, local_run)
    assert "1024 bits" in weak["message"] and "does not chain" in weak["message"]
    os.chmod(key, 0o644)
    assert "readable by others" in iq.check_certificate(cert, ca, 5, 2048, 256, local_run, key=key)["message"]
    wrong_key = iq.check_certificate(cert, ca, 5, 2048, 256, local_run, key=str(tmp_path / "ca.key"))
    assert "does not match" in wrong_key["message"]


def serve_tls(pki, minimum, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki["server_cert"], pki["server_key"])
    ctx.minimum_version = minimum
    if minimum < ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    if ciphers:
        ctx.set_ciphers(ciphers)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def loop():
        while True:
            try:
                conn, _addr = listener.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass
    threading.Thread(target=loop, daemon=True).start()
    return listener


def test_tls_check_against_real_servers(pki):
    strict = serve_tls(pki, ssl.TLSVersion.TLSv1_2)
    try:
        res = net.check_tls("127.0.0.1", strict.getsockname()[1], "localhost", pki["ca"], "1.2", "1.2", 5)
        if res["status"] == "error":
            pytest.skip("this OpenSSL cannot offer TLS below 1.2: %s" % res["message"])
        assert res["status"] == "pass", res
        assert res["evidence"]["below_1.2"]["ok"] is False
        other = net.check_tls("127.0.0.1", strict.getsockname()[1], "localhost", pki["other_ca"], "1.2", None, 5)
        assert other["status"] == "fail" and "verif" in other["message"].lower()
    finally:
        strict.close()
    lax = serve_tls(pki, ssl.TLSVersion.TLSv1)
    try:
        res = net.check_tls("127.0.0.1", lax.getsockname()[1], "localhost", pki["ca"], "1.2", "1.2", 5)
        assert res["status"] in ("fail", "error")
        if res["status"] == "fail":
            assert "accepted TLSv1" in res["message"]
    finally:
        lax.close()


@pytest.mark.parametrize("server_ciphers, status", [
    ("ECDHE+AESGCM:ECDHE+CHACHA20", "pass"),                 # the HTTPS list: AEAD with forward secrecy
    ("ECDHE+AESGCM:ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0", "fail"),   # plus a CBC suite (the test CA issues ECDSA keys)
])
def test_tls_check_refuses_non_aead_suites(pki, server_ciphers, status):
    server = serve_tls(pki, ssl.TLSVersion.TLSv1_2, server_ciphers)
    try:
        res = net.check_tls("127.0.0.1", server.getsockname()[1], "localhost", pki["ca"], "1.2", None, 5,
                            refuse_ciphers=["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "AES128-SHA"])
        assert res["status"] == status, res
        if status == "fail":
            assert "server accepted ECDHE-ECDSA-AES128-SHA (TLSv1.2)" in res["message"]
            assert res["actual"]["refused_ciphers"] == ["ECDHE-ECDSA-AES256-SHA", "AES128-SHA"]
        else:
            assert res["actual"]["refused_ciphers"] == ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "AES128-SHA"]
            assert "every non-AEAD suite offered" in res["message"]
    finally:
        server.close()


def test_tls_check_says_when_this_client_cannot_offer_a_suite(pki):
    server = serve_tls(pki, ssl.TLSVersion.TLSv1_2)
    try:
        res = net.check_tls("127.0.0.1", server.getsockname()[1], "localhost", pki["ca"], "1.2", None, 5,
                            refuse_ciphers=["NO-SUCH-SUITE"])
        assert res["status"] == "error" and "cannot offer NO-SUCH-SUITE" in res["message"]
    finally:
        server.close()


class _AuthHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.headers.get("Authorization") == "Basic dTpw":   # u:p
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"[]")
        else:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="x"')
            self.end_headers()

    def log_message(self, *args):
        pass


def test_http_check_against_a_real_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), _AuthHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/dicom-web/studies" % server.server_address[1]
    try:
        assert net.check_http(url, "GET", [401], {}, None, None, 5)["status"] == "pass"
        assert net.check_http(url, "GET", [200], {}, None, None, 5, "u", "p")["status"] == "pass"
        wrong = net.check_http(url, "GET", [200], {}, None, None, 5, "u", "bad")
        assert wrong["status"] == "fail" and wrong["actual"]["status"] == 401
    finally:
        server.shutdown()
    closed = net.check_http(url, "GET", [401], {}, None, None, 2)
    assert closed["status"] == "fail" and "error" in closed["actual"]


def test_tcp_check():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    assert net.check_tcp("127.0.0.1", port, "open", 2)["status"] == "pass"
    assert net.check_tcp("127.0.0.1", port, "closed", 2)["status"] == "fail"
    listener.close()
    assert net.check_tcp("127.0.0.1", port, "closed", 2)["status"] == "pass"


def test_synthetic_dicom_is_valid_part10():
    pydicom = pytest.importorskip("pydicom")
    import io
    data = net.synthetic_dicom("P1", "1.2.3", "1.2.3.4", "1.2.3.4.5")
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.SOPInstanceUID == "1.2.3.4.5" and ds.PatientID == "P1" and ds.Rows == 8
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"


def test_module_checks_files_and_applies_a_role_waiver(tmp_path, run_module):
    facts = tmp_path / "facts"
    facts.mkdir()
    conf = tmp_path / "app.conf"
    conf.write_text("x")
    os.chmod(str(conf), 0o644)
    me = iq.stat_file(str(conf))
    files = [{"path": str(conf), "owner": me["owner"], "group": me["group"], "mode": "0600"}]
    record = {"packages": {}, "services": [], "files": files,
              "waivers": [{"id": "w", "requirement": "IQ-OSH-TIME", "reason": "container clock"}]}
    (facts / "imaging_app.fact").write_text(json.dumps(record))
    res = run_module(validation_check, {"requirement": "IQ-FILE-001", "check": "files", "facts_dir": str(facts)})
    assert res.rc == 0 and res["changed"] is False and res["status"] == "fail"
    assert "mode 0644, expected 0600" in res["message"]
    os.chmod(str(conf), 0o600)
    res = run_module(validation_check, {"requirement": "IQ-FILE-001", "check": "files", "facts_dir": str(facts)})
    assert res["status"] == "pass" and len(res["actual"][0]["sha256"]) == 64
    res = run_module(validation_check, {"requirement": "IQ-OSH-TIME", "check": "time_sync", "facts_dir": str(facts)})
    assert res["status"] in ("pass", "waived")
    if res["status"] == "waived":
        assert res["waiver"]["reason"] == "container clock"


@pytest.mark.parametrize("args,message", [
    ({"check": "tcp", "params": {"port": "x"}}, "invalid params for the tcp check"),
    ({"check": "tcp", "params": {"bogus": 1, "port": 1}}, "invalid params"),
    ({"check": "tcp", "params": {}}, "needs port or ports"),
    ({"check": "redis", "params": {}}, "needs password"),
    ({"check": "nope"}, "value of check must be one of"),
])
def test_module_fails_only_on_bad_arguments(args, message, run_module):
    res = run_module(validation_check, dict({"requirement": "OQ-X-001"}, **args))
    assert res.failed and message in res["msg"]


@pytest.mark.parametrize("expected,actual,problems", [
    ({"kernel.kptr_restrict": "2"}, {"kernel.kptr_restrict": "2"}, []),
    ({"kernel.kptr_restrict": 2}, {"kernel.kptr_restrict": "1"}, ["kernel.kptr_restrict = 1, expected 2"]),
    ({"net.ipv4.ip_local_port_range": "32768  60999"}, {"net.ipv4.ip_local_port_range": "32768 60999"}, []),
    ({"kernel.x": "1"}, {"kernel.x": None}, ["kernel.x: not readable"]),
])
def test_compare_sysctl(expected, actual, problems):
    assert iq.compare_sysctl(expected, actual) == problems


def test_sysctl_check_reads_proc(tmp_path):
    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel" / "kptr_restrict").write_text("2\n")

    def reader(key):
        return iq.read_sysctl(key, proc=str(tmp_path))
    assert iq.check_sysctl({"kernel.kptr_restrict": "2"}, reader)["status"] == "pass"
    assert iq.check_sysctl({"kernel.kptr_restrict": "1"}, reader)["status"] == "fail"
    assert iq.check_sysctl({}, reader)["status"] == "not_applicable"


@pytest.mark.parametrize("require_open,status", [(False, "pass"), (True, "fail")])
def test_luks_check_separates_format_from_open(require_open, status):
    dumps = {("cryptsetup", "isLuks"): (0, "", ""), ("cryptsetup", "luksDump"): (0, "Version:       \t2\ncipher: aes-xts-plain64\n", "")}

    def run(argv, environ_update=None):
        return dumps[tuple(argv[:2])]
    res = iq.check_luks([{"device": "/var/lib/x.luks", "name": "no-such-mapping", "mount": "/no/such/mount"}], run,
                        require_open=require_open)
    assert res["status"] == status
    assert res["actual"][0]["luks_version"] == 2 and res["actual"][0]["open"] is False


def test_luks_check_reads_the_mount_point_the_disk_encryption_record_gives():
    """The disk_encryption record names each volume's mount_point (docs/records.md): an unmounted one fails."""
    dumps = {("cryptsetup", "isLuks"): (0, "", ""), ("cryptsetup", "luksDump"): (0, "Version: 2\n", "")}
    res = iq.check_luks([{"device": "/var/lib/x.luks", "mount_point": "/no/such/mount"}],
                        lambda argv, environ_update=None: dumps[tuple(argv[:2])], require_open=True)
    assert res["status"] == "fail" and "/no/such/mount is not mounted" in res["message"]
    assert res["actual"][0]["mounted"] is False
