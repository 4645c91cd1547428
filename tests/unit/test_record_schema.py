"""Every role's record (/etc/ansible/facts.d/imaging_<role>.fact) has the shape docs/record-schema.json publishes.

Static checks read the task of roles/<role>/tasks/facts.yml that writes the record: its keys against the keys the
schema documents for that role, and every listener written as a literal against the listener shape. The record is
then rendered with plain Jinja2 (the few Ansible filters it uses are reimplemented below) from sample inputs and
validated against the schema, so listeners, files and waivers built by an expression are checked as well.
docs/records.md, the prose of the same contract, names every key the schema has.
"""

from __future__ import annotations

import collections.abc
import functools
import importlib
import json
import os
import pathlib
import re

import jinja2
import jsonschema
import pytest
import yaml
from jinja2.lexer import TOKEN_STRING, TOKEN_VARIABLE_BEGIN, TOKEN_VARIABLE_END, Lexer
from jinja2.nativetypes import NativeEnvironment

from ansible_collections.hospital.imaging.plugins.module_utils import pki_paths

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
SCHEMA_PATH = ROOT / "docs" / "record-schema.json"
DOC_PATH = ROOT / "docs" / "records.md"
FACT_ROLES = sorted(p.parent.parent.name for p in (ROOT / "roles").glob("*/tasks/facts.yml"))
SINGLE_VARIABLE = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
RECORD_CONTENT = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\|\s*to_nice_json\b[^}]*\}\}$")


def fact_path(role):
    return "/etc/ansible/facts.d/imaging_%s.fact" % role


def load_yaml(path):
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.exists() else {}


@functools.lru_cache(maxsize=None)
def schema():
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def role_keys(role):
    """(keys a record of this role may have, keys it must have), as docs/record-schema.json says."""
    defs = schema()["$defs"]
    record = defs["records"][role]
    assert record.get("$ref") == "#/$defs/common", "$defs.records.%s does not build on $defs.common" % role
    allowed = set(defs["common"]["properties"]) | set(record.get("properties", {}))
    required = set(defs["common"]["required"]) | set(record.get("required", []))
    return allowed, required


def listener_keys():
    listener = schema()["$defs"]["listener"]
    return set(listener["properties"]), set(listener["required"])


# --------------------------------------------------------------------------- the task that writes the record


def tasks_of(items):
    for task in items or []:
        if isinstance(task, dict):
            yield task
            for key in ("block", "rescue", "always"):
                yield from tasks_of(task.get(key))


def role_variables(role):
    base = ROOT / "roles" / role
    out = dict(load_yaml(base / "defaults" / "main.yml"))
    out.update(load_yaml(base / "vars" / "main.yml"))
    return out


def written_content(task, role, variables):
    """The content template of the record file when this task writes it, else None."""
    def resolve(path):
        match = SINGLE_VARIABLE.match(str(path).strip())
        return variables.get(match.group(1), path) if match else path

    copy = task.get("ansible.builtin.copy")
    if isinstance(copy, dict) and resolve(copy.get("dest")) == fact_path(role):
        return copy.get("content")
    files = task.get("hospital.imaging.managed_files")
    if isinstance(files, dict):
        for entry in files.get("files") or []:
            if isinstance(entry, dict) and resolve(entry.get("path")) == fact_path(role):
                return entry.get("content")
    return None


@functools.lru_cache(maxsize=None)
def record_task(role):
    """(the task writing /etc/ansible/facts.d/imaging_<role>.fact, the name of its record variable)."""
    variables = role_variables(role)
    path = ROOT / "roles" / role / "tasks" / "facts.yml"
    found = [(t, c) for t in tasks_of(load_yaml(path)) for c in [written_content(t, role, variables)] if c is not None]
    assert len(found) == 1, "%s: %d tasks write %s (expected one)" % (path.relative_to(ROOT), len(found), fact_path(role))
    task, content = found[0]
    match = RECORD_CONTENT.match(str(content).strip())
    assert match, "%s: the record is not written as {{ <variable> | to_nice_json }}: %r" % (task.get("name"), content)
    name = match.group(1)
    assert isinstance((task.get("vars") or {}).get(name), dict), "%s: %s is not a dict under the task's vars" % (task.get("name"), name)
    return task, name


