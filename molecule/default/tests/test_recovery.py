"""Drills: every daemon comes back by itself, and no acknowledged DICOM instance is lost (docs/recovery.md).

Each drill runs under a DICOM TLS store load from the modality host: DCMTK's storescu sends one instance
per association, as a modality does, and retries an instance until the archive acknowledges it
(status 0x0000, "Received Store Response (Success)"). Every attempt is logged with its time on the
modality host; the disruption's time is taken on the stack host (the containers share one clock).

A drill passes when the disrupted service is back with a new main process, the first acknowledgement
after the disruption came within 30 s, the load completed, and every acknowledged instance is in the
index with the data set the modality sent (SHA-256, the archive's own file meta group left out).
"""

import base64
import json
import os
import shlex
import subprocess
import tempfile
import time
import uuid

import pytest
from conftest import (DISTRO, container_of, ct_instance, dataset_sha256, dicom_listeners, inventory_runner, orthanc_config,
                      orthanc_record, put_file, stack_host)

RUNNER = inventory_runner()
DICOM_NAME = RUNNER.get_hosts("imaging_dicom")[0]
CLIENT_NAME = (RUNNER.get_hosts("test_clients") or [None])[0]

# The drills run in the Debian 12 pass of the default scenario (the listener-switching tests take the
# Debian 13 one), to keep CI in its budget; the recovery policy itself is checked on both.
drill = pytest.mark.skipif(DISTRO != "bookworm" or CLIENT_NAME is None,
                           reason="runs in the Debian 12 pass of the default scenario, with a test_clients host")

INSTANCES = 30
BACK_WITHIN = 30.0
ACKS_BEFORE = 5
READ_ONLY_FOR = 30
DEADLINE = 240

LOAD = r"""#!/bin/bash
# recovery-load DIR DEADLINE STORESCU-ARGS...: each instance of DIR, one association each, retried until acknowledged.
dir=$1; deadline=$2; shift 2
cd "$dir" || exit 2
for f in $(ls -- *.dcm | sort); do
  while :; do
    begun=$(date +%s.%N)
    out=$(storescu -v -to 10 -ta 10 -td 10 "$@" "$f" 2>&1); rc=$?
    now=$(date +%s.%N)
    if grep -q 'Received Store Response (Success)' <<<"$out"; then
      echo "$begun $now $f ack" >> attempts.log
      break
    fi
    why=$(grep -o 'Received Store Response ([^)]*)' <<<"$out" | head -n1 | tr ' ' '_')
    echo "$begun $now $f fail rc=$rc ${why:-no-store-response}" >> attempts.log
    if [ "${now%.*}" -ge "$deadline" ]; then echo "$now $now - gave-up" >> attempts.log; exit 1; fi
    sleep 0.2
  done
done
now=$(date +%s.%N)
echo "$now $now - done" >> attempts.log
"""


@pytest.fixture(scope="module")
def dicom():
    return stack_host(DICOM_NAME)


@pytest.fixture(scope="module")
def modality():
    host = stack_host(CLIENT_NAME)
    put_file(host, "/usr/local/bin/recovery-load", LOAD.encode())
    host.check_output("chmod 0755 /usr/local/bin/recovery-load")
    return host


@pytest.fixture(scope="module")
def tls_listener(dicom, modality, orthanc_api):
    """The DICOM TLS listener, its process's unit, the archive's AE title and the modality's declared AE title."""
    listener = next(item for item in dicom_listeners(dicom) if item["tls"])
    curl, port = orthanc_api
    http = next(item["port"] for item in orthanc_record(dicom)["listeners"]
                if item["protocol"] == "http" and item["service"] == listener["service"])
    system = json.loads(dicom.check_output(f"{curl} http://127.0.0.1:{port}/system"))
    address = modality.interface.default().addresses[0]
    known = json.loads(dicom.check_output(f"{curl} 'http://127.0.0.1:{http}/modalities?expand'"))
    calling = next(item["AET"] for item in known.values() if item["Host"] == address)
    return dict(port=listener["port"], service=listener["service"], called=system["DicomAet"], calling=calling)


def unit_state(host, unit):
    out = host.check_output("systemctl show -p MainPID -p ActiveState -p NRestarts %s", unit)
    values = dict(line.split("=", 1) for line in out.splitlines())
    return int(values["MainPID"]), values["ActiveState"], int(values.get("NRestarts") or 0)


