"""Imaging tier: Orthanc behind NGINX, DICOM access control and TLS, the sample application service.

Runs against the molecule inventory: the first imaging_dicom, imaging_web, imaging_db and
imaging_app hosts, and (for the tests that need a second address) the first host of the
test_clients group, a modality host with DCMTK, OpenSSL and curl. DICOM traffic from
"another address" comes from this controller through pynetdicom.
"""

import json
import os
import shlex
import subprocess
import time
import uuid

import pytest
from conftest import (INVENTORY, PROJECT, ansible_env, ct_instance, dicom_listeners, inventory_runner, orthanc_config,
                      orthanc_record, printed_commands, put_file, stack_host, strip_json_comments)

RUNNER = inventory_runner()


def _first(group):
    hosts = RUNNER.get_hosts(group)
    return hosts[0] if hosts else None


_host = stack_host


DICOM_NAME = _first("imaging_dicom")
WEB_NAME = _first("imaging_web")
DB_NAME = _first("imaging_db")
APP_NAME = _first("imaging_app")
CLIENT_NAME = _first("test_clients")

needs_client = pytest.mark.skipif(CLIENT_NAME is None, reason="no test_clients host in this scenario")


@pytest.fixture(scope="module")
def dicom():
    return _host(DICOM_NAME)


@pytest.fixture(scope="module")
def web():
    return _host(WEB_NAME)


@pytest.fixture(scope="module")
def client():
    """The host HTTPS requests come from: the modality host, or the web host itself."""
    return _host(CLIENT_NAME or WEB_NAME)


@pytest.fixture(scope="module")
def modality():
    if CLIENT_NAME is None:
        pytest.skip("no test_clients host in this scenario")
    return _host(CLIENT_NAME)


@pytest.fixture(scope="module")
def base_url():
    return f"https://{WEB_NAME if CLIENT_NAME else 'localhost'}"


@pytest.fixture(scope="module")
def admin(dicom):
    users = json.loads(strip_json_comments(dicom.file("/etc/orthanc/credentials.json").content_string))["RegisteredUsers"]
    name = sorted(users)[0] if "admin" not in users else "admin"
    return name, users[name]


@pytest.fixture(scope="module")
def system(dicom, admin):
    out = dicom.check_output("curl -sf -u %s http://127.0.0.1:%s/system", ":".join(admin), str(_orthanc_http_port(dicom)))
    return json.loads(out)


def _orthanc_http_port(dicom):
    return orthanc_config(dicom)["HttpPort"]


def _curl(host, args, auth=None):
    """Run curl on host, return (status, body)."""
    cred = f"-u {shlex.quote(':'.join(auth))} " if auth else ""
    cmd = f"curl -s --cacert /etc/ssl/hospital-imaging/ca.crt {cred}-o /tmp/curl-body -w '%{{http_code}}' {args}"
    res = host.run(cmd)
    body = host.run("cat /tmp/curl-body; rm -f /tmp/curl-body").stdout
    return res.stdout.strip(), body


def _status(host, args, auth=None):
    """Run curl on host, return only the HTTP status."""
    return _curl(host, args, auth)[0]


# --- Orthanc itself -----------------------------------------------------------------------------


def test_orthanc_runs_sandboxed(dicom):
    services = orthanc_record(dicom)["services"]
    assert services == ["orthanc", "orthanc-dicom-tls"], "the sandbox serves plain DICOM and DICOM TLS"
    for unit in services:
        svc = dicom.service(unit)
        assert svc.is_running and svc.is_enabled, unit
        props = dicom.check_output(f"systemctl show {unit} -p User -p NoNewPrivileges -p ProtectSystem -p PrivateTmp -p LimitNOFILE")
        assert "User=orthanc" in props
        assert "NoNewPrivileges=yes" in props
        assert "ProtectSystem=strict" in props
        assert "PrivateTmp=yes" in props


