# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How an Orthanc host reaches its PostgreSQL index: the one decision the orthanc role renders and records.

- ``socket``: PostgreSQL runs on the same host. One persistent connection over its Unix socket, SCRAM
  authenticated; no TCP, no TLS, no second process in the path.
- ``direct``: PostgreSQL is on another host. One TLS connection straight to it, the server's certificate
  checked against the site CA and its name (``sslmode=verify-full``).
- ``auto`` (the default) picks ``socket`` when the index database's host is this host, else ``direct``.

The index is never reached through PgBouncer: the plugin keeps one session open for the life of the
process (session-level advisory locks, prepared statements), which a pooler cannot share, and every hop
and TLS session on the way costs each stored instance its round trips.
"""

from __future__ import annotations

from urllib.parse import quote

MODES = ('auto', 'socket', 'direct')
# The role's default (roles/orthanc defaults and argument_specs), and what preflight assumes when a site sets none.
DEFAULT_MODE = 'auto'


def resolve_mode(mode, host, database_host):
    if mode not in MODES:
        raise ValueError("mode %r is not one of %s" % (mode, ", ".join(MODES)))
    if mode == 'auto':
        return 'socket' if host == database_host else 'direct'
    return mode


def connection(mode, host, database_host, port, database, login, password, socket_directory, ca_file):
    """The plugin's connection setting (``ConnectionUri`` of its ``PostgreSQL`` section) and the record of it.

    Returns ``{'mode', 'settings', 'record'}``; ``record`` holds no secret. The URI always has a query string,
    so a caller may append ``&application_name=...`` (the orthanc role names each process's connection)."""
    chosen = resolve_mode(mode, host, database_host)
    port = int(port)
    userinfo = "%s:%s" % (quote(login, safe=''), quote(password, safe=''))
    if chosen == 'socket':
        uri = "postgresql://%s@/%s?host=%s&port=%d&sslmode=disable" % (
            userinfo, quote(database, safe=''), quote(socket_directory, safe=''), port)
        record = {'mode': 'socket', 'host': socket_directory, 'port': port, 'database': database, 'login': login,
                  'tls': False, 'authentication': 'scram-sha-256'}
    else:
        uri = "postgresql://%s@%s:%d/%s?sslmode=verify-full&sslrootcert=%s" % (
            userinfo, database_host, port, quote(database, safe=''), quote(ca_file, safe=''))
        record = {'mode': 'direct', 'host': database_host, 'port': port, 'database': database, 'login': login,
                  'tls': True, 'sslmode': 'verify-full', 'ca_file': ca_file, 'authentication': 'scram-sha-256'}
    return {'mode': chosen, 'settings': {'ConnectionUri': uri}, 'record': record}