def postgresql_unit(host):
    return host.check_output("systemctl list-units --plain --no-legend --type=service 'postgresql@*-main.service'").split()[0]


def app_unit(host):
    return host.check_output("systemctl list-units --plain --no-legend --type=service 'imaging-app-*.service'").split()[0]


class Load(object):
    """INSTANCES new instances of one study, sent from the modality host by recovery-load in the background."""

    def __init__(self, modality, listener, label):
        self.modality = modality
        token = uuid.uuid4().hex[:8].upper()
        self.patient_id = f"RC{token}"
        self.directory = f"/tmp/recovery-{token}"
        self.sent = {}
        from pydicom.uid import generate_uid
        study, series = generate_uid(), generate_uid()
        with tempfile.TemporaryDirectory() as local:
            for number in range(INSTANCES):
                data, ds = ct_instance(f"RECOVERY^{label.upper()}", self.patient_id, study, series, os.urandom(8192))
                name = f"{number:03d}.dcm"
                with open(os.path.join(local, name), "wb") as handle:
                    handle.write(data)
                self.sent[name] = (str(ds.SOPInstanceUID), dataset_sha256(data))
            subprocess.run(["docker", "cp", local + "/.", f"{container_of(CLIENT_NAME)}:{self.directory}"], check=True,
                           capture_output=True, timeout=60)
        tls = "+tls /etc/ssl/hospital-imaging/host.key /etc/ssl/hospital-imaging/host.crt +cf /etc/ssl/hospital-imaging/ca.crt"
        args = f"{tls} -aet {listener['calling']} -aec {listener['called']} {DICOM_NAME} {listener['port']}"
        deadline = int(time.time()) + DEADLINE
        modality.check_output(f"setsid recovery-load {self.directory} {deadline} {args} </dev/null >/dev/null 2>&1 &")

    def attempts(self):
        out = self.modality.run(f"cat {self.directory}/attempts.log").stdout
        rows = []
        for line in out.splitlines():
            parts = line.split()
            rows.append(dict(begun=float(parts[0]), at=float(parts[1]), file=parts[2], result=parts[3],
                             detail=" ".join(parts[4:])))
        return rows

    def acknowledged(self):
        return [row for row in self.attempts() if row["result"] == "ack"]

    def wait_for_acks(self, count, timeout=90):
        end = time.time() + timeout
        while time.time() < end:
            if len(self.acknowledged()) >= count:
                return
            time.sleep(0.3)
        pytest.fail(f"the load got fewer than {count} acknowledgements in {timeout} s: {self.attempts()[-5:]}")

    def wait_until_finished(self):
        end = time.time() + DEADLINE + 30
        while time.time() < end:
            rows = self.attempts()
            if rows and rows[-1]["result"] in ("done", "gave-up"):
                return rows
            time.sleep(0.5)
        pytest.fail(f"the load did not finish: {self.attempts()[-5:]}")

    def cleanup(self):
        self.modality.run(f"pkill -f 'recovery-load {self.directory}'; rm -rf {self.directory}")


def stored_datasets(dicom, orthanc_api, patient_id):
    """{SOPInstanceUID: data-set SHA-256} of every instance of the patient in the archive, read back over REST."""
    curl, port = orthanc_api
    query = json.dumps({"Level": "Instance", "Query": {"PatientID": patient_id}, "Expand": True})
    found = json.loads(dicom.check_output(f"{curl} -X POST -d {shlex.quote(query)} http://127.0.0.1:{port}/tools/find"))
    ids = " ".join(shlex.quote(item["ID"]) for item in found)
    out = dicom.check_output(
        f"for id in {ids}; do printf '%s ' $id; {curl} http://127.0.0.1:{port}/instances/$id/file"
        " | base64 -w0; echo; done") if ids else ""
    hashes = {}
    uids = {item["ID"]: item["MainDicomTags"]["SOPInstanceUID"] for item in found}
    for line in out.splitlines():
        instance, encoded = line.split(" ", 1)
        hashes[uids[instance]] = dataset_sha256(base64.b64decode(encoded))
    return hashes


