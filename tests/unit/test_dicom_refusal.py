"""OQ-DICOM-002/003 verdicts from dicom_store attempts against real in-process pynetdicom SCPs, plain and TLS.

Each archive here refuses the calling AE title STRANGER its own way: with A-ASSOCIATE-RJ, or by closing
the connection on the association request (as Orthanc's DCMTK often does over TLS); the verdict comes
from dicom_verdict through the dicom_refusal_row filter, fed the way the validation role feeds it.
"""

import socket
import ssl
import threading

import pytest

pytest.importorskip('pynetdicom')
pytest.importorskip('pydicom')

from pydicom.dataset import Dataset  # noqa: E402
from pynetdicom import AE, evt  # noqa: E402

from ansible_collections.hospital.imaging.plugins.filter.dicom_refusal_row import dicom_refusal_row  # noqa: E402
from ansible_collections.hospital.imaging.plugins.module_utils import dicom_net  # noqa: E402
from ansible_collections.hospital.imaging.plugins.modules import dicom_find, dicom_store  # noqa: E402

from conftest import free_port  # noqa: E402

ARCHIVE = 'ARCHIVE'
DECLARED = 'DECLARED'
STRANGER = 'STRANGER'
FIND_MODEL = dicom_net.QUERY_MODELS['find']['study']


class RefusingArchive(object):
    """Storage and Study Root C-FIND SCP that lets DECLARED in and refuses everyone else.

    refuse='reject': A-ASSOCIATE-RJ (calling AE title not recognised); refuse='close': the connection
    closed on the association request, no PDU sent; refuse='none': everyone is accepted.
    """

    def __init__(self, refuse, ssl_context=None):
        self.port = free_port()
        self.refuse = refuse
        self.stored = []
        self.ae = AE(ae_title=ARCHIVE)
        self.ae.add_supported_context(dicom_net.SECONDARY_CAPTURE)
        self.ae.add_supported_context(FIND_MODEL)
        self.ae.require_called_aet = True
        if refuse == 'reject':
            self.ae.require_calling_aet = [DECLARED]
        handlers = [(evt.EVT_C_STORE, self.on_store), (evt.EVT_C_FIND, self.on_find)]
        if refuse == 'close':
            handlers.append((evt.EVT_REQUESTED, self.on_requested))
        self.server = self.ae.start_server(('127.0.0.1', self.port), block=False, evt_handlers=handlers,
                                           ssl_context=ssl_context)

    def on_requested(self, event):
        if str(event.assoc.requestor.primitive.calling_ae_title).strip() != DECLARED:
            sock = event.assoc.dul.socket.socket
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def on_store(self, event):
        self.stored.append(str(event.dataset.StudyInstanceUID))
        return 0x0000

    def on_find(self, event):
        wanted = str(event.identifier.get('StudyInstanceUID', ''))
        for study in sorted(set(self.stored)):
            if not wanted or wanted == study:
                answer = Dataset()
                answer.QueryRetrieveLevel = 'STUDY'
                answer.StudyInstanceUID = study
                yield 0xFF00, answer
        yield 0x0000, None

    def stop(self):
        self.server.shutdown()


def server_tls_context(pki):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki['server_cert'], pki['server_key'])
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=pki['ca'])
    return context


def args(port, calling, tls_material=None, client_cert=True, **extra):
    values = dict(calling_aet=calling, called_aet=ARCHIVE, host='127.0.0.1', port=port, acse_timeout=5,
                  dimse_timeout=5, network_timeout=5, connection_timeout=3)
    if tls_material:
        values.update(tls=True, ca_file=tls_material['ca'], server_hostname='localhost')
        if client_cert:
            values.update(cert_file=tls_material['client_cert'], key_file=tls_material['client_key'])
    values.update(extra)
    return values


@pytest.fixture(params=['plain', 'tls'])
def transport(request, pki):
    """(server ssl_context, client TLS material) for plain DICOM and for DICOM TLS with client certificates."""
    if request.param == 'plain':
        return None, None
    return server_tls_context(pki), pki