def test_orthanc_sends_dicom_replies_without_delay(dicom):
    """The running Orthanc has TCP_NODELAY=1: its DCMTK then disables Nagle's algorithm, so a C-STORE
    response does not wait for the sender's delayed ACK (scripts/bench-ingest measures the effect)."""
    pid = dicom.check_output("systemctl show orthanc -p MainPID --value")
    assert pid and pid != "0"
    environ = dicom.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ").splitlines()
    assert "TCP_NODELAY=1" in environ


@pytest.mark.parametrize("directory", ["/etc/orthanc", "/etc/orthanc-dicom-tls"])
def test_orthanc_configuration_is_locked_down(dicom, directory):
    cfg = orthanc_config(dicom, directory)
    assert cfg["AuthenticationEnabled"] is True
    assert cfg["DicomCheckCalledAet"] is True
    assert cfg["DicomAlwaysAllowEcho"] is False
    assert cfg["DicomAlwaysAllowStore"] is False
    assert cfg["DicomCheckModalityHost"] is True
    # each process lists the modalities of its own listener (its configuration, not the shared index)
    assert cfg["DicomModalitiesInDatabase"] is False
    assert cfg["ExecuteLuaEnabled"] is False
    assert cfg["WebDavEnabled"] is False
    assert cfg["LimitFindResults"] > 0
    assert cfg["StorageCompression"] is False
    assert cfg["SyncStorageArea"] is True
    for name in ("credentials.json", "postgresql.json"):
        f = dicom.file(f"{directory}/{name}")
        assert f.mode == 0o640 and f.user == "root" and f.group == "orthanc"


def test_orthanc_index_is_in_postgresql(system):
    assert system["DatabaseBackendPlugin"]
    assert "PostgreSQL" in system["DatabaseBackendPlugin"]


def test_orthanc_local_facts(dicom):
    fact = orthanc_record(dicom)
    assert fact["role"] == "orthanc"
    assert "orthanc" in fact["packages"]
    assert [(item["name"], item["port"], item["tls"], item["service"]) for item in dicom_listeners(dicom)] == [
        ("dicom", 4242, False, "orthanc"), ("dicom-tls", 4243, True, "orthanc-dicom-tls")]


def test_each_recorded_dicom_listener_is_the_one_its_process_opens(dicom):
    """The record is what runs: each DICOM listener's port is held by its own service's Orthanc process."""
    for listener in dicom_listeners(dicom):
        pid = dicom.check_output(f"systemctl show {listener['service']} -p MainPID --value")
        sockets = dicom.check_output(f"ss -Hltnp 'sport = :{listener['port']}'")
        assert f"pid={pid}," in sockets, (listener, sockets)
        cfg = orthanc_config(dicom, "/etc/orthanc" if listener["service"] == "orthanc" else "/etc/orthanc-dicom-tls")
        assert (cfg["DicomPort"], cfg["DicomTlsEnabled"]) == (listener["port"], listener["tls"])


# --- NGINX front door ---------------------------------------------------------------------------


def test_rest_needs_authentication_through_nginx(client, base_url, admin, system):
    status = _status(client, f"{base_url}/system")
    assert status == "401"
    status = _status(client, f"{base_url}/system", auth=("admin", "wrong-password-xyz"))
    assert status == "401"
    status, body = _curl(client, f"{base_url}/system", auth=admin)
    assert status == "200"
    assert json.loads(body)["DicomAet"] == system["DicomAet"]


def test_http_redirects_to_https(client, base_url):
    res = client.check_output(f"curl -s -o /dev/null -w '%{{http_code}} %{{redirect_url}}' {base_url.replace('https', 'http')}/app/explorer.html")
    code, location = res.split(" ", 1)
    assert code == "301"
    assert location.startswith("https://")


