"""dicom_echo/store/find/move driven through main() against real in-process pynetdicom SCPs."""

import socket
import ssl
import threading
import time

import pytest

pynetdicom = pytest.importorskip('pynetdicom')
pytest.importorskip('pydicom')

from pydicom.dataset import Dataset  # noqa: E402
from pynetdicom import AE, evt  # noqa: E402

from ansible_collections.hospital.imaging.plugins.modules import (  # noqa: E402
    dicom_echo,
    dicom_find,
    dicom_move,
    dicom_store,
)
from ansible_collections.hospital.imaging.plugins.module_utils import dicom_net  # noqa: E402

from conftest import free_port  # noqa: E402

SCP_AET = 'TEST_ARCHIVE'
KNOWN = 'KNOWN_SCU'
STORE_DEST = 'STORE_DEST'
FIND_MODEL = dicom_net.QUERY_MODELS['find']['study']
MOVE_MODEL = dicom_net.QUERY_MODELS['move']['study']


class Archive(object):
    """A small but real DICOM archive: Verification, Storage, Study Root C-FIND and C-MOVE SCP."""

    def __init__(self, ssl_context=None, require_calling=(KNOWN,)):
        self.port = free_port()
        self.stored = []
        self.destinations = {}
        self.ae = AE(ae_title=SCP_AET)
        self.ae.add_supported_context(dicom_net.VERIFICATION)
        self.ae.add_supported_context(dicom_net.SECONDARY_CAPTURE)
        self.ae.add_supported_context(FIND_MODEL)
        self.ae.add_supported_context(MOVE_MODEL)
        self.ae.add_requested_context(dicom_net.SECONDARY_CAPTURE)  # for the C-MOVE sub-associations
        self.ae.require_calling_aet = list(require_calling)
        self.ae.require_called_aet = True
        handlers = [(evt.EVT_C_STORE, self.on_store), (evt.EVT_C_FIND, self.on_find), (evt.EVT_C_MOVE, self.on_move)]
        self.server = self.ae.start_server(('127.0.0.1', self.port), block=False, evt_handlers=handlers,
                                           ssl_context=ssl_context)

    def on_store(self, event):
        ds = event.dataset
        ds.file_meta = event.file_meta
        self.stored.append(ds)
        return 0x0000

    def matching(self, identifier):
        for ds in self.stored:
            ok = True
            for key in ('PatientID', 'StudyInstanceUID'):
                wanted = identifier.get(key, '')
                if wanted and str(ds.get(key, '')) != str(wanted):
                    ok = False
            if ok:
                yield ds

    def on_find(self, event):
        identifier = event.identifier
        seen = set()
        for ds in self.matching(identifier):
            if ds.StudyInstanceUID in seen:
                continue
            seen.add(ds.StudyInstanceUID)
            answer = Dataset()
            answer.QueryRetrieveLevel = 'STUDY'
            answer.PatientID = ds.PatientID
            answer.StudyInstanceUID = ds.StudyInstanceUID
            yield 0xFF00, answer
        yield 0x0000, None

    def on_move(self, event):
        destination = event.move_destination
        if isinstance(destination, bytes):
            destination = destination.decode()
        destination = destination.strip()
        if destination not in self.destinations:
            yield None, None
            return
        yield ('127.0.0.1', self.destinations[destination])
        matches = list(self.matching(event.identifier))
        yield len(matches)
        for ds in matches:
            yield 0xFF00, ds

    def stop(self):
        self.server.shutdown()


class StorageDestination(object):
    """The C-MOVE destination: a storage SCP that keeps what it receives."""

    def __init__(self):
        self.port = free_port()
        self.received = []
        self.ae = AE(ae_title=STORE_DEST)
        self.ae.add_supported_context(dicom_net.SECONDARY_CAPTURE, [dicom_net.EXPLICIT_VR_LE, dicom_net.IMPLICIT_VR_LE])
        self.server = self.ae.start_server(('127.0.0.1', self.port), block=False,
                                           evt_handlers=[(evt.EVT_C_STORE, self.on_store)])

    def on_store(self, event):
        self.received.append(str(event.dataset.SOPInstanceUID))
        return 0x0000

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def archive():
    scp = Archive()
    yield scp
    scp.stop()


def server_tls_context(pki, require_client_cert):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki['server_cert'], pki['server_key'])
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=pki['ca'])
    return context


def base_args(port, calling=KNOWN, **extra):
    args = dict(calling_aet=calling, called_aet=SCP_AET, host='127.0.0.1', port=port, acse_timeout=5,
                dimse_timeout=5, network_timeout=5, connection_timeout=3)
    args.update(extra)
    return args


