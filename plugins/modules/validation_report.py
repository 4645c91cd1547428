#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: validation_report
short_description: Write the IQ/OQ/PQ validation report of one run
version_added: "0.1.0"
description:
  - Writes a run directory with C(report.json), C(report.html), C(junit.xml), one evidence file per check
    result and C(manifest.sha256) holding the SHA-256 of every file; optionally signs the manifest with
    C(ssh-keygen -Y sign) (C(manifest.sha256.sig)) and points a C(latest) symbolic link at the run.
  - Meant to run on the controller (C(delegate_to=localhost), C(run_once=true)).
  - The report is always written; the verdict is C(FAIL) when any requirement in scope failed, errored
    or has no result. The module itself fails only when it cannot write the report.
options:
  path:
    description: The run directory to create. It must not exist yet or be empty.
    type: path
    required: true
  catalogue:
    description: The requirements catalogue (list of requirements with C(id), C(title), C(statement),
      C(qualification), C(regulations), C(risk), C(acceptance), C(check)).
    type: list
    elements: dict
    required: true
  results:
    description: Check results (C(requirement), C(host), C(check), C(status), C(expected), C(actual),
      C(message), C(evidence), optional C(waiver) and C(duration_s)).
    type: list
    elements: dict
    required: true
  run:
    description: Identity of the run (C(id), C(inventory), C(executor), C(started_utc), C(finished_utc),
      C(collection) with C(name)/C(version)/C(git_commit), C(hosts) with C(name)/C(os)/C(kernel)).
    type: dict
    required: true
  scope:
    description: Qualifications in scope; requirements of other qualifications are listed as not in scope.
    type: list
    elements: str
    default: [IQ, OQ, PQ]
  pq:
    description: Performance series per host (C(metrics), C(thresholds), C(series)) for the charts.
    type: dict
    default: {}
  sign_key:
    description: An SSH private key; when set the manifest is signed with C(ssh-keygen -Y sign).
    type: path
  latest_link:
    description: A symbolic link to point at the new run directory (for example C(reports/latest)).
    type: path
author:
  - hospital.imaging contributors (@hospital-imaging)
attributes:
  check_mode:
    support: none
    description: The report is evidence of a run; in check mode nothing is written.
  diff_mode:
    support: none
    description: Nothing on the host is changed, so there is nothing to compare.
"""

EXAMPLES = r"""
- name: Write the validation report on the controller
  hospital.imaging.validation_report:
    path: "{{ playbook_dir }}/../reports/sandbox-20260101T000000Z"
    catalogue: "{{ validation_catalogue }}"
    results: "{{ validation_all_results }}"
    run: "{{ validation_run }}"
    latest_link: "{{ playbook_dir }}/../reports/latest"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
verdict:
  description: C(PASS) or C(FAIL).
  returned: success
  type: str
  sample: PASS
summary:
  description: Counts of requirements per status, and of results.
  returned: success
  type: dict
  sample: {"pass": 40, "fail": 1, "waived": 3, "requirements": 44, "results": 60}
path:
  description: The run directory.
  returned: success
  type: str
  sample: /srv/hospital.imaging/reports/sandbox-20260101T000000Z
files:
  description: Number of files listed in the manifest.
  returned: success
  type: int
  sample: 64
manifest_sha256:
  description: SHA-256 of manifest.sha256 (quote it in the release record).
  returned: success
  type: str
  sample: 9f2c0e5b6a1d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f
signed:
  description: Whether the manifest was signed.
  returned: success
  type: bool
  sample: false
deviations:
  description: Failing or missing requirement results (requirement, host, status, risk, message).
  returned: success
  type: list
  elements: dict
  sample: [{"requirement": "IQ-FILE-001", "host": "sandbox", "status": "fail", "risk": "high", "message": "mode 0644"}]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hospital.imaging.plugins.module_utils import validation_report as vr


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            catalogue=dict(type="list", elements="dict", required=True),
            results=dict(type="list", elements="dict", required=True),
            run=dict(type="dict", required=True),
            scope=dict(type="list", elements="str", default=["IQ", "OQ", "PQ"]),
            pq=dict(type="dict", default={}),
            sign_key=dict(type="path", no_log=False),
            latest_link=dict(type="path"),
        ),
        supports_check_mode=False,
    )
    path = module.params["path"]
    if os.path.isdir(path) and os.listdir(path):
        module.fail_json(msg="%s exists and is not empty: a run directory is written once" % path)
    ids = [r.get("id") for r in module.params["catalogue"]]
    duplicates = sorted(set(i for i in ids if ids.count(i) > 1))
    if duplicates or None in ids:
        module.fail_json(msg="catalogue entries need unique ids (duplicates: %s)" % ", ".join(map(str, duplicates)))
    report = vr.build_report(module.params["catalogue"], module.params["results"], module.params["run"],
                             scope=module.params["scope"], pq=module.params["pq"])
    try:
        entries = vr.write_run_dir(path, report)
        signed = False
        if module.params["sign_key"]:
            vr.sign_manifest(path, module.params["sign_key"])
            signed = True
        link = module.params["latest_link"]
        if link:
            tmp = link + ".new"
            if os.path.lexists(tmp):
                os.remove(tmp)
            os.symlink(os.path.relpath(path, os.path.dirname(link)), tmp)
            os.rename(tmp, link)
    except (OSError, IOError, RuntimeError) as exc:
        module.fail_json(msg="could not write the report: %s" % exc)
    module.exit_json(changed=True, verdict=report["verdict"], summary=report["summary"], path=path, files=len(entries),
                     manifest_sha256=vr.sha256_file(os.path.join(path, vr.MANIFEST)), signed=signed,
                     deviations=report["deviations"])


if __name__ == "__main__":
    main()
