"""The plugins use ansible-core's public API only, so meta/runtime.yml's requires_ansible holds."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
PLUGINS = sorted((ROOT / "plugins").rglob("*.py"))


def ansible_imports(path):
    """Every (module, name) that a file imports from the ansible package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "ansible" or node.module.startswith("ansible."):
                for alias in node.names:
                    yield node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "ansible" or alias.name.startswith("ansible."):
                    yield alias.name, None


@pytest.mark.parametrize("path", PLUGINS, ids=[str(p.relative_to(ROOT)) for p in PLUGINS])
def test_no_private_ansible_core_import(path):
    for module, name in ansible_imports(path):
        parts = module.split(".") + ([name] if name else [])
        private = [p for p in parts if p.startswith("_") and p != "__future__"]
        assert not private, "%s imports ansible-core's private %s" % (path.relative_to(ROOT), ".".join(parts))


def test_trust_as_template_is_guarded():
    """trust_as_template exists from ansible-core 2.19 on; requires_ansible allows older releases."""
    for path in PLUGINS:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        guarded = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id == "ImportError" for h in node.handlers
            ):
                guarded.update(id(n) for n in ast.walk(node))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "ansible.template":
                if any(a.name == "trust_as_template" for a in node.names):
                    assert id(node) in guarded, "%s: unguarded import of trust_as_template" % path.relative_to(ROOT)