def attempts(run_module, port, calling, tls_material, count=3, **extra):
    """Run dicom_store as the role does (a loop of attempts) and return the registered loop result."""
    results = []
    for number in range(1, count + 1):
        result = run_module(dicom_store, args(port, calling, tls_material, **extra))
        assert result.rc == 0 and not result.failed, result
        results.append(dict(result.data, item=number))
    return {'results': results, 'changed': False}


def lookups(run_module, port, registered, tls_material):
    """C-FIND, as the declared node, of each attempt's study (the role's lookup loop)."""
    results = []
    for attempt in registered['results']:
        uid = attempt['study_instance_uid']
        result = run_module(dicom_find, args(port, DECLARED, tls_material, query_level='STUDY',
                                             identifier={'StudyInstanceUID': uid}))
        results.append(dict(result.data, item=uid))
    return {'results': results}


def row(registered, journal=None, found=None, calling=STRANGER):
    return dicom_refusal_row(registered, requirement='OQ-DICOM-002', host='pacs1',
                             check='dicom_store (undeclared AE)', calling_aet=calling, journal=journal,
                             lookups=found)


def orthanc_says(ip='127.0.0.1', aet=STRANGER):
    return {'rc': 0, 'stdout': 'W0412 10:15:02.123456 DICOM-3 CommandDispatcher.cpp:598] '
                               'Rejected association for remote AET %s on IP %s' % (aet, ip)}


def test_rejected_with_a_associate_rj(run_module, transport):
    server_context, tls_material = transport
    scp = RefusingArchive('reject', server_context)
    try:
        registered = attempts(run_module, scp.port, STRANGER, tls_material)
    finally:
        scp.stop()
    first = registered['results'][0]['association']
    assert first['outcome'] == 'rejected' and first['pdus_received'] == ['A_ASSOCIATE_RJ']
    assert first['reason'] == 'calling-AE-title-not-recognized'
    result = row(registered)
    assert result['status'] == 'pass', result['message']
    assert result['actual']['basis'] == 'A-ASSOCIATE-RJ'
    assert result['actual']['association'] == 'rejected-permanent' and result['actual']['stored'] == 0
    assert scp.stored == []


def test_closed_after_the_request_is_rejected_when_the_archive_log_says_so(run_module, transport):
    server_context, tls_material = transport
    scp = RefusingArchive('close', server_context)
    try:
        registered = attempts(run_module, scp.port, STRANGER, tls_material)
    finally:
        scp.stop()
    for attempt in registered['results']:
        association = attempt['association']
        assert association['outcome'] == 'aborted', association
        assert association['connected'] and association['request_sent'] and association['pdus_received'] == []
        assert association['local_address'] == '127.0.0.1'
        assert association['tls'] is (tls_material is not None)
        assert 'closed the connection after the association request' in association['error']
    result = row(registered, journal=orthanc_says())
    assert result['status'] == 'pass', result['message']
    assert result['actual']['basis'] == 'archive-log'
    assert result['evidence']['log_rejections'][0]['ip'] == '127.0.0.1'
    # the same closure, but the archive logged the rejection of another node: no proof
    for journal in (orthanc_says(ip='10.9.8.7'), orthanc_says(aet=DECLARED), {'rc': 0, 'stdout': ''}):
        result = row(registered, journal=journal)
        assert result['status'] == 'error' and 'inconclusive' in result['message'], result['message']


def test_closed_three_times_with_nothing_stored_is_rejected_without_the_log(run_module, transport):
    server_context, tls_material = transport
    scp = RefusingArchive('close', server_context)
    try:
        registered = attempts(run_module, scp.port, STRANGER, tls_material)
        found = lookups(run_module, scp.port, registered, tls_material)
    finally:
        scp.stop()
    assert [r['matches'] for r in found['results']] == [0, 0, 0]
    unreadable = {'rc': 1, 'stdout': '', 'failed': False}
    result = row(registered, journal=unreadable, found=found)
    assert result['status'] == 'pass', result['message']
    assert result['actual']['basis'] == 'repeated-refusal'
    # two attempts are not enough, nor are attempts whose absence nobody checked
    two = {'results': registered['results'][:2]}
    assert row(two, journal=unreadable, found=found)['status'] == 'error'
    assert row(registered, journal=unreadable)['status'] == 'error'


