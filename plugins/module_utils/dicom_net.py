# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared pynetdicom helpers for the DICOM service-user (SCU) check modules.

Works with pynetdicom 2.0 + pydicom 2.3/2.4 (Debian 12/13 era) and pynetdicom 3.0 + pydicom 3.0.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import logging
import os
import ssl
import time
import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.hospital.imaging.plugins.module_utils.dicom_ae import (
    ae_title_errors,
    normalize_ae_title,
)

PYNETDICOM_IMPORT_ERROR = None
try:
    from pynetdicom import AE, evt
    from pynetdicom.status import code_to_category
    HAS_PYNETDICOM = True
except ImportError:
    HAS_PYNETDICOM = False
    PYNETDICOM_IMPORT_ERROR = traceback.format_exc()

PYDICOM_IMPORT_ERROR = None
try:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.datadict import tag_for_keyword
    from pydicom.uid import generate_uid
    HAS_PYDICOM = True
except ImportError:
    HAS_PYDICOM = False
    PYDICOM_IMPORT_ERROR = traceback.format_exc()

VERIFICATION = '1.2.840.10008.1.1'
SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7'
EXPLICIT_VR_LE = '1.2.840.10008.1.2.1'
IMPLICIT_VR_LE = '1.2.840.10008.1.2'
QUERY_MODELS = {
    'find': {'study': '1.2.840.10008.5.1.4.1.2.2.1', 'patient': '1.2.840.10008.5.1.4.1.2.1.1'},
    'move': {'study': '1.2.840.10008.5.1.4.1.2.2.2', 'patient': '1.2.840.10008.5.1.4.1.2.1.2'},
}

# PS3.8 section 9.3.4 (A-ASSOCIATE-RJ): result, source and reason/diagnostic.
REJECT_RESULTS = {1: 'rejected-permanent', 2: 'rejected-transient'}
REJECT_SOURCES = {
    1: 'service-user',
    2: 'service-provider (ACSE)',
    3: 'service-provider (presentation)',
}
REJECT_REASONS = {
    1: {1: 'no-reason-given', 2: 'application-context-name-not-supported',
        3: 'calling-AE-title-not-recognized', 7: 'called-AE-title-not-recognized'},
    2: {1: 'no-reason-given', 2: 'protocol-version-not-supported'},
    3: {1: 'temporary-congestion', 2: 'local-limit-exceeded'},
}
# PS3.8 section 9.3.8 (A-ABORT): source and reason.
ABORT_SOURCES = {0: 'service-user', 1: 'reserved', 2: 'service-provider'}
ABORT_REASONS = {0: 'reason-not-specified', 1: 'unrecognized-PDU', 2: 'unexpected-PDU',
                 4: 'unrecognized-PDU-parameter', 5: 'unexpected-PDU-parameter', 6: 'invalid-PDU-parameter-value'}

DEFAULT_TEST_PATIENT_ID = 'HOSPITAL-IMAGING-TEST'


def dicom_argument_spec():
    """Options shared by the DICOM SCU modules."""
    return dict(
        calling_aet=dict(type='str', default='IMAGING-CHECK'),
        called_aet=dict(type='str', required=True),
        host=dict(type='str', default='127.0.0.1'),
        port=dict(type='int', default=4242),
        tls=dict(type='bool', default=False),
        ca_file=dict(type='path'),
        cert_file=dict(type='path'),
        key_file=dict(type='path'),
        server_hostname=dict(type='str'),
        validate_certs=dict(type='bool', default=True),
        connection_timeout=dict(type='float', default=10.0),
        acse_timeout=dict(type='float', default=30.0),
        dimse_timeout=dict(type='float', default=30.0),
        network_timeout=dict(type='float', default=60.0),
    )


def require_libraries(module):
    if not HAS_PYNETDICOM:
        module.fail_json(msg=missing_required_lib('pynetdicom'), exception=PYNETDICOM_IMPORT_ERROR)
    if not HAS_PYDICOM:
        module.fail_json(msg=missing_required_lib('pydicom'), exception=PYDICOM_IMPORT_ERROR)


