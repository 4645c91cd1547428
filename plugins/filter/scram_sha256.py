# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter turning a password into a PostgreSQL SCRAM-SHA-256 verifier."""

from __future__ import annotations

DOCUMENTATION = r"""
name: scram_sha256
short_description: PostgreSQL SCRAM-SHA-256 verifier of a password
version_added: 0.1.0
description:
  - Returns the verifier PostgreSQL stores for a password under C(password_encryption = scram-sha-256)
    (C(SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>), RFC 5802 / RFC 7677).
  - Roles are given the verifier instead of the password, so the password itself never reaches
    PostgreSQL, and a C(CREATE/ALTER ROLE) statement recorded by C(log_statement) or pgaudit holds no
    password.
  - The salt is derived from the password and O(salt_seed) (HMAC-SHA-256), so the same password
    gives the same verifier on every run (the role stays unchanged, runs stay idempotent), while
    the same password for another role or site gives another one. Passwords are expected to be
    long random secrets from the vault.
positional: _input, salt_seed
options:
  _input:
    description: The password.
    type: str
    required: true
  salt_seed:
    description: What makes the salt differ between roles and sites, for example C(role@site).
    type: str
    required: true
  iterations:
    description: PBKDF2 iterations (PostgreSQL's default is 4096).
    type: int
    default: 4096
"""

EXAMPLES = r"""
- name: Create a login role without sending its password
  community.postgresql.postgresql_user:
    name: worklist
    password: "{{ vault_db_worklist_password | hospital.imaging.scram_sha256('worklist@' ~ imaging_site_name) }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: The SCRAM-SHA-256 verifier.
  type: str
"""

import base64
import hashlib
import hmac

from ansible.errors import AnsibleFilterError


def scram_sha256(password, salt_seed, iterations=4096):
    """Return PostgreSQL's SCRAM-SHA-256 verifier of ``password``."""
    if not isinstance(password, str) or not password:
        raise AnsibleFilterError("scram_sha256 needs a non-empty password string")
    if not isinstance(salt_seed, str) or not salt_seed:
        raise AnsibleFilterError("scram_sha256 needs a non-empty salt_seed string")
    if int(iterations) < 4096:
        raise AnsibleFilterError("scram_sha256: iterations must be at least 4096")
    secret = password.encode("utf-8")
    salt = hmac.new(secret, ("hospital.imaging scram salt " + salt_seed).encode("utf-8"), hashlib.sha256).digest()[:16]
    return verifier(secret, salt, int(iterations))


def scram_keys(secret, salt, iterations):
    """ClientKey, StoredKey and ServerKey of RFC 5802 for a password (bytes) and salt."""
    salted = hashlib.pbkdf2_hmac("sha256", secret, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return client_key, hashlib.sha256(client_key).digest(), server_key


def verifier(secret, salt, iterations):
    _client_key, stored_key, server_key = scram_keys(secret, salt, iterations)

    def b64(data):
        return base64.b64encode(data).decode("ascii")

    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, b64(salt), b64(stored_key), b64(server_key))


class FilterModule:
    """hospital.imaging password filters."""

    def filters(self):
        return {"scram_sha256": scram_sha256}
