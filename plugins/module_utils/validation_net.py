# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OQ probes over the network: TCP, TLS, HTTP, DICOMweb, PostgreSQL and Redis. Read-only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import ssl
import time

from ansible_collections.hospital.imaging.plugins.module_utils.validation_records import combine, result


# --------------------------------------------------------------------------- OQ probes


def tcp_connect(host, port, timeout):
    start = time.time()
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout)
        sock.close()
        return True, round((time.time() - start) * 1000, 2), "connected"
    except (socket.error, OSError) as exc:
        return False, round((time.time() - start) * 1000, 2), str(exc)


def check_tcp(host, port, expect, timeout):
    opened, ms, text = tcp_connect(host, port, timeout)
    actual = "open" if opened else "closed"
    return result("pass" if actual == expect else "fail", {"host": host, "port": port, "state": expect},
                  {"state": actual, "detail": text}, "%s:%s is %s (%s)" % (host, port, actual, text),
                  {"elapsed_ms": ms, "error": None if opened else text})


_TLS_VERSIONS = {"1.0": "TLSv1", "1.1": "TLSv1_1", "1.2": "TLSv1_2", "1.3": "TLSv1_3"}


def tls_handshake(host, port, server_name, ca, version_min=None, version_max=None, timeout=5.0, verify=True,
                  client_cert=None, client_key=None, ciphers=None):
    """One TLS handshake; returns a dict with ok, version, cipher, peer subject or the error."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if client_cert:
        ctx.load_cert_chain(client_cert, client_key)
    if verify and ca:
        ctx.load_verify_locations(cafile=ca)
        ctx.check_hostname = bool(server_name)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if version_min:
        ctx.minimum_version = getattr(ssl.TLSVersion, _TLS_VERSIONS[version_min])
    if version_max:
        ctx.maximum_version = getattr(ssl.TLSVersion, _TLS_VERSIONS[version_max])
        if version_max in ("1.0", "1.1"):
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    out = {"host": host, "port": int(port), "server_name": server_name, "offered_min": version_min,
           "offered_max": version_max}
    if ciphers:
        try:
            ctx.set_ciphers(ciphers + ":@SECLEVEL=0")
        except ssl.SSLError as exc:
            out.update(ok=False, stage="client", error="this client cannot offer %s: %s" % (ciphers, exc),
                       reason="NO_CIPHER_MATCH")
            return out
        out["offered_ciphers"] = ciphers
    try:
        raw = socket.create_connection((host, int(port)), timeout=timeout)
    except (socket.error, OSError) as exc:
        out.update(ok=False, stage="connect", error=str(exc))
        return out
    try:
        with ctx.wrap_socket(raw, server_hostname=server_name or host) as tls:
            cert = tls.getpeercert() or {}
            out.update(ok=True, version=tls.version(), cipher=tls.cipher()[0] if tls.cipher() else None,
                       peer_subject=_name(cert.get("subject")), peer_issuer=_name(cert.get("issuer")),
                       not_after=cert.get("notAfter"))
    except ssl.SSLError as exc:
        out.update(ok=False, stage="handshake", error=str(exc), reason=getattr(exc, "reason", None))
    except (socket.error, OSError) as exc:
        out.update(ok=False, stage="handshake", error=str(exc))
    finally:
        raw.close()
    return out


def _name(rdns):
    if not rdns:
        return None
    return ", ".join("%s=%s" % kv for rdn in rdns for kv in rdn)


def client_side_refusal(attempt):
    """True when an old-protocol or old-suite attempt failed on our side (we could not even offer it)."""
    if attempt.get("stage") == "client":
        return True
    reason = str(attempt.get("reason") or "") + " " + str(attempt.get("error") or "")
    return "NO_PROTOCOLS_AVAILABLE" in reason or "no protocols available" in reason


def check_tls(host, port, server_name, ca, min_version, refuse_below, timeout, client_cert=None, client_key=None,
              refuse_ciphers=None):
    """A handshake from min_version up that chains to the CA; refused below refuse_below; and each suite of
    refuse_ciphers (OpenSSL names, offered alone on TLS 1.2, e.g. the CBC suites) refused."""
    good = tls_handshake(host, port, server_name, ca, version_min=min_version, timeout=timeout,
                         client_cert=client_cert, client_key=client_key)
    attempts = {"modern": good}
    problems = []
    refused_ciphers = []
    for cipher in refuse_ciphers or []:
        tried = tls_handshake(host, port, server_name, ca, version_max="1.2", timeout=timeout, verify=False,
                              client_cert=client_cert, client_key=client_key, ciphers=cipher)
        attempts["suite %s" % cipher] = tried
        if tried.get("ok"):
            problems.append("server accepted %s (%s)" % (cipher, tried.get("version")))
        elif client_side_refusal(tried):
            return result("error", {"handshake": "ok", "refused_ciphers": list(refuse_ciphers)}, attempts,
                          "this client cannot offer %s, its refusal was not observed" % cipher, attempts)
        else:
            refused_ciphers.append(cipher)
    if not good.get("ok"):
        problems.append("TLS %s+ handshake with CA verification failed: %s" % (min_version, good.get("error")))
    if refuse_below:
        old_max = {"1.2": "1.1", "1.3": "1.2"}.get(refuse_below)
        old = tls_handshake(host, port, server_name, ca, version_min="1.0", version_max=old_max,
                            timeout=timeout, verify=False, client_cert=client_cert, client_key=client_key)
        attempts["below_%s" % refuse_below] = old
        if old.get("ok"):
            problems.append("server accepted %s below TLS %s" % (old.get("version"), refuse_below))
        elif client_side_refusal(old):
            return result("error", {"handshake": "ok", "refused_below": refuse_below}, attempts,
                          "this client cannot offer TLS below %s, the refusal was not observed" % refuse_below, attempts)
    actual = {"handshake": "ok" if good.get("ok") else "failed", "version": good.get("version"),
              "refused_below": refuse_below if refuse_below and not attempts.get("below_%s" % refuse_below, {}).get("ok") else None}
    expected = {"handshake": "ok", "min_version": min_version, "refused_below": refuse_below}
    if refuse_ciphers:
        actual["refused_ciphers"] = refused_ciphers
        expected["refused_ciphers"] = list(refuse_ciphers)
    return result("fail" if problems else "pass", expected, actual,
                  "; ".join(problems) or "%s:%s negotiated %s%s%s" % (host, port, good.get("version"), (
                      "; older than TLS %s refused (%s)" % (refuse_below, attempts["below_%s" % refuse_below].get("error"))
                      if refuse_below else ""), (
                      "; every non-AEAD suite offered (%s) refused" % ", ".join(refuse_ciphers) if refuse_ciphers else "")),
                  attempts)


def check_redis(host, port, server_name, ca, username, password, timeout):
    """PING without credentials must be refused (NOAUTH); after AUTH it must answer PONG."""
    ctx = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
    ctx.check_hostname = bool(server_name)
    evidence = {}

    def talk(commands):
        raw = socket.create_connection((host, int(port)), timeout=timeout)
        replies = []
        try:
            with ctx.wrap_socket(raw, server_hostname=server_name or host) as tls:
                evidence["tls_version"] = tls.version()
                for cmd in commands:
                    payload = "*%d\r\n" % len(cmd) + "".join("$%d\r\n%s\r\n" % (len(c.encode()), c) for c in cmd)
                    tls.sendall(payload.encode())
                    replies.append(tls.recv(4096).decode("utf-8", "replace").strip())
        finally:
            raw.close()
        return replies

    try:
        anon = talk([["PING"]])[0]
        auth_cmd = ["AUTH", username, password] if username else ["AUTH", password]
        authed = talk([auth_cmd, ["PING"]])
    except (ssl.SSLError, socket.error, OSError) as exc:
        return result("fail", {"unauthenticated": "NOAUTH", "authenticated": "PONG"}, None,
                      "could not talk TLS to redis %s:%s: %s" % (host, port, exc), evidence)
    evidence.update(unauthenticated_ping=anon, auth_reply=authed[0], authenticated_ping=authed[1])
    actual = {"unauthenticated": anon, "authenticated": authed[1]}
    problems = []
    if not anon.startswith("-NOAUTH"):
        problems.append("PING without credentials answered %r" % anon)
    if authed[1] != "+PONG":
        problems.append("PING after AUTH answered %r" % authed[1])
    return result("fail" if problems else "pass", {"unauthenticated": "-NOAUTH ...", "authenticated": "+PONG"},
                  actual, "; ".join(problems) or "redis refused an anonymous PING and answered after AUTH", evidence)


def check_postgresql(host, port, dbname, user, password, ca, server_name, run, timeout):
    """Through PgBouncer: TLS with verify-full and the password succeeds; plaintext and a wrong password fail."""
    def attempt(sslmode, secret):
        conninfo = "host=%s port=%s dbname=%s user=%s sslmode=%s connect_timeout=%d" % (
            server_name or host, port, dbname, user, sslmode, int(timeout))
        if sslmode == "verify-full" and ca:
            conninfo += " sslrootcert=%s" % ca
        if server_name and server_name != host:
            conninfo += " hostaddr=%s" % host
        rc, out, err = run(["psql", "-X", "-A", "-t", "-w", conninfo, "-c", "select 1"],
                           environ_update={"PGPASSWORD": secret})
        return {"sslmode": sslmode, "rc": rc, "stdout": out.strip(), "stderr": err.strip()}

    good = attempt("verify-full", password)
    plain = attempt("disable", password)
    wrong = attempt("verify-full", password + "-wrong")
    evidence = {"tls_scram": good, "plaintext": plain, "wrong_password": wrong}
    problems = []
    if good["rc"] != 0 or good["stdout"] != "1":
        problems.append("TLS connection with the password failed: %s" % good["stderr"])
    if plain["rc"] == 0:
        problems.append("plaintext connection was accepted")
    if wrong["rc"] == 0:
        problems.append("a wrong password was accepted")
    actual = {"tls_with_password": "ok" if good["rc"] == 0 else "refused",
              "plaintext": "ok" if plain["rc"] == 0 else "refused",
              "wrong_password": "ok" if wrong["rc"] == 0 else "refused"}
    return result("fail" if problems else "pass",
                  {"tls_with_password": "ok", "plaintext": "refused", "wrong_password": "refused"}, actual,
                  "; ".join(problems) or "TLS+password accepted; plaintext (%s) and wrong password (%s) refused" % (
                      plain["stderr"].splitlines()[-1] if plain["stderr"] else "", wrong["stderr"].splitlines()[-1] if wrong["stderr"] else ""),
                  evidence)


def http_request(url, method, headers, body, ca, timeout, username=None, password=None):
    """One HTTP request; returns {status, reason, elapsed_ms, headers, body_excerpt} or {error}."""
    import base64
    try:
        from urllib.request import Request, build_opener, HTTPSHandler
        from urllib.error import HTTPError, URLError
    except ImportError:  # pragma: no cover - Python 2 is not supported
        raise
    headers = dict(headers or {})
    if username is not None:
        token = base64.b64encode(("%s:%s" % (username, password or "")).encode()).decode()
        headers["Authorization"] = "Basic " + token
    data = body.encode("utf-8") if isinstance(body, str) else body
    ctx = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
    opener = build_opener(HTTPSHandler(context=ctx))
    req = Request(url, data=data, headers=headers, method=method)
    start = time.time()
    try:
        resp = opener.open(req, timeout=timeout)
        status, reason, payload, hdrs = resp.status, resp.reason, resp.read(2048), dict(resp.headers)
    except HTTPError as exc:
        status, reason, payload, hdrs = exc.code, exc.reason, exc.read(2048), dict(exc.headers or {})
    except (URLError, ssl.SSLError, socket.error, OSError) as exc:
        return {"url": url, "error": str(getattr(exc, "reason", exc)), "elapsed_ms": round((time.time() - start) * 1000, 2)}
    return {"url": url, "method": method, "status": status, "reason": str(reason),
            "elapsed_ms": round((time.time() - start) * 1000, 2),
            "headers": dict((k, v) for k, v in hdrs.items() if k.lower() in ("content-type", "www-authenticate", "server")),
            "body_excerpt": payload.decode("utf-8", "replace")[:512]}


def check_http(url, method, expect_status, headers, body, ca, timeout, username=None, password=None):
    got = http_request(url, method, headers, body, ca, timeout, username, password)
    expected = {"url": url, "method": method, "status": list(expect_status), "authenticated": username is not None}
    if "error" in got:
        return result("fail", expected, {"error": got["error"]}, "%s %s failed: %s" % (method, url, got["error"]), got)
    ok = got["status"] in expect_status
    return result("pass" if ok else "fail", expected, {"status": got["status"], "reason": got["reason"]},
                  "%s %s%s answered %s %s%s" % (method, url, " with credentials" if username is not None else " without credentials",
                                                got["status"], got["reason"], "" if ok else " (expected %s)" % "/".join(
                                                    str(s) for s in expect_status)), got)


# --------------------------------------------------------------------------- DICOMweb round trip

_LONG_VRS = ("OB", "OW", "OF", "SQ", "UT", "UN")


def _element(group, elem, vr, value):
    import struct
    if isinstance(value, str):
        raw = value.encode("ascii")
        if len(raw) % 2:
            raw += b"\x00" if vr == "UI" else b" "
    else:
        raw = value
        if len(raw) % 2:
            raw += b"\x00"
    head = struct.pack("<HH", group, elem) + vr.encode("ascii")
    if vr in _LONG_VRS:
        return head + b"\x00\x00" + struct.pack("<I", len(raw)) + raw
    return head + struct.pack("<H", len(raw)) + raw


def make_uid():
    import uuid
    return "2.25.%d" % uuid.uuid4().int


def synthetic_dicom(patient_id, study_uid, series_uid, sop_uid):
    """A small Secondary Capture instance as DICOM Part 10 bytes (explicit VR little endian)."""
    import struct
    sc = "1.2.840.10008.5.1.4.1.1.7"

    def us(value):
        return struct.pack("<H", value)

    meta_body = b"".join([
        _element(0x0002, 0x0001, "OB", b"\x00\x01"),
        _element(0x0002, 0x0002, "UI", sc),
        _element(0x0002, 0x0003, "UI", sop_uid),
        _element(0x0002, 0x0010, "UI", "1.2.840.10008.1.2.1"),
        _element(0x0002, 0x0012, "UI", "2.25.302153137123418424376812893913463437387"),
    ])
    meta = _element(0x0002, 0x0000, "UL", struct.pack("<I", len(meta_body))) + meta_body
    data = b"".join([
        _element(0x0008, 0x0016, "UI", sc),
        _element(0x0008, 0x0018, "UI", sop_uid),
        _element(0x0008, 0x0020, "DA", time.strftime("%Y%m%d", time.gmtime())),
        _element(0x0008, 0x0060, "CS", "OT"),
        _element(0x0010, 0x0010, "PN", "VALIDATION^OQ"),
        _element(0x0010, 0x0020, "LO", patient_id),
        _element(0x0020, 0x000D, "UI", study_uid),
        _element(0x0020, 0x000E, "UI", series_uid),
        _element(0x0020, 0x0013, "IS", "1"),
        _element(0x0028, 0x0002, "US", us(1)),
        _element(0x0028, 0x0004, "CS", "MONOCHROME2"),
        _element(0x0028, 0x0010, "US", us(8)),
        _element(0x0028, 0x0011, "US", us(8)),
        _element(0x0028, 0x0100, "US", us(8)),
        _element(0x0028, 0x0101, "US", us(8)),
        _element(0x0028, 0x0102, "US", us(7)),
        _element(0x0028, 0x0103, "US", us(0)),
        _element(0x7FE0, 0x0010, "OB", bytes(bytearray(range(64)))),
    ])
    return b"\x00" * 128 + b"DICM" + meta + data


def check_dicomweb(base_url, ca, timeout, username, password, patient_id="VALIDATION-OQ"):
    """STOW-RS then WADO-RS (metadata) with credentials succeed; both without credentials get 401."""
    study, series, sop = make_uid(), make_uid(), make_uid()
    body = synthetic_dicom(patient_id, study, series, sop)
    boundary = "validation-%s" % sop.rsplit(".", 1)[-1][:20]
    multipart = (("--%s\r\nContent-Type: application/dicom\r\n\r\n" % boundary).encode() + body
                 + ("\r\n--%s--\r\n" % boundary).encode())
    stow_headers = {"Content-Type": 'multipart/related; type="application/dicom"; boundary=%s' % boundary,
                    "Accept": "application/dicom+json"}
    wado_url = "%s/studies/%s/series/%s/instances/%s/metadata" % (base_url.rstrip("/"), study, series, sop)
    stow_url = "%s/studies" % base_url.rstrip("/")
    anon_stow = http_request(stow_url, "POST", stow_headers, multipart, ca, timeout)
    stow = http_request(stow_url, "POST", stow_headers, multipart, ca, timeout, username, password)
    wado = http_request(wado_url, "GET", {"Accept": "application/dicom+json"}, None, ca, timeout, username, password)
    anon_wado = http_request(wado_url, "GET", {"Accept": "application/dicom+json"}, None, ca, timeout)
    evidence = {"study_instance_uid": study, "sop_instance_uid": sop, "stow": stow, "wado": wado,
                "stow_without_credentials": anon_stow, "wado_without_credentials": anon_wado}
    actual = {"stow": stow.get("status", stow.get("error")), "wado": wado.get("status", wado.get("error")),
              "wado_has_instance": sop in (wado.get("body_excerpt") or ""),
              "stow_without_credentials": anon_stow.get("status", anon_stow.get("error")),
              "wado_without_credentials": anon_wado.get("status", anon_wado.get("error"))}
    problems = []
    if actual["stow"] != 200:
        problems.append("STOW-RS with credentials answered %s" % actual["stow"])
    if actual["wado"] != 200 or not actual["wado_has_instance"]:
        problems.append("WADO-RS metadata with credentials answered %s%s" % (
            actual["wado"], "" if actual["wado_has_instance"] else " without the stored instance"))
    for key in ("stow_without_credentials", "wado_without_credentials"):
        if actual[key] != 401:
            problems.append("%s answered %s, expected 401" % (key.replace("_", " "), actual[key]))
    expected = {"stow": 200, "wado": 200, "wado_has_instance": True, "stow_without_credentials": 401,
                "wado_without_credentials": 401}
    return result("fail" if problems else "pass", expected, actual,
                  "; ".join(problems) or "STOW-RS stored %s and WADO-RS returned it; both refused (401) without credentials" % sop,
                  evidence)


# --------------------------------------------------------------------------- runners
# Each runner takes the check's context (records, run_cmd, username, password, fail) and its
# validated params; validation_judge.KINDS names them.


def run_tcp(ctx, p):
    ports = list(p["ports"] or []) + ([p["port"]] if p["port"] else [])
    if not ports:
        ctx.fail("the tcp check needs port or ports")
    return combine([check_tcp(p["host"], port, p["state"], p["timeout"]) for port in ports])


def run_tls(ctx, p):  # pylint: disable=unused-argument
    return check_tls(p["host"], p["port"], p["server_name"], p["ca"], p["min_version"], p["refuse_below"],
                     p["timeout"], client_cert=p["client_cert"], client_key=p["client_key"],
                     refuse_ciphers=p.get("refuse_ciphers"))


def run_http(ctx, p):
    if p["authenticate"] and (not ctx.username or ctx.password is None):
        ctx.fail("authenticate needs username and password")
    return check_http(p["url"], p["method"], p["status"], p["headers"], p["body"], p["ca"], p["timeout"],
                      ctx.username if p["authenticate"] else None, ctx.password if p["authenticate"] else None)


def run_health(ctx, p):
    """One declared health URL; a host that declares none has nothing to check."""
    if not p.get("url"):
        return result("not_applicable", [], [], "validation_health_urls declares no health URL for this host")
    return run_http(ctx, p)


def run_dicomweb(ctx, p):
    if not ctx.username or ctx.password is None:
        ctx.fail("the dicomweb check needs username and password")
    return check_dicomweb(p["url"], p["ca"], p["timeout"], ctx.username, ctx.password)


def run_postgresql(ctx, p):
    if not ctx.username or ctx.password is None:
        ctx.fail("the postgresql check needs username and password")
    return check_postgresql(p["host"], p["port"], p["dbname"], ctx.username, ctx.password, p["ca"], p["server_name"],
                            ctx.run_cmd, p["timeout"])


def run_redis(ctx, p):
    if ctx.password is None:
        ctx.fail("the redis check needs password")
    return check_redis(p["host"], p["port"], p["server_name"], p["ca"], ctx.username, ctx.password, p["timeout"])
