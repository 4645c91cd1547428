# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role records of one host (/etc/ansible/facts.d/imaging_<role>.fact), waivers, and the result dict.

Every check returns a result dict: status (pass, fail, waived, error, not_applicable),
expected, actual, message, evidence. Nothing here changes the host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os

FACTS_DIR = "/etc/ansible/facts.d"


def result(status, expected=None, actual=None, message="", evidence=None):
    return {"status": status, "expected": expected, "actual": actual, "message": message,
            "evidence": evidence if evidence is not None else {}}


# --------------------------------------------------------------------------- local facts


def load_role_records(facts_dir=FACTS_DIR):
    """Read every imaging_<role>.fact file. Returns (records by role, errors)."""
    records, errors = {}, []
    for path in sorted(glob.glob(os.path.join(facts_dir, "imaging_*.fact"))):
        role = os.path.basename(path)[len("imaging_"):-len(".fact")]
        try:
            with open(path) as handle:
                data = json.load(handle)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (IOError, OSError, ValueError) as exc:
            errors.append("%s: %s" % (path, exc))
            continue
        data.setdefault("role", role)
        data["_path"] = path
        records[role] = data
    return records, errors


def merged(records, key):
    """Merge one key of every role record: dicts are merged, lists concatenated with the role."""
    out_dict, out_list = {}, []
    for role in sorted(records):
        value = records[role].get(key)
        if isinstance(value, dict):
            out_dict.update(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    item = dict(item)
                    item.setdefault("role", role)
                out_list.append(item)
    return out_dict if out_dict else out_list


def find_waiver(requirement, records, extra_waivers=None):
    """The first waiver (from a role record or the inventory) naming this requirement."""
    candidates = []
    for role in sorted(records):
        for waiver in records[role].get("waivers") or []:
            if isinstance(waiver, dict):
                candidates.append(dict(waiver, source="role %s" % role))
    for waiver in extra_waivers or []:
        if isinstance(waiver, dict):
            candidates.append(dict(waiver, source=waiver.get("source", "inventory")))
    for waiver in candidates:
        if waiver.get("requirement") == requirement and str(waiver.get("reason", "")).strip():
            return {"id": waiver.get("id", ""), "reason": waiver["reason"], "source": waiver["source"]}
    return None


def apply_waiver(res, waiver):
    """A failing result with a written waiver becomes waived; a pass stays a pass."""
    if waiver and res["status"] in ("fail", "error"):
        res = dict(res)
        res["status"] = "waived"
        res["evidence"] = dict(res.get("evidence") or {}, unwaived_finding=res["message"])
        res["message"] = "waived (%s): %s" % (waiver["source"], waiver["reason"])
        res["waiver"] = waiver
    return res


def combine(parts):
    """One result from several: the worst status (error, then fail, else pass), the parts' values listed."""
    worst = "pass"
    for status in ("error", "fail"):
        if any(p["status"] == status for p in parts):
            worst = status
            break
    return result(worst, [p["expected"] for p in parts], [p["actual"] for p in parts],
                  "; ".join(p["message"] for p in parts), {"items": [p["evidence"] for p in parts]})