def test_security_headers_and_no_version(client, base_url):
    headers = client.check_output(f"curl -s -D - -o /dev/null --cacert /etc/ssl/hospital-imaging/ca.crt {base_url}/system").lower()
    assert "strict-transport-security: max-age=" in headers
    assert "x-content-type-options: nosniff" in headers
    assert "x-frame-options: sameorigin" in headers
    server = [line for line in headers.splitlines() if line.startswith("server:")]
    assert server == ["server: nginx"]


@pytest.mark.parametrize("version,accepted", [("-tls1_1", False), ("-tls1", False), ("-tls1_2", True), ("-tls1_3", True)])
def test_tls_versions(client, version, accepted):
    target = f"{WEB_NAME if CLIENT_NAME else 'localhost'}:443"
    res = client.run(
        f"echo | openssl s_client -connect {target} {version} -cipher 'DEFAULT:@SECLEVEL=0' "
        f"-CAfile /etc/ssl/hospital-imaging/ca.crt 2>&1"
    )
    negotiated = "Protocol  :" in res.stdout or "New, TLSv1." in res.stdout
    established = res.rc == 0 and negotiated and "Cipher is (NONE)" not in res.stdout
    assert established is accepted, res.stdout[-800:]


def test_dicomweb_stow_qido_wado_round_trip(client, web, base_url, admin):
    token = uuid.uuid4().hex[:12].upper()
    data, ds = ct_instance(f"STOW^{token}", f"STOW{token}")
    boundary = "imaging-" + uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data + f"\r\n--{boundary}--\r\n".encode()
    )
    put_file(client, "/tmp/stow-body", body)
    ctype = f'Content-Type: multipart/related; type="application/dicom"; boundary={boundary}'

    status = _status(client, f"-X POST -H {shlex.quote(ctype)} --data-binary @/tmp/stow-body {base_url}/dicom-web/studies")
    assert status == "401"

    stow = f"-X POST -H {shlex.quote(ctype)} -H 'Accept: application/dicom+json' --data-binary @/tmp/stow-body"
    status, out = _curl(client, f"{stow} {base_url}/dicom-web/studies", auth=admin)
    assert status == "200", out
    assert ds.SOPInstanceUID in out

    status, out = _curl(client, f"'{base_url}/dicom-web/studies?PatientID=STOW{token}'", auth=admin)
    assert status == "200"
    found = json.loads(out)
    assert [s["0020000D"]["Value"][0] for s in found] == [ds.StudyInstanceUID]

    url = f"{base_url}/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    status, out = _curl(client, f"{url}/metadata", auth=admin)
    assert status == "200"
    assert json.loads(out)[0]["00080018"]["Value"][0] == ds.SOPInstanceUID

    status = client.check_output(
        f"curl -s --cacert /etc/ssl/hospital-imaging/ca.crt -u %s -o /tmp/wado-body -w '%%{{http_code}}' "
        f"-H 'Accept: multipart/related; type=\"application/dicom\"' {url}", ":".join(admin))
    assert status == "200"
    assert client.run("grep -a -c %s /tmp/wado-body", ds.SOPInstanceUID).stdout.strip() != "0"

    # QIDO-RS carried the patient ID in its query string: the access log must not.
    log = web.file("/var/log/nginx/access.log").content_string
    assert "/dicom-web/studies" in log
    assert token not in log


def _codes(client, url, count, credentials=None):
    """The status codes of `count` requests on one kept-alive connection, as fast as curl sends them."""
    urls = " ".join(f"-o /dev/null {url}" for request in range(count))
    auth = "-u %s" % credentials if credentials else ""
    return client.check_output(
        f"curl -s -w '%{{http_code}}\\n' --cacert /etc/ssl/hospital-imaging/ca.crt {auth} {urls}"
    ).split()


def test_password_guessing_is_rate_limited(client, base_url):
    """500 password guesses on one kept-alive connection: NGINX answers 429 once the burst is spent."""
    codes = _codes(client, f"{base_url}/system", 500, "admin:guess")
    assert len(codes) == 500
    assert "401" in codes
    assert "429" in codes


