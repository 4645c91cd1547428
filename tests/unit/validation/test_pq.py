"""PQ: the pure evaluation (parametrized) and the ingest module against a real in-process DICOM SCP."""
import threading

import pytest

from ansible_collections.hospital.imaging.plugins.module_utils import validation_pq as pq

THRESHOLDS = {"min_instances_per_s": 5, "p95_store_ms": 500, "max_find_ms": 1000, "min_disk_free_percent": 20}


def raw_run(**over):
    raw = {"duration_s": 10.0, "associations_requested": 2, "associations_established": 2, "association_errors": [],
           "stores": [(i / 10.0, 20.0 + (i % 10), True) for i in range(100)],
           "finds": [(1.0, 15.0, True), (3.0, 25.0, True)],
           "samples": [{"t": float(t), "cpu": 50.0, "mem": 40.0, "disk": 60.0} for t in range(1, 11)],
           "acknowledged": 100, "found": 100, "missing": [], "patient_id": "PQ-1", "study_uid": "1.2.3"}
    raw.update(over)
    return raw


@pytest.mark.parametrize("over,check,status,phrase", [
    ({}, "ingest", "pass", "0 failures"),
    ({"stores": [(0.1, 900.0, True)] * 60}, "ingest", "fail", "above 500 ms"),
    ({"stores": [(0.1, 10.0, True)] * 20}, "ingest", "fail", "below 5"),
    ({"stores": [(0.1, 10.0, True)] * 99 + [(0.2, 10.0, False)]}, "ingest", "fail", "1 C-STORE failure"),
    ({"association_errors": ["association 1 rejected"]}, "ingest", "fail", "not established"),
    ({"finds": []}, "find", "fail", "no C-FIND"),
    ({"finds": [(1.0, 3000.0, True)]}, "find", "fail", "above 1000 ms"),
    ({"finds": [(1.0, 10.0, False)]}, "find", "fail", "C-FIND failure"),
    ({"samples": [{"t": 1.0, "cpu": 90.0, "mem": 50.0, "disk": 12.5}]}, "resources", "fail", "12.5 %"),
    ({"samples": []}, "resources", "fail", "no resource sample"),
    ({"missing": ["1.2.3.4"], "found": 99}, "integrity", "fail", "1 acknowledged instance(s) not found"),
    ({"verify_error": "C-FIND association not established"}, "integrity", "fail", "could not list"),
])
def test_evaluate(over, check, status, phrase):
    out = pq.evaluate(raw_run(**over), THRESHOLDS)
    assert out[check]["status"] == status
    assert phrase in out[check]["message"]


def test_evaluate_good_run_figures_and_series():
    out = pq.evaluate(raw_run(), THRESHOLDS)
    assert all(out[k]["status"] == "pass" for k in ("ingest", "find", "resources", "integrity"))
    assert out["metrics"]["instances_per_s"] == 10.0 and out["metrics"]["store_ms_p95"] == 29.0
    assert out["series"]["throughput"][0] == (0, 10)
    assert out["series"]["disk_free_percent"][0] == (1.0, 60.0)


def test_cpu_and_memory_readers():
    before = pq.read_cpu_times()
    sum(range(200000))
    after = pq.read_cpu_times()
    assert 0.0 <= pq.cpu_busy_percent(before, after) <= 100.0
    assert 0.0 < pq.read_mem_used_percent() < 100.0
    assert 0.0 < pq.disk_free_percent("/") <= 100.0


