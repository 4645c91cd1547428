# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation report: the one place that turns check results into report files.

Inputs are plain data (the requirements catalogue, the check results, the run identity,
optional PQ series); outputs are a run directory holding report.json, report.html,
junit.xml, evidence/<host>/<requirement>.json and manifest.sha256 (sha256sum format),
optionally signed with ``ssh-keygen -Y sign`` (manifest.sha256.sig).
``verify_run_dir`` recomputes every hash and reports changed, missing and extra files.

Pure Python standard library only: it runs on the controller and in the unit tests.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import html
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET

SCHEMA_VERSION = "1.0"
STATUSES = ("fail", "error", "not_run", "waived", "pass", "not_applicable", "not_in_scope")
FAILING = ("fail", "error", "not_run")
ROW_STATUSES = ("pass", "fail", "error", "waived", "not_applicable")
MANIFEST = "manifest.sha256"
SIGNATURE = MANIFEST + ".sig"
SIGN_NAMESPACE = "hospital-imaging-report"
_ORDER = dict((s, i) for i, s in enumerate(STATUSES))
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(value):
    """File-system safe name for a host or requirement ID."""
    cleaned = _SAFE.sub("_", str(value)).strip("._")
    return cleaned or "unnamed"


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(65536), b""):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_json(value):
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n"


def requirement_status(statuses):
    """Aggregate the per-host statuses of one requirement into one status."""
    statuses = [s for s in statuses if s]
    if not statuses:
        return "not_run"
    for status in ("error", "fail", "not_run"):
        if status in statuses:
            return status
    if "pass" in statuses:
        return "waived" if "waived" in statuses else "pass"
    if "waived" in statuses:
        return "waived"
    if all(s == "not_in_scope" for s in statuses):
        return "not_in_scope"
    return "not_applicable"


def build_report(catalogue, results, run, scope=None, pq=None):
    """Assemble the report document (the object report.json holds).

    catalogue: list of requirement dicts (id, title, statement, qualification, regulations,
    risk, acceptance, check). results: list of dicts (requirement, host, status, expected,
    actual, message, evidence). run: identity dict. scope: qualifications in scope
    (default IQ, OQ, PQ); requirements outside it are reported as not_in_scope.
    """
    scope = [s.upper() for s in (scope or ["IQ", "OQ", "PQ"])]
    known = dict((r["id"], r) for r in catalogue)
    by_req = {}
    rows = []
    for raw in results:
        row = normalise_result(raw)
        if row["requirement"] not in known:
            row["status"] = "error"
            row["message"] = "result for a requirement that is not in the catalogue: %s" % row["requirement"]
        by_req.setdefault(row["requirement"], []).append(row)
        rows.append(row)

    requirements = []
    for req in catalogue:
        qual = str(req.get("qualification") or req["id"].split("-")[0]).upper()
        own = by_req.get(req["id"], [])
        if qual not in scope:
            status = "not_in_scope"
        else:
            status = requirement_status([r["status"] for r in own])
        requirements.append({
            "id": req["id"],
            "title": req.get("title", ""),
            "statement": req.get("statement", ""),
            "qualification": qual,
            "regulations": list(req.get("regulations") or []),
            "guidelines": list(req.get("guidelines") or []),
            "risk": req.get("risk", "medium"),
            "acceptance": req.get("acceptance", ""),
            "check": _check_label(req.get("check")),
            "status": status,
            "hosts": sorted(set(r["host"] for r in own)),
        })
    requirements.sort(key=lambda r: (_ORDER.get(r["status"], 99), r["id"]))
    rows.sort(key=lambda r: (_ORDER.get(r["status"], 99), r["requirement"], r["host"]))

    summary = dict((s, 0) for s in STATUSES)
    for req in requirements:
        summary[req["status"]] = summary.get(req["status"], 0) + 1
    summary["requirements"] = len(requirements)
    summary["results"] = len(rows)
    failing = [r for r in requirements if r["status"] in FAILING]
    verdict = "FAIL" if failing or any(r["status"] in FAILING for r in rows) else "PASS"

    waivers = [dict(requirement=r["requirement"], host=r["host"], id=(r.get("waiver") or {}).get("id", ""),
                    reason=(r.get("waiver") or {}).get("reason", r["message"]))
               for r in rows if r["status"] == "waived"]
    deviations = []
    for req in failing:
        hosts = [r for r in by_req.get(req["id"], []) if r["status"] in FAILING]
        if not hosts:
            deviations.append({"requirement": req["id"], "host": "", "status": req["status"],
                               "risk": req["risk"], "message": "the check did not run"})
        for row in hosts:
            deviations.append({"requirement": req["id"], "host": row["host"], "status": row["status"],
                               "risk": req["risk"], "message": row["message"]})
    return {
        "schema_version": SCHEMA_VERSION,
        "verdict": verdict,
        "run": run,
        "scope": scope,
        "summary": summary,
        "requirements": requirements,
        "results": rows,
        "waivers": waivers,
        "deviations": deviations,
        "pq": pq or {},
    }