def test_requests_without_credentials_are_rate_limited(client, base_url):
    codes = _codes(client, f"{base_url}/system", 300)
    assert len(codes) == 300
    assert "429" in codes
    assert set(codes) <= {"401", "429"}


def test_an_authenticated_client_is_never_rate_limited(client, base_url, admin):
    """A viewer's look-ups: 500 requests with the archive user's credentials, far above the rate, all answered."""
    codes = _codes(client, f"{base_url}/system", 500, ":".join(admin))
    assert codes == ["200"] * 500


# --- DICOM access control and TLS ---------------------------------------------------------------


def _process_modalities(dicom, admin, service):
    """The modalities one Orthanc process knows, from its own REST API."""
    http = next(item["port"] for item in orthanc_record(dicom)["listeners"]
                if item["protocol"] == "http" and item["service"] == service)
    out = dicom.check_output("curl -sf -u %s 'http://127.0.0.1:%s/modalities?expand'", ":".join(admin), str(http))
    return json.loads(out)


@pytest.fixture(scope="module", params=["dicom", "dicom-tls"])
def dicom_target(request, dicom, system):
    """Each DICOM listener the orthanc role recorded (the sandbox opens both)."""
    return _listener_target(dicom, system, request.param)


def _listener_target(dicom, system, name):
    listener = next((item for item in dicom_listeners(dicom) if item["name"] == name), None)
    assert listener is not None, f"the orthanc record lists no {name} listener"
    return {"host": DICOM_NAME, "port": listener["port"], "aet": system["DicomAet"], "tls": listener["tls"],
            "service": listener["service"], "name": listener["name"]}


@pytest.fixture(scope="module")
def tls_target(dicom, system):
    """The DICOM TLS listener."""
    return _listener_target(dicom, system, "dicom-tls")


@pytest.fixture(scope="module")
def declared(modality, dicom, admin, dicom_target):
    """The modality the listener under test declares for the modality host's address (from that process's REST API)."""
    address = modality.interface.default().addresses[0]
    for name, mod in _process_modalities(dicom, admin, dicom_target["service"]).items():
        if mod["Host"] == address:
            return name, mod
    pytest.skip(f"{dicom_target['name']} declares no modality for {address}")


def _dcmtk_tls(target):
    if not target["tls"]:
        return ""
    return "+tls /etc/ssl/hospital-imaging/host.key /etc/ssl/hospital-imaging/host.crt +cf /etc/ssl/hospital-imaging/ca.crt "


def _dicom_tls_floor(dicom):
    """The DICOM TLS floor the orthanc role set (OpenSSL's MinProtocol for the Orthanc processes)."""
    text = dicom.file("/etc/orthanc/openssl.cnf").content_string
    return next(line.split("=", 1)[1].strip() for line in text.splitlines() if line.strip().startswith("MinProtocol"))


def _s_client(modality, target, args):
    base = "/etc/ssl/hospital-imaging"
    res = modality.run(
        f"echo | timeout 20 openssl s_client -connect {target['host']}:{target['port']} {args} "
        f"-cert {base}/host.crt -key {base}/host.key -CAfile {base}/ca.crt 2>&1"
    )
    established = res.rc == 0 and ("New, TLSv1." in res.stdout) and "Cipher is (NONE)" not in res.stdout
    return established, res.stdout


@needs_client
@pytest.mark.parametrize("version", ["-tls1", "-tls1_1", "-tls1_2", "-tls1_3"])
def test_dicom_tls_versions(modality, dicom, tls_target, version):
    """DICOM TLS from the modality, with its certificate of the site CA: nothing below the floor (TLS 1.2 on
    Debian 13, TLS 1.3 on Debian 12 where only that keeps the listener AEAD-only)."""
    floor = {"TLSv1.2": 2, "TLSv1.3": 3}[_dicom_tls_floor(dicom)]
    accepted = {"-tls1": 0, "-tls1_1": 1, "-tls1_2": 2, "-tls1_3": 3}[version] >= floor
    established, out = _s_client(modality, tls_target, f"{version} -cipher 'DEFAULT:@SECLEVEL=0'")
    assert established is accepted, out[-800:]


