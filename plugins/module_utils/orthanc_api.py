# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Orthanc REST client for modules: credentials, CA verification, timeouts, and
errors turned into messages that say what to check."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import socket
import ssl

from ansible.module_utils.six.moves import http_client
from ansible.module_utils.six.moves.urllib.parse import quote, urlparse


def orthanc_argument_spec():
    """Connection options shared by every module that talks to Orthanc's REST API."""
    return dict(
        url=dict(type='str', default='http://127.0.0.1:8042'),
        username=dict(type='str'),
        password=dict(type='str', no_log=True),
        ca_path=dict(type='path'),
        validate_certs=dict(type='bool', default=True),
        timeout=dict(type='int', default=30),
    )


class OrthancError(Exception):
    """An Orthanc REST call failed; ``str(err)`` says what failed and what to check."""

    def __init__(self, msg, status=None, body=None):
        super(OrthancError, self).__init__(msg)
        self.status = status
        self.body = body


HTTP_HINTS = {
    400: 'Orthanc refused the request as malformed: check the values sent (Orthanc logs the detail)',
    401: 'authentication failed: check username and password, and that this user is in Orthanc\'s RegisteredUsers',
    403: 'access forbidden: check RemoteAccessAllowed in Orthanc\'s configuration, and any reverse proxy or authorization plugin in front of it',
    404: 'not found: check that url points at Orthanc\'s REST root (no path unless a proxy publishes it under one) and the object name',
    405: 'method not allowed: check the url (a reverse proxy may publish Orthanc read-only) and Orthanc\'s version',
    500: 'Orthanc reported an internal error: check Orthanc\'s log (journalctl -u orthanc)',
    502: 'a reverse proxy could not reach Orthanc: check that Orthanc is running behind it',
    503: 'service unavailable: check that Orthanc has finished starting',
    504: 'a reverse proxy timed out waiting for Orthanc: check Orthanc\'s load and the proxy timeout',
}


