"""The pki directory is decided once: module_utils/pki_paths.py, read by the hospital.imaging.pki_path lookup."""

import pathlib
import re

import pytest

from ansible_collections.hospital.imaging.plugins.module_utils import pki_paths

ROOT = pathlib.Path(__file__).resolve().parents[3]


def test_paths():
    assert pki_paths.pki_path() == "/etc/ssl/hospital-imaging"
    assert pki_paths.pki_path("host.key") == "/etc/ssl/hospital-imaging/host.key"
    assert pki_paths.pki_path("ca.crt", "/srv/pki") == "/srv/pki/ca.crt"
    with pytest.raises(ValueError, match="not a file the pki role installs"):
        pki_paths.pki_path("other.pem")


def test_lookup_reads_the_site_directory():
    from ansible.template import Templar
    from ansible.parsing.dataloader import DataLoader
    from ansible_collections.hospital.imaging.plugins.lookup.pki_path import LookupModule

    lookup = LookupModule(loader=DataLoader(), templar=Templar(loader=DataLoader()))
    assert lookup.run(["host.crt", "ca.crt"], variables={}) == [
        "/etc/ssl/hospital-imaging/host.crt", "/etc/ssl/hospital-imaging/ca.crt"]
    assert lookup.run([], variables={"imaging_pki_dir": "/srv/pki"}) == ["/srv/pki"]


def test_the_directory_is_written_in_one_place():
    """No role, playbook or plugin spells the pki directory out: they use the lookup (generated READMEs show it)."""
    literal = re.compile(re.escape(pki_paths.PKI_DIR))
    found = []
    for pattern in ("roles/**/*.yml", "roles/**/*.j2", "playbooks/**/*.yml", "plugins/**/*.py"):
        for path in ROOT.glob(pattern):
            if path.name in ("pki_paths.py", "pki_path.py"):  # the decision and the lookup that documents it
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if literal.search(line):
                    found.append("%s:%d" % (path.relative_to(ROOT), number))
    assert not found, found