@needs_client
@pytest.mark.parametrize("cipher, accepted", [
    ("AES128-SHA", False), ("AES256-SHA", False), ("ECDHE-RSA-AES128-SHA", False), ("DHE-RSA-AES128-GCM-SHA256", False),
    ("ECDHE-RSA-AES128-GCM-SHA256", True), ("ECDHE-RSA-AES256-GCM-SHA384", True),
])
def test_dicom_tls_accepts_aead_suites_only(modality, dicom, tls_target, cipher, accepted):
    """On TLS 1.2 the DICOM TLS listener takes the HTTPS list of AEAD suites and no CBC suite (TLS 1.3 has only
    AEAD suites); where the floor is TLS 1.3, TLS 1.2 is refused whatever the suite."""
    established, out = _s_client(modality, tls_target, f"-tls1_2 -cipher '{cipher}:@SECLEVEL=0'")
    expected = accepted and _dicom_tls_floor(dicom) == "TLSv1.2"
    assert established is expected, out[-800:]
    if established:
        assert f"Cipher is {cipher}" in out


@needs_client
def test_tls_listener_needs_a_client_certificate_of_the_site_ca(modality, tls_target):
    """The declared modality over DICOM TLS without a client certificate (DCMTK's anonymous TLS, +tla) is refused;
    the same call with its certificate of the site CA is answered (mutual TLS)."""
    base = "/etc/ssl/hospital-imaging"
    call = f"-aet SCENARIOCT1 -aec {tls_target['aet']} {tls_target['host']} {tls_target['port']}"
    with_cert = modality.run(f"echoscu -to 10 +tls {base}/host.key {base}/host.crt +cf {base}/ca.crt {call}")
    assert with_cert.rc == 0, with_cert.stderr
    without = modality.run(f"echoscu -to 10 +tla +cf {base}/ca.crt {call}")
    assert without.rc != 0, without.stdout + without.stderr


@needs_client
def test_declared_modality_echoes(modality, declared, dicom_target):
    res = modality.run(f"echoscu {_dcmtk_tls(dicom_target)}-aet {declared[1]['AET']} -aec {dicom_target['aet']} {dicom_target['host']} {dicom_target['port']}")
    assert res.rc == 0, res.stderr


@needs_client
def test_wrong_called_aet_is_rejected(modality, declared, dicom_target):
    res = modality.run(f"echoscu {_dcmtk_tls(dicom_target)}-aet {declared[1]['AET']} -aec NOTTHEARCHIVE {dicom_target['host']} {dicom_target['port']}")
    assert res.rc != 0


@needs_client
def test_undeclared_aet_is_rejected(modality, dicom_target):
    res = modality.run(f"echoscu {_dcmtk_tls(dicom_target)}-aet UNDECLARED1 -aec {dicom_target['aet']} {dicom_target['host']} {dicom_target['port']}")
    assert res.rc != 0
    assert "Rejected" in res.stderr or "rejected" in res.stderr.lower()


@needs_client
def test_plain_dicom_is_refused_by_the_tls_listener(modality, tls_target):
    res = modality.run(f"echoscu -to 5 -aet SCENARIOCT1 -aec {tls_target['aet']} {tls_target['host']} {tls_target['port']}")
    assert res.rc != 0


