"""Hardening stage (playbooks/harden.yml): os_hardening, auditd, firewall, disk_encryption, pki.

Runs against every host of the ``imaging`` group. Checks that need a second machine (SSH logins,
firewall reachability) use the first host of the ``test_clients`` group and a throw-away
container on the same docker network; they are skipped when the scenario has no client.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time

import pytest
from conftest import INVENTORY, container_of, inventory_name_of, inventory_runner, stack_host

FACTS = "/etc/ansible/facts.d/imaging_{}.fact"
OPERATOR = "imagingops"
OPERATOR_KEY = "/root/.ssh/operator_ed25519"


def fact(host, role):
    return json.loads(host.file(FACTS.format(role)).content_string)


def waiver_ids(host, role):
    return {w["id"] for w in fact(host, role)["waivers"]}


@pytest.fixture(scope="module")
def client():
    clients = inventory_runner().get_hosts("test_clients") if INVENTORY else []
    if not clients:
        pytest.skip("this scenario has no host in group test_clients")
    return stack_host(clients[0])


@pytest.fixture(autouse=True)
def _only_stack_hosts(request):
    """molecule runs every test on every host; the clients are not hardened."""
    if "host" in request.fixturenames:
        host = request.getfixturevalue("host")
        if INVENTORY and inventory_name_of(host) not in inventory_runner().get_hosts("imaging"):
            pytest.skip("not a host of the imaging group")


def address_of(host):
    return host.check_output("ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -n1")


def probe(runner, address, port):
    """Try a TCP connection; return 'open', 'refused' or 'timeout'."""
    code = (
        "import socket,sys\n"
        f"s=socket.socket(); s.settimeout(3)\n"
        f"try:\n s.connect(({address!r},{port})); print('open')\n"
        "except ConnectionRefusedError: print('refused')\n"
        "except (socket.timeout, OSError): print('timeout')\n"
    )
    return runner(f"python3 -c {shlex.quote(code)}").strip()


@pytest.fixture(scope="module")
def listeners(host):
    """Real TCP listeners on a port the firewall opens (DICOM) and one it does not."""
    if INVENTORY and inventory_name_of(host) not in inventory_runner().get_hosts("imaging"):
        pytest.skip("not a host of the imaging group")
    dicom = next((r for r in fact(host, "firewall")["rules"] if r["comment"] == "dicom"), None)
    assert dicom is not None, "the firewall fact records no DICOM rule"
    ports = {"dicom": int(dicom["port"]), "closed": 9419}
    for name, port in ports.items():
        host.run(f"systemctl stop test-listen-{name}.service")
        host.check_output(
            f"systemd-run --unit=test-listen-{name} python3 -m http.server --bind 0.0.0.0 {port}"
        )
    for port in ports.values():
        for _attempt in range(30):
            if probe(host.check_output, "127.0.0.1", port) == "open":
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the test listener on port {port} did not start")
    yield ports
    for name in ports:
        host.run(f"systemctl stop test-listen-{name}.service")


# --- os_hardening -----------------------------------------------------------------------------

def test_sysctl_values_are_live_or_waived(host):
    record = fact(host, "os_hardening")
    waived = waiver_ids(host, "os_hardening")
    dropin = host.file("/etc/sysctl.d/60-hospital-imaging.conf").content_string
    assert record["sysctl"]["kernel.kptr_restrict"] == 2
    assert record["sysctl"]["net.ipv4.conf.all.accept_redirects"] == 0
    for key, want in record["sysctl"].items():
        assert f"{key} = {want}" in dropin or key in host.file(
            "/etc/sysctl.d/61-hospital-imaging-tuning.conf").content_string
        live = host.run(f"sysctl -n {key}")
        if live.rc == 0 and " ".join(live.stdout.split()) == " ".join(str(want).split()):
            continue
        assert f"os_hardening-sysctl-{key}" in waived, f"{key} is neither set nor waived"
    for waiver in fact(host, "os_hardening")["waivers"]:
        assert waiver["reason"], waiver


def test_login_defs(host):
    defs = host.file("/etc/login.defs").content_string
    for line in ("ENCRYPT_METHOD\tSHA512", "PASS_MAX_DAYS\t90", "UMASK\t027", "SHA_CRYPT_MIN_ROUNDS\t100000"):
        assert f"\n{line}\n" in defs


def test_pam_stack(host):
    auth = host.file("/etc/pam.d/common-auth").content_string
    assert "pam_faillock.so preauth" in auth and "pam_faillock.so authfail" in auth
    password = host.file("/etc/pam.d/common-password").content_string
    assert password.index("pam_pwquality.so") < password.index("pam_pwhistory.so") < password.index("pam_unix.so")
    quality = host.file("/etc/security/pwquality.conf").content_string
    assert "minlen = 12" in quality and "minclass = 3" in quality
    lock = host.file("/etc/security/faillock.conf").content_string
    assert "deny = 5" in lock and "unlock_time = 900" in lock


def test_session_timeout_is_readonly(host):
    out = host.run("bash -lc 'echo TMOUT=$TMOUT; TMOUT=0'")
    assert "TMOUT=900" in out.stdout
    assert "readonly variable" in out.stderr
    assert host.check_output("bash -lc umask") == "0027"


def test_core_dumps_modules_packages_cron_banner(host):
    assert "*     hard  core  0" in host.file("/etc/security/limits.d/10-hospital-imaging-core.conf").content_string
    blacklist = host.file("/etc/modprobe.d/hospital-imaging-blacklist.conf").content_string
    for module in ("cramfs", "usb-storage", "dccp", "sctp"):
        assert f"install {module} /bin/false" in blacklist
    for package in ("telnet", "rsh-client", "nis", "xinetd"):
        assert not host.package(package).is_installed
    cron_allow = host.file("/etc/cron.allow")
    assert cron_allow.content_string.split() == ["root"] and cron_allow.mode == 0o600
    assert not host.file("/etc/cron.deny").exists
    assert "restricted to authorized users" in host.file("/etc/issue.net").content_string


def test_sshd_effective_configuration(host):
    effective = dict(
        line.split(" ", 1) for line in host.check_output("/usr/sbin/sshd -T").splitlines() if " " in line
    )
    assert effective["permitrootlogin"] == "no"
    assert effective["passwordauthentication"] == "no"
    assert effective["kbdinteractiveauthentication"] == "no"
    assert effective["authenticationmethods"] == "publickey"
    assert effective["loglevel"] == "VERBOSE"
    assert effective["maxauthtries"] == "3"
    assert effective["x11forwarding"] == "no"
    assert not any("cbc" in c for c in effective["ciphers"].split(","))
    assert not any("sha1" in m for m in effective["macs"].split(","))
    assert effective["kexalgorithms"].split(",")[0] in ("sntrup761x25519-sha512@openssh.com", "mlkem768x25519-sha256")
    groups = fact(host, "os_hardening")["ssh"]["allow_groups"]
    if groups:
        assert effective["allowgroups"].split() == groups
    assert host.service("ssh").is_running


def test_operator_is_not_locked_out(host, client):
    target = address_of(host)
    login = client.run(
        f"ssh -i {OPERATOR_KEY} -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o ConnectTimeout=10 "
        f"{OPERATOR}@{target} id -un"
    )
    assert login.rc == 0, login.stderr
    assert login.stdout.strip() == OPERATOR


def test_password_login_is_refused(host, client):
    target = address_of(host)
    attempt = client.run(
        "ssh -o BatchMode=yes -o PubkeyAuthentication=no -o PreferredAuthentications=password,keyboard-interactive "
        f"-o StrictHostKeyChecking=accept-new -o ConnectTimeout=10 {OPERATOR}@{target} true"
    )
    assert attempt.rc == 255
    assert "Permission denied (publickey)" in attempt.stderr


def test_time_sync_and_journal(host):
    assert host.service("chrony").is_running
    assert host.service("chrony").is_enabled
    journald = host.file("/etc/systemd/journald.conf.d/50-hospital-imaging.conf").content_string
    assert "Storage=persistent" in journald and "MaxRetentionSec=7year" in journald
    assert host.file("/var/log/journal").is_directory
    if fact(host, "os_hardening")["waivers"] and "os_hardening-time-sync-clock" in waiver_ids(host, "os_hardening"):
        assert " -x" in host.file("/etc/default/chrony").content_string


def test_core_dumps_are_off_in_login_shells(host):
    assert host.check_output("bash -lc 'ulimit -c'") == "0"


def test_sysstat_collects(host):
    assert 'ENABLED="true"' in host.file("/etc/default/sysstat").content_string.splitlines()


def test_sshd_limits_sessions_per_connection(host):
    assert "maxsessions 2" in host.check_output("/usr/sbin/sshd -T").splitlines()


def test_compilers_are_root_only(host):
    # The names of os_hardening_compilers; Debian 12 has the assembler (binutils, for needrestart), 13 may have none.
    names = ["as", "cc", "gcc", "g++", "c++", "clang", "tcc", "pcc", "yasm", "nasm"]
    found = host.check_output(
        "for n in " + " ".join(names) + "; do p=$(command -v $n) && readlink -f \"$p\"; done | sort -u || true"
    ).split()
    if not found:
        pytest.skip("no compiler is installed on this host")
    for compiler in found:
        assert host.check_output(f"dpkg-statoverride --list {compiler}") == f"root root 750 {compiler}"
        binary = host.file(compiler)
        assert binary.user == "root" and binary.group == "root" and binary.mode == 0o750
        assert host.run(f"{compiler} --version").rc == 0
        refused = host.run(f"runuser -u nobody -- {compiler} --version")
        assert refused.rc != 0 and "ermission denied" in refused.stderr


def test_usb_devices_are_blocked_or_waived(host):
    conf = host.file("/etc/usbguard/usbguard-daemon.conf")
    assert conf.user == "root" and conf.mode == 0o600
    settings = dict(line.split("=", 1) for line in conf.content_string.splitlines() if "=" in line and not line.startswith("#"))
    assert settings["ImplicitPolicyTarget"] == "block"
    assert settings["InsertedDevicePolicy"] == "apply-policy"
    assert settings["PresentDevicePolicy"] == "apply-policy"
    assert host.service("usbguard").is_enabled
    if host.file("/sys/bus/usb/devices").is_directory:
        assert host.service("usbguard").is_running
        assert host.file("/etc/usbguard/rules.conf.generated").exists
    else:
        assert "os_hardening-usbguard-daemon" in waiver_ids(host, "os_hardening")


# Lynis BOOT-5264 (systemd-analyze security): Debian ships these units unsandboxed (exposure 9.2 to
# 9.6 of 10); the data and imaging roles add a drop-in. The running process is checked, not only the
# unit file: a drop-in written but never applied (no daemon-reload before the restart) fails here.
@pytest.mark.parametrize("role, unit", [
    ("postgresql", "postgresql@{version}-main.service"),
    ("pgbouncer", "pgbouncer.service"),
    ("nginx", "nginx.service"),
])
def test_phi_services_run_sandboxed(host, role, unit):
    unit = unit.format(version=fact(host, "postgresql")["version"]) if role == "postgresql" else unit
    assert host.file(FACTS.format(role)).exists, f"{role} is not installed on this host"
    drop_ins = host.check_output(f"systemctl show -P DropInPaths {unit}")
    assert ".service.d/hardening.conf" in drop_ins, drop_ins
    pid = int(host.check_output(f"systemctl show -P MainPID {unit}"))
    assert pid > 0, f"{unit} is not running"
    status = dict(line.split(":", 1) for line in host.file(f"/proc/{pid}/status").content_string.splitlines() if ":" in line)
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2", "no system call filter on the running process"
    report = host.check_output(f"systemd-analyze security --no-pager {unit}")
    exposure = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", report).group(1))
    assert exposure <= 3.5, report.splitlines()[-1]


def test_file_integrity_baseline_and_daily_check(host):
    database = host.file("/var/lib/aide/aide.db")
    assert database.exists and database.size > 0 and database.mode == 0o600
    assert host.run("aide --config-check --config /etc/aide/aide.conf").rc == 0
    timer = host.service("dailyaidecheck.timer")
    assert timer.is_enabled and timer.is_running


def test_file_integrity_baseline_covers_the_installed_stack(host):
    """On a first install site.yml takes the baseline again at its end: it holds the later tiers' files."""
    if not host.file("/etc/orthanc/orthanc.json").exists:
        pytest.skip("no imaging tier on this host (hardening-only scenario)")
    listing = host.check_output("zcat -f /var/lib/aide/aide.db | grep -c '^/etc/orthanc/orthanc.json ' || true")
    assert int(listing or 0) == 1, "the AIDE baseline does not hold /etc/orthanc/orthanc.json"
    # ... and not the image store or the database cluster (data, not system files).
    data = host.check_output("zcat -f /var/lib/aide/aide.db | grep -c -E '^/var/lib/(orthanc|postgresql)/' || true")
    assert int(data or 0) == 0, "the AIDE baseline holds files of the image store or the database cluster"