def wait_back(host, unit, old_pid, since, probe=None):
    """Seconds from ``since`` until the unit is active with a new main process (and ``probe`` succeeds)."""
    end = since + BACK_WITHIN + 30
    while time.time() < end:
        pid, state, _restarts = unit_state(host, unit)
        if state == "active" and pid not in (0, old_pid) and (probe is None or host.run(probe).rc == 0):
            return round(time.time() - since, 2)
        time.sleep(0.2)
    pid, state, _restarts = unit_state(host, unit)
    pytest.fail(f"{unit} is not back {BACK_WITHIN + 30:.0f} s after the kill (state {state}, main PID {pid})")


def check_nothing_lost(dicom, orthanc_api, load, rows, since):
    """The drill's figures; fails when an acknowledged instance is missing or differs, or the load did not end."""
    acks = [row for row in rows if row["result"] == "ack"]
    assert rows[-1]["result"] == "done", f"the load gave up: {rows[-5:]}"
    assert {row["file"] for row in acks} == set(load.sent), "every instance was acknowledged in the end"
    stored = stored_datasets(dicom, orthanc_api, load.patient_id)
    for row in acks:
        uid, sent_hash = load.sent[row["file"]]
        assert uid in stored, f"{row['file']} ({uid}) was acknowledged but is not in the archive"
        assert stored[uid] == sent_hash, f"{row['file']} ({uid}) is stored with another data set than was sent"
    # the first instance acknowledged on an association opened after the disruption
    after = [row["at"] for row in acks if row["begun"] > since]
    return dict(acknowledged=len(acks), stored=len(stored), failed_attempts=sum(1 for r in rows if r["result"] == "fail"),
                first_ack_after=round(min(after) - since, 2) if after else None)


def report(name, figures):
    """Keep each drill's figures beside the scenario's other outputs (and print them for pytest -s)."""
    path = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", tempfile.gettempdir()), "recovery-drills.jsonl")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(dict(drill=name, **figures)) + "\n")
    print(name, figures)


KILLS = {
    # service: (unit of the stack host, probe of the service's own function once it is back)
    "postgresql": (postgresql_unit, "pg_isready -q -h /var/run/postgresql"),
    "pgbouncer": (lambda host: "pgbouncer.service", "pg_isready -q -h 127.0.0.1 -p {pgbouncer_port}"),
    "redis": (lambda host: "redis-server.service", "timeout 2 bash -c '</dev/tcp/127.0.0.1/{redis_port}'"),
    "orthanc": (None, "timeout 2 bash -c '</dev/tcp/127.0.0.1/{orthanc_port}'"),
    "nginx": (lambda host: "nginx.service", "curl -sk -o /dev/null https://127.0.0.1/"),
    "app": (app_unit, None),
}


def config_value(host, path, key):
    for line in host.file(path).content_string.splitlines():
        parts = line.replace("=", " ").split()
        if len(parts) >= 2 and parts[0] == key and parts[1] != "0":
            return parts[1]
    raise AssertionError(f"{key} not set in {path}")


def test_every_daemon_restarts_after_a_crash_within_a_start_limit(dicom):
    """The drop-in is live (systemd read it) on every unit of the stack, on each distribution."""
    units = [postgresql_unit(dicom), "pgbouncer.service", "redis-server.service", "nginx.service", app_unit(dicom)]
    units += [name + ".service" for name in orthanc_record(dicom)["services"]]
    for unit in units:
        out = dicom.check_output("systemctl show -p Restart -p RestartUSec -p StartLimitBurst -p StartLimitIntervalUSec "
                                 "-p DropInPaths %s", unit)
        values = dict(line.split("=", 1) for line in out.splitlines())
        assert values["Restart"] == "on-failure", (unit, values)
        assert values["RestartUSec"] == "2s" and values["StartLimitBurst"] == "5", (unit, values)
        assert values["StartLimitIntervalUSec"] == "1min", (unit, values)
        assert "/recovery.conf" in values["DropInPaths"], (unit, values)


