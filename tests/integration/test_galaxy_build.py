"""The collection builds, installs into an empty collections path, and works from there by FQCN."""

from __future__ import annotations

import glob
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, ".venv", "bin")


def run(cmd, **kw):
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    assert result.returncode == 0, "%s\n%s\n%s" % (" ".join(cmd), result.stdout, result.stderr)
    return result


def test_build_install_and_use(tmp_path):
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), ROOT])
    tarball = glob.glob(str(tmp_path / "hospital-imaging-*.tar.gz"))
    assert len(tarball) == 1
    installed = tmp_path / "collections"
    (tmp_path / "ansible.cfg").write_text("[defaults]\n", encoding="utf-8")
    clean = dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"))
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(installed), tarball[0]],
        env=clean, cwd=str(tmp_path))
    assert (installed / "ansible_collections" / "hospital" / "imaging" / "MANIFEST.json").is_file()
    # the tarball carries no local state (secrets, venvs, reports)
    files = os.listdir(installed / "ansible_collections" / "hospital" / "imaging")
    assert not {".venv", ".collections", ".vault-pass", "reports"} & set(files)
    assert not (installed / "ansible_collections" / "hospital" / "imaging" / "inventories" / "sandbox" / "group_vars"
                / "all" / "vault.yml").exists()

    # only the installed copy of hospital.imaging, plus the community collections it depends on
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH="%s:%s" % (installed, tmp_path / "community"),
               ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), PATH=BIN + os.pathsep + os.environ["PATH"])
    os.makedirs(tmp_path / "community" / "ansible_collections")
    for ns in ("ansible", "community"):
        os.symlink(os.path.join(ROOT, ".collections", "ansible_collections", ns),
                   tmp_path / "community" / "ansible_collections" / ns)
    modules = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py")))
    for module in modules:
        doc = run([os.path.join(BIN, "ansible-doc"), "hospital.imaging." + module], env=env, cwd=str(tmp_path))
        assert "hospital.imaging." + module in doc.stdout

    roles = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "roles", "*")))
    play = tmp_path / "play.yml"
    lines = ["- name: Use the installed collection by FQCN", "  hosts: localhost", "  gather_facts: false", "  tasks:",
             "    - name: Validate an inline site", "      hospital.imaging.preflight:", "        hosts: [localhost]",
             "      register: result", "    - name: Show the result", "      ansible.builtin.debug:",
             "        var: result.msg"]
    for role in roles:
        lines += ["    - name: Load role %s" % role, "      ansible.builtin.include_role:",
                  "        name: hospital.imaging.%s" % role, "      when: false"]
    play.write_text("\n".join(lines) + "\n", encoding="utf-8")
    inv = tmp_path / "hosts.yml"
    inv.write_text("all:\n  children:\n    imaging:\n      children:\n" + "".join(
        "        %s:\n          hosts:\n            localhost:\n              ansible_connection: local\n" % g
        for g in ("imaging_db", "imaging_dicom", "imaging_web")), encoding="utf-8")
    out = run([os.path.join(BIN, "ansible-playbook"), "-i", str(inv), str(play)], env=env, cwd=str(tmp_path))
    assert "Preflight passed for 1 host(s)" in out.stdout
    if roles:
        listed = run([os.path.join(BIN, "ansible-playbook"), "-i", str(inv), "--list-tasks", str(play)],
                     env=env, cwd=str(tmp_path))
        for role in roles:
            assert "Load role %s" % role in listed.stdout
