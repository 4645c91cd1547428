# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter giving the Orthanc processes, DICOM listeners and per-listener modalities of an archive host."""

from __future__ import annotations

DOCUMENTATION = r"""
name: orthanc_layout
short_description: The Orthanc processes, DICOM listeners and per-listener modalities of an archive host
version_added: 0.1.0
description:
  - Orthanc has one DICOM listener per process. With plain DICOM and DICOM TLS both on, the host runs two Orthanc
    processes on the same PostgreSQL index and image store, each with its own listener and its own modality list;
    a modality is accepted only by the listener its C(listener) names (C(plain), C(tls) or C(both)).
  - Returns C(processes) (what the orthanc role renders), C(listeners) (what it records for the firewall, validation
    and the sandbox printout) and C(modalities) (the entries with their defaults filled in).
positional: _input
options:
  _input:
    description: The modality entries (C(orthanc_modalities)), already valid (see the input_problems filter).
    type: list
    elements: dict
    required: true
  plain_enabled:
    description: Serve plain DICOM (C(orthanc_dicom_plain_enabled)).
    type: bool
    default: true
  plain_port:
    description: Plain DICOM port.
    type: int
    default: 4242
  tls_enabled:
    description: Serve DICOM TLS (C(orthanc_dicom_tls_enabled)).
    type: bool
    default: true
  tls_port:
    description: DICOM TLS port.
    type: int
    default: 4243
  http_port:
    description: REST port of the main process.
    type: int
    default: 8042
  tls_http_port:
    description: REST port of the DICOM TLS process when it is a second process (loopback only).
    type: int
    default: 8043
  http_scope:
    description: C(network) when the main REST API is reachable from other hosts, else C(loopback).
    type: str
    default: loopback
  plain_sources:
    description: Networks allowed to reach the plain listener.
    type: list
    elements: str
  tls_sources:
    description: Networks allowed to reach the TLS listener.
    type: list
    elements: str
  client_certificate_required:
    description: The TLS listener requires a client certificate of the site CA.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Show the listeners
  ansible.builtin.debug:
    msg: "{{ (orthanc_modalities | hospital.imaging.orthanc_layout(plain_port=4242, tls_port=4243)).listeners }}"
"""

RETURN = r"""
_value:
  description: C(processes), C(listeners) and C(modalities).
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.hospital.imaging.plugins.module_utils import orthanc_layout as ol


def orthanc_layout(modalities, plain_enabled=True, plain_port=4242, tls_enabled=True, tls_port=4243, http_port=8042,
                   tls_http_port=8043, http_scope="loopback", plain_sources=None, tls_sources=None,
                   client_certificate_required=True):
    try:
        return ol.layout(list(modalities or []), plain_enabled, plain_port, tls_enabled, tls_port, http_port,
                         tls_http_port, http_scope, list(plain_sources or []), list(tls_sources or []),
                         client_certificate_required)
    except (ValueError, KeyError, TypeError) as exc:
        raise AnsibleFilterError("orthanc_layout: %s" % exc) from exc


class FilterModule:
    """Ansible filter plugin."""

    def filters(self):
        return {"orthanc_layout": orthanc_layout}