def validate_dicom_params(params, extra_aets=None):
    """Return a list of messages describing bad arguments (empty when all is well)."""
    errors = []
    aets = [('calling_aet', params.get('calling_aet')), ('called_aet', params.get('called_aet'))]
    aets.extend(extra_aets or [])
    for name, value in aets:
        for err in ae_title_errors(value):
            errors.append('%s %r %s' % (name, value, err))
    port = params.get('port')
    if port is None or not 1 <= port <= 65535:
        errors.append('port %r is out of range (1-65535)' % (port,))
    if not params.get('host'):
        errors.append('host must not be empty')
    for name in ('connection_timeout', 'acse_timeout', 'dimse_timeout', 'network_timeout'):
        value = params.get(name)
        if value is None or value <= 0:
            errors.append('%s must be a positive number of seconds' % name)
    tls_files = [n for n in ('ca_file', 'cert_file', 'key_file') if params.get(n)]
    if not params.get('tls'):
        if tls_files:
            errors.append('%s given but tls is false: set tls to true or remove them' % ', '.join(tls_files))
    else:
        if bool(params.get('cert_file')) != bool(params.get('key_file')):
            errors.append('cert_file and key_file must be given together for a client certificate')
        for name in tls_files:
            if not os.path.isfile(params[name]):
                errors.append('%s %s does not exist or is not a file' % (name, params[name]))
            elif not os.access(params[name], os.R_OK):
                errors.append('%s %s is not readable' % (name, params[name]))
    return errors


def build_tls_context(ca_file=None, cert_file=None, key_file=None, validate_certs=True):
    """SSL context for a TLS-secured association (PS3.15 Annex B, BCP 195): TLS 1.2 or newer."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_file:
        context.load_cert_chain(certfile=cert_file, keyfile=key_file)
    return context


def describe_status(status):
    """Turn a DIMSE status dataset into evidence: code, hex code, category, error comment."""
    if status is None or 'Status' not in status:
        return dict(code=None, code_hex=None, category=None, error_comment=None)
    code = int(status.Status)
    comment = status.get('ErrorComment', None)
    return dict(code=code, code_hex='0x%04X' % code, category=code_to_category(code),
                error_comment=str(comment) if comment is not None else None)


class _LogCapture(logging.Handler):
    """Keep pynetdicom's warning/error lines as evidence without enabling a debug logger."""

    def __init__(self):
        super(_LogCapture, self).__init__(level=logging.WARNING)
        self.lines = []

    def emit(self, record):
        try:
            self.lines.append(record.getMessage())
        except Exception:  # pylint: disable=broad-except
            pass


