"""Shared fixtures: make the collection importable, run modules' main(), real PKI for DICOM TLS."""

import datetime
import ipaddress
import json
import os
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_COLLECTIONS = tempfile.mkdtemp(prefix='hospital-imaging-unit-')
os.makedirs(os.path.join(_COLLECTIONS, 'ansible_collections', 'hospital'))
os.symlink(ROOT, os.path.join(_COLLECTIONS, 'ansible_collections', 'hospital', 'imaging'))
sys.path.insert(0, _COLLECTIONS)

from ansible.module_utils.testing import patch_module_args  # noqa: E402


class ModuleResult(object):
    def __init__(self, rc, data):
        self.rc = rc
        self.data = data

    @property
    def failed(self):
        return self.rc != 0 or bool(self.data.get('failed'))

    def __getitem__(self, key):
        return self.data[key]

    def __repr__(self):
        return 'ModuleResult(rc=%r, %s)' % (self.rc, json.dumps(self.data, indent=1, default=str)[:3000])


@pytest.fixture
def run_module(capsys):
    """Run a module's main() with the given arguments; return its exit code and JSON result."""

    def runner(module, args, check_mode=False, diff=False):
        args = dict(args)
        if check_mode:
            args['_ansible_check_mode'] = True
        if diff:
            args['_ansible_diff'] = True
        capsys.readouterr()
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exc:
                module.main()
        out = capsys.readouterr().out
        return ModuleResult(exc.value.code, json.loads(out))

    return runner


def _name(cn):
    from cryptography.x509.oid import NameOID
    from cryptography import x509
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _make_cert(subject_cn, issuer_cert=None, issuer_key=None, is_ca=False, server=False, client=False):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(subject_cn))
               .issuer_name(issuer_cert.subject if issuer_cert is not None else _name(subject_cn))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True))
    if is_ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        usages = []
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName('localhost'), x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]), critical=False)
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                        critical=False)
    cert = builder.sign(issuer_key if issuer_key is not None else key, hashes.SHA256())
    return cert, key


def _write(path, cert=None, key=None):
    from cryptography.hazmat.primitives import serialization
    with open(path, 'wb') as handle:
        if cert is not None:
            handle.write(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(path)


@pytest.fixture(scope='session')
def pki(tmp_path_factory):
    """A CA, a server certificate for localhost/127.0.0.1, a client certificate, and an unrelated CA."""
    pytest.importorskip('cryptography')
    base = tmp_path_factory.mktemp('pki')
    ca_cert, ca_key = _make_cert('Hospital Imaging Test CA', is_ca=True)
    server_cert, server_key = _make_cert('localhost', ca_cert, ca_key, server=True)
    client_cert, client_key = _make_cert('IMAGING-CHECK', ca_cert, ca_key, client=True)
    other_ca, _other_key = _make_cert('Some Other CA', is_ca=True)
    return dict(
        ca=_write(base / 'ca.crt', ca_cert),
        server_cert=_write(base / 'server.crt', server_cert),
        server_key=_write(base / 'server.key', key=server_key),
        client_cert=_write(base / 'client.crt', client_cert),
        client_key=_write(base / 'client.key', key=client_key),
        other_ca=_write(base / 'other-ca.crt', other_ca),
    )


def free_port():
    import socket
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port
