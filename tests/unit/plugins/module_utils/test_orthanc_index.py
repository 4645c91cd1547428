"""The index path decision: the socket when PostgreSQL is on this host, one verify-full TLS connection otherwise."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pytest

import pathlib

import yaml

from ansible_collections.hospital.imaging.plugins.module_utils import orthanc_index as oi

ROLE = pathlib.Path(__file__).resolve().parents[4] / "roles" / "orthanc"

ARGS = dict(port=5432, database="orthanc", login="orthanc", password="p@ss:w/rd?&", socket_directory="/var/run/postgresql",
            ca_file="/etc/orthanc/tls/ca.crt")


def test_the_role_offers_the_modes_and_the_default_of_the_decision():
    """The role's argument_specs and defaults, and preflight for a site that sets no mode, use this module's values."""
    spec = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    option = spec["argument_specs"]["main"]["options"]["orthanc_database_mode"]
    assert tuple(option["choices"]) == oi.MODES
    assert option["default"] == oi.DEFAULT_MODE
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))
    assert defaults["orthanc_database_mode"] == oi.DEFAULT_MODE
    assert oi.DEFAULT_MODE in oi.MODES


def test_auto_takes_the_socket_when_the_index_is_on_this_host():
    got = oi.connection("auto", "pacs1", "pacs1", **ARGS)
    assert got["mode"] == "socket"
    uri = urlsplit(got["settings"]["ConnectionUri"])
    assert (uri.scheme, uri.hostname, uri.path) == ("postgresql", None, "/orthanc")
    assert (unquote(uri.username), unquote(uri.password)) == ("orthanc", "p@ss:w/rd?&")
    assert parse_qs(uri.query) == {"host": ["/var/run/postgresql"], "port": ["5432"], "sslmode": ["disable"]}
    assert got["record"]["tls"] is False and got["record"]["host"] == "/var/run/postgresql"


def test_auto_takes_one_verified_tls_connection_to_a_remote_index():
    got = oi.connection("auto", "pacs1", "db1.example", **ARGS)
    assert got["mode"] == "direct"
    assert list(got["settings"]) == ["ConnectionUri"]
    uri = urlsplit(got["settings"]["ConnectionUri"])
    assert (uri.scheme, uri.hostname, uri.port, uri.path) == ("postgresql", "db1.example", 5432, "/orthanc")
    assert (unquote(uri.username), unquote(uri.password)) == ("orthanc", "p@ss:w/rd?&")
    assert parse_qs(uri.query) == {"sslmode": ["verify-full"], "sslrootcert": ["/etc/orthanc/tls/ca.crt"]}


@pytest.mark.parametrize("mode", ["auto", "socket", "direct"])
def test_the_record_holds_no_secret(mode):
    got = oi.connection(mode, "pacs1", "pacs1" if mode != "direct" else "db1", **ARGS)
    assert "p@ss" not in repr(got["record"])
    assert got["record"]["mode"] == got["mode"]


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="'pgbouncer' is not one of auto, socket, direct"):
        oi.connection("pgbouncer", "pacs1", "db1", **ARGS)