def record_literal(role):
    task, name = record_task(role)
    return task["vars"][name]


# --------------------------------------------------------------------------- the schema and its prose


def test_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(schema())


def test_schema_has_a_record_for_every_role_with_facts():
    records = schema()["$defs"]["records"]
    assert sorted(records) == FACT_ROLES, "docs/record-schema.json $defs.records vs roles/*/tasks/facts.yml"
    assert sorted(schema()["properties"]["role"]["enum"]) == FACT_ROLES
    dispatched = sorted(part["if"]["properties"]["role"]["const"] for part in schema()["allOf"])
    assert dispatched == FACT_ROLES
    for part in schema()["allOf"]:
        role = part["if"]["properties"]["role"]["const"]
        assert part["then"] == {"$ref": "#/$defs/records/%s" % role}
        assert records[role]["properties"]["role"] == {"const": role}
        assert records[role].get("unevaluatedProperties") is False, "%s: a record has no undocumented key" % role


def doc_sections():
    sections, current = {}, None
    for line in DOC_PATH.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = line[3:].strip().strip("`")
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return dict((title, "\n".join(lines)) for title, lines in sections.items())


def test_records_doc_names_every_common_and_listener_key():
    sections = doc_sections()
    defs = schema()["$defs"]
    for title, keys in (("Common keys", defs["common"]["properties"]), ("Listeners", defs["listener"]["properties"])):
        assert title in sections, "docs/records.md has no section '## %s'" % title
        missing = sorted(k for k in keys if "`%s`" % k not in sections[title])
        assert not missing, "docs/records.md, %s: %s not described" % (title, ", ".join(missing))


@pytest.mark.parametrize("role", FACT_ROLES)
def test_records_doc_describes_every_key_of_the_role(role):
    sections = doc_sections()
    assert role in sections, "docs/records.md has no section '## %s'" % role
    record = schema()["$defs"]["records"][role]
    # The role's own keys, and the common ones it must have beyond every record's (listeners).
    keys = (set(record.get("properties", {})) | set(record.get("required", []))) - {"role"}
    missing = sorted(k for k in keys if "`%s`" % k not in sections[role])
    assert not missing, "docs/records.md, %s: %s not described" % (role, ", ".join(missing))


# --------------------------------------------------------------------------- static: the task as written


@pytest.mark.parametrize("role", FACT_ROLES)
def test_record_keys_are_the_documented_ones(role):
    record = record_literal(role)
    assert role in schema()["$defs"]["records"], "docs/record-schema.json has no $defs.records.%s" % role
    allowed, required = role_keys(role)
    undocumented = sorted(set(record) - allowed)
    missing = sorted(required - set(record))
    assert not undocumented and not missing, (
        "roles/%s/tasks/facts.yml: keys not in docs/record-schema.json for %s: %s; required keys missing: %s"
        % (role, role, undocumented or "none", missing or "none"))
    assert record["role"] == role


def is_template(value):
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@pytest.mark.parametrize("role", FACT_ROLES)
def test_listener_literals_have_the_published_shape(role):
    listeners = record_literal(role).get("listeners")
    if listeners is None or is_template(listeners):
        return  # no listener, or one expression: the rendered samples below check it
    assert isinstance(listeners, list), "roles/%s/tasks/facts.yml: listeners is neither a list nor an expression" % role
    allowed, required = listener_keys()
    problems, names = [], []
    for index, listener in enumerate(listeners):
        if is_template(listener):
            continue
        if not isinstance(listener, dict):
            problems.append("listeners[%d] is not a mapping" % index)
            continue
        missing, unknown = sorted(required - set(listener)), sorted(set(listener) - allowed)
        if missing:
            problems.append("listeners[%d] lacks %s" % (index, ", ".join(missing)))
        if unknown:
            problems.append("listeners[%d] has keys the schema does not know: %s" % (index, ", ".join(unknown)))
        literal = dict((k, v) for k, v in listener.items() if not is_template(v))
        errors = [e.message for e in jsonschema.Draft202012Validator(schema()["$defs"]["listener"]).iter_errors(literal)
                  if e.validator not in ("required", "additionalProperties")]
        problems.extend("listeners[%d]: %s" % (index, e) for e in errors)
        if "name" in literal:
            names.append(literal["name"])
    duplicates = sorted(set(n for n in names if names.count(n) > 1))
    if duplicates:
        problems.append("listener names used twice: %s" % ", ".join(duplicates))
    assert not problems, "roles/%s/tasks/facts.yml:\n  " % role + "\n  ".join(problems)