def test_echo_accepted(run_module, archive):
    result = run_module(dicom_echo, base_args(archive.port))
    assert result.rc == 0
    assert result['changed'] is False
    assert result['success'] is True
    assert result['association']['result'] == 'accepted'
    assert result['association']['established'] is True
    assert result['association']['accepted_contexts'] == [dicom_net.VERIFICATION]
    assert result['status'] == dict(code=0, code_hex='0x0000', category='Success', error_comment=None)
    durations = result['durations']
    assert 0 < durations['association'] <= durations['total']
    assert durations['operation'] is not None and durations['release'] is not None


def test_echo_unknown_calling_aet_rejected_without_failing(run_module, archive):
    result = run_module(dicom_echo, base_args(archive.port, calling='STRANGER'))
    assert result.rc == 0 and not result.failed
    assert result['changed'] is False
    assert result['success'] is False
    assoc = result['association']
    assert assoc['established'] is False
    assert assoc['result'] == 'rejected-permanent'
    assert (assoc['result_code'], assoc['source_code'], assoc['reason_code']) == (1, 1, 3)
    assert assoc['source'] == 'service-user'
    assert assoc['reason'] == 'calling-AE-title-not-recognized'
    assert result['status']['code'] is None
    assert 'rejected-permanent' in result['msg']


def test_echo_wrong_called_aet_rejected(run_module, archive):
    result = run_module(dicom_echo, dict(base_args(archive.port), called_aet='NOT_THE_SCP'))
    assert result['association']['reason'] == 'called-AE-title-not-recognized'
    assert result['association']['reason_code'] == 7


def test_echo_no_accepted_context(run_module):
    scp = StorageDestination()  # supports Secondary Capture storage only, no Verification
    try:
        result = run_module(dicom_echo, dict(base_args(scp.port), called_aet=STORE_DEST))
    finally:
        scp.stop()
    assert result['success'] is False
    assert result['association']['result'] == 'no-accepted-context'
    assert result['association']['rejected_contexts'] == [dicom_net.VERIFICATION]


def test_echo_connection_refused(run_module):
    result = run_module(dicom_echo, base_args(free_port()))
    assert result.rc == 0 and result['success'] is False
    assert result['association']['result'] == 'connection-failed'
    assert 'refused' in result['association']['error'].lower()


def test_echo_timeout_when_peer_never_answers(run_module):
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    accepted = []

    def accept():
        conn, _addr = listener.accept()
        accepted.append(conn)

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        begun = time.monotonic()
        result = run_module(dicom_echo, base_args(listener.getsockname()[1], acse_timeout=1.5))
        elapsed = time.monotonic() - begun
    finally:
        thread.join(5)
        for conn in accepted:
            conn.close()
        listener.close()
    assert result.rc == 0 and result['success'] is False
    assert result['association']['result'] == 'timeout'
    assert 'acse_timeout' in result['association']['error']
    assert 1.4 <= elapsed < 10


@pytest.mark.parametrize('require_client_cert', [False, True])
def test_echo_tls_accepted(run_module, pki, require_client_cert):
    scp = Archive(ssl_context=server_tls_context(pki, require_client_cert))
    try:
        args = base_args(scp.port, tls=True, ca_file=pki['ca'], server_hostname='localhost')
        if require_client_cert:
            args.update(cert_file=pki['client_cert'], key_file=pki['client_key'])
        result = run_module(dicom_echo, args)
    finally:
        scp.stop()
    assert result['success'] is True, result
    assert result['association']['tls'] is True


def test_echo_tls_untrusted_server(run_module, pki):
    scp = Archive(ssl_context=server_tls_context(pki, False))
    try:
        result = run_module(dicom_echo, base_args(scp.port, tls=True, ca_file=pki['other_ca']))
    finally:
        scp.stop()
    assert result.rc == 0 and result['success'] is False
    assert result['association']['result'] == 'connection-failed'
    assert 'CERTIFICATE_VERIFY_FAILED' in result['association']['error']


def test_echo_tls_client_certificate_missing(run_module, pki):
    scp = Archive(ssl_context=server_tls_context(pki, True))
    try:
        result = run_module(dicom_echo, base_args(scp.port, tls=True, ca_file=pki['ca']))
    finally:
        scp.stop()
    assert result.rc == 0 and result['success'] is False
    assert result['association']['established'] is False
    assert result['association']['result'] in ('connection-failed', 'aborted')


def test_echo_plain_client_against_tls_server(run_module, pki):
    scp = Archive(ssl_context=server_tls_context(pki, False))
    try:
        result = run_module(dicom_echo, base_args(scp.port, acse_timeout=2))
    finally:
        scp.stop()
    assert result['success'] is False
    assert result['association']['established'] is False


