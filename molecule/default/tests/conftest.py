"""Shared fixtures of the full-stack tests (the tier scenarios run the same modules).

Testinfra reaches the containers directly (``docker://``): the sandbox inventory templates its
host's container name, which testinfra's Ansible backend does not do. Values that only Ansible
can produce (vault secrets, templated inventory variables) are read through ``ansible``'s own
templating on the controller, with the scenario's inventory and vault password.
"""

import base64
import functools
import hashlib
import io
import json
import os
import subprocess

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))
# The whole inventory directory (molecule's generated file plus the scenario's linked hosts,
# group_vars and host_vars), the same one the converge used.
INVENTORY = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]) if os.environ.get("MOLECULE_INVENTORY_FILE") else ""
SANDBOX_CONTAINER = os.environ.get("IMAGING_SANDBOX_CONTAINER", "molecule-imaging-sandbox")
# The distribution of this pass of the scenario (it runs on Debian 12 and then Debian 13).
DISTRO = os.environ.get("MOLECULE_DISTRO", "bookworm")
_PASS_NAMES = {"bookworm": "Debian 12", "trixie": "Debian 13"}


def runs_in_pass(distro):
    """The mark of a slow test that runs in one distribution's pass of the scenario only: the two passes share
    the slow tests out between them, to keep CI in its budget."""
    return pytest.mark.skipif(DISTRO != distro, reason="runs in the %s pass of the default scenario" % _PASS_NAMES[distro])


def ansible_env():
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    env.setdefault("ANSIBLE_CONFIG", os.path.join(PROJECT, "ansible.cfg"))
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(PROJECT, ".collections"))
    return env


@functools.lru_cache(maxsize=None)
def inventory_runner():
    """One reading of the scenario's inventory (ansible-inventory runs once per session)."""
    return AnsibleRunner(INVENTORY)


def container_of(name):
    """The container behind an inventory host (a templated ansible_host is the sandbox's)."""
    container = str(inventory_runner().get_variables(name).get("ansible_host", name))
    return SANDBOX_CONTAINER if "{{" in container else container


def stack_host(name):
    return testinfra.get_host("docker://" + container_of(name))


def inventory_name_of(host):
    """Inventory name of a testinfra host reached through docker://<container>."""
    container = getattr(host.backend, "name", None) or host.backend.host
    hostvars = inventory_runner().inventory["_meta"]["hostvars"]
    for name in hostvars:
        if container_of(name) == container:
            return name
    return container


# What every playbook the tests ran printed, by playbook (test_validation.py looks for secrets in all of it).
PLAYBOOK_OUTPUTS = []


def run_playbook(playbook, *extra, timeout=1800):
    """ansible-playbook with the scenario's inventory; ``playbook`` relative to the project."""
    cmd = ["ansible-playbook", "-i", INVENTORY, os.path.join(PROJECT, playbook), *extra]
    proc = subprocess.run(cmd, cwd=PROJECT, env=ansible_env(), capture_output=True, text=True, timeout=timeout, check=False)
    PLAYBOOK_OUTPUTS.append((playbook, proc.stdout + proc.stderr))
    return proc


_VARS_CACHE = {}