# --- auditd -----------------------------------------------------------------------------------

def test_audit_rules_are_checked_and_merged(host):
    rules_file = "/etc/audit/rules.d/50-hospital-imaging.rules"
    rules = host.file(rules_file).content_string
    checker = host.run(f"python3 /usr/local/lib/hospital-imaging/check_audit_rules.py {rules_file}")
    assert checker.rc == 0, checker.stderr
    for key in ("identity", "sudoers", "logins", "session", "time-change", "modules", "mounts", "delete",
                "privileged", "imaging-config", "imaging-db", "imaging-phi"):
        assert f"-k {key}" in rules
    privileged = host.check_output("find /usr -xdev -type f -perm /6000").split()
    assert privileged, "no setuid binary found: the privileged-command rules would be empty"
    for path in privileged:
        assert f"-F path={path} -F perm=x" in rules
    assert "-w /var/lib/postgresql -p wa -k imaging-db" in rules
    merged = [line for line in host.file("/etc/audit/audit.rules").content_string.splitlines() if line.strip()]
    assert merged[-1] == "-e 2"
    assert "No change" in host.check_output("augenrules --check 2>&1")


def test_audit_checker_rejects_a_bad_rule(host):
    bad = host.run(
        "f=$(mktemp); printf -- '-a always,exit -F arch=b64 -S no_such_call -k x\\n' > $f; "
        "python3 /usr/local/lib/hospital-imaging/check_audit_rules.py $f; rc=$?; rm -f $f; exit $rc"
    )
    assert bad.rc == 1 and "no_such_call" in bad.stderr