class Archive(object):
    """A real DICOM SCP (pynetdicom) that stores in memory and answers study/image-level C-FIND."""

    def __init__(self, fail_every=0, forget_every=0):
        from pynetdicom import AE, evt, AllStoragePresentationContexts
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind, Verification
        self.instances = {}
        self.count = 0
        self.lock = threading.Lock()
        self.fail_every, self.forget_every = fail_every, forget_every
        ae = AE(ae_title="TESTPACS")
        ae.supported_contexts = AllStoragePresentationContexts
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        ae.add_supported_context(Verification)
        self.server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[
            (evt.EVT_C_STORE, self.on_store), (evt.EVT_C_FIND, self.on_find)])
        self.port = self.server.server_address[1]

    def on_store(self, event):
        with self.lock:
            self.count += 1
            number = self.count
        if self.fail_every and number % self.fail_every == 0:
            return 0xA700
        ds = event.dataset
        if not (self.forget_every and number % self.forget_every == 0):
            self.instances[str(ds.SOPInstanceUID)] = (str(ds.PatientID), str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID))
        return 0x0000

    def on_find(self, event):
        from pydicom.dataset import Dataset
        query = event.identifier
        rows = list(self.instances.items())
        if query.QueryRetrieveLevel == "STUDY":
            studies = sorted(set(s for _sop, (pid, s, _se) in rows if pid == query.PatientID))
            for study in studies:
                out = Dataset()
                out.QueryRetrieveLevel = "STUDY"
                out.StudyInstanceUID = study
                yield 0xFF00, out
        else:
            for sop, (pid, study, series) in rows:
                if pid == query.PatientID and study == query.StudyInstanceUID and series == query.SeriesInstanceUID:
                    out = Dataset()
                    out.QueryRetrieveLevel = "IMAGE"
                    out.SOPInstanceUID = sop
                    yield 0xFF00, out

    def close(self):
        self.server.shutdown()


def ingest(run_module, port, **over):
    from ansible_collections.hospital.imaging.plugins.modules import pq_dicom_ingest
    args = {"port": port, "called_aet": "TESTPACS", "calling_aet": "LOADCLIENT", "associations": 2, "duration": 2,
            "rows": 16, "columns": 16, "find_interval": 0.5, "storage_path": "/", "min_instances_per_s": 1,
            "min_disk_free_percent": 0}
    args.update(over)
    return run_module(pq_dicom_ingest, args)


def test_ingest_against_a_real_scp_passes_and_accounts_for_every_instance(run_module):
    pytest.importorskip("pynetdicom")
    archive = Archive()
    try:
        res = ingest(run_module, archive.port)
    finally:
        archive.close()
    assert res.rc == 0 and res["changed"] is False
    for key in ("ingest", "find", "resources", "integrity"):
        assert res[key]["status"] == "pass", (key, res[key]["message"])
    metrics = res["metrics"]
    assert metrics["instances_stored"] == len(archive.instances) > 10
    assert metrics["associations_established"] == 2 and metrics["found"] == metrics["acknowledged"]
    assert metrics["finds"] >= 2 and res["series"]["throughput"]


def test_ingest_reports_store_failures_and_lost_instances(run_module):
    pytest.importorskip("pynetdicom")
    archive = Archive(fail_every=7, forget_every=5)
    try:
        res = ingest(run_module, archive.port)
    finally:
        archive.close()
    assert res.rc == 0
    assert res["ingest"]["status"] == "fail" and "C-STORE failure" in res["ingest"]["message"]
    assert "0xA700" in res["ingest"]["evidence"]["store_failure_codes"]
    assert res["integrity"]["status"] == "fail" and res["integrity"]["actual"]["missing"] > 0


def test_ingest_without_a_server_fails_the_checks_not_the_module(run_module):
    pytest.importorskip("pynetdicom")
    import socket
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    res = ingest(run_module, port, duration=1, acse_timeout=2, network_timeout=2)
    assert res.rc == 0
    assert res["ingest"]["status"] == "fail" and "not established" in res["ingest"]["message"]


@pytest.mark.parametrize("over,message", [
    ({"calling_aet": "A" * 17}, "1-16 characters"),
    ({"associations": 0}, "must be positive"),
    ({"cert_file": "/x.crt"}, "parameters are required together"),
])
def test_ingest_bad_arguments_fail(over, message, run_module):
    res = ingest(run_module, 4242, **over)
    assert res.failed and message in res["msg"]