def _check_label(check):
    if isinstance(check, dict):
        name = check.get("module") or "validation_check"
        kind = check.get("kind")
        return "%s:%s" % (name, kind) if kind else str(name)
    return str(check or "")


def normalise_result(raw):
    status = str(raw.get("status") or "error")
    message = str(raw.get("message") or "")
    if status not in ROW_STATUSES:
        message = "unknown status %r: %s" % (status, message)
        status = "error"
    return {
        "requirement": str(raw.get("requirement") or "UNKNOWN"),
        "host": str(raw.get("host") or "controller"),
        "check": str(raw.get("check") or ""),
        "status": status,
        "expected": raw.get("expected"),
        "actual": raw.get("actual"),
        "message": message,
        "evidence": raw.get("evidence") if raw.get("evidence") is not None else {},
        "waiver": raw.get("waiver") or None,
        "duration_s": raw.get("duration_s"),
    }


# --------------------------------------------------------------------------- writing


def write_run_dir(path, report, extra_files=None):
    """Write every report file into ``path`` and the manifest last. Returns the manifest entries."""
    if not os.path.isdir(path):
        os.makedirs(path)
    used = set()
    for row in report["results"]:
        base = os.path.join("evidence", safe_name(row["host"]), safe_name(row["requirement"]))
        rel, number = base + ".json", 1
        while rel in used:
            number += 1
            rel = "%s-%d.json" % (base, number)
        used.add(rel)
        data = canonical_json({"requirement": row["requirement"], "host": row["host"], "check": row["check"],
                               "status": row["status"], "expected": row["expected"], "actual": row["actual"],
                               "message": row["message"], "evidence": row["evidence"]}).encode("utf-8")
        _write(path, rel, data)
        row["evidence_file"] = rel
        row["evidence_sha256"] = sha256_bytes(data)
    for rel, data in sorted((extra_files or {}).items()):
        _write(path, rel, data if isinstance(data, bytes) else data.encode("utf-8"))
    _write(path, "report.json", canonical_json(report).encode("utf-8"))
    _write(path, "report.html", render_html(report).encode("utf-8"))
    _write(path, "junit.xml", render_junit(report))
    entries = build_manifest(path)
    _write(path, MANIFEST, manifest_text(entries).encode("utf-8"))
    return entries


def _write(base, rel, data):
    target = os.path.join(base, rel)
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        os.makedirs(parent)
    with open(target, "wb") as handle:
        handle.write(data)


def build_manifest(path):
    entries = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, path).replace(os.sep, "/")
            if rel in (MANIFEST, SIGNATURE) or os.path.islink(full):
                continue
            entries.append((rel, sha256_file(full)))
    return sorted(entries)


def manifest_text(entries):
    return "".join("%s  %s\n" % (digest, rel) for rel, digest in entries)


def parse_manifest(text):
    entries = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = re.match(r"^([0-9a-f]{64})  (.+)$", line)
        if not match:
            raise ValueError("manifest line %d is malformed" % number)
        entries[match.group(2)] = match.group(1)
    return entries