def test_audit_rules_loaded_or_waived(host):
    status = host.run("auditctl -s")
    if status.rc == 0:
        assert "enabled 2" in status.stdout
        assert "-k identity" in host.check_output("auditctl -l") or "key=identity" in host.check_output("auditctl -l")
        assert host.service("auditd").is_running
    else:
        waivers = {w["id"]: w["reason"] for w in fact(host, "auditd")["waivers"]}
        assert "auditd-load-rules" in waivers
        assert "refuses audit netlink" in waivers["auditd-load-rules"]
    conf = host.file("/etc/audit/auditd.conf").content_string
    assert "disk_full_action = HALT" in conf and "max_log_file_action = KEEP_LOGS" in conf
    assert host.service("hospital-imaging-audit-retention.timer").is_enabled


# --- firewall ---------------------------------------------------------------------------------

def test_firewall_policy(host):
    status = host.check_output("ufw status verbose")
    assert "Status: active" in status
    assert "Default: deny (incoming), allow (outgoing), deny (routed)" in status
    assert "Logging: on" in status
    ssh = next(r for r in fact(host, "firewall")["rules"] if r["comment"] == "ssh")
    added = host.check_output("ufw show added")
    for source in ssh["sources"]:
        # ufw shows a single address without its /32 (or /128)
        shown = source.rsplit("/", 1)[0] if source.endswith(("/32", "/128")) else source
        assert f"ufw allow from {shown} to any port {ssh['port']} proto tcp" in added