# --------------------------------------------------------------------------- rendering with sample inputs


class SampleUndefined(jinja2.ChainableUndefined, jinja2.StrictUndefined):
    """As in Ansible: x.y | default(z) works on an undefined x, any other use of an undefined value fails."""

    __slots__ = ()


class AnsibleLikeLexer(Lexer):
    """Backslashes in string constants of {{ }} expressions stay as YAML left them (ansible-core's AnsibleLexer)."""

    def tokeniter(self, *args, **kwargs):
        inside = False
        for lineno, kind, value in super().tokeniter(*args, **kwargs):
            if kind == TOKEN_VARIABLE_BEGIN:
                inside = True
            elif kind == TOKEN_VARIABLE_END:
                inside = False
            elif inside and kind == TOKEN_STRING:
                value = value.replace("\\", "\\\\")
            yield lineno, kind, value


def to_bool(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("yes", "on", "1", "true", "t", "y", "1.0")


def combine(*terms, **kwargs):
    def merge(left, right):
        out = dict(left)
        for key, value in right.items():
            if kwargs.get("recursive") and isinstance(out.get(key), dict) and isinstance(value, dict):
                value = merge(out[key], value)
            out[key] = value
        return out

    out = {}
    for term in terms:
        for item in term if isinstance(term, (list, tuple)) else [term]:
            out = merge(out, item)
    return out


def regex_replace(value="", pattern="", replacement="", ignorecase=False, multiline=False, count=0):
    flags = (re.I if ignorecase else 0) | (re.M if multiline else 0)
    return re.compile(pattern, flags).sub(replacement, str(value), count=count)


def flatten(value, levels=None):
    out = []
    for item in value:
        if isinstance(item, (list, tuple)) and (levels is None or levels > 0):
            out.extend(flatten(item, None if levels is None else levels - 1))
        else:
            out.append(item)
    return out


def unique(value):
    out = []
    for item in value:
        if item not in out:
            out.append(item)
    return out


def keep_keys(data, target=None, matching_parameter="equal"):
    assert matching_parameter == "equal", "keep_keys: only matching_parameter=equal is reimplemented here"
    return [dict((k, v) for k, v in item.items() if k in target) for item in data]


ANSIBLE_FILTERS = {
    "bool": to_bool,
    "combine": combine,
    "regex_replace": regex_replace,
    "split": lambda value, sep=None, maxsplit=-1: str(value).split(sep, maxsplit),
    "zip": lambda *args: [list(t) for t in zip(*args)],
    "extract": lambda item, container, morekeys=None: container[item],
    "dict2items": lambda value, key_name="key", value_name="value": [{key_name: k, value_name: v} for k, v in value.items()],
    "items2dict": lambda value, key_name="key", value_name="value": dict((i[key_name], i[value_name]) for i in value),
    "flatten": flatten,
    "unique": unique,
    "difference": lambda a, b: [x for x in unique(a) if x not in b],
    "intersect": lambda a, b: [x for x in unique(a) if x in b],
    "union": lambda a, b: unique(list(a) + list(b)),
    "dirname": os.path.dirname,
    "basename": os.path.basename,
    "to_json": json.dumps,
    "to_nice_json": lambda value, indent=4, **kw: json.dumps(value, indent=indent, sort_keys=True, **kw),
    "from_json": json.loads,
    "ternary": lambda value, yes, no, none=None: yes if value else no,
    "community.general.dict_kv": lambda value, key: {key: value},
    "community.general.dict": dict,
    "community.general.keep_keys": keep_keys,
}
ANSIBLE_TESTS = {
    "match": lambda value, pattern, ignorecase=False, multiline=False: re.match(pattern, str(value)) is not None,
    "search": lambda value, pattern, ignorecase=False, multiline=False: re.search(pattern, str(value)) is not None,
}
# What the pki record reads on the control node: HOME, and certificate files that all exist and hold this one.
SAMPLE_CERTIFICATE = {"subject": {"commonName": "CT1"}, "not_after": "20271231000000Z", "not_before": "20260101000000Z"}
SAMPLE_PEM = "-----BEGIN CERTIFICATE-----\n(sample)\n-----END CERTIFICATE-----"
SAMPLE_LOOKUPS = {"env": "/home/operator", "file": SAMPLE_PEM}
CONTROLLER = {
    "filters": {"community.crypto.x509_certificate_info": lambda pem: dict(SAMPLE_CERTIFICATE)},
    "tests": {"file": lambda path: True, "ansible.builtin.file": lambda path: True},
    "globals": {"lookup": lambda name, *terms, **kwargs: (
        pki_paths.pki_path(*terms[:1]) if name == "hospital.imaging.pki_path" else SAMPLE_LOOKUPS[name.split(".")[-1]])},
}


class SampleEnvironment(NativeEnvironment):
    """Plain Jinja2 with the Ansible filters the records use; hospital.imaging filters come from plugins/filter."""

    def __init__(self):
        super().__init__(undefined=SampleUndefined)
        for name, func in ANSIBLE_FILTERS.items():
            self.filters[name] = func
            if "." not in name:
                self.filters["ansible.builtin." + name] = func
        self.tests.update(ANSIBLE_TESTS)
        self.filters.update(CONTROLLER["filters"])
        self.tests.update(CONTROLLER["tests"])
        self.globals.update(CONTROLLER["globals"])
        self._lexer = AnsibleLikeLexer(self)

    @property
    def lexer(self):
        return self._lexer

    def add_collection_filters(self, source):
        for name in set(re.findall(r"hospital\.imaging\.([a-z_]+)", source)):
            if (ROOT / "plugins" / "lookup" / (name + ".py")).exists():
                continue  # a lookup: the sample lookup() answers it
            if "hospital.imaging." + name not in self.filters:
                module = importlib.import_module("ansible_collections.hospital.imaging.plugins.filter." + name)
                self.filters["hospital.imaging." + name] = module.FilterModule().filters()[name]


def concat(chunks):
    """A template's value as ansible-core 2.19 gives it: one expression keeps its type, else the text."""
    chunks = list(chunks)
    if len(chunks) == 1:
        return chunks[0]
    return "".join(str(c) for c in chunks)


class SampleVariables(collections.abc.Mapping):
    """Layers of variables (lowest precedence first), each template rendered when it is first looked up."""

    def __init__(self, env, *layers):
        self.env, self.layers, self.cache = env, layers, {}

    def __getitem__(self, key):
        if key not in self.cache:
            layer = next((lay for lay in reversed(self.layers) if key in lay), None)
            if layer is None:
                return self.env.globals[key]
            self.cache[key] = self.render(layer[key])
        return self.cache[key]

    def __contains__(self, key):
        return any(key in layer for layer in self.layers) or key in self.env.globals

    def __iter__(self):
        return iter(set(k for layer in self.layers for k in layer))

    def __len__(self):
        return len(set(k for layer in self.layers for k in layer))

    def render(self, value):
        if is_template(value):
            self.env.add_collection_filters(value)
            template = self.env.from_string(value)
            return concat(template.root_render_func(template.new_context(self, shared=True)))
        if type(value) is dict:  # pylint: disable=unidiomatic-typecheck  # a sample's own mapping (AnyPackage) stays
            return dict((self.render(k), self.render(v)) for k, v in value.items())
        if isinstance(value, list):
            return [self.render(v) for v in value]
        return value


class AnyPackage(dict):
    """ansible_facts.packages where every package is installed."""

    def __missing__(self, name):
        return [{"name": name, "version": "1.0-1+deb12u1", "source": "apt"}]


SITE = {
    "inventory_hostname": "pacs1",
    "group_names": ["imaging", "imaging_dicom", "imaging_db", "imaging_cache", "imaging_app"],
    "groups": {"all": ["pacs1", "web1"], "imaging": ["pacs1", "web1"], "imaging_web": ["web1"], "imaging_dicom": ["pacs1"],
               "imaging_db": ["pacs1"], "imaging_cache": ["pacs1"], "imaging_app": ["pacs1"]},
    "ansible_facts": {"distribution": "Debian", "distribution_major_version": "12", "default_ipv4": {"address": "192.0.2.10"},
                      "packages": AnyPackage(), "virtualization_role": "guest", "virtualization_type": "docker",
                      "memtotal_mb": 4096, "processor_vcpus": 2},
    "imaging_site_name": "clinic",
    "imaging_domain": "hospital.example",
    "imaging_archive_aet": "ARCHIVE",
    "imaging_modality_cidrs": ["10.20.0.0/24"],
    "imaging_dicom_peer_cidrs": ["10.30.0.0/24"],
    "imaging_management_cidrs": ["10.10.0.0/24"],
    "imaging_clinical_cidrs": ["10.40.0.0/16"],
    "imaging_db_client_cidrs": ["127.0.0.1/32", "192.0.2.0/24"],
    # One database without pool_mode: the argument spec allows it (pgbouncer_default_pool_mode applies).
    "imaging_databases": [{"name": "orthanc", "login": "orthanc", "password": "sample-password-1", "pool_mode": "session", "phi": True},
                          {"name": "worklist", "login": "worklist", "password": "sample-password-2", "phi": False}],
    "imaging_redis_users": [{"name": "worklist", "password": "sample-password-3", "keys": ["worklist:*"]}],
    "imaging_app_services": [{"name": "demo", "port": 8100, "artifact": {"type": "executable", "src": "demo"}},
                             {"name": "reports", "port": 8101, "command": "/usr/bin/reports", "location": "/reports/",
                              "artifact": {"type": "wheel", "src": "reports.whl"}}],
    "imaging_ssh_allow_groups": ["imaging-admins"],
    "imaging_ssh_operators": ["alice"],
    "vault_orthanc_admin_password": "sample-password-4",
    "vault_redis_admin_password": "sample-password-5",
    "vault_pgbackrest_cipher_pass": "sample-password-6",
    "vault_db_pgbouncer_admin_password": "sample-password-7",
    "vault_db_pgbouncer_stats_password": "sample-password-8",
    "vault_pki_ca_passphrase": "sample-password-9",
    "ansible_play_hosts_all": ["pacs1", "web1"],
    "hostvars": {"pacs1": {}, "web1": {}},
}


def dpkg(*packages):
    return {"rc": 0, "stdout_lines": ["%s\t1.0-1" % p for p in packages]}


# What earlier tasks of the role register or set (set_fact, register), per role; then the variants each role is
# rendered in, so that every branch that adds a listener, a file or a waiver is taken at least once.
ROLE_FACTS = {
    "backup_target": {"__backup_target_host_pub": {"rc": 0, "stdout": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbJ imaging-backup-sftp@backup1"}},
    "auditd": {"__auditd_versions": dpkg("auditd", "audispd-plugins"), "__auditd_rules_unit": {"stat": {"exists": True}},
               "__auditd_find_privileged": {"stdout_lines": ["/usr/bin/passwd", "/usr/bin/sudo"]},
               "__auditd_status": {"rc": 0, "stderr": ""}, "__auditd_kernel_ok": True},
    "disk_encryption": {"__disk_encryption_versions": dpkg("cryptsetup", "cryptsetup-bin"), "__disk_encryption_dm_ok": True,
                        "disk_encryption_devices": [{"name": "imaging_store", "device": "/dev/sdb", "mount_point": "/var/lib/orthanc/db-v6"},
                                                    {"name": "pgdata", "device": "/dev/sdc", "mount_point": "/srv/pgdata",
                                                     "mount_options": "nodev,nosuid"}]},
    "firewall": {"__firewall_version": {"rc": 0, "stdout": "0.36.2-1"},
                 "__firewall_rules": [{"port": "22", "proto": "tcp", "sources": ["10.10.0.0/24"], "comment": "ssh"},
                                      {"port": "4242", "proto": "tcp", "sources": ["10.20.0.0/24"], "comment": "dicom"}]},
    "os_hardening": {"__os_hardening_versions": dpkg("openssh-server", "chrony"), "__os_hardening_in_container": True,
                     "__os_hardening_usb_bus": False, "__os_hardening_operators": ["alice"],
                     "__os_hardening_sysctl": {"kernel.kptr_restrict": 2, "net.ipv4.tcp_rmem": "4096 87380 16777216"},
                     "__os_hardening_sysctl_waivers": ["kernel.kptr_restrict"]},
    "pki": {"__pki_versions": dpkg("openssl", "ca-certificates"),
            "__pki_cert_info": {"subject_ordered": [["commonName", "pacs1.hospital.example"]],
                                "issuer_ordered": [["commonName", "clinic imaging internal CA"]], "serial_number": 4242,
                                "not_before": "20260101000000Z", "not_after": "20271231000000Z", "public_key_type": "RSA",
                                "public_key_data": {"size": 3072}, "subject_alt_name": ["DNS:pacs1", "IP:192.0.2.10"]}},
}
MODALITIES = {
    "plain": {"name": "ct1", "aet": "CT1", "host": "10.20.0.5", "port": 104},
    "tls": {"name": "mr1", "aet": "MR1", "host": "10.20.0.6", "port": 2762, "listener": "tls"},
    "both": {"name": "peer", "aet": "PEER", "host": "10.30.0.7", "port": 11112, "listener": "both", "allow_move": True},
}
VARIANTS = {
    "app_services": [("nginx-elsewhere", {}), ("nginx-here", {"app_services_nginx_hosts": ["pacs1"]})],
    "auditd": [("kernel-ok", {}), ("container", {"__auditd_kernel_ok": False, "__auditd_status": {"rc": 1, "stderr": "Operation not permitted"},
                                                 "auditd_forwarding_enabled": True, "auditd_remote_syslog_host": "siem.hospital.example"})],
    "disk_encryption": [("device-mapper", {}), ("no-device-mapper", {"__disk_encryption_dm_ok": False})],
    "orthanc": [("plain-and-tls", {"orthanc_modalities": [MODALITIES["plain"], MODALITIES["tls"], MODALITIES["both"]]}),
                ("tls-only", {"orthanc_dicom_plain_enabled": False, "orthanc_modalities": [MODALITIES["tls"]]}),
                ("plain-only", {"orthanc_dicom_tls_enabled": False, "orthanc_modalities": [MODALITIES["plain"]],
                                "groups": dict(SITE["groups"], imaging_web=["pacs1"])})],
    "os_hardening": [("container", {}), ("usb-bus", {"__os_hardening_in_container": False, "__os_hardening_usb_bus": True,
                                                     "__os_hardening_sysctl_waivers": []})],
    "pki": [("host-certificate", {}), ("client-certificates", {"pki_client_certificates": [{"name": "ct1", "common_name": "CT1"}]})],
    "postgresql": [("network", {}), ("loopback", {"postgresql_listen_addresses": ["127.0.0.1", "::1"], "postgresql_backup_enabled": False})],
    "pgbouncer": [("network", {}), ("loopback-verify-full", {"pgbouncer_listen_addresses": ["localhost"],
                                                             "pgbouncer_client_tls_sslmode": "verify-full"})],
    "redis": [("tls-only", {}), ("plain-on-loopback", {"redis_plain_port": 6379, "redis_bind_addresses": ["127.0.0.1"],
                                                       "redis_tls_auth_clients": "yes"})],
}
CASES = [(role, name) for role in FACT_ROLES for name, _values in VARIANTS.get(role, [("default", {})])]


def render_record(role, variant):
    env = SampleEnvironment()
    base = ROOT / "roles" / role
    os_vars = load_yaml(base / "vars" / "Debian-12.yml")
    task, name = record_task(role)
    values = dict(dict(VARIANTS.get(role, [("default", {})]))[variant])
    variables = SampleVariables(env, load_yaml(base / "defaults" / "main.yml"), SITE, load_yaml(base / "vars" / "main.yml"),
                                os_vars, ROLE_FACTS.get(role, {}), values, task.get("vars") or {})
    try:
        return variables[name]
    except (jinja2.TemplateError, LookupError, TypeError, ValueError) as exc:
        raise AssertionError("roles/%s/tasks/facts.yml (%s): %s does not render from the sample inputs: %s: %s"
                             % (role, variant, name, type(exc).__name__, exc)) from exc


def leaks(value, path="record"):
    """Where an undefined value or a non-JSON type is left in the rendered record."""
    if isinstance(value, jinja2.Undefined):
        return ["%s is undefined (%s)" % (path, value._undefined_message)]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in leaks(v, "%s.%s" % (path, k))]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in leaks(v, "%s[%d]" % (path, i))]
    if value is None or isinstance(value, (str, int, float, bool)):
        return []
    return ["%s is a %s, not a JSON value" % (path, type(value).__name__)]


def schema_errors(record):
    validator = jsonschema.Draft202012Validator(schema())
    return sorted("%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(record)", e.message) for e in validator.iter_errors(record))


