#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: validation_check
short_description: Run one read-only IQ or OQ check on a host and return its evidence
version_added: "0.1.0"
description:
  - Runs one installation (IQ) or operational (OQ) qualification check named by O(check) and returns
    a result record (status, expected, actual, message, evidence) for the validation report.
  - IQ checks compare the live host against the records the roles left in
    C(/etc/ansible/facts.d/imaging_<role>.fact) (packages, managed files, services, waivers).
  - A failing check is not a module failure; the module fails only on bad arguments.
    A waiver naming O(requirement), written by a role or given in O(waivers), turns a failing
    result into C(waived) with its reason.
  - The module never changes the host.
options:
  requirement:
    description: The requirement ID this check proves (for example C(IQ-PKG-001)); used to find waivers.
    type: str
    required: true
  check:
    description:
      - The check to run.
      - C(records) every expected role record is present; C(packages) installed versions equal the recorded ones;
        C(files) managed files exist with recorded owner, group and mode (SHA-256 returned);
        C(services) enabled and active; C(accounts) service users and groups exist;
        C(certificates) valid, chained to the CA, not expiring soon, strong keys; C(luks) LUKS2 volumes (open and mounted unless C(require_open) is false);
        C(sysctl) kernel parameters have the recorded values;
        C(firewall) ufw policy and rules; C(audit_rules) audit rules present and loaded; C(time_sync) clock synchronised.
      - C(tcp) a port is open or closed; C(tls) a TLS handshake succeeds and old versions are refused;
        C(http) an HTTP request gets the expected status; C(dicomweb) STOW-RS of a synthetic instance and WADO-RS of it
        succeed with credentials and both get 401 without; C(postgresql) TLS+password login succeeds, plaintext and a
        wrong password are refused (uses C(psql)); C(redis) anonymous commands are refused, authenticated ones answered;
        C(audit_event) the audit trail holds events with a key; C(database_audit) each PHI database's pgaudit settings
        are the recorded ones (every role ddl, role, read, write; a service role's own narrowed, never below ddl, role).
      - C(remote_closed_ports) is C(tcp) with C(state) closed by default (run from another host);
        C(health) is C(http) where a missing C(url) is not applicable (no health URL declared).
      - The runner of each check is named in C(validation_judge.KINDS), keyed by the catalogue's C(check.kind).
    type: str
    required: true
    choices: [records, packages, files, services, accounts, certificates, luks, sysctl, firewall, audit_rules, time_sync,
              tcp, remote_closed_ports, tls, http, health, dicomweb, postgresql, redis, audit_event, database_audit]
  params:
    description:
      - Parameters of the check. Unknown keys are refused.
      - C(records) C(roles) (list). C(packages) C(packages) (dict name to version; default all recorded).
        C(files) C(files) (list of path/owner/group/mode; default all recorded). C(services) C(services) (list).
        C(accounts) C(users), C(groups) (lists; default the owners of managed files and the record's C(users)/C(groups)).
        C(certificates) C(certificates) (list of path/ca/key), C(min_days), C(min_rsa_bits), C(min_ec_bits).
        C(luks) C(devices) (list of device/name/mount), C(require_open).
        C(sysctl) C(values) (dict; default the os_hardening record's C(sysctl)). C(firewall) C(default_incoming), C(default_outgoing),
        C(default_routed), C(rules) (list of port/proto/from/action), C(closed_ports).
        C(audit_rules) C(keys), C(rules_dir).
      - C(tcp) C(host), C(port) or C(ports), C(state) (open or closed). C(tls) C(host), C(port), C(server_name), C(ca),
        C(min_version), C(refuse_below), C(refuse_ciphers) (OpenSSL suite names, each offered alone on TLS 1.2, each
        must be refused), C(client_cert), C(client_key) (for servers that require a client certificate).
        C(http) C(url), C(method), C(status) (list), C(headers), C(body), C(ca),
        C(authenticate). C(dicomweb) C(url) (DICOMweb base), C(ca). C(postgresql) C(host), C(port), C(dbname), C(server_name), C(ca).
        C(redis) C(host), C(port), C(server_name), C(ca). C(audit_event) C(key), C(since).
        C(database_audit) C(databases) (list of database/classes/roles; default the postgresql record's C(audit)).
      - Every check takes C(timeout) (seconds).
    type: dict
    default: {}
  username:
    description: User name for C(http) (basic auth when C(authenticate) is true), C(dicomweb), C(postgresql) and C(redis) checks.
    type: str
  password:
    description: Password for C(http), C(dicomweb), C(postgresql) and C(redis) checks.
    type: str
  waivers:
    description: Waivers given by the inventory, each with C(id), C(requirement) and a non-empty C(reason).
    type: list
    elements: dict
    default: []
  facts_dir:
    description: Where the roles' local fact files are.
    type: path
    default: /etc/ansible/facts.d
author:
  - hospital.imaging contributors (@hospital-imaging)
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing on the host is changed, so there is nothing to compare.
notes:
  - The C(certificates) check needs the C(openssl) command, C(luks) needs C(cryptsetup), C(firewall) needs C(ufw),
    C(audit_rules) and C(audit_event) need C(auditctl)/C(ausearch), C(postgresql) and C(database_audit) need C(psql).
"""

EXAMPLES = r"""
- name: Compare installed packages with the versions recorded at install
  hospital.imaging.validation_check:
    requirement: IQ-PKG-001
    check: packages
  register: validation_packages

- name: Refuse TLS below 1.2 on the DICOMweb front door
  hospital.imaging.validation_check:
    requirement: OQ-TLS-001
    check: tls
    params:
      host: 127.0.0.1
      port: 443
      server_name: sandbox.imaging.test
      ca: "{{ lookup('hospital.imaging.pki_path', 'ca.crt') }}"
      refuse_below: "1.2"

- name: Expect 401 from QIDO-RS without credentials
  hospital.imaging.validation_check:
    requirement: OQ-WEB-002
    check: http
    params:
      url: https://sandbox.imaging.test/dicom-web/studies
      status: [401]
      ca: "{{ lookup('hospital.imaging.pki_path', 'ca.crt') }}"
"""

RETURN = r"""
requirement:
  description: The requirement ID the check proves.
  returned: always
  type: str
  sample: IQ-PKG-001
check:
  description: The check that ran.
  returned: always
  type: str
  sample: packages
status:
  description: C(pass), C(fail), C(waived), C(error) (the check could not decide) or C(not_applicable).
  returned: always
  type: str
  sample: pass
expected:
  description: What the requirement expects, as the check understood it.
  returned: always
  type: raw
  sample: {"postgresql-15": "15.14-0+deb12u1"}
actual:
  description: What the check observed.
  returned: always
  type: raw
  sample: {"postgresql-15": "15.14-0+deb12u1"}
message:
  description: One-line finding.
  returned: always
  type: str
  sample: 3 package(s) installed at the recorded version
evidence:
  description: Raw observations (command output, stat results, handshake details).
  returned: always
  type: dict
  sample: {"installed": {"postgresql-15": "15.14-0+deb12u1"}}
waiver:
  description: The waiver applied (id, reason, source), when the result is C(waived).
  returned: when waived
  type: dict
  sample: {"id": "auditd-load-rules", "reason": "the kernel refuses audit netlink in a container", "source": "role auditd"}
duration_s:
  description: Seconds the check took.
  returned: always
  type: float
  sample: 0.12
"""

import time
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.hospital.imaging.plugins.module_utils import validation_judge as vj
from ansible_collections.hospital.imaging.plugins.module_utils import validation_records as vr

_T = {"timeout": {"type": "float", "default": 5.0}}
_TLS_CHOICES = ["1.0", "1.1", "1.2", "1.3"]
SPECS = {
    "records": {"roles": {"type": "list", "elements": "str", "default": []}},
    "packages": {"packages": {"type": "dict"}},
    "files": {"files": {"type": "list", "elements": "dict"}},
    "services": {"services": {"type": "list", "elements": "str"}},
    "accounts": {"users": {"type": "list", "elements": "str"}, "groups": {"type": "list", "elements": "str"}},
    "certificates": {"certificates": {"type": "list", "elements": "dict"}, "min_days": {"type": "int", "default": 30},
                     "min_rsa_bits": {"type": "int", "default": 2048}, "min_ec_bits": {"type": "int", "default": 256}},
    "luks": {"devices": {"type": "list", "elements": "dict"}, "require_open": {"type": "bool", "default": True}},
    "sysctl": {"values": {"type": "dict"}},
    "firewall": {"default_incoming": {"type": "str", "default": "deny"}, "default_outgoing": {"type": "str"},
                 "default_routed": {"type": "str"}, "rules": {"type": "list", "elements": "dict", "default": []},
                 "closed_ports": {"type": "list", "elements": "int", "default": []}},
    "audit_rules": {"keys": {"type": "list", "elements": "str"}, "rules_dir": {"type": "path", "default": "/etc/audit/rules.d"}},
    "time_sync": {},
    "tcp": dict(_T, host={"type": "str", "default": "127.0.0.1"}, port={"type": "int"},
                ports={"type": "list", "elements": "int"},
                state={"type": "str", "default": "open", "choices": ["open", "closed"]}),
    "remote_closed_ports": dict(_T, host={"type": "str", "default": "127.0.0.1"}, port={"type": "int"},
                                ports={"type": "list", "elements": "int"},
                                state={"type": "str", "default": "closed", "choices": ["open", "closed"]}),
    "tls": dict(_T, host={"type": "str", "default": "127.0.0.1"}, port={"type": "int", "required": True},
                server_name={"type": "str"}, ca={"type": "path"}, client_cert={"type": "path"},
                client_key={"type": "path"},
                min_version={"type": "str", "default": "1.2", "choices": _TLS_CHOICES},
                refuse_below={"type": "str", "choices": _TLS_CHOICES},
                refuse_ciphers={"type": "list", "elements": "str", "default": []}),
    "http": dict(_T, url={"type": "str", "required": True}, method={"type": "str", "default": "GET"},
                 status={"type": "list", "elements": "int", "default": [200]},
                 headers={"type": "dict", "default": {}}, body={"type": "str"}, ca={"type": "path"},
                 authenticate={"type": "bool", "default": False}),
    "health": dict(_T, url={"type": "str"}, method={"type": "str", "default": "GET"},
                   status={"type": "list", "elements": "int", "default": [200]},
                   headers={"type": "dict", "default": {}}, body={"type": "str"}, ca={"type": "path"},
                   authenticate={"type": "bool", "default": False}),
    "dicomweb": dict(_T, url={"type": "str", "required": True}, ca={"type": "path"}),
    "postgresql": dict(_T, host={"type": "str", "default": "127.0.0.1"}, port={"type": "int", "default": 6432},
                       dbname={"type": "str", "required": True}, server_name={"type": "str"}, ca={"type": "path"}),
    "redis": dict(_T, host={"type": "str", "default": "127.0.0.1"}, port={"type": "int", "default": 6380},
                  server_name={"type": "str"}, ca={"type": "path"}),
    "audit_event": {"key": {"type": "str", "required": True}, "since": {"type": "str", "default": "today"}},
    "database_audit": {"databases": {"type": "list", "elements": "dict"}},
}


class ValidationCheck(object):
    """The context a runner of validation_judge.KINDS gets: role records, commands, credentials."""

    def __init__(self, module):
        self.module = module
        self.records, self.record_errors = vr.load_role_records(module.params["facts_dir"])
        self.username = module.params["username"]
        self.password = module.params["password"]

    def run_cmd(self, argv, environ_update=None):
        if not self.module.get_bin_path(argv[0]):
            return 127, "", "%s: command not found" % argv[0]
        rc, out, err = self.module.run_command(argv, environ_update=environ_update)
        return rc, out, err

    def fail(self, msg):
        self.module.fail_json(msg=msg)

    def execute(self, check, p):
        return vj.KINDS[check].run(self, p)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            requirement=dict(type="str", required=True),
            check=dict(type="str", required=True, choices=sorted(SPECS)),
            params=dict(type="dict", default={}),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            waivers=dict(type="list", elements="dict", default=[]),
            facts_dir=dict(type="path", default="/etc/ansible/facts.d"),
        ),
        supports_check_mode=True,
    )
    check = module.params["check"]
    validator = ArgumentSpecValidator(SPECS[check])
    validated = validator.validate(module.params["params"] or {})
    if validated.error_messages:
        module.fail_json(msg="invalid params for the %s check: %s" % (check, "; ".join(validated.error_messages)))
    start = time.time()
    runner = ValidationCheck(module)
    try:
        res = runner.execute(check, validated.validated_parameters)
    except Exception as exc:  # a check that crashes is an error result, never a stopped run
        res = vr.result("error", None, None, "the %s check raised %s: %s" % (check, type(exc).__name__, exc),
                        {"traceback": traceback.format_exc()})
    res = vr.apply_waiver(res, vr.find_waiver(module.params["requirement"], runner.records, module.params["waivers"]))
    res.update(requirement=module.params["requirement"], check=check, duration_s=round(time.time() - start, 3),
               changed=False)
    module.exit_json(**res)


if __name__ == "__main__":
    main()