def test_ssh_reachable_from_management_client(host, client):
    assert probe(client.check_output, address_of(host), 22) == "open"


def test_port_not_opened_is_unreachable(host, client, listeners):
    assert probe(client.check_output, address_of(host), listeners["closed"]) == "timeout"


def test_dicom_port_reachable_only_from_allowed_address(host, client, listeners):
    target = address_of(host)
    dicom = next((r for r in fact(host, "firewall")["rules"] if r["comment"] == "dicom"), None)
    assert dicom is not None, "the firewall fact records no DICOM rule"
    client_address = address_of(client)
    assert any(source == f"{client_address}/32" for source in dicom["sources"]), (
        "the scenario must allow the client's address only", dicom["sources"])
    assert probe(client.check_output, target, listeners["dicom"]) == "open"

    container = container_of(inventory_name_of(host))
    inspect = json.loads(subprocess.check_output(["docker", "inspect", container]))[0]
    network = next(iter(inspect["NetworkSettings"]["Networks"]))
    code = shlex.quote(
        "import socket\ns=socket.socket(); s.settimeout(3)\n"
        f"try:\n s.connect(({target!r},{listeners['dicom']})); print('open')\n"
        "except ConnectionRefusedError: print('refused')\n"
        "except OSError: print('timeout')\n"
    )
    other = subprocess.run(
        f"docker run --rm --network {network} --entrypoint python3 {inspect['Config']['Image']} -c {code}",
        shell=True, capture_output=True, text=True, timeout=120, check=True,
    )
    assert other.stdout.strip() == "timeout"