@pytest.mark.parametrize('args, message', [
    (dict(calling_aet='BAD\\AET'), 'calling_aet'),
    (dict(calling_aet='A' * 17), 'is 17 characters long'),
    (dict(called_aet='   '), 'contains only spaces'),
    (dict(port=0), 'out of range'),
    (dict(port=70000), 'out of range'),
    (dict(acse_timeout=0), 'acse_timeout must be a positive'),
    (dict(ca_file='/etc/hostname'), 'tls is false'),
    (dict(tls=True, cert_file='/etc/hostname'), 'together'),
    (dict(tls=True, ca_file='/nonexistent/ca.crt'), 'does not exist'),
])
def test_echo_bad_arguments_fail(run_module, args, message):
    result = run_module(dicom_echo, dict(base_args(104), **args))
    assert result.failed
    assert message in result['msg'], result['msg']


def test_echo_bad_tls_material_fails(run_module, pki):
    result = run_module(dicom_echo, base_args(104, tls=True, ca_file=pki['ca'], cert_file=pki['client_cert'],
                                              key_file=pki['server_key']))
    assert result.failed
    assert 'invalid TLS arguments' in result['msg']


def test_store_find_move(run_module, archive):
    stored = run_module(dicom_store, base_args(archive.port, count=3, test_patient_id='UNIT-TEST-PID'))
    assert stored['success'] is True and stored['changed'] is False
    assert (stored['sent'], stored['stored'], stored['stored_with_warning'], stored['not_stored']) == (3, 3, 0, 0)
    assert len(archive.stored) == 3
    assert set(str(ds.PatientID) for ds in archive.stored) == {'UNIT-TEST-PID'}
    assert set(str(ds.StudyInstanceUID) for ds in archive.stored) == {stored['study_instance_uid']}
    assert sorted(i['sop_instance_uid'] for i in stored['instances']) == sorted(
        str(ds.SOPInstanceUID) for ds in archive.stored)
    assert all(i['category'] == 'Success' for i in stored['instances'])

    found = run_module(dicom_find, base_args(archive.port, identifier={'PatientID': 'UNIT-TEST-PID'},
                                             return_keys=['StudyInstanceUID']))
    assert found['success'] is True
    assert found['matches'] == 1
    assert found['results'] == [{'PatientID': 'UNIT-TEST-PID', 'StudyInstanceUID': stored['study_instance_uid']}]

    nothing = run_module(dicom_find, base_args(archive.port, identifier={'PatientID': 'NO-SUCH-PATIENT'}))
    assert nothing['success'] is True and nothing['matches'] == 0

    destination = StorageDestination()
    archive.destinations[STORE_DEST] = destination.port
    try:
        moved = run_module(dicom_move, base_args(archive.port, move_destination=STORE_DEST,
                                                 identifier={'StudyInstanceUID': stored['study_instance_uid']}))
    finally:
        destination.stop()
    assert moved['success'] is True, moved
    assert moved['suboperations']['completed'] == 3
    assert moved['suboperations']['failed'] == 0
    assert sorted(destination.received) == sorted(i['sop_instance_uid'] for i in stored['instances'])

    unknown = run_module(dicom_move, base_args(archive.port, move_destination='UNKNOWN_DEST',
                                               identifier={'StudyInstanceUID': stored['study_instance_uid']}))
    assert unknown.rc == 0 and unknown['success'] is False
    assert unknown['association']['established'] is True
    assert unknown['status']['code'] == 0xA801
    assert unknown['status']['category'] == 'Failure'


def test_store_rejected_for_unknown_aet(run_module, archive):
    result = run_module(dicom_store, base_args(archive.port, calling='STRANGER'))
    assert result.rc == 0 and result['success'] is False
    assert result['association']['reason'] == 'calling-AE-title-not-recognized'
    assert (result['sent'], result['stored'], result['not_stored']) == (0, 0, 1)
    assert archive.stored == []


@pytest.mark.parametrize('module, args, message', [
    (dicom_store, dict(count=0), 'count 0 is out of range'),
    (dicom_store, dict(test_patient_id=''), 'test_patient_id'),
    (dicom_store, dict(test_patient_id='A\\B'), 'test_patient_id'),
    (dicom_find, dict(identifier={'NotAKeyword': 'x'}), 'not a DICOM keyword'),
    (dicom_find, dict(max_results=-1), 'max_results'),
    (dicom_move, dict(move_destination='BAD\\DEST', identifier={'PatientID': 'x'}), 'move_destination'),
    (dicom_move, dict(move_destination='DEST', identifier={}), 'identifier must name'),
])
def test_bad_arguments_fail(run_module, module, args, message):
    result = run_module(module, dict(base_args(104), **args))
    assert result.failed
    assert message in result['msg'], result['msg']
