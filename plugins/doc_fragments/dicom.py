# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Options of the DICOM service-user (SCU) check modules."""

    DOCUMENTATION = r'''
options:
  calling_aet:
    description:
      - AE title this module uses as the calling (requesting) application entity.
      - Checked against DICOM PS3.5 (VR AE) before any connection is made.
    type: str
    default: IMAGING-CHECK
  called_aet:
    description:
      - AE title of the remote application entity (for Orthanc, its C(DicomAet)).
    type: str
    required: true
  host:
    description:
      - Host name or IP address of the remote application entity.
    type: str
    default: 127.0.0.1
  port:
    description:
      - TCP port of the remote application entity.
    type: int
    default: 4242
  tls:
    description:
      - Secure the association with TLS (DICOM PS3.15 Annex B), TLS 1.2 or newer.
    type: bool
    default: false
  ca_file:
    description:
      - PEM file with the CA certificate(s) that signed the remote certificate. Only with O(tls=true).
      - When not set, the system trust store is used.
    type: path
  cert_file:
    description:
      - PEM client certificate, for peers that require one (Orthanc's C(DicomTlsRemoteCertificateRequired)).
      - Requires O(key_file) and O(tls=true).
    type: path
  key_file:
    description:
      - PEM private key of O(cert_file).
    type: path
  server_hostname:
    description:
      - Name expected in the remote certificate; defaults to O(host).
    type: str
  validate_certs:
    description:
      - Verify the remote certificate and its name when O(tls=true).
    type: bool
    default: true
  connection_timeout:
    description:
      - Seconds to wait for the TCP connection (and TLS handshake).
    type: float
    default: 10.0
  acse_timeout:
    description:
      - Seconds to wait for the answer to the association request and release.
    type: float
    default: 30.0
  dimse_timeout:
    description:
      - Seconds to wait for each DIMSE response.
    type: float
    default: 30.0
  network_timeout:
    description:
      - Seconds of silence on an established association before it is aborted.
    type: float
    default: 60.0
requirements:
  - pynetdicom >= 2.0 (Debian does not package it; install it with pip, for example into a virtual environment)
  - pydicom >= 2.2 (Debian packages C(python3-pydicom))
notes:
  - The module never changes anything (C(changed) is always false) and fails only on bad arguments.
    A refused association, a timeout or a failure status is returned as evidence (RV(success), RV(association),
    RV(status)) so that a playbook can decide with C(failed_when), and record a rejection of an unknown AE as the
    expected result of a test.
'''
