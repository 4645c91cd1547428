#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pq_dicom_ingest
short_description: Sustained DICOM ingest load test for performance qualification
version_added: "0.1.0"
description:
  - Opens O(associations) parallel DICOM associations to the archive and stores synthetic CT instances
    through each for O(duration) seconds, timing every C-STORE.
  - Meanwhile runs a study-level C-FIND every O(find_interval) seconds and samples CPU, memory and free
    disk space on O(storage_path) every second.
  - Afterwards lists the test series by C-FIND at image level and accounts for every acknowledged instance.
  - Returns four results (ingest, find, resources, integrity) with expected, actual and evidence, the
    metrics and per-second series for charts. Missed thresholds are results, not module failures.
  - The only thing written is the test data in the archive (patient O(patient_id)).
requirements:
  - pynetdicom (Debian python3-pynetdicom)
  - pydicom (Debian python3-pydicom)
options:
  host:
    description: Address of the archive.
    type: str
    default: 127.0.0.1
  port:
    description: DICOM port of the archive.
    type: int
    default: 4242
  called_aet:
    description: AE title of the archive.
    type: str
    required: true
  calling_aet:
    description: AE title of the load client; the archive must know it for C-FIND.
    type: str
    required: true
  associations:
    description: Number of parallel storing associations.
    type: int
    default: 4
  duration:
    description: Seconds of sustained ingest.
    type: int
    default: 30
  rows:
    description: Rows of each synthetic 16-bit CT image.
    type: int
    default: 256
  columns:
    description: Columns of each synthetic 16-bit CT image.
    type: int
    default: 256
  find_interval:
    description: Seconds between C-FIND probes during the ingest.
    type: float
    default: 2.0
  storage_path:
    description: Path on the archive's storage file system whose free space is sampled.
    type: path
    default: /var/lib/orthanc
  min_instances_per_s:
    description: Lowest acceptable throughput.
    type: float
    default: 5.0
  p95_store_ms:
    description: Highest acceptable 95th percentile C-STORE latency in milliseconds.
    type: float
    default: 500.0
  max_find_ms:
    description: Highest acceptable 95th percentile C-FIND latency in milliseconds.
    type: float
    default: 1000.0
  min_disk_free_percent:
    description: Lowest acceptable free space on O(storage_path) during the run.
    type: float
    default: 20.0
  patient_id:
    description: Patient ID of the test data; default C(PQ-<UTC timestamp>).
    type: str
  tls:
    description: Use DICOM TLS (the archive's TLS port); the client presents O(cert_file) and O(key_file).
    type: bool
    default: false
  ca_file:
    description: CA bundle that verifies the archive's certificate.
    type: path
  cert_file:
    description: Client certificate presented over DICOM TLS.
    type: path
  key_file:
    description: Private key of O(cert_file).
    type: path
  server_hostname:
    description: Name the archive's certificate must carry; default O(host).
    type: str
  acse_timeout:
    description: Association timeout in seconds.
    type: float
    default: 30.0
  dimse_timeout:
    description: DIMSE timeout in seconds.
    type: float
    default: 30.0
  network_timeout:
    description: Network timeout in seconds.
    type: float
    default: 30.0
author:
  - hospital.imaging contributors (@hospital-imaging)
attributes:
  check_mode:
    support: partial
    description: In check mode the module validates its arguments and returns without running the load test.
    details: No association is opened and nothing is stored; the results are absent.
  diff_mode:
    support: none
    description: Nothing on the host is changed, so there is nothing to compare.
"""

EXAMPLES = r"""
- name: Ingest CT instances over 4 associations for 60 seconds
  hospital.imaging.pq_dicom_ingest:
    called_aet: SANDBOXPACS
    calling_aet: VALIDATION
    associations: 4
    duration: 60
    p95_store_ms: 500
  register: validation_pq
"""

RETURN = r"""
ingest:
  description: Throughput, p95 C-STORE latency and failures against the thresholds (status, expected, actual, message, evidence).
  returned: success
  type: dict
  sample: {"status": "pass", "actual": {"instances_per_s": 41.2, "p95_store_ms": 180.3, "failures": 0}}
find:
  description: C-FIND latency during the ingest.
  returned: success
  type: dict
  sample: {"status": "pass", "actual": {"p95_find_ms": 35.1, "finds": 15, "failures": 0}}
resources:
  description: CPU, memory and disk-free samples against the disk threshold.
  returned: success
  type: dict
  sample: {"status": "pass", "actual": {"disk_free_percent_min": 61.2}}
integrity:
  description: Acknowledged instances against those found afterwards.
  returned: success
  type: dict
  sample: {"status": "pass", "actual": {"found": 1236, "missing": 0}}
metrics:
  description: Summary figures of the run.
  returned: success
  type: dict
  sample: {"instances_per_s": 41.2, "store_ms_p95": 180.3, "find_ms_p95": 35.1}
series:
  description: Per-second series (throughput, store_latency_ms, find_latency_ms, cpu_percent, mem_used_percent, disk_free_percent) as [t, value] pairs.
  returned: success
  type: dict
  sample: {"throughput": [[0, 40], [1, 42]]}
thresholds:
  description: The thresholds the run was judged against.
  returned: success
  type: dict
  sample: {"p95_store_ms": 500, "min_instances_per_s": 5}
"""

import os
import ssl
import threading
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.hospital.imaging.plugins.module_utils import validation_pq as pq

try:
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ImplicitVRLittleEndian, generate_uid
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage, StudyRootQueryRetrieveInformationModelFind
    HAS_PYNETDICOM = True
    IMPORT_ERROR = None
except ImportError:
    HAS_PYNETDICOM = False
    IMPORT_ERROR = traceback.format_exc()

PENDING = (0xFF00, 0xFF01)


class IngestRun(object):
    def __init__(self, params):
        self.p = params
        self.patient_id = params["patient_id"] or time.strftime("PQ-%Y%m%dT%H%M%SZ", time.gmtime())
        self.study_uid = generate_uid()
        self.series = [generate_uid() for _i in range(params["associations"])]
        self.pixels = os.urandom(params["rows"] * params["columns"] * 2)
        self.stores, self.finds, self.samples = [], [], []
        self.acked = {}
        self.association_errors = []
        self.established = 0
        self.lock = threading.Lock()
        self.t0 = None
        self.deadline = None

    def _ae(self, context):
        ae = AE(ae_title=self.p["calling_aet"])
        ae.add_requested_context(context, ImplicitVRLittleEndian)
        ae.acse_timeout = self.p["acse_timeout"]
        ae.dimse_timeout = self.p["dimse_timeout"]
        ae.network_timeout = self.p["network_timeout"]
        return ae

    def _tls_args(self):
        if not self.p["tls"]:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.p["ca_file"])
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.p["cert_file"]:
            ctx.load_cert_chain(self.p["cert_file"], self.p["key_file"])
        return (ctx, self.p["server_hostname"] or self.p["host"])

    def _associate(self, context):
        ae = self._ae(context)
        tls_args = self._tls_args()
        if tls_args:
            return ae.associate(self.p["host"], self.p["port"], ae_title=self.p["called_aet"], tls_args=tls_args)
        return ae.associate(self.p["host"], self.p["port"], ae_title=self.p["called_aet"])

    def dataset(self, series_uid, number):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        if int(pydicom.__version__.split(".")[0]) < 3:
            ds.is_little_endian = True
            ds.is_implicit_VR = True
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.PatientID = self.patient_id
        ds.PatientName = "PQ^Load^Test"
        ds.StudyInstanceUID = self.study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "PQ"
        ds.StudyDate = time.strftime("%Y%m%d", time.gmtime())
        ds.Modality = "CT"
        ds.SeriesNumber = 1
        ds.InstanceNumber = number
        ds.Rows = self.p["rows"]
        ds.Columns = self.p["columns"]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.PixelData = self.pixels
        return ds

    def storer(self, index):
        series_uid = self.series[index]
        try:
            assoc = self._associate(CTImageStorage)
        except Exception as exc:  # socket errors surface here on some pynetdicom versions
            self.association_errors.append("association %d: %s" % (index, exc))
            return
        if not assoc.is_established:
            self.association_errors.append("association %d %s" % (
                index, "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "not established"))
            return
        with self.lock:
            self.established += 1
        number = 0
        try:
            while time.time() < self.deadline:
                number += 1
                ds = self.dataset(series_uid, number)
                start = time.time()
                try:
                    status = assoc.send_c_store(ds)
                except Exception as exc:
                    self.stores.append((start - self.t0, (time.time() - start) * 1000.0, False, str(exc)))
                    break
                elapsed = (time.time() - start) * 1000.0
                code = getattr(status, "Status", None) if status else None
                ok = code == 0x0000
                self.stores.append((start - self.t0, elapsed, ok, "0x%04X" % code if code is not None else "no response"))
                if ok:
                    self.acked[ds.SOPInstanceUID] = series_uid
                if not assoc.is_established:
                    break
        finally:
            if assoc.is_established:
                assoc.release()

    def finder(self):
        try:
            assoc = self._associate(StudyRootQueryRetrieveInformationModelFind)
        except Exception as exc:
            self.finds.append((0.0, 0.0, False, str(exc)))
            return
        if not assoc.is_established:
            self.finds.append((0.0, 0.0, False, "C-FIND association not established"))
            return
        try:
            while time.time() < self.deadline:
                query = Dataset()
                query.QueryRetrieveLevel = "STUDY"
                query.PatientID = self.patient_id
                query.StudyInstanceUID = ""
                query.NumberOfStudyRelatedInstances = ""
                start = time.time()
                ok, note = False, "no final status"
                for status, _identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
                    code = getattr(status, "Status", None) if status else None
                    if code in PENDING:
                        continue
                    ok, note = code == 0x0000, "0x%04X" % code if code is not None else "no response"
                self.finds.append((start - self.t0, (time.time() - start) * 1000.0, ok, note))
                time.sleep(self.p["find_interval"])
        finally:
            if assoc.is_established:
                assoc.release()

    def sampler(self):
        before = pq.read_cpu_times()
        while time.time() < self.deadline:
            time.sleep(1.0)
            after = pq.read_cpu_times()
            sample = {"t": round(time.time() - self.t0, 1), "cpu": pq.cpu_busy_percent(before, after),
                      "mem": pq.read_mem_used_percent()}
            try:
                sample["disk"] = pq.disk_free_percent(self.p["storage_path"])
            except OSError:
                sample["disk"] = None
            self.samples.append(sample)
            before = after

    def account(self):
        found = set()
        assoc = self._associate(StudyRootQueryRetrieveInformationModelFind)
        if not assoc.is_established:
            return found, "C-FIND association not established"
        try:
            for series_uid in self.series:
                query = Dataset()
                query.QueryRetrieveLevel = "IMAGE"
                query.PatientID = self.patient_id
                query.StudyInstanceUID = self.study_uid
                query.SeriesInstanceUID = series_uid
                query.SOPInstanceUID = ""
                for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
                    code = getattr(status, "Status", None) if status else None
                    if code in PENDING and identifier is not None and "SOPInstanceUID" in identifier:
                        found.add(str(identifier.SOPInstanceUID))
                    elif code not in PENDING and code != 0x0000:
                        return found, "C-FIND at image level answered %s" % (
                            "0x%04X" % code if code is not None else "nothing")
        finally:
            if assoc.is_established:
                assoc.release()
        return found, None

    def run(self):
        self.t0 = time.time()
        self.deadline = self.t0 + self.p["duration"]
        threads = [threading.Thread(target=self.storer, args=(i,)) for i in range(self.p["associations"])]
        threads.append(threading.Thread(target=self.finder))
        threads.append(threading.Thread(target=self.sampler))
        for thread in threads:
            thread.daemon = True
            thread.start()
        for thread in threads:
            thread.join(self.p["duration"] + self.p["dimse_timeout"] + self.p["acse_timeout"] + 30)
        duration = time.time() - self.t0
        found, verify_error = set(), None
        try:
            found, verify_error = self.account()
        except Exception as exc:
            verify_error = str(exc)
        missing = sorted(set(self.acked) - found)
        raw = {
            "duration_s": min(duration, float(self.p["duration"])) if self.stores else duration,
            "associations_requested": self.p["associations"], "associations_established": self.established,
            "association_errors": self.association_errors,
            "stores": [(round(t, 3), round(ms, 2), ok) for t, ms, ok, _n in self.stores],
            "finds": [(round(t, 2), round(ms, 2), ok) for t, ms, ok, _n in self.finds],
            "samples": self.samples, "acknowledged": len(self.acked), "found": len(found & set(self.acked)),
            "missing": missing, "verify_error": verify_error, "patient_id": self.patient_id, "study_uid": self.study_uid,
        }
        out = pq.evaluate(raw, {"min_instances_per_s": self.p["min_instances_per_s"], "p95_store_ms": self.p["p95_store_ms"],
                                "max_find_ms": self.p["max_find_ms"],
                                "min_disk_free_percent": self.p["min_disk_free_percent"]})
        out["ingest"]["evidence"]["store_failure_codes"] = sorted(set(n for _t, _m, ok, n in self.stores if not ok))[:20]
        out["find"]["evidence"]["find_failure_notes"] = sorted(set(n for _t, _m, ok, n in self.finds if not ok))[:20]
        return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", default="127.0.0.1"),
            port=dict(type="int", default=4242),
            called_aet=dict(type="str", required=True),
            calling_aet=dict(type="str", required=True),
            associations=dict(type="int", default=4),
            duration=dict(type="int", default=30),
            rows=dict(type="int", default=256),
            columns=dict(type="int", default=256),
            find_interval=dict(type="float", default=2.0),
            storage_path=dict(type="path", default="/var/lib/orthanc"),
            min_instances_per_s=dict(type="float", default=5.0),
            p95_store_ms=dict(type="float", default=500.0),
            max_find_ms=dict(type="float", default=1000.0),
            min_disk_free_percent=dict(type="float", default=20.0),
            patient_id=dict(type="str"),
            tls=dict(type="bool", default=False),
            ca_file=dict(type="path"),
            cert_file=dict(type="path"),
            key_file=dict(type="path", no_log=False),
            server_hostname=dict(type="str"),
            acse_timeout=dict(type="float", default=30.0),
            dimse_timeout=dict(type="float", default=30.0),
            network_timeout=dict(type="float", default=30.0),
        ),
        supports_check_mode=True,
        required_together=[("cert_file", "key_file")],
    )
    if not HAS_PYNETDICOM:
        module.fail_json(msg=missing_required_lib("pynetdicom and pydicom"), exception=IMPORT_ERROR)
    p = module.params
    for key in ("called_aet", "calling_aet"):
        if not 0 < len(p[key].strip()) <= 16 or "\\" in p[key]:
            module.fail_json(msg="%s must be 1-16 characters without backslash" % key)
    if p["associations"] < 1 or p["duration"] < 1 or p["rows"] < 1 or p["columns"] < 1:
        module.fail_json(msg="associations, duration, rows and columns must be positive")
    thresholds = dict((k, p[k]) for k in ("min_instances_per_s", "p95_store_ms", "max_find_ms", "min_disk_free_percent"))
    if module.check_mode:
        module.exit_json(changed=False, skipped=True, msg="a load test does not run in check mode", thresholds=thresholds)
    out = IngestRun(p).run()
    module.exit_json(changed=False, thresholds=thresholds, **out)


if __name__ == "__main__":
    main()
