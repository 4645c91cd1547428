"""scram_sha256: PostgreSQL's SCRAM-SHA-256 verifier, checked against RFC 7677's exchange."""

import base64
import hashlib
import hmac
import re

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hospital.imaging.plugins.filter.scram_sha256 import scram_keys, scram_sha256

VERIFIER = re.compile(r"^SCRAM-SHA-256\$4096:([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$")


def test_rfc7677_exchange():
    """The keys of the RFC's example prove the RFC's client proof and give its server signature."""
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    client_key, stored_key, server_key = scram_keys(b"pencil", salt, 4096)
    auth_message = (
        "n=user,r=rOprNGfwEbeRWgbNEkqO,"
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    ).encode()
    client_signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, client_signature))
    assert base64.b64encode(proof).decode() == "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    server_signature = hmac.new(server_key, auth_message, hashlib.sha256).digest()
    assert base64.b64encode(server_signature).decode() == "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_verifier_format_and_stability():
    first = scram_sha256("a-long-random-vault-secret", "worklist@db1")
    match = VERIFIER.match(first)
    assert match and len(base64.b64decode(match.group(1))) == 16
    assert scram_sha256("a-long-random-vault-secret", "worklist@db1") == first
    assert scram_sha256("a-long-random-vault-secret", "orthanc@db1") != first
    assert scram_sha256("another-secret", "worklist@db1") != first
    assert "a-long-random-vault-secret" not in first


@pytest.mark.parametrize("password,seed", [("", "x@y"), (None, "x@y"), ("secret", ""), ("secret", None)])
def test_refuses_empty_input(password, seed):
    with pytest.raises(AnsibleFilterError):
        scram_sha256(password, seed)
