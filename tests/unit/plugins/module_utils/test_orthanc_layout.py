"""The one decision of which Orthanc processes run, which DICOM listener each opens and which modalities each accepts."""

import pytest

from ansible_collections.hospital.imaging.plugins.module_utils import orthanc_layout as ol

CT = {"name": "ct1", "aet": "CT1", "host": "10.1.0.5", "port": 104}
PEER = {"name": "peer", "aet": "PEER", "host": "10.9.0.2", "port": 4243, "listener": "tls"}
BOTH = {"name": "validation", "aet": "VALIDATION", "host": "127.0.0.1", "port": 11113, "listener": "both",
        "use_dicom_tls": False, "allow_move": True}


def test_both_listeners_run_two_processes_each_with_its_own_modalities():
    found = ol.layout([CT, PEER, BOTH], plain_sources=["10.1.0.0/16"], tls_sources=["10.1.0.0/16", "10.9.0.0/24"])
    main, tls = found["processes"]
    assert (main["service"], main["config_dir"], main["dicom_port"], main["dicom_tls"], main["http_port"]) == \
        ("orthanc", "/etc/orthanc", 4242, False, 8042)
    assert (tls["service"], tls["config_dir"], tls["dicom_port"], tls["dicom_tls"], tls["http_port"]) == \
        ("orthanc-dicom-tls", "/etc/orthanc-dicom-tls", 4243, True, 8043)
    assert sorted(main["modalities"]) == ["ct1", "validation"]
    assert sorted(tls["modalities"]) == ["peer", "validation"]
    assert tls["remote_access"] is False
    # Orthanc calls a TLS node over TLS unless told otherwise; the others plain
    assert tls["modalities"]["peer"]["UseDicomTls"] is True
    assert main["modalities"]["ct1"]["UseDicomTls"] is False
    assert main["modalities"]["ct1"]["AllowMove"] is False and main["modalities"]["validation"]["AllowMove"] is True
    assert found["listeners"] == [
        {"name": "http", "protocol": "http", "port": 8042, "tls": False, "scope": "loopback", "service": "orthanc"},
        {"name": "dicom", "protocol": "dicom", "port": 4242, "tls": False, "scope": "network",
         "sources": ["10.1.0.0/16"], "service": "orthanc", "client_certificate": False},
        {"name": "dicom-tls", "protocol": "dicom", "port": 4243, "tls": True, "scope": "network",
         "sources": ["10.1.0.0/16", "10.9.0.0/24"], "service": "orthanc-dicom-tls", "client_certificate": True},
        {"name": "dicom-tls-http", "protocol": "http", "port": 8043, "tls": False, "scope": "loopback",
         "service": "orthanc-dicom-tls"},
    ]


@pytest.mark.parametrize("plain, tls, port, is_tls", [(True, False, 4242, False), (False, True, 4243, True)])
def test_one_listener_is_the_main_process(plain, tls, port, is_tls):
    found = ol.layout([dict(CT, listener="plain" if plain else "tls")], plain_enabled=plain, tls_enabled=tls,
                      http_scope="network")
    assert [p["service"] for p in found["processes"]] == ["orthanc"]
    process = found["processes"][0]
    assert (process["dicom_port"], process["dicom_tls"], process["remote_access"]) == (port, is_tls, True)
    assert list(process["modalities"]) == ["ct1"]
    dicom = [item for item in found["listeners"] if item["protocol"] == "dicom"]
    assert [(d["port"], d["tls"], d["service"]) for d in dicom] == [(port, is_tls, "orthanc")]
    assert [item["name"] for item in found["listeners"]] == ["http", "dicom-tls" if is_tls else "dicom"]


def test_no_listener_is_refused():
    with pytest.raises(ValueError, match="both false"):
        ol.layout([], plain_enabled=False, tls_enabled=False)


def test_absent_modalities_are_left_out_and_strings_are_booleans():
    found = ol.layout([dict(CT, state="absent"), dict(PEER, allow_store="no")])
    assert [m["name"] for m in found["modalities"]] == ["peer"]
    assert found["processes"][1]["modalities"]["peer"]["AllowStore"] is False


def test_client_certificate_follows_the_tls_setting():
    found = ol.layout([], client_certificate_required=False)
    assert [item.get("client_certificate") for item in found["listeners"] if item["protocol"] == "dicom"] == [False, False]


@pytest.mark.parametrize("entry, plain, tls, fragment", [
    (dict(CT, listener="tls"), True, False, "'tls' needs the DICOM TLS listener, which orthanc_dicom_tls_enabled switches off"),
    (CT, False, True, "'plain' needs the plain DICOM listener"),
    (dict(CT, listener="dicom"), True, True, "'dicom' is not one of plain, tls, both"),
    (dict(CT, lisener="tls"), True, True, "is not a modality key (known: name, aet"),
])
def test_listener_problems(entry, plain, tls, fragment):
    problems = ol.modality_problems([entry], "PACS", True, plain, tls)
    assert any(fragment in message for _index, _key, message in problems), problems


def test_a_valid_list_has_no_problem():
    assert ol.modality_problems([CT, PEER, BOTH], "PACS", True, True, True) == []
    # 'both' is every listener the archive opens
    assert ol.modality_problems([BOTH], "PACS", True, False, True) == []
    assert ol.modality_problems([BOTH], "PACS", True, True, False) == []
