"""Testinfra reaches the scenario's container directly (the inventory templates its name)."""

import os

import pytest
import testinfra


@pytest.fixture(scope="module")
def host():
    name = os.environ.get("IMAGING_SANDBOX_CONTAINER", "molecule-imaging-sandbox")
    return testinfra.get_host("docker://" + name)