# --- disk_encryption --------------------------------------------------------------------------

def test_luks_volumes(host):
    record = fact(host, "disk_encryption")
    if not record["volumes"]:
        pytest.skip("no encrypted volume configured for this host")
    crypttab = host.file("/etc/crypttab").content_string
    fstab = host.file("/etc/fstab").content_string
    for volume in record["volumes"]:
        name, device = volume["name"], volume["device"]
        assert "Version:       \t2" in host.check_output(f"cryptsetup luksDump {device}")
        key = host.file(f"/etc/luks-keys/{name}.key")
        assert key.mode == 0o400 and key.user == "root" and key.size == 512
        assert host.file("/etc/luks-keys").mode == 0o700
        assert host.run(f"cryptsetup open --test-passphrase --key-file /etc/luks-keys/{name}.key {device}").rc == 0
        backup = host.file(f"/root/luks-header-backups/{name}.luksheader")
        assert backup.mode == 0o400 and backup.user == "root"
        assert host.check_output(f"cryptsetup luksUUID {backup.path}") == host.check_output(f"cryptsetup luksUUID {device}")
        assert any(line.split()[:3] == [name, device if not device.startswith("/dev/") else line.split()[1],
                                        f"/etc/luks-keys/{name}.key"] for line in crypttab.splitlines() if line.strip())
        mount = [line.split() for line in fstab.splitlines() if line.startswith(f"/dev/mapper/{name} ")]
        assert mount and mount[0][1] == volume["mount_point"]
        assert set(mount[0][3].split(",")) >= {"nodev", "nosuid", "noatime"}
        if not record["device_mapper"]:
            assert f"disk_encryption-open-{name}" in waiver_ids(host, "disk_encryption")
        else:
            assert host.mount_point(volume["mount_point"]).exists


# --- pki --------------------------------------------------------------------------------------

def test_certificates(host):
    base = "/etc/ssl/hospital-imaging"
    assert host.file(f"{base}/ca.crt").mode == 0o644
    assert host.file(f"{base}/host.crt").mode == 0o644
    key = host.file(f"{base}/host.key")
    assert key.mode == 0o600 and key.user == "root"
    assert host.run(f"openssl verify -CAfile {base}/ca.crt {base}/host.crt").rc == 0
    sans = host.check_output(f"openssl x509 -in {base}/host.crt -noout -ext subjectAltName")
    hostname = host.check_output("hostname")
    for name in ("DNS:localhost", "IP Address:127.0.0.1", f"DNS:{hostname}", f"IP Address:{address_of(host)}"):
        assert name in sans
    cert = fact(host, "pki")["certificates"][0]
    assert cert["key_size"] >= 2048 and cert["not_after"]
    assert host.check_output(f"openssl x509 -in {base}/host.crt -noout -checkend {30 * 86400}; echo $?").endswith("0")
    # The CA is in the system trust store: a client that trusts only the system store accepts host.crt.
    assert host.run(f"openssl verify {base}/host.crt").rc == 0


def test_tls_handshake_with_the_host_certificate(host):
    base = "/etc/ssl/hospital-imaging"
    host.run("systemctl stop test-tls.service")
    host.check_output(
        f"systemd-run --unit=test-tls openssl s_server -quiet -accept 127.0.0.1:9443 "
        f"-cert {base}/host.crt -key {base}/host.key -www"
    )
    try:
        for _attempt in range(20):
            out = host.run(
                f"echo | openssl s_client -connect 127.0.0.1:9443 -servername localhost -verify_return_error "
                f"-verify_hostname localhost -CAfile {base}/ca.crt"
            )
            if out.rc == 0:
                break
            time.sleep(0.5)
        assert out.rc == 0, out.stdout + out.stderr
        assert "Verify return code: 0 (ok)" in out.stdout
    finally:
        host.run("systemctl stop test-tls.service")


# --- bad input --------------------------------------------------------------------------------

def test_bad_input_is_refused_before_any_change(host):
    playbook = os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "hardening", "bad_input.yml")
    if not host.file("/srv/luks-test/ext4.img").exists:
        pytest.skip("needs the volume files that molecule/hardening/prepare.yml creates")
    run = subprocess.run(
        ["ansible-playbook", "-i", INVENTORY, "--limit", f"{inventory_name_of(host)},test_clients", playbook],
        capture_output=True, text=True, timeout=900, check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "failed=0" in run.stdout and "rescued=6" in run.stdout