class OrthancClient(object):
    """JSON client over one kept-alive HTTP(S) connection (a list of hundreds of modalities is written
    request after request: a new TCP and TLS set-up for each would cost more than Orthanc's work)."""

    def __init__(self, url, username=None, password=None, ca_path=None, validate_certs=True, timeout=30):
        parsed = urlparse(url or '')
        if parsed.scheme not in ('http', 'https') or not parsed.hostname:
            raise OrthancError('url %r is not an http:// or https:// URL: check the url option' % (url,))
        if bool(username) != bool(password):
            raise OrthancError('username and password must be given together: check both options')
        self.url = url.rstrip('/')
        self.scheme = parsed.scheme
        self.host = parsed.hostname
        try:
            self.port = parsed.port or (443 if parsed.scheme == 'https' else 80)
        except ValueError:
            raise OrthancError('url %r has an invalid port: check the url option' % (url,))
        self.prefix = parsed.path.rstrip('/')
        self.username = username
        self.password = password
        self.ca_path = ca_path
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.requests = 0
        self._conn = None
        self._context = None
        self._auth = None
        if username:
            token = base64.b64encode(('%s:%s' % (username, password)).encode('utf-8')).decode('ascii')
            self._auth = 'Basic ' + token

    @classmethod
    def from_module(cls, module):
        p = module.params
        return cls(p['url'], username=p['username'], password=p['password'], ca_path=p['ca_path'],
                   validate_certs=p['validate_certs'], timeout=p['timeout'])

    @staticmethod
    def path(*parts):
        return '/' + '/'.join(quote(str(part), safe='') for part in parts)

    def _describe(self, method, path):
        return '%s %s%s' % (method, self.url, path)

    def _ssl_context(self):
        if self._context is None:
            if self.validate_certs:
                try:
                    context = ssl.create_default_context(cafile=self.ca_path)
                except (IOError, OSError, ssl.SSLError) as err:
                    raise OrthancError('cannot load ca_path %s (%s): check that it is a readable PEM file of CA '
                                       'certificates' % (self.ca_path, _first_line(err)))
            else:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._context = context
        return self._context

    def _connect(self):
        if self.scheme == 'https':
            return http_client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self._ssl_context())
        return http_client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _exchange(self, method, path, data, headers):
        """Send one request on the kept-alive connection; reconnect once if the server closed it meanwhile."""
        for attempt in (1, 2):
            reused = self._conn is not None
            if self._conn is None:
                self._conn = self._connect()
            try:
                self._conn.request(method, self.prefix + path, body=data, headers=headers)
                response = self._conn.getresponse()
                body = response.read()
            except (http_client.RemoteDisconnected, http_client.BadStatusLine, BrokenPipeError,
                    ConnectionResetError) as err:
                self.close()
                if reused and attempt == 1:
                    continue
                raise err
            except Exception:
                self.close()
                raise
            if response.getheader('Connection', '').lower() == 'close':
                self.close()
            return response, body
        raise OrthancError('unreachable')  # pragma: no cover

    def request(self, method, path, payload=None):
        """Send one request; return the decoded JSON body (None when empty)."""
        data = None
        headers = {'Accept': 'application/json'}
        if self._auth:
            headers['Authorization'] = self._auth
        if payload is not None:
            data = json.dumps(payload).encode('utf-8')
            headers['Content-Type'] = 'application/json'
        what = self._describe(method, path)
        self.requests += 1
        try:
            response, body = self._exchange(method, path, data, headers)
        except OrthancError:
            raise
        except (socket.timeout, ssl.SSLError, OSError, http_client.HTTPException, ValueError) as err:
            raise OrthancError(self._url_error(what, err))
        if response.status >= 300:
            raise self._http_error(what, response.status, response.reason, response.getheader('Location'), body)
        if not body:
            return None
        try:
            return json.loads(body)
        except ValueError:
            raise OrthancError('%s: the answer is not JSON (%r...): check that url points at Orthanc\'s REST API, '
                               'not at a web page or another service' % (what, body[:60]))

    def _url_error(self, what, reason):
        if isinstance(reason, (socket.timeout, TimeoutError)) or 'timed out' in str(reason):
            hint = ('no answer within %ss: check that the host is reachable, that a firewall does not drop the port, '
                    'and raise timeout if Orthanc is busy' % self.timeout)
        elif isinstance(reason, ConnectionRefusedError):
            hint = 'connection refused: check that Orthanc is running and listens on this host and port (HttpPort, RemoteAccessAllowed)'
        elif isinstance(reason, socket.gaierror):
            hint = 'the host name does not resolve: check the url host and DNS'
        elif isinstance(reason, ssl.SSLCertVerificationError):
            hint = ('TLS certificate verification failed (%s): check ca_path names the CA that signed Orthanc\'s '
                    'certificate and that the url host is one of the names in that certificate' % getattr(reason, 'verify_message', reason))
        elif isinstance(reason, ssl.SSLError):
            hint = ('TLS handshake failed (%s): check that the url scheme matches the server (https only where Orthanc '
                    'or its proxy serves TLS) and the TLS versions both ends accept' % _first_line(reason))
        elif isinstance(reason, (ConnectionResetError, http_client.HTTPException)):
            hint = ('the server closed the connection: check the url scheme (http against a TLS port, or https against '
                    'a plain one) and the server\'s log')
        else:
            hint = '%s: check the url, the network path to Orthanc and Orthanc\'s log' % _first_line(reason)
        return '%s: %s' % (what, hint)

    def _http_error(self, what, status, reason, location, body):
        detail = ''
        try:
            decoded = json.loads(body)
            if isinstance(decoded, dict):
                parts = [decoded.get('Message'), decoded.get('Details')]
                detail = '; '.join(str(p) for p in parts if p)
        except ValueError:
            detail = body[:200].decode('utf-8', 'replace').strip() if body else ''
        hint = HTTP_HINTS.get(status)
        if hint is None and 300 <= status < 400:
            hint = ('redirected to %s: check the url (scheme, host, port or path; a proxy may redirect http to https)'
                    % (location or 'another address'))
        elif hint is None:
            hint = 'check Orthanc\'s log' if status >= 500 else 'check the request and Orthanc\'s log'
        msg = '%s: HTTP %s %s: %s' % (what, status, reason or '', hint)
        if detail:
            msg += ' (Orthanc says: %s)' % detail
        return OrthancError(msg, status=status, body=body)

    def get(self, path):
        return self.request('GET', path)

    def put(self, path, payload):
        return self.request('PUT', path, payload)

    def post(self, path, payload):
        return self.request('POST', path, payload)

    def delete(self, path):
        return self.request('DELETE', path)

    def system(self):
        return self.get('/system')


def _first_line(value):
    text = str(value).strip()
    return text.splitlines()[0] if text else type(value).__name__