def test_accepted_association_fails_the_check(run_module, transport):
    server_context, tls_material = transport
    scp = RefusingArchive('none', server_context)
    try:
        registered = attempts(run_module, scp.port, STRANGER, tls_material, count=1)
        found = lookups(run_module, scp.port, registered, tls_material)
    finally:
        scp.stop()
    assert registered['results'][0]['association']['outcome'] == 'established'
    assert found['results'][0]['matches'] == 1
    # even a rejection line in the log does not outweigh an image the archive stored
    result = row(registered, journal=orthanc_says(), found=found)
    assert result['status'] == 'fail'
    assert result['message'].startswith('the archive accepted the association from calling AE STRANGER')
    assert result['actual']['stored'] == 1


def test_connection_refused_is_inconclusive(run_module):
    registered = attempts(run_module, free_port(), STRANGER, None)
    assert registered['results'][0]['association']['outcome'] == 'connection-failed'
    assert registered['results'][0]['association']['connected'] is False
    result = row(registered, journal=orthanc_says(), found={})
    assert result['status'] == 'error'
    assert 'no association request reached the archive' in result['message']
    assert 'refused' in result['message'].lower()


def test_tls_session_refused_is_inconclusive(run_module, pki):
    scp = RefusingArchive('reject', server_tls_context(pki))
    try:
        registered = attempts(run_module, scp.port, STRANGER, pki, client_cert=False)
    finally:
        scp.stop()
    association = registered['results'][0]['association']
    assert association['outcome'] == 'connection-failed', association
    assert association['tls_error']
    result = row(registered, journal={'rc': 0, 'stdout': ''}, found={})
    assert result['status'] == 'error' and 'inconclusive' in result['message'], result['message']


def test_tls_server_not_trusted_is_inconclusive(run_module, pki):
    scp = RefusingArchive('close', server_tls_context(pki))
    try:
        registered = attempts(run_module, scp.port, STRANGER, dict(pki, ca=pki['other_ca']), count=1)
    finally:
        scp.stop()
    association = registered['results'][0]['association']
    assert association['outcome'] == 'connection-failed' and association['connected'] is False
    assert 'CERTIFICATE_VERIFY_FAILED' in association['error']
    assert row(registered, journal=orthanc_says())['status'] == 'error'


def test_declared_node_still_gets_in_where_the_stranger_is_closed_out(run_module, transport):
    server_context, tls_material = transport
    scp = RefusingArchive('close', server_context)
    try:
        registered = attempts(run_module, scp.port, DECLARED, tls_material, count=1)
    finally:
        scp.stop()
    assert registered['results'][0]['success'] is True
    result = row(registered, calling=DECLARED)
    assert result['status'] == 'fail'


class RejectAndClose(object):
    """An archive that answers every association request with A-ASSOCIATE-RJ and closes the connection at once.

    Orthanc's DCMTK does this: the close can reach the requestor's state machine before the RJ is handled.
    """

    # A-ASSOCIATE-RJ: type 3, length 4; result 1 (permanent), source 1 (service user), reason 3 (calling AE)
    PDU = bytes([0x03, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x01, 0x01, 0x03])

    def __init__(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.requests = 0
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _peer = self.listener.accept()
            except OSError:
                return
            with conn:
                header = conn.recv(6)
                if len(header) == 6 and header[0] == 0x01:
                    self.requests += 1
                    conn.sendall(self.PDU)
                conn.shutdown(socket.SHUT_RDWR)

    def stop(self):
        self.listener.close()


def test_rejection_followed_at_once_by_a_close_is_still_a_rejection(run_module):
    scp = RejectAndClose()
    try:
        registered = attempts(run_module, scp.port, STRANGER, None, count=20)
    finally:
        scp.stop()
    assert scp.requests == 20
    for attempt in registered['results']:
        association = attempt['association']
        assert association['outcome'] == 'rejected', association
        assert association['result'] == 'rejected-permanent' and association['source'] == 'service-user'
        assert association['reason'] == 'calling-AE-title-not-recognized'
    assert row(registered)['status'] == 'pass'