class DicomCheck(object):
    """Open one association as a service user, run one operation, and record what happened."""

    def __init__(self, params):
        self.params = params
        self.calling_aet = normalize_ae_title(params['calling_aet'])
        self.called_aet = normalize_ae_title(params['called_aet'])
        self.events = []
        self.abort_info = None
        self.reject_info = None
        self.started = None
        self.association = None
        self.durations = dict(association=None, operation=None, release=None, total=None)
        self.log = _LogCapture()
        self.tls_args = None
        self.operation_error = None
        self.started_at = None

    def prepare(self):
        """Load the TLS material; raises ValueError or ssl.SSLError/OSError on bad files."""
        p = self.params
        if p['tls']:
            context = build_tls_context(p.get('ca_file'), p.get('cert_file'), p.get('key_file'), p['validate_certs'])
            self.tls_args = (context, p.get('server_hostname') or p['host'])

    def _on_event(self, event):
        self.events.append(event.event.name)

    def _on_pdu_sent(self, event):
        self.events.append('PDU_SENT:%s' % type(event.pdu).__name__)

    def _on_pdu_recv(self, event):
        self.events.append('PDU_RECV:%s' % type(event.pdu).__name__)
        pdu = event.pdu
        if type(pdu).__name__ == 'A_ABORT_RQ':
            self.abort_info = dict(source_code=getattr(pdu, 'source', None),
                                   reason_code=getattr(pdu, 'reason_diagnostic', None))
        elif type(pdu).__name__ == 'A_ASSOCIATE_RJ':
            # Kept from the PDU itself: a peer that closes the connection right after its A-ASSOCIATE-RJ can
            # make pynetdicom's state machine see the close first and report an abort.
            self.reject_info = dict(result=getattr(pdu, 'result', None), source=getattr(pdu, 'source', None),
                                    reason=getattr(pdu, 'reason_diagnostic', None))

    def make_ae(self, contexts):
        ae = AE(ae_title=self.calling_aet)
        ae.connection_timeout = self.params['connection_timeout']
        ae.acse_timeout = self.params['acse_timeout']
        ae.dimse_timeout = self.params['dimse_timeout']
        ae.network_timeout = self.params['network_timeout']
        for abstract_syntax in contexts:
            ae.add_requested_context(abstract_syntax, [EXPLICIT_VR_LE, IMPLICIT_VR_LE])
        return ae

    def associate(self, ae, ext_neg=None):
        """Request the association; return it when established, else None (evidence kept)."""
        p = self.params
        handlers = [
            (evt.EVT_CONN_OPEN, self._on_event),
            (evt.EVT_ACCEPTED, self._on_event),
            (evt.EVT_REJECTED, self._on_event),
            (evt.EVT_ABORTED, self._on_event),
            (evt.EVT_PDU_RECV, self._on_pdu_recv),
            (evt.EVT_PDU_SENT, self._on_pdu_sent),
        ]
        pn_logger = logging.getLogger('pynetdicom')
        pn_logger.addHandler(self.log)
        self.started = time.monotonic()
        self.started_at = round(time.time(), 3)
        try:
            kwargs = dict(ae_title=self.called_aet, evt_handlers=handlers, tls_args=self.tls_args)
            if ext_neg:
                kwargs['ext_neg'] = ext_neg
            assoc = ae.associate(p['host'], p['port'], **kwargs)
        finally:
            pn_logger.removeHandler(self.log)
        self.durations['association'] = round(time.monotonic() - self.started, 4)
        self.association = assoc
        return assoc if assoc.is_established else None

    def association_evidence(self):
        """What happened to the association request, as data a verdict can be computed from.

        ``outcome`` is one of established, rejected, aborted, no-accepted-context, connection-failed,
        timeout or not-attempted; ``result`` keeps the finer PS3.8 wording (rejected-permanent, ...).
        ``connected``, ``request_sent``, ``pdus_received`` and ``local_address`` (the address the peer
        saw the request come from) tell how far the exchange got, whatever the outcome.
        """
        assoc = self.association
        p = self.params
        evidence = dict(
            calling_aet=self.calling_aet, called_aet=self.called_aet, host=p['host'], port=p['port'],
            tls=bool(p['tls']), established=False, outcome='not-attempted', result=None, result_code=None,
            source=None, source_code=None, reason=None, reason_code=None, accepted_contexts=[],
            rejected_contexts=[], error=None, tls_error=None, connected='EVT_CONN_OPEN' in self.events,
            request_sent='PDU_SENT:A_ASSOCIATE_RQ' in self.events,
            pdus_received=[e.split(':', 1)[1] for e in self.events if e.startswith('PDU_RECV:')],
            local_address=None, started_at=self.started_at, log=self.log.lines[-10:],
        )
        if assoc is None:
            evidence['result'] = 'not-attempted'
            return evidence
        if evidence['connected']:
            address = getattr(getattr(assoc, 'requestor', None), 'address', None)
            evidence['local_address'] = str(address) if address else None
        evidence['accepted_contexts'] = [str(cx.abstract_syntax) for cx in assoc.accepted_contexts]
        evidence['rejected_contexts'] = [str(cx.abstract_syntax) for cx in assoc.rejected_contexts]
        init_errors = [line for line in self.log.lines if 'Initialisation Error' in line]
        tls_errors = [line for line in self.log.lines if 'SSL' in line or 'TLS' in line]
        # A TLS alert is the peer refusing the TLS session (certificate, protocol); an SSL EOF is only a close.
        tls_alerts = [line for line in tls_errors if 'alert' in line.lower()]
        evidence['tls_error'] = '; '.join(tls_alerts or tls_errors) or None
        if assoc.is_established or ('EVT_ACCEPTED' in self.events and evidence['accepted_contexts']):
            evidence.update(established=True, outcome='established', result='accepted')
        elif assoc.is_rejected or self.reject_info is not None:
            primitive = getattr(assoc.acceptor, 'primitive', None) if assoc.is_rejected else None
            if primitive is not None and getattr(primitive, 'result', None) is not None:
                result = primitive.result
                source = getattr(primitive, 'result_source', None)
                reason = getattr(primitive, 'diagnostic', None)
            else:
                info = self.reject_info or {}
                result, source, reason = info.get('result'), info.get('source'), info.get('reason')
            evidence.update(outcome='rejected', result=REJECT_RESULTS.get(result, 'rejected'), result_code=result,
                            source=REJECT_SOURCES.get(source, 'unknown'), source_code=source,
                            reason=REJECT_REASONS.get(source, {}).get(reason, 'unknown'), reason_code=reason)
        elif 'EVT_ACCEPTED' in self.events:
            evidence.update(outcome='no-accepted-context', result='no-accepted-context',
                            error='the peer accepted the association but none of the proposed presentation contexts '
                                  '(%s)' % ', '.join(evidence['rejected_contexts']))
        elif self.abort_info is not None:
            src, rsn = self.abort_info['source_code'], self.abort_info['reason_code']
            evidence.update(outcome='aborted', result='aborted', source=ABORT_SOURCES.get(src, 'unknown'),
                            source_code=src, reason=ABORT_REASONS.get(rsn, 'unknown'), reason_code=rsn,
                            error='the peer sent A-ABORT in answer to the association request')
        elif not evidence['connected'] or init_errors:
            evidence.update(outcome='connection-failed', result='connection-failed',
                            error='; '.join(init_errors + tls_errors)
                            or 'could not open a connection to %s:%s' % (p['host'], p['port']))
        elif tls_alerts:
            evidence.update(outcome='connection-failed', result='connection-failed',
                            error='the peer refused the TLS session: %s' % evidence['tls_error'])
        elif (not evidence['pdus_received'] and self.durations['association'] is not None
              and self.durations['association'] >= p['acse_timeout'] - 0.5):
            evidence.update(outcome='timeout', result='timeout',
                            error='no answer to the association request within acse_timeout (%ss)' % p['acse_timeout'])
        else:
            said = '; '.join(line for line in self.log.lines[-3:] if line != 'Association Aborted')
            evidence.update(outcome='aborted', result='aborted',
                            error='the peer closed the connection %swithout answering%s' % (
                                'after the association request ' if evidence['request_sent'] else '',
                                ' (%s)' % said if said else ''))
        return evidence

    def release(self):
        assoc = self.association
        if assoc is not None and assoc.is_established:
            begun = time.monotonic()
            assoc.release()
            self.durations['release'] = round(time.monotonic() - begun, 4)

    def finish(self):
        if self.started is not None:
            self.durations['total'] = round(time.monotonic() - self.started, 4)
        return self.durations


