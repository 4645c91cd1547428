"""Make the collection importable as ansible_collections.hospital.imaging for the validation tests."""
import os
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
COLLECTIONS = os.path.join(ROOT, ".collections")
if os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "hospital", "imaging")):
    sys.path.insert(0, COLLECTIONS)
else:  # the tree itself is laid out as ansible_collections/hospital/imaging (ansible-test)
    sys.path.insert(0, os.path.abspath(os.path.join(ROOT, "..", "..", "..")))


@pytest.fixture
def project_root():
    return ROOT
