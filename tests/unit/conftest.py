"""Make `ansible_collections.hospital.imaging` importable from this checkout."""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, ".collections")
if os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "hospital", "imaging")) and COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