def run_check(module, contexts, operation, extra_aets=None, extra_errors=None, defaults=None):
    """Validate the arguments, associate, run ``operation(assoc)`` -> (status, extra), release, exit.

    Only bad arguments fail the module; everything the network does is returned as evidence.
    """
    require_libraries(module)
    errors = validate_dicom_params(module.params, extra_aets) + list(extra_errors or [])
    if errors:
        module.fail_json(msg='invalid arguments: %s' % '; '.join(errors), errors=errors)
    check = DicomCheck(module.params)
    try:
        check.prepare()
    except (ValueError, OSError) as err:
        module.fail_json(msg='invalid TLS arguments (ca_file, cert_file, key_file): %s' % err)
    status = None
    extra = dict(defaults or {})
    try:
        assoc = check.associate(check.make_ae(contexts))
        if assoc is not None:
            begun = time.monotonic()
            try:
                status, found = operation(assoc)
                extra.update(found)
            except Exception as err:  # pylint: disable=broad-except
                # The peer may abort or send something pynetdicom refuses: that is evidence, not a module failure.
                check.operation_error = '%s: %s' % (type(err).__name__, err)
            check.durations['operation'] = round(time.monotonic() - begun, 4)
    finally:
        check.release()
    check_result(module, check, status, **extra)