@needs_client
def test_declared_modality_stores_and_finds(modality, declared, dicom_target, dicom, admin):
    token = uuid.uuid4().hex[:10].upper()
    data, ds = ct_instance(f"CSTORE^{token}", f"CS{token}")
    put_file(modality, "/tmp/cstore.dcm", data)
    tls = _dcmtk_tls(dicom_target)
    res = modality.run(f"storescu {tls}-aet {declared[1]['AET']} -aec {dicom_target['aet']} {dicom_target['host']} {dicom_target['port']} /tmp/cstore.dcm")
    assert res.rc == 0, res.stderr
    res = modality.run(
        f"findscu -S {tls}-aet {declared[1]['AET']} -aec {dicom_target['aet']} "
        f"-k QueryRetrieveLevel=STUDY -k PatientID=CS{token} -k StudyInstanceUID "
        f"{dicom_target['host']} {dicom_target['port']}"
    )
    assert res.rc == 0, res.stderr
    assert ds.StudyInstanceUID in (res.stdout + res.stderr)


@needs_client
def test_parallel_associations_store_every_instance(modality, declared, dicom_target, dicom, admin):
    """Eight associations send at once (several scanners finishing together): every C-STORE succeeds and
    every instance is in the index. Parallel index writers used to conflict in PostgreSQL."""
    token = uuid.uuid4().hex[:10].upper()
    patient_id = f"PA{token}"
    for n in range(40):
        data, _ds = ct_instance(f"PARALLEL^{token}", patient_id)
        put_file(modality, f"/tmp/parallel-{token}-{n:02d}.dcm", data)
    tls = _dcmtk_tls(dicom_target)
    send = (f"storescu {tls}-aet {declared[1]['AET']} -aec {dicom_target['aet']} "
            f"{dicom_target['host']} {dicom_target['port']}")
    script = (f"cd /tmp && fail=0; for k in 0 1 2 3 4 5 6 7; do "
              f"TCP_NODELAY=1 {send} $(ls parallel-{token}-*.dcm | awk -v k=$k 'NR % 8 == k') & done; "
              f"for j in $(jobs -p); do wait $j || fail=1; done; rm -f parallel-{token}-*.dcm; exit $fail")
    res = modality.run(f"bash -c {shlex.quote(script)}")
    assert res.rc == 0, res.stderr[-2000:]
    out = dicom.check_output(
        "curl -sf -u %s -X POST -d %s 'http://127.0.0.1:%s/tools/find'", ":".join(admin),
        json.dumps({"Level": "Instance", "Query": {"PatientID": patient_id}}), str(_orthanc_http_port(dicom)))
    assert len(json.loads(out)) == 40


WRONG_ADDRESS_PROBE = """
import json, ssl, sys
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification
address, port, called, calling, tls = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5] == "1"
ae = AE(ae_title=calling)
ae.add_requested_context(Verification)
ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
tls_args = None
if tls:
    base = "/etc/ssl/hospital-imaging/"
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=base + "ca.crt")
    ctx.check_hostname = False
    ctx.load_cert_chain(base + "host.crt", base + "host.key")
    tls_args = (ctx, None)
# The A-ASSOCIATE-RJ is noted as it arrives: Orthanc closes the connection right after it, and the close can
# reach pynetdicom's state machine first and be reported as an abort.
received = []
assoc = ae.associate(address, port, ae_title=called, tls_args=tls_args,
                     evt_handlers=[(evt.EVT_PDU_RECV, lambda event: received.append(type(event.pdu).__name__))])
rejected = assoc.is_rejected or "A_ASSOCIATE_RJ" in received
print(json.dumps({"established": assoc.is_established, "rejected": rejected}))
if assoc.is_established:
    assoc.release()
"""


