# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which Orthanc processes a host runs, which DICOM listener each opens and which modalities each accepts.

Orthanc has one DICOM listener per process. A site that serves plain DICOM (most installed modalities)
and DICOM TLS (peers, newer devices) runs two Orthanc processes on the same PostgreSQL index and the same
image store, each with its own listener and its own list of modalities (DicomModalities in its own
configuration directory): a modality declared for one listener is unknown to the other. This module is the
one place that decides it; the orthanc role renders it, records it, and every other consumer (firewall,
validation, the sandbox printout) reads the record.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.hospital.imaging.plugins.module_utils import dicom_ae

LISTENER_CHOICES = ('plain', 'tls', 'both')
MAIN_SERVICE = 'orthanc'
TLS_SERVICE = 'orthanc-dicom-tls'
MAIN_CONFIG_DIR = '/etc/orthanc'
TLS_CONFIG_DIR = '/etc/orthanc-dicom-tls'
MODALITY_DEFAULTS = dict(manufacturer='Generic', allow_echo=True, allow_find=True, allow_get=False,
                         allow_move=False, allow_store=True, state='present')


def _bool(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ('true', 'yes', 'on', '1', 'y', 't', '1.0')


def listener_problems(entries, plain_enabled, tls_enabled, label=None):
    """(index, 'listener', message) for every modality whose listener (plain when not given) is unknown or off."""
    label = label or (lambda index: 'entry %d' % index)
    problems = []
    if not isinstance(entries, (list, tuple)):
        return problems
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get('state', 'present') != 'present':
            continue
        listener = entry.get('listener', 'plain')
        if listener not in LISTENER_CHOICES:
            problems.append((index, 'listener', '%r is not one of %s' % (listener, ', '.join(LISTENER_CHOICES))))
            continue
        # 'both' is every DICOM listener the archive opens: it stays valid when one is switched off
        if listener == 'plain' and not plain_enabled:
            problems.append((index, 'listener', "'plain' needs the plain DICOM listener, which orthanc_dicom_plain_enabled "
                                                "switches off"))
        if listener == 'tls' and not tls_enabled:
            problems.append((index, 'listener', "'tls' needs the DICOM TLS listener, which orthanc_dicom_tls_enabled "
                                                "switches off"))
    return problems


def modality_problems(entries, own_aet=None, check_modality_host=True, plain_enabled=True, tls_enabled=True, label=None):
    """Every problem of the orthanc role's modality list: the module's rules, plus each entry's listener."""
    problems = dicom_ae.modality_problems(entries, own_aet, check_modality_host, label, extra_keys=('listener',))
    problems.extend(listener_problems(entries, plain_enabled, tls_enabled, label))
    return sorted(problems, key=lambda p: (-1 if p[0] is None else p[0]))


def normalized(entry):
    """A modality entry with every default filled in: listener plain, Orthanc calls it over TLS when its
    listener is TLS, no C-GET or C-MOVE unless declared."""
    out = dict(MODALITY_DEFAULTS)
    out.update(entry)
    out.setdefault('listener', 'plain')
    out.setdefault('use_dicom_tls', out['listener'] == 'tls')
    out['name'] = out.get('name') or dicom_ae.normalize_ae_title(out['aet'])
    for key in dicom_ae.MODALITY_BOOLEANS:
        out[key] = _bool(out[key])
    return out


def orthanc_modality(entry):
    """One entry as Orthanc's DicomModalities value."""
    return dict(AET=dicom_ae.normalize_ae_title(entry['aet']), Host=dicom_ae.canonical_host(entry['host']),
                Port=int(entry['port']), Manufacturer=entry['manufacturer'], AllowEcho=entry['allow_echo'],
                AllowFind=entry['allow_find'], AllowGet=entry['allow_get'], AllowMove=entry['allow_move'],
                AllowStore=entry['allow_store'], UseDicomTls=entry['use_dicom_tls'])


def layout(modalities, plain_enabled=True, plain_port=4242, tls_enabled=True, tls_port=4243, http_port=8042,
           tls_http_port=8043, http_scope='loopback', plain_sources=(), tls_sources=(), client_certificate_required=True):
    """The processes, the listeners to record and the normalized modalities (see the module docstring).

    Raises ValueError when no DICOM listener is on. The main process (unit orthanc, /etc/orthanc) serves the
    REST API and the first DICOM listener; with both listeners on, the second process (orthanc-dicom-tls,
    /etc/orthanc-dicom-tls) serves DICOM TLS and its REST API on loopback only (health checks, metrics).
    """
    plain_enabled, tls_enabled = _bool(plain_enabled), _bool(tls_enabled)
    if not plain_enabled and not tls_enabled:
        raise ValueError('orthanc_dicom_plain_enabled and orthanc_dicom_tls_enabled are both false: Orthanc needs '
                         'at least one DICOM listener')
    entries = [normalized(e) for e in modalities or [] if (e or {}).get('state', 'present') == 'present']
    wanted = []
    if plain_enabled:
        wanted.append(dict(name='dicom', port=int(plain_port), tls=False, sources=list(plain_sources or []),
                           accepts=('plain', 'both')))
    if tls_enabled:
        wanted.append(dict(name='dicom-tls', port=int(tls_port), tls=True, sources=list(tls_sources or []),
                           accepts=('tls', 'both')))
    processes, listeners = [], []
    for number, dicom in enumerate(wanted):
        main = number == 0
        service = MAIN_SERVICE if main else TLS_SERVICE
        process_http_port = int(http_port) if main else int(tls_http_port)
        accepted = [e for e in entries if e['listener'] in dicom['accepts']]
        processes.append(dict(
            service=service, main=main, config_dir=MAIN_CONFIG_DIR if main else TLS_CONFIG_DIR,
            dicom_port=dicom['port'], dicom_tls=dicom['tls'], http_port=process_http_port,
            remote_access=main and http_scope == 'network',
            modalities=dict((e['name'], orthanc_modality(e)) for e in accepted)))
        listeners.append(dict(name=dicom['name'], protocol='dicom', port=dicom['port'], tls=dicom['tls'],
                              scope='network', sources=dicom['sources'], service=service,
                              client_certificate=dicom['tls'] and _bool(client_certificate_required)))
    records = [dict(name='http', protocol='http', port=int(http_port), tls=False, scope=http_scope,
                    service=MAIN_SERVICE)]
    records.extend(listeners)
    if len(processes) > 1:
        records.append(dict(name='dicom-tls-http', protocol='http', port=int(tls_http_port), tls=False,
                            scope='loopback', service=TLS_SERVICE))
    return dict(processes=processes, listeners=records, modalities=entries)