def check_result(module, check, status=None, **extra):
    """Exit the module with the common evidence shape (changed is always false)."""
    association = check.association_evidence()
    status_info = describe_status(status)
    success = association['established'] and status_info['code'] is not None and status_info['category'] == 'Success'
    if extra.pop('success', True) is False:
        success = False
    if association['established']:
        msg = 'association accepted by %s; DIMSE status %s (%s)' % (
            association['called_aet'], status_info['code_hex'], status_info['category'])
    elif association['result'] in ('rejected-permanent', 'rejected-transient', 'rejected'):
        msg = 'association %s by %s: %s' % (association['result'], association['source'], association['reason'])
    else:
        msg = 'association %s: %s' % (association['result'], association['error'] or association['reason'])
    if check.operation_error:
        success = False
        msg += '; operation failed: %s' % check.operation_error
    elif association['established'] and status_info['code'] is None:
        msg += '; no DIMSE response (the peer aborted or dimse_timeout passed)'
    module.exit_json(changed=False, success=success, msg=msg, association=association, status=status_info,
                     durations=check.finish(), operation_error=check.operation_error, **extra)


def dataset_from_keywords(keywords):
    """Build a query identifier from DICOM keyword -> value; unknown keywords raise ValueError."""
    ds = Dataset()
    for keyword, value in keywords.items():
        if tag_for_keyword(keyword) is None:
            raise ValueError('%r is not a DICOM keyword (use names such as PatientID, StudyInstanceUID)' % keyword)
        setattr(ds, keyword, '' if value is None else value)
    return ds


def dataset_to_dict(ds, keywords):
    result = {}
    if ds is None:
        return result
    for keyword in keywords:
        if keyword in ds:
            value = ds.data_element(keyword).value
            result[keyword] = '' if value is None else str(value)
    return result


def make_test_instances(count, patient_id=DEFAULT_TEST_PATIENT_ID, patient_name='TEST^IMAGING^CHECK',
                        station=None):
    """Generate ``count`` small Secondary Capture images in one new test study."""
    study_uid = generate_uid()
    series_uid = generate_uid()
    now = time.gmtime()
    instances = []
    for number in range(1, count + 1):
        ds = Dataset()
        sop_uid = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = SECONDARY_CAPTURE
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = EXPLICIT_VR_LE
        ds.file_meta = meta
        ds.SOPClassUID = SECONDARY_CAPTURE
        ds.SOPInstanceUID = sop_uid
        ds.PatientID = patient_id
        ds.PatientName = patient_name
        ds.PatientBirthDate = ''
        ds.PatientSex = 'O'
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = 'CHECK'
        ds.StudyDate = time.strftime('%Y%m%d', now)
        ds.StudyTime = time.strftime('%H%M%S', now)
        ds.StudyDescription = 'hospital.imaging network check'
        ds.SeriesDescription = 'dicom_store test objects'
        ds.AccessionNumber = ''
        ds.ReferringPhysicianName = ''
        ds.Modality = 'OT'
        ds.ConversionType = 'WSD'
        ds.SeriesNumber = 1
        ds.InstanceNumber = number
        if station:
            ds.StationName = station[:16]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = 'MONOCHROME2'
        ds.Rows = 8
        ds.Columns = 8
        ds.BitsAllocated = 8
        ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        ds.PixelData = bytes(bytearray((i * 4 + number) % 256 for i in range(64)))
        instances.append(ds)
    return study_uid, series_uid, instances
