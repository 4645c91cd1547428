# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Performance qualification helpers: resource sampling and the evaluation of an ingest run.

The evaluation (``evaluate``) is pure: it takes the raw samples of a run and the thresholds and
returns the four PQ results, so it is unit-tested without a DICOM server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.hospital.imaging.plugins.module_utils.validation_judge import percentile
from ansible_collections.hospital.imaging.plugins.module_utils.validation_records import result


def read_cpu_times(path="/proc/stat"):
    with open(path) as handle:
        fields = handle.readline().split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values), idle


def cpu_busy_percent(before, after):
    total = after[0] - before[0]
    idle = after[1] - before[1]
    if total <= 0:
        return 0.0
    return round(100.0 * (total - idle) / total, 1)


def read_mem_used_percent(path="/proc/meminfo"):
    info = {}
    with open(path) as handle:
        for line in handle:
            key, _sep, rest = line.partition(":")
            info[key] = int(rest.split()[0])
    total = info.get("MemTotal", 0)
    avail = info.get("MemAvailable", info.get("MemFree", 0))
    return round(100.0 * (total - avail) / total, 1) if total else 0.0


def disk_free_percent(path):
    st = os.statvfs(path)
    if not st.f_blocks:
        return 0.0
    return round(100.0 * st.f_bavail / st.f_blocks, 2)


def per_second(stores, duration):
    """stores: list of (t_offset_s, latency_ms, ok). Returns (throughput, p95 latency) series per second."""
    buckets = {}
    for t_off, latency, ok in stores:
        buckets.setdefault(int(t_off), []).append((latency, ok))
    throughput, p95 = [], []
    for second in range(int(duration) + 1):
        items = buckets.get(second, [])
        throughput.append((second, sum(1 for _lat, ok in items if ok)))
        lat = [lt for lt, ok in items if ok]
        if lat:
            p95.append((second, round(percentile(lat, 95), 2)))
    return throughput, p95