@needs_client
def test_declared_aet_from_another_address_is_rejected(modality, declared, dicom_target, dicom):
    """The modality's AE title, a certificate of the site CA, but another address: rejected.

    The association comes from the archive host itself, to its network address (the firewall lets
    the host reach itself), so its source address is not the one the modality is declared with.
    """
    address = dicom.interface.default().addresses[0]
    assert address != modality.interface.default().addresses[0]
    python = "/opt/imaging-checks/bin/python"
    assert dicom.file(python).exists, "the validation role installs pynetdicom there"
    put_file(dicom, "/tmp/wrong_address_probe.py", WRONG_ADDRESS_PROBE.encode())
    out = dicom.check_output(
        f"{python} /tmp/wrong_address_probe.py {address} {dicom_target['port']} {dicom_target['aet']} "
        f"{declared[1]['AET']} {1 if dicom_target['tls'] else 0}"
    )
    result = json.loads(out.strip().splitlines()[-1])
    # The same AE title from its declared address is accepted (see the echo test), so the
    # refusal here is the address check, not TLS or the AE title.
    assert result == {"established": False, "rejected": True}, result


# The printed commands are DCMTK's (/usr/bin/storescu); the virtualenv's pynetdicom installs a storescu too.
DCMTK_FIRST = dict(os.environ, PATH="/usr/bin:" + os.environ.get("PATH", ""))


def test_sandbox_prints_exactly_the_recorded_dicom_listeners(dicom):
    out, commands = printed_commands()
    listeners = dicom_listeners(dicom)
    assert len(commands) == len(listeners) == 2, out
    for listener, command in zip(listeners, commands):
        assert f"127.0.0.1 {listener['port']} *.dcm" in command, (listener, command)
        assert command.startswith("storescu +tls ") is listener["tls"], command
        assert "-aet WORKSTATION" in command