# --------------------------------------------------------------------------- signing


def sign_manifest(path, key_file, namespace=SIGN_NAMESPACE, runner=subprocess.run):
    """Sign manifest.sha256 with ``ssh-keygen -Y sign``; returns the signature path."""
    manifest = os.path.join(path, MANIFEST)
    proc = runner(["ssh-keygen", "-Y", "sign", "-f", key_file, "-n", namespace, manifest],
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise RuntimeError("ssh-keygen -Y sign failed: %s" % proc.stderr.decode("utf-8", "replace").strip())
    return manifest + ".sig"


def verify_signature(path, allowed_signers, identity, namespace=SIGN_NAMESPACE, runner=subprocess.run):
    manifest = os.path.join(path, MANIFEST)
    with open(manifest, "rb") as handle:
        proc = runner(["ssh-keygen", "-Y", "verify", "-f", allowed_signers, "-I", identity, "-n", namespace,
                       "-s", manifest + ".sig"], stdin=handle, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    text = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip()
    return proc.returncode == 0, text


def verify_run_dir(path, allowed_signers=None, identity=None, namespace=SIGN_NAMESPACE):
    """Check a run directory against its manifest (and signature when asked).

    Returns a dict: ok, changed, missing, extra, signature ({checked, ok, message}).
    """
    result = {"ok": False, "changed": [], "missing": [], "extra": [], "signature": {"checked": False}}
    manifest = os.path.join(path, MANIFEST)
    if not os.path.isfile(manifest):
        result["error"] = "no %s in %s" % (MANIFEST, path)
        return result
    with open(manifest, "r") as handle:
        try:
            recorded = parse_manifest(handle.read())
        except ValueError as exc:
            result["error"] = str(exc)
            return result
    actual = dict(build_manifest(path))
    for rel, digest in sorted(recorded.items()):
        if rel not in actual:
            result["missing"].append(rel)
        elif actual[rel] != digest:
            result["changed"].append(rel)
    result["extra"] = sorted(set(actual) - set(recorded))
    ok = not (result["changed"] or result["missing"] or result["extra"])
    if allowed_signers:
        sig_ok, message = (False, "no signature file %s" % SIGNATURE)
        if os.path.isfile(manifest + ".sig"):
            sig_ok, message = verify_signature(path, allowed_signers, identity or "", namespace)
        result["signature"] = {"checked": True, "ok": sig_ok, "message": message}
        ok = ok and sig_ok
    result["ok"] = ok
    return result


# --------------------------------------------------------------------------- JUnit


def render_junit(report):
    suites = ET.Element("testsuites", name="hospital.imaging validation", tests=str(len(report["results"])))
    by_qual = {}
    for row in report["results"]:
        by_qual.setdefault(row["requirement"].split("-")[0], []).append(row)
    reqs = dict((r["id"], r) for r in report["requirements"])
    for req in report["requirements"]:
        if req["status"] == "not_run":
            by_qual.setdefault(req["qualification"], []).append(
                {"requirement": req["id"], "host": "", "check": req["check"], "status": "not_run",
                 "message": "the check did not run", "duration_s": None})
    for qual in sorted(by_qual):
        rows = by_qual[qual]
        suite = ET.SubElement(suites, "testsuite", name=qual, tests=str(len(rows)),
                              failures=str(sum(1 for r in rows if r["status"] in ("fail", "not_run"))),
                              errors=str(sum(1 for r in rows if r["status"] == "error")),
                              skipped=str(sum(1 for r in rows if r["status"] not in FAILING + ("pass",))))
        for row in rows:
            title = reqs.get(row["requirement"], {}).get("title", "")
            case = ET.SubElement(suite, "testcase", classname="%s.%s" % (qual, row["requirement"]),
                                 name="%s %s [%s]" % (row["requirement"], title, row["host"]),
                                 time="%.3f" % float(row.get("duration_s") or 0))
            if row["status"] in ("fail", "not_run"):
                ET.SubElement(case, "failure", message=row["message"] or row["status"]).text = _short(row)
            elif row["status"] == "error":
                ET.SubElement(case, "error", message=row["message"] or "error").text = _short(row)
            elif row["status"] != "pass":
                ET.SubElement(case, "skipped", message="%s: %s" % (row["status"], row["message"]))
    return ET.tostring(suites, encoding="utf-8")


def _short(row):
    return "expected: %s\nactual: %s" % (json.dumps(row.get("expected"), default=str),
                                         json.dumps(row.get("actual"), default=str))


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;font-size:12px;color:#111;margin:24px;}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;border-bottom:2px solid #333;margin-top:28px}
h3{font-size:13px;margin:14px 0 4px}
.verdict{font-size:28px;font-weight:bold;padding:14px 18px;border:3px solid;margin:8px 0 14px;display:inline-block}
.verdict.PASS{color:#0a5c1a;border-color:#0a5c1a;background:#e7f6ea}
.verdict.FAIL{color:#8b0000;border-color:#8b0000;background:#fdeaea}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border:1px solid #999;padding:3px 5px;
text-align:left;vertical-align:top}th{background:#eee}
.s{font-weight:bold;text-transform:uppercase;white-space:nowrap}
.s-pass{color:#0a5c1a}.s-fail,.s-error,.s-not_run{color:#8b0000}.s-waived{color:#8a5a00}
.s-not_applicable,.s-not_in_scope{color:#666}
pre{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;border:1px solid #ddd;padding:4px;
font-size:10px;margin:2px 0}
.check{page-break-inside:avoid;border-top:1px solid #ccc;padding-top:4px}
.mono{font-family:"DejaVu Sans Mono",monospace;font-size:10px}
@media print{body{margin:10mm}h2{page-break-after:avoid}.verdict{border-width:2px}}
"""


def _e(value):
    return html.escape("" if value is None else str(value), quote=True)


def _j(value):
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=1, sort_keys=True, default=str)


def _status(status):
    return '<span class="s s-%s">%s</span>' % (_e(status), _e(status.replace("_", " ")))


def render_html(report):
    run = report.get("run") or {}
    out = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
           "<title>Validation report %s: %s</title>" % (_e(run.get("inventory", "")), _e(report["verdict"])),
           "<style>%s</style></head><body>" % _CSS]
    out.append("<h1>hospital.imaging IQ/OQ/PQ validation report</h1>")
    out.append('<div id="verdict" class="verdict %s">Verdict: %s</div>' % (_e(report["verdict"]), _e(report["verdict"])))
    summ = report["summary"]
    out.append("<p>%d requirements: %s. %d check results on %d host(s). Scope: %s.</p>" % (
        summ["requirements"],
        ", ".join("%d %s" % (summ[s], s.replace("_", " ")) for s in STATUSES if summ.get(s)),
        summ["results"], len(run.get("hosts") or []), _e(", ".join(report["scope"]))))
    if report["deviations"]:
        out.append("<p><b>%d deviation(s)</b>; see the Deviations section.</p>" % len(report["deviations"]))

    out.append("<h2>Run identity</h2><table>")
    coll = run.get("collection") or {}
    for label, value in (("Run ID", run.get("id")), ("Inventory", run.get("inventory")),
                         ("Executor", run.get("executor")), ("Controller", run.get("controller")),
                         ("Started (UTC)", run.get("started_utc")), ("Finished (UTC)", run.get("finished_utc")),
                         ("Collection", "%s %s" % (coll.get("name", ""), coll.get("version", ""))),
                         ("Git commit", "%s%s" % (coll.get("git_commit", ""), " (uncommitted changes)" if coll.get("git_dirty") else "")),
                         ("Ansible", run.get("ansible_version"))):
        out.append("<tr><th>%s</th><td>%s</td></tr>" % (_e(label), _e(value)))
    out.append("</table><table><tr><th>Host</th><th>OS</th><th>Kernel</th><th>Virtualisation</th><th>Address</th></tr>")
    for host in run.get("hosts") or []:
        out.append("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % tuple(
            _e(host.get(k)) for k in ("name", "os", "kernel", "virtualization", "address")))
    out.append("</table>")

    out.append("<h2>Traceability matrix</h2><table><tr><th>Requirement</th><th>Q</th><th>Risk</th>"
               "<th>Regulation / guideline</th><th>Check</th><th>Hosts</th><th>Result</th></tr>")
    for req in report["requirements"]:
        out.append('<tr id="req-%s"><td><b>%s</b><br>%s</td><td>%s</td><td>%s</td><td>%s</td><td class="mono">%s</td>'
                   "<td>%s</td><td>%s</td></tr>" % (
                       _e(req["id"]), _e(req["id"]), _e(req["title"]), _e(req["qualification"]), _e(req["risk"]),
                       "<br>".join(_e(x) for x in req["regulations"] + req["guidelines"]), _e(req["check"]),
                       _e(", ".join(req["hosts"])), _status(req["status"])))
    out.append("</table>")

    out.append("<h2>Deviations</h2>")
    if report["deviations"]:
        out.append("<table><tr><th>Requirement</th><th>Host</th><th>Risk</th><th>Status</th><th>Finding</th></tr>")
        for dev in report["deviations"]:
            out.append("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
                _e(dev["requirement"]), _e(dev["host"]), _e(dev["risk"]), _status(dev["status"]), _e(dev["message"])))
        out.append("</table>")
    else:
        out.append("<p>None.</p>")

    out.append("<h2>Waivers</h2>")
    if report["waivers"]:
        out.append("<table><tr><th>Requirement</th><th>Host</th><th>Waiver</th><th>Reason</th></tr>")
        for waiver in report["waivers"]:
            out.append("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>" % (
                _e(waiver["requirement"]), _e(waiver["host"]), _e(waiver["id"]), _e(waiver["reason"])))
        out.append("</table>")
    else:
        out.append("<p>None.</p>")

    if report.get("pq"):
        out.append("<h2>Performance qualification</h2>")
        for host in sorted(report["pq"]):
            out.append(render_pq_section(host, report["pq"][host]))

    out.append("<h2>Check results</h2>")
    reqs = dict((r["id"], r) for r in report["requirements"])
    for row in report["results"]:
        req = reqs.get(row["requirement"], {})
        out.append('<div class="check"><h3>%s [%s] %s</h3>' % (_e(row["requirement"]), _e(row["host"]), _status(row["status"])))
        out.append("<p>%s</p><table>" % _e(req.get("statement", "")))
        for label, value in (("Acceptance", req.get("acceptance")), ("Check", row["check"]),
                             ("Expected", _j(row["expected"])), ("Actual", _j(row["actual"])),
                             ("Finding", row["message"])):
            out.append("<tr><th>%s</th><td><pre>%s</pre></td></tr>" % (_e(label), _e(value)))
        out.append('<tr><th>Evidence</th><td class="mono">%s<br>SHA-256 %s</td></tr></table></div>' % (
            _e(row.get("evidence_file", "")), _e(row.get("evidence_sha256", ""))))
    out.append("<p class=\"mono\">report schema %s</p></body></html>" % _e(report["schema_version"]))
    return "\n".join(out)


def svg_line_chart(title, points, unit="", threshold=None, width=640, height=180):
    """Inline SVG line chart; points is a list of (x, y) numbers."""
    pts = [(float(x), float(y)) for x, y in points if x is not None and y is not None]
    pad_l, pad_b, pad_t, pad_r = 52, 24, 20, 10
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img">' % (
        width, height, width, height), '<title>%s</title>' % _e(title),
        '<text x="4" y="14" font-size="12" font-weight="bold">%s</text>' % _e(title)]
    if not pts:
        out.append('<text x="60" y="90" font-size="12">no samples</text></svg>')
        return "".join(out)
    xmin, xmax = min(p[0] for p in pts), max(p[0] for p in pts)
    ymax = max([p[1] for p in pts] + ([float(threshold)] if threshold is not None else [])) or 1.0
    ymax *= 1.1
    xspan = (xmax - xmin) or 1.0

    def sx(x):
        return pad_l + (x - xmin) / xspan * (width - pad_l - pad_r)

    def sy(y):
        return height - pad_b - y / ymax * (height - pad_b - pad_t)

    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#000"/>' % (pad_l, height - pad_b, width - pad_r, height - pad_b))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#000"/>' % (pad_l, pad_t, pad_l, height - pad_b))
    for frac in (0, 0.5, 1):
        yv = ymax * frac
        out.append('<text x="2" y="%.1f" font-size="10">%.4g%s</text>' % (sy(yv) + 3, yv, _e(unit)))
    out.append('<text x="%d" y="%d" font-size="10">%.4gs</text>' % (pad_l, height - 6, xmin))
    out.append('<text x="%d" y="%d" font-size="10" text-anchor="end">%.4gs</text>' % (width - pad_r, height - 6, xmax))
    if threshold is not None:
        ty = sy(float(threshold))
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#b00" stroke-dasharray="4 3"/>' % (
            pad_l, ty, width - pad_r, ty))
        out.append('<text x="%d" y="%.1f" font-size="10" fill="#b00" text-anchor="end">limit %.4g%s</text>' % (
            width - pad_r, ty - 3, float(threshold), _e(unit)))
    path = " ".join("%.1f,%.1f" % (sx(x), sy(y)) for x, y in pts)
    out.append('<polyline fill="none" stroke="#1f4e99" stroke-width="1.5" points="%s"/>' % path)
    out.append("</svg>")
    return "".join(out)


def render_pq_section(host, pq):
    out = ["<h3>%s</h3><table>" % _e(host)]
    metrics = pq.get("metrics") or {}
    for key in sorted(metrics):
        out.append("<tr><th>%s</th><td>%s</td></tr>" % (_e(key), _e(metrics[key])))
    out.append("</table>")
    series = pq.get("series") or {}
    thresholds = pq.get("thresholds") or {}
    charts = (("store_latency_ms", "C-STORE latency per second (p95, ms)", "ms", thresholds.get("p95_store_ms")),
              ("throughput", "Instances stored per second", "/s", thresholds.get("min_instances_per_s")),
              ("find_latency_ms", "C-FIND latency (ms)", "ms", thresholds.get("max_find_ms")),
              ("cpu_percent", "CPU busy (%)", "%", None),
              ("mem_used_percent", "Memory used (%)", "%", None),
              ("disk_free_percent", "Disk free on the image store (%)", "%", thresholds.get("min_disk_free_percent")))
    for key, title, unit, limit in charts:
        if key in series:
            out.append('<div class="chart">%s</div>' % svg_line_chart(title, series[key], unit, limit))
    return "".join(out)


def schema_errors(report, schema):
    """Validate ``report`` against the small JSON-schema subset docs/report-schema.json uses.

    Supports type, required, properties, items, enum, pattern, additionalProperties(false).
    Returns a list of error strings (empty when valid).
    """
    errors = []
    _validate(report, schema, "$", errors)
    return errors


_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _type_ok(value, typ):
    if isinstance(typ, list):
        return any(_type_ok(value, t) for t in typ)
    if typ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if typ == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if typ in _TYPES:
        return isinstance(value, _TYPES[typ])
    return True


def _validate(value, schema, where, errors):
    if "type" in schema and not _type_ok(value, schema["type"]):
        errors.append("%s: expected %s" % (where, schema["type"]))
        return
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: %r not in %r" % (where, value, schema["enum"]))
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errors.append("%s: %r does not match %s" % (where, value, schema["pattern"]))
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append("%s: missing %s" % (where, key))
        props = schema.get("properties", {})
        for key, sub in props.items():
            if key in value:
                _validate(value[key], sub, "%s.%s" % (where, key), errors)
        if schema.get("additionalProperties") is False:
            for key in value:
                if key not in props:
                    errors.append("%s: unexpected key %s" % (where, key))
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            _validate(item, schema["items"], "%s[%d]" % (where, index), errors)