def evaluate(raw, thresholds):
    """Turn one run's raw samples into the PQ results.

    raw: {duration_s, associations_requested, associations_established, association_errors,
          stores: [(t, ms, ok)], store_failures: [..], finds: [(t, ms, ok)], samples: [{t, cpu, mem, disk}],
          acknowledged: int, found: int, missing: [uids]}
    thresholds: {min_instances_per_s, p95_store_ms, max_find_ms, min_disk_free_percent}
    """
    stores = raw.get("stores") or []
    ok_lat = [ms for _t, ms, ok in stores if ok]
    failed = [s for s in stores if not s[2]]
    duration = float(raw.get("duration_s") or 0) or 1.0
    rate = round(len(ok_lat) / duration, 2)
    p95 = round(percentile(ok_lat, 95), 2) if ok_lat else None
    assoc_errors = raw.get("association_errors") or []
    metrics = {
        "duration_s": round(duration, 2),
        "associations_requested": raw.get("associations_requested"),
        "associations_established": raw.get("associations_established"),
        "instances_stored": len(ok_lat),
        "store_failures": len(failed),
        "instances_per_s": rate,
        "store_ms_p50": round(percentile(ok_lat, 50), 2) if ok_lat else None,
        "store_ms_p95": p95,
        "store_ms_p99": round(percentile(ok_lat, 99), 2) if ok_lat else None,
        "store_ms_max": round(max(ok_lat), 2) if ok_lat else None,
    }
    problems = []
    if assoc_errors:
        problems.append("%d association(s) not established: %s" % (len(assoc_errors), assoc_errors[0]))
    if failed:
        problems.append("%d C-STORE failure(s)" % len(failed))
    if not ok_lat:
        problems.append("no instance stored")
    if rate < float(thresholds["min_instances_per_s"]):
        problems.append("%.2f instances/s below %s" % (rate, thresholds["min_instances_per_s"]))
    if p95 is not None and p95 > float(thresholds["p95_store_ms"]):
        problems.append("p95 C-STORE %.1f ms above %s ms" % (p95, thresholds["p95_store_ms"]))
    ingest = result("fail" if problems else "pass",
                    {"min_instances_per_s": thresholds["min_instances_per_s"], "p95_store_ms_max": thresholds["p95_store_ms"],
                     "failures": 0},
                    {"instances_per_s": rate, "p95_store_ms": p95, "failures": len(failed) + len(assoc_errors),
                     "instances_stored": len(ok_lat)},
                    "; ".join(problems) or "%d instances in %.0f s: %.2f/s, p95 C-STORE %.1f ms, 0 failures" % (
                        len(ok_lat), duration, rate, p95), {"metrics": metrics, "failures": failed[:20],
                                                            "association_errors": assoc_errors[:20]})

    finds = raw.get("finds") or []
    find_ok = [ms for _t, ms, ok in finds if ok]
    find_failed = [f for f in finds if not f[2]]
    find_p95 = round(percentile(find_ok, 95), 2) if find_ok else None
    metrics.update(finds=len(finds), find_failures=len(find_failed), find_ms_p95=find_p95)
    problems = []
    if not finds:
        problems.append("no C-FIND ran during the ingest")
    if find_failed:
        problems.append("%d C-FIND failure(s)" % len(find_failed))
    if find_p95 is not None and find_p95 > float(thresholds["max_find_ms"]):
        problems.append("p95 C-FIND %.1f ms above %s ms" % (find_p95, thresholds["max_find_ms"]))
    find = result("fail" if problems else "pass", {"p95_find_ms_max": thresholds["max_find_ms"], "failures": 0},
                  {"p95_find_ms": find_p95, "finds": len(finds), "failures": len(find_failed)},
                  "; ".join(problems) or "%d C-FIND during ingest, p95 %.1f ms" % (len(finds), find_p95),
                  {"finds": finds[:200]})

    samples = raw.get("samples") or []
    disk = [s["disk"] for s in samples if s.get("disk") is not None]
    cpu = [s["cpu"] for s in samples if s.get("cpu") is not None]
    mem = [s["mem"] for s in samples if s.get("mem") is not None]
    metrics.update(cpu_percent_max=max(cpu) if cpu else None,
                   cpu_percent_avg=round(sum(cpu) / len(cpu), 1) if cpu else None,
                   mem_used_percent_max=max(mem) if mem else None,
                   disk_free_percent_min=min(disk) if disk else None, samples=len(samples))
    problems = []
    if not samples:
        problems.append("no resource sample taken")
    if disk and min(disk) < float(thresholds["min_disk_free_percent"]):
        problems.append("disk free fell to %.1f %% (minimum %s %%)" % (min(disk), thresholds["min_disk_free_percent"]))
    resources = result("fail" if problems else "pass", {"min_disk_free_percent": thresholds["min_disk_free_percent"]},
                       {"disk_free_percent_min": metrics["disk_free_percent_min"], "cpu_percent_max": metrics["cpu_percent_max"],
                        "mem_used_percent_max": metrics["mem_used_percent_max"], "samples": len(samples)},
                       "; ".join(problems) or "%d samples; disk free >= %.1f %%, CPU max %s %%, memory max %s %%" % (
                           len(samples), min(disk) if disk else 0, metrics["cpu_percent_max"], metrics["mem_used_percent_max"]),
                       {"samples": samples})

    acknowledged = int(raw.get("acknowledged") or 0)
    found = int(raw.get("found") or 0)
    missing = raw.get("missing") or []
    metrics.update(acknowledged=acknowledged, found=found, missing=len(missing))
    problems = []
    if raw.get("verify_error"):
        problems.append("could not list the stored instances: %s" % raw["verify_error"])
    if missing:
        problems.append("%d acknowledged instance(s) not found" % len(missing))
    if acknowledged == 0:
        problems.append("no instance acknowledged")
    integrity = result("fail" if problems else "pass", {"acknowledged": acknowledged, "missing": 0},
                       {"found": found, "missing": len(missing)},
                       "; ".join(problems) or "all %d acknowledged instances found by C-FIND" % acknowledged,
                       {"missing": missing[:100], "patient_id": raw.get("patient_id"),
                        "study_instance_uid": raw.get("study_uid")})

    throughput, p95_series = per_second(stores, duration)
    t0 = 0.0
    series = {
        "throughput": throughput,
        "store_latency_ms": p95_series,
        "find_latency_ms": [(round(t, 1), round(ms, 1)) for t, ms, ok in finds if ok],
        "cpu_percent": [(round(s["t"] - t0, 1), s["cpu"]) for s in samples if s.get("cpu") is not None],
        "mem_used_percent": [(round(s["t"] - t0, 1), s["mem"]) for s in samples if s.get("mem") is not None],
        "disk_free_percent": [(round(s["t"] - t0, 1), s["disk"]) for s in samples if s.get("disk") is not None],
    }
    return {"ingest": ingest, "find": find, "resources": resources, "integrity": integrity,
            "metrics": metrics, "series": series}
