# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Connection options for modules that use Orthanc's REST API."""

    DOCUMENTATION = r'''
options:
  url:
    description:
      - Root URL of Orthanc's REST API, for example C(http://127.0.0.1:8042) on the archive host itself
        or C(https://pacs.example.org) through the TLS front door.
    type: str
    default: http://127.0.0.1:8042
  username:
    description:
      - User name for HTTP basic authentication (one of Orthanc's C(RegisteredUsers)).
      - Required together with O(password) when Orthanc has C(AuthenticationEnabled).
    type: str
  password:
    description:
      - Password of O(username).
    type: str
  ca_path:
    description:
      - PEM file with the CA certificate(s) that signed the server certificate, for C(https) URLs.
      - When not set, the system trust store is used.
    type: path
  validate_certs:
    description:
      - Verify the server certificate and host name on C(https) URLs.
      - Only switch this off on a disposable test host.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for each HTTP request (connection and answer).
    type: int
    default: 30
notes:
  - Every HTTP, TLS and connection failure is reported with what to check (credentials, C(RemoteAccessAllowed),
    the CA, the URL, the timeout).
'''