@drill
@pytest.mark.disruptive
@pytest.mark.parametrize("service", list(KILLS))
def test_a_killed_daemon_comes_back_and_no_acknowledged_instance_is_lost(service, dicom, modality, orthanc_api, tls_listener):
    unit_of, probe = KILLS[service]
    unit = f"{tls_listener['service']}.service" if service == "orthanc" else unit_of(dicom)
    if probe:
        ports = {}
        if "{pgbouncer_port}" in probe:
            ports["pgbouncer_port"] = config_value(dicom, "/etc/pgbouncer/pgbouncer.ini", "listen_port")
        if "{redis_port}" in probe:
            conf = dicom.file("/etc/redis/redis.conf").content_string
            ports["redis_port"] = config_value(dicom, "/etc/redis/redis.conf", "tls-port" if "\ntls-port " in conf else "port")
        if "{orthanc_port}" in probe:
            ports["orthanc_port"] = tls_listener["port"]
        probe = probe.format(**ports)
    old_pid, state, restarts = unit_state(dicom, unit)
    assert state == "active" and old_pid, f"{unit} runs before the drill"
    archive = {name: unit_state(dicom, name)[0] for name in orthanc_record(dicom)["services"] if name + ".service" != unit}
    load = Load(modality, tls_listener, service)
    try:
        load.wait_for_acks(ACKS_BEFORE)
        killed_at = float(dicom.check_output(f"date +%s.%N; kill -9 {old_pid}").split()[0])
        back = wait_back(dicom, unit, old_pid, killed_at, probe)
        rows = load.wait_until_finished()
    finally:
        load.cleanup()
    figures = check_nothing_lost(dicom, orthanc_api, load, rows, killed_at)
    figures.update(unit=unit, back_after=back, restarts=unit_state(dicom, unit)[2] - restarts)
    figures["orthanc_restarted"] = sorted(name for name, pid in archive.items() if unit_state(dicom, name)[0] != pid)
    report(f"kill -9 {service}", figures)
    assert figures["orthanc_restarted"] == [], "Orthanc resumes by itself: no Orthanc process was restarted for it"
    assert back <= BACK_WITHIN, f"{unit} came back {back} s after the kill"
    assert figures["restarts"] >= 1, "systemd restarted the unit (Restart=on-failure)"
    assert figures["first_ack_after"] is not None and figures["first_ack_after"] <= BACK_WITHIN, figures


@drill
@pytest.mark.disruptive
def test_a_read_only_image_store_fails_the_stores_and_acknowledges_nothing_unwritten(
        dicom, modality, orthanc_api, tls_listener):
    """The image store made read-only for 30 s, in the mount namespace of the Orthanc process under load:
    every C-STORE made in that window fails (a failure status, or no answer until the modality's DIMSE
    timeout; never a success), the process stays up, and storing resumes after."""
    unit = f"{tls_listener['service']}.service"
    pid, state, _restarts = unit_state(dicom, unit)
    assert state == "active"
    store = orthanc_config(dicom)["StorageDirectory"]
    enter = f"nsenter -t {pid} -m"
    load = Load(modality, tls_listener, "readonly")
    try:
        load.wait_for_acks(ACKS_BEFORE)
        made = dicom.run(f"{enter} sh -c {shlex.quote(f'mount --bind {store} {store} && mount -o remount,bind,ro {store} && date +%s.%N')}")
        assert made.rc == 0, f"the image store could not be made read-only: {made.stderr}"
        read_only_at = float(made.stdout.split()[0])
        probe = dicom.run(f"{enter} sh -c 'touch {store}/.write-probe'")
        time.sleep(READ_ONLY_FOR)
        writable_at = float(dicom.check_output(f"{enter} sh -c 'umount {store} && date +%s.%N'").split()[0])
        rows = load.wait_until_finished()
    finally:
        dicom.run(f"{enter} sh -c 'mountpoint -q {store} && umount {store}'")
        load.cleanup()
    assert probe.rc != 0 and "Read-only file system" in probe.stderr, "the process saw a read-only image store"
    # every attempt made wholly while the store was read-only
    window = [row for row in rows if read_only_at < row["begun"] and row["at"] < writable_at]
    assert window and all(row["result"] == "fail" for row in window), \
        f"every store in the read-only window failed: {[r for r in window if r['result'] != 'fail']}"
    figures = check_nothing_lost(dicom, orthanc_api, load, rows, writable_at)
    new_pid, state, _restarts = unit_state(dicom, unit)
    figures.update(unit=unit, failed_in_window=len(window), read_only_s=round(writable_at - read_only_at, 1),
                   statuses=sorted({row["detail"] for row in window}), same_process=new_pid == pid)
    report("image store read-only", figures)
    assert state == "active"
    assert figures["first_ack_after"] is not None and figures["first_ack_after"] <= BACK_WITHIN, figures
