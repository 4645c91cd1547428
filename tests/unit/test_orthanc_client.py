"""The Orthanc REST client turns every HTTP, TLS and connection failure into a message saying what to check.

Each case talks to a real local socket (HTTP server, TLS server, closed port, silent listener).
"""

import base64
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.hospital.imaging.plugins.module_utils.orthanc_api import OrthancClient, OrthancError

from conftest import free_port

USER, PASSWORD = 'ansible', 'correct horse battery'


class Handler(BaseHTTPRequestHandler):
    routes = {
        '/system': (200, 'application/json', json.dumps({'Name': 'unit', 'Version': '1.12.7'})),
        '/forbidden': (403, 'application/json', json.dumps({'HttpStatus': 403, 'Message': 'Forbidden'})),
        '/broken': (500, 'application/json', json.dumps({'Message': 'Internal error', 'Details': 'database locked'})),
        '/bad': (400, 'application/json', json.dumps({'Message': 'Bad request', 'Details': 'Unknown manufacturer'})),
        '/html': (200, 'text/html', '<html><body>It works</body></html>'),
        '/empty': (200, 'application/json', ''),
    }

    def log_message(self, *args):
        pass

    def _answer(self):
        expected = 'Basic ' + base64.b64encode(('%s:%s' % (USER, PASSWORD)).encode()).decode()
        if self.headers.get('Authorization') != expected:
            return self._send(401, 'text/plain', '')
        if self.path == '/moved':
            self.send_response(302)
            self.send_header('Location', 'https://elsewhere.example/')
            self.send_header('Content-Length', '0')
            self.end_headers()
            return None
        if self.path == '/echo-body':
            length = int(self.headers.get('Content-Length') or 0)
            body = self.rfile.read(length).decode()
            return self._send(200, 'application/json', json.dumps({'method': self.command, 'body': json.loads(body)}))
        status, ctype, body = self.routes.get(self.path, (404, 'application/json', json.dumps({'Message': 'Unknown resource'})))
        return self._send(status, ctype, body)

    def _send(self, status, ctype, body):
        data = body.encode()
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_DELETE = do_POST = _answer


@pytest.fixture(params=['http', 'https'])
def server(request, pki):
    httpd = HTTPServer(('127.0.0.1', 0), Handler)
    if request.param == 'https':
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pki['server_cert'], pki['server_key'])
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield request.param, 'https://localhost:%d' % httpd.server_port if request.param == 'https' else \
        'http://127.0.0.1:%d' % httpd.server_port
    httpd.shutdown()
    httpd.server_close()


def client(url, pki, **kwargs):
    kwargs.setdefault('username', USER)
    kwargs.setdefault('password', PASSWORD)
    kwargs.setdefault('ca_path', pki['ca'])
    kwargs.setdefault('timeout', 5)
    return OrthancClient(url, **kwargs)


def error_of(call):
    with pytest.raises(OrthancError) as exc:
        call()
    return exc.value


def test_success_and_request_count(server, pki):
    _scheme, url = server
    api = client(url, pki)
    assert api.system()['Version'] == '1.12.7'
    assert api.put('/echo-body', {'AET': 'CT1'}) == {'method': 'PUT', 'body': {'AET': 'CT1'}}
    assert api.delete('/empty') is None
    assert api.requests == 3


@pytest.mark.parametrize('path, status, hint', [
    ('/forbidden', 403, 'RemoteAccessAllowed'),
    ('/nowhere', 404, 'REST root'),
    ('/broken', 500, 'journalctl -u orthanc'),
    ('/bad', 400, 'Unknown manufacturer'),
    ('/moved', 302, 'redirected to https://elsewhere.example/'),
])
def test_http_errors_say_what_to_check(server, pki, path, status, hint):
    err = error_of(lambda: client(server[1], pki).get(path))
    assert err.status == status
    assert hint in str(err)
    assert path in str(err)


def test_wrong_password(server, pki):
    err = error_of(lambda: client(server[1], pki, password='wrong').system())
    assert err.status == 401
    assert 'check username and password' in str(err)
    assert 'wrong' not in str(err)


def test_not_json(server, pki):
    err = error_of(lambda: client(server[1], pki).get('/html'))
    assert 'not JSON' in str(err) and 'REST API' in str(err)


def test_untrusted_certificate(pki):
    httpd = HTTPServer(('127.0.0.1', 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki['server_cert'], pki['server_key'])
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = 'https://localhost:%d' % httpd.server_port
        err = error_of(lambda: client(url, pki, ca_path=pki['other_ca']).system())
        assert 'TLS certificate verification failed' in str(err) and 'ca_path' in str(err)
        # the same server is accepted once verification is off (test hosts only)
        assert client(url, pki, ca_path=None, validate_certs=False).system()['Name'] == 'unit'
        # https to a plain port, and http to a TLS port
        err = error_of(lambda: client('http://127.0.0.1:%d' % httpd.server_port, pki, timeout=3).system())
        assert 'check' in str(err)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_https_against_plain_http(pki):
    httpd = HTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        err = error_of(lambda: client('https://127.0.0.1:%d' % httpd.server_port, pki).system())
        assert 'TLS handshake failed' in str(err) and 'url scheme' in str(err)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_connection_refused(pki):
    err = error_of(lambda: client('http://127.0.0.1:%d' % free_port(), pki).system())
    assert 'connection refused' in str(err) and 'Orthanc is running' in str(err)


def test_timeout(pki):
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    try:
        err = error_of(lambda: client('http://127.0.0.1:%d' % listener.getsockname()[1], pki, timeout=1).system())
        assert 'no answer within 1s' in str(err) and 'timeout' in str(err)
    finally:
        listener.close()


@pytest.mark.parametrize('url, kwargs, message', [
    ('ftp://127.0.0.1/', {}, 'not an http:// or https:// URL'),
    ('127.0.0.1:8042', {}, 'not an http:// or https:// URL'),
    ('http://127.0.0.1:8042', dict(password=None), 'username and password must be given together'),
])
def test_bad_client_arguments(pki, url, kwargs, message):
    err = error_of(lambda: client(url, pki, **kwargs))
    assert message in str(err)


class KeepAliveHandler(Handler):
    protocol_version = 'HTTP/1.1'
    connections = set()

    def handle(self):
        KeepAliveHandler.connections.add(id(self.connection))
        return Handler.handle(self)


def test_one_connection_for_many_requests(pki):
    """Hundreds of modalities are written request after request: the client keeps one connection."""
    KeepAliveHandler.connections = set()
    httpd = HTTPServer(('127.0.0.1', 0), KeepAliveHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    api = client('http://127.0.0.1:%d' % httpd.server_port, pki)
    try:
        for number in range(20):
            assert api.put('/echo-body', {'n': number})['body'] == {'n': number}
        assert api.requests == 20
        assert len(KeepAliveHandler.connections) == 1
    finally:
        api.close()
        httpd.shutdown()
        httpd.server_close()


def test_unreadable_ca_path(pki, tmp_path):
    err = error_of(lambda: client('https://localhost:1', pki, ca_path=str(tmp_path / 'missing.crt')).system())
    assert 'cannot load ca_path' in str(err)