@pytest.mark.parametrize("listener", ["dicom", "dicom-tls"])
def test_printed_command_stores_a_study_as_the_workstation(dicom, admin, listener, tmp_path):
    """The printed command, run on this machine as printed (only 127.0.0.1 becomes the container's address:
    molecule publishes no ports; the source address is the same network gateway Docker forwards from)."""
    _out, commands = printed_commands()
    port = next(item["port"] for item in dicom_listeners(dicom) if item["name"] == listener)
    command = next(c for c in commands if f"127.0.0.1 {port} " in c)
    address = dicom.interface.default().addresses[0]
    token = uuid.uuid4().hex[:10].upper()
    data, ds = ct_instance(f"WORKSTATION^{token}", f"WS{token}")
    (tmp_path / "study.dcm").write_bytes(data)
    res = subprocess.run(command.replace(f"127.0.0.1 {port} ", f"{address} {port} "), shell=True, cwd=tmp_path,
                         env=DCMTK_FIRST, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    out = dicom.check_output(
        "curl -sf -u %s -X POST -d %s 'http://127.0.0.1:%s/tools/find'", ":".join(admin),
        json.dumps({"Level": "Study", "Query": {"StudyInstanceUID": ds.StudyInstanceUID}}), str(_orthanc_http_port(dicom)))
    assert len(json.loads(out)) == 1


@pytest.mark.parametrize("listener", ["dicom", "dicom-tls"])
def test_printed_command_with_another_ae_title_is_refused(dicom, listener, tmp_path):
    _out, commands = printed_commands()
    port = next(item["port"] for item in dicom_listeners(dicom) if item["name"] == listener)
    command = next(c for c in commands if f"127.0.0.1 {port} " in c).replace("-aet WORKSTATION", "-aet NOTDECLARED")
    address = dicom.interface.default().addresses[0]
    data, _ds = ct_instance("REFUSED^WS", "WSREFUSED")
    (tmp_path / "study.dcm").write_bytes(data)
    res = subprocess.run(command.replace(f"127.0.0.1 {port} ", f"{address} {port} "), shell=True, cwd=tmp_path,
                         env=DCMTK_FIRST, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode != 0, res.stdout + res.stderr


# --- Application services -----------------------------------------------------------------------


def _app_env(app):
    env = {}
    for line in app.file("/etc/hospital-imaging/apps/demo.env").content_string.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value.strip('"')
    return env


def test_demo_service_is_sandboxed():
    app = _host(APP_NAME)
    f = app.file("/etc/hospital-imaging/apps/demo.env")
    assert f.mode == 0o600 and f.user == "root"
    props = app.check_output("systemctl show imaging-app-demo -p User -p NoNewPrivileges -p ProtectSystem -p ProtectHome -p CapabilityBoundingSet")
    assert "User=app-demo" in props
    assert "NoNewPrivileges=yes" in props
    assert "ProtectSystem=strict" in props
    assert "CapabilityBoundingSet=\n" in props + "\n"


def test_demo_service_records_through_nginx_into_postgresql_and_redis(client, base_url):
    app = _host(APP_NAME)
    db = _host(DB_NAME)
    env = _app_env(app)
    status, out = _curl(client, f"{base_url}/apps/demo/health")
    assert status == "200", out
    assert json.loads(out) == {"postgresql": "ok", "redis": "ok"}

    count_sql = "SELECT count(*) FROM demo_visits"
    before = int(db.check_output(f"runuser -u postgres -- psql -d {env['PGDATABASE']} -tAc {shlex.quote(count_sql)}"))
    status, out = _curl(client, f"-X POST {base_url}/apps/demo/visits")
    assert status == "200", out
    answer = json.loads(out)
    after = int(db.check_output(f"runuser -u postgres -- psql -d {env['PGDATABASE']} -tAc {shlex.quote(count_sql)}"))
    assert after == before + 1 == answer["postgresql_visits"]

    cache = _host(_first("imaging_cache"))
    cached = cache.check_output(
        "REDISCLI_AUTH=%s redis-cli --tls --cacert /etc/ssl/hospital-imaging/ca.crt -h %s -p %s --user %s GET %s",
        env["REDIS_PASSWORD"], env["REDIS_HOST"], env["REDIS_PORT"], env["REDIS_USER"], env["REDIS_KEY_PREFIX"] + "visits",
    )
    assert int(cached) == answer["redis_visits"] >= 1


# --- A broken value leaves the running configuration in place ------------------------------------


# The scenario's own converge playbook: it gathers what the inventory's variables need.
PLAYBOOK = os.path.join(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", os.path.join(PROJECT, "molecule", "default")), "converge.yml")


def _run_imaging(extra_vars, tags):
    return subprocess.run(
        ["ansible-playbook", "-i", INVENTORY, PLAYBOOK,
         "--tags", tags, "-e", json.dumps(extra_vars)],
        capture_output=True, text=True, env=ansible_env(), cwd=PROJECT, check=False, timeout=900,
    )


def test_broken_orthanc_value_is_rolled_back(dicom, admin):
    before = dicom.file("/etc/orthanc/orthanc.json").sha256sum
    res = _run_imaging({"orthanc_extra_options": {"DicomPort": "not-a-port"}, "orthanc_health_retries": 3}, "orthanc_config")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "did not accept the new configuration" in out
    assert 'option \\"DicomPort\\" must be an integer' in out or 'option "DicomPort" must be an integer' in out
    assert dicom.file("/etc/orthanc/orthanc.json").sha256sum == before
    deadline = time.time() + 60
    while dicom.run("curl -sf -u %s http://127.0.0.1:%s/system", ":".join(admin), str(_orthanc_http_port(dicom))).rc != 0:
        if time.time() > deadline:
            pytest.fail("Orthanc did not come back on the previous configuration")
        time.sleep(2)


def test_broken_nginx_value_is_refused(web):
    """A value the argument spec accepts but NGINX does not: nginx -t refuses it, nothing changes."""
    before = web.file("/etc/nginx/nginx.conf").sha256sum
    res = _run_imaging({"nginx_auth_rate": "fast"}, "nginx_config")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert 'invalid rate "rate=fast"' in out or 'invalid rate \\"rate=fast\\"' in out, out[-3000:]
    assert web.file("/etc/nginx/nginx.conf").sha256sum == before
    assert web.service("nginx").is_running
