# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter giving how an Orthanc host reaches its PostgreSQL index."""

from __future__ import annotations

DOCUMENTATION = r"""
name: orthanc_index
short_description: How an Orthanc host reaches its PostgreSQL index (local socket or one direct verified TLS connection)
version_added: 0.1.0
description:
  - C(socket) when PostgreSQL runs on the same host (its Unix socket, SCRAM), C(direct) when it runs on another
    host (one TLS connection with C(sslmode=verify-full) against the site CA). C(auto) picks by comparing the
    index database's host with this host. The index never goes through PgBouncer.
  - Returns C(mode), C(settings) (the connection part of the plugin's C(PostgreSQL) section) and C(record)
    (what the orthanc role records; no secret).
positional: _input
options:
  _input:
    description: C(orthanc_database_mode) (C(auto), C(socket) or C(direct)).
    type: str
    required: true
  host:
    description: This host (C(inventory_hostname)).
    type: str
    required: true
  database_host:
    description: The host of the index database (C(orthanc_database_host)).
    type: str
    required: true
  port:
    description: PostgreSQL's port (also names the socket file).
    type: int
    required: true
  database:
    description: The index database.
    type: str
    required: true
  login:
    description: Orthanc's login role.
    type: str
    required: true
  password:
    description: Its password.
    type: str
    required: true
  socket_directory:
    description: PostgreSQL's socket directory on this host.
    type: str
    default: /var/run/postgresql
  ca_file:
    description: The site CA that signs PostgreSQL's certificate, readable by Orthanc.
    type: str
    default: /etc/orthanc/tls/ca.crt
"""

EXAMPLES = r"""
- name: Show the chosen index path
  ansible.builtin.debug:
    msg: >-
      {{ (orthanc_database_mode | hospital.imaging.orthanc_index(host=inventory_hostname, database_host='db1',
         port=5432, database='orthanc', login='orthanc', password=pw)).record }}
"""

RETURN = r"""
_value:
  description: C(mode), C(settings) and C(record).
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.hospital.imaging.plugins.module_utils import orthanc_index as oi


def orthanc_index(mode, host, database_host, port, database, login, password, socket_directory="/var/run/postgresql",
                  ca_file="/etc/orthanc/tls/ca.crt"):
    try:
        return oi.connection(mode, host, database_host, port, database, login, password, socket_directory, ca_file)
    except (ValueError, TypeError) as exc:
        raise AnsibleFilterError("orthanc_index: %s" % exc) from exc


class FilterModule:
    """Ansible filter plugin."""

    def filters(self):
        return {"orthanc_index": orthanc_index}