@pytest.mark.parametrize("role, variant", CASES, ids=["%s-%s" % c for c in CASES])
def test_rendered_sample_record_matches_the_schema(role, variant):
    record = render_record(role, variant)
    problems = leaks(record)
    assert not problems, "roles/%s/tasks/facts.yml (%s):\n  " % (role, variant) + "\n  ".join(problems)
    record = json.loads(json.dumps(record))
    errors = schema_errors(record)
    assert not errors, "roles/%s/tasks/facts.yml (%s) renders a record docs/record-schema.json refuses:\n  " % (role, variant) \
        + "\n  ".join(errors) + "\nrecord: " + json.dumps(record, indent=1)[:4000]
    names = [listener["name"] for listener in record.get("listeners", [])]
    assert len(names) == len(set(names)), "listener names used twice: %s" % names
    if "listeners" in schema()["$defs"]["records"][role].get("required", []):
        assert record["listeners"], "%s (%s): the sample renders no listener, so none is checked" % (role, variant)


# Every (name, scope) a role's listeners take across its variants: a branch never rendered is never checked.
EXPECTED_LISTENERS = {
    "backup_target": {("backup-sftp", "network")},
    "nginx": {("https", "network"), ("http", "network")},
    "postgresql": {("postgresql", "network"), ("postgresql", "loopback")},
    "pgbouncer": {("pgbouncer", "network"), ("pgbouncer", "loopback")},
    "redis": {("redis-tls", "network"), ("redis-tls", "loopback"), ("redis", "loopback")},
    "app_services": {("demo", "network"), ("reports", "network"), ("demo", "loopback"), ("reports", "loopback")},
    "orthanc": {("http", "network"), ("http", "loopback"), ("dicom", "network"), ("dicom-tls", "network"), ("dicom-tls-http", "loopback")},
}