def inventory_vars(host_name, *names):
    """Templated values of inventory variables (or expressions) for one host, as the roles see them."""
    missing = [n for n in names if (host_name, n) not in _VARS_CACHE]
    if missing:
        expression = "{{ {" + ", ".join(f"{n!r}: {n}" for n in missing) + "} | to_json }}"
        # only the json callback on stdout: a callback enabled in the caller's environment (profile_tasks) prints too
        env = dict(ansible_env(), ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
        env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
        out = subprocess.run(
            ["ansible", host_name, "-i", INVENTORY, "-m", "ansible.builtin.debug", "-a", f"msg={expression}"],
            cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300, check=True,
        )
        result = json.loads(out.stdout)["plays"][0]["tasks"][0]["hosts"][host_name]
        values = result["msg"]
        if isinstance(values, str):
            values = json.loads(values)
        for name in missing:
            _VARS_CACHE[(host_name, name)] = values[name]
    return [_VARS_CACHE[(host_name, n)] for n in names]


def orthanc_record(host):
    """The orthanc role's record on a host (its listeners, services, AE title, modalities)."""
    return json.loads(host.file("/etc/ansible/facts.d/imaging_orthanc.fact").content_string)


def strip_json_comments(text):
    """Orthanc's configuration files without their // comment lines (JSON again)."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def orthanc_config(host, directory="/etc/orthanc"):
    """One Orthanc process's orthanc.json."""
    return json.loads(strip_json_comments(host.file(f"{directory}/orthanc.json").content_string))


def dicom_listeners(host):
    return [item for item in orthanc_record(host)["listeners"] if item["protocol"] == "dicom"]


def printed_commands():
    """What `scripts/sandbox status` prints for this scenario's stack, and the storescu commands in it."""
    env = dict(ansible_env(), SANDBOX_CONTAINER=SANDBOX_CONTAINER)
    out = subprocess.run([os.path.join(PROJECT, "scripts", "sandbox"), "status"], cwd=PROJECT, env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return out, [line.split("send a study:", 1)[1].strip() for line in out.splitlines() if "send a study:" in line]


def ct_instance(patient_name, patient_id, study_uid=None, series_uid=None, pixels=None):
    """A synthetic 64x64 16-bit CT instance as DICOM Part-10 bytes, and its data set.

    A new study and series unless given; ``pixels`` (8192 bytes) instead of a black image.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.Modality = "CT"
    ds.StudyDate = "20260101"
    ds.AccessionNumber = patient_id[:16]
    ds.Rows = ds.Columns = 64
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = pixels if pixels is not None else bytes(64 * 64 * 2)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue(), ds


def dataset_sha256(part10):
    """SHA-256 of a Part-10 file's data set, its file meta information left out.

    The archive writes its own meta group (its implementation, the sender's AE title) in front of
    what it received; the data set is what the modality sent.
    """
    from pydicom.filereader import _read_file_meta_info, read_preamble

    stream = io.BytesIO(part10)
    read_preamble(stream, False)
    _read_file_meta_info(stream)
    return hashlib.sha256(part10[stream.tell():]).hexdigest()


def put_file(host, path, data, chunk=96 * 1024):
    """Write ``data`` to ``path`` on the host, through the command line in pieces (argv has a size limit)."""
    encoded = base64.b64encode(data).decode()
    host.check_output(f": > {path}.b64")
    for start in range(0, len(encoded), chunk):
        host.check_output(f"printf %s {encoded[start:start + chunk]} >> {path}.b64")
    host.check_output(f"base64 -d {path}.b64 > {path} && rm -f {path}.b64")


@pytest.fixture(scope="module")
def host():
    """The all-in-one stack host."""
    return testinfra.get_host("docker://" + SANDBOX_CONTAINER)


CURL_CONFIG = "/root/.imaging-tests.curl"


@pytest.fixture(scope="module")
def orthanc_api(host):
    """A curl command line for the Orthanc REST API on loopback, and the main process's HTTP port.

    The credentials stay in a curl configuration file on the stack host (mode 0600), out of every command
    line a failing assertion prints. Transient answers (a process whose first index call after an index
    restart fails and reconnects answers 503 once) are retried.
    """
    users = json.loads(strip_json_comments(host.file("/etc/orthanc/credentials.json").content_string))["RegisteredUsers"]
    name = "admin" if "admin" in users else sorted(users)[0]
    host.check_output(f"umask 077 && : > {CURL_CONFIG}")
    put_file(host, CURL_CONFIG, ("user = %s\n" % json.dumps(f"{name}:{users[name]}")).encode())
    yield f"curl -sf --retry 10 --retry-delay 1 -K {CURL_CONFIG}", orthanc_config(host)["HttpPort"]
    host.run(f"rm -f {CURL_CONFIG}")


@pytest.fixture(scope="module")
def pg_version(host):
    """The PostgreSQL major version the postgresql role recorded."""
    fact = json.loads(host.file("/etc/ansible/facts.d/imaging_postgresql.fact").content_string)
    return fact["version"]


@pytest.fixture(scope="module")
def secret(host):
    """Read a vault_* value the way the roles see it (templated by Ansible on the controller)."""
    name = inventory_name_of(host)

    def read(variable):
        return inventory_vars(name, variable)[0]

    return read


def pytest_configure(config):
    config.addinivalue_line("markers", "disruptive: takes a service down on purpose (runs after the other tiers' tests)")


def _stage(item):
    """0: the tiers' tests; 1: the disruptive ones (destroy and restore a database, kill daemons, ...);
    2: validation, which qualifies the system the drills left behind."""
    if item.module.__name__ == "test_validation":
        return 2
    return 1 if item.get_closest_marker("disruptive") is not None else 0


def pytest_collection_modifyitems(items):
    """The tiers' tests, then the disruptive ones, then validation's, each in their file order."""
    items.sort(key=_stage)
