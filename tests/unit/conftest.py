"""Make ``ansible_collections.hospital.imaging`` importable from the repository checkout.

scripts/bootstrap links this repository into .collections/ansible_collections/hospital/imaging;
under ansible-test the collection root is already on the path.
"""

from __future__ import annotations

import os
import sys

_COLLECTIONS = os.path.join(os.path.dirname(__file__), "..", "..", ".collections")
if os.path.isdir(_COLLECTIONS) and "ansible_collections" not in sys.modules:
    sys.path.insert(0, os.path.abspath(_COLLECTIONS))