def test_every_role_with_listeners_has_expected_listeners():
    with_listeners = sorted(r for r in FACT_ROLES if "listeners" in schema()["$defs"]["records"][r].get("required", []))
    assert with_listeners == sorted(EXPECTED_LISTENERS)


@pytest.mark.parametrize("role", sorted(EXPECTED_LISTENERS))
def test_sample_variants_reach_every_listener(role):
    seen = set()
    for name, _values in VARIANTS.get(role, [("default", {})]):
        seen.update((listener.get("name"), listener.get("scope")) for listener in render_record(role, name).get("listeners", []))
    assert EXPECTED_LISTENERS[role] <= seen, "%s: the samples never render %s" % (role, sorted(EXPECTED_LISTENERS[role] - seen))


def test_schema_refuses_what_the_contract_forbids():
    """The schema is strict where the contract is: an unknown key, a listener without its scope, a port out of range."""
    good = json.loads(json.dumps(render_record("nginx", "default")))
    assert schema_errors(good) == []
    extra = dict(good, colour="blue")
    assert any("colour" in e for e in schema_errors(extra))
    listener = dict(good["listeners"][0])
    del listener["scope"]
    assert any("'scope' is a required property" in e for e in schema_errors(dict(good, listeners=[listener])))
    assert schema_errors(dict(good, listeners=[dict(good["listeners"][0], port=0)]))
    assert schema_errors(dict(good, listeners=[dict(good["listeners"][0], scope="public")]))
    assert schema_errors(dict(good, listeners=[dict(good["listeners"][0], owner="www-data")]))
    assert schema_errors(dict(good, waivers=[{"id": "x", "requirement": "IQ-WEB-001"}]))
    assert schema_errors(dict(good, role="nginx-ish"))
