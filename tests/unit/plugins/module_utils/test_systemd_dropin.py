"""The one systemd sandbox helper: its plan, its systemd-analyze verify check, and every role going through it."""

from __future__ import annotations

import pathlib
import shlex
import shutil
import subprocess
import tempfile

import pytest
import yaml

from ansible_collections.hospital.imaging.plugins.module_utils import systemd_dropin

ROOT = pathlib.Path(__file__).resolve().parents[4]
SANDBOXED_ROLES = ['app_services', 'backup_target', 'nginx', 'orthanc', 'pgbouncer', 'postgresql', 'redis']
HELPER = 'hospital.imaging.systemd_dropin'
WRITERS = {'ansible.builtin.template', 'ansible.builtin.copy', 'ansible.builtin.file', 'template', 'copy', 'file',
           'hospital.imaging.managed_files', 'ansible.builtin.lineinfile', 'community.general.ini_file'}


def test_plan_for_a_packaged_unit():
    files = systemd_dropin.plan(dict(unit='nginx.service', dropin='hardening.conf', src='service-sandbox.conf.j2'))
    assert [f['path'] for f in files] == ['/etc/systemd/system/nginx.service.d',
                                          '/etc/systemd/system/nginx.service.d/hardening.conf']
    assert files[0]['state'] == 'directory' and files[0]['mode'] == '0755'
    dropin = files[1]
    assert (dropin['src'], dropin['owner'], dropin['group'], dropin['mode']) == ('service-sandbox.conf.j2', 'root', 'root', '0644')
    assert dropin['validate'] == systemd_dropin.verify_command('nginx.service', 'hardening.conf')
    assert dropin['validate'].endswith(' %s') and dropin['validate'].count('%s') == 1


def test_plan_for_a_template_verifies_the_instance():
    files = systemd_dropin.plan(dict(unit='postgresql@.service', instance='15-main', dropin='hardening.conf',
                                     content='[Service]\n'))
    assert files[1]['path'] == '/etc/systemd/system/postgresql@.service.d/hardening.conf'
    assert files[1]['content'] == '[Service]\n'
    assert "postgresql@15-main.service hardening.conf '' %s" in files[1]['validate']


def test_plan_for_a_unit_the_role_owns():
    files = systemd_dropin.plan(dict(unit='imaging-app-a.service', dropin='hardening.conf', unit_src='service.unit.j2'))
    assert [f['path'] for f in files] == ['/etc/systemd/system/imaging-app-a.service']
    assert files[0]['validate'] == systemd_dropin.verify_command('imaging-app-a.service')
    both = systemd_dropin.plan(dict(unit='imaging-app-a.service', dropin='x.conf', unit_content='[Service]\n',
                                    content='[Service]\n'))
    paths = [f['path'] for f in both]
    assert paths[::2] == ['/etc/systemd/system/imaging-app-a.service', '/etc/systemd/system/imaging-app-a.service.d/x.conf']
    assert both[2]['validate'] == systemd_dropin.verify_command('imaging-app-a.service', 'x.conf',
                                                                '/etc/systemd/system/imaging-app-a.service')


@pytest.mark.parametrize('args, fragment', [
    (dict(unit='nginx', dropin='hardening.conf', src='a'), 'service name'),
    (dict(unit='../x.service', dropin='hardening.conf', src='a'), 'service name'),
    (dict(unit='nginx.service', dropin='../x.conf', src='a'), 'dropin'),
    (dict(unit='nginx.service', dropin='x', src='a'), 'dropin'),
    (dict(unit='nginx.service', dropin='x.conf'), 'give the drop-in'),
    (dict(unit='nginx.service', dropin='x.conf', src='a', content='b'), 'mutually exclusive'),
    (dict(unit='nginx.service', dropin='x.conf', src='a', instance='1'), 'template'),
    (dict(unit='pg@.service', dropin='x.conf', src='a', instance='a b'), 'instance'),
    (dict(unit='pg@.service', dropin='x.conf', unit_src='a'), 'cannot be a template'),
])
def test_problems(args, fragment):
    assert any(fragment in p for p in systemd_dropin.problems(args)), systemd_dropin.problems(args)


RECOVERY = dict(restart_sec=2, start_limit_burst=5, start_limit_interval_sec=300)


def test_recovery_is_the_dropin():
    files = systemd_dropin.plan(dict(unit='nginx.service', dropin='recovery.conf', recovery=RECOVERY))
    dropin = files[-1]
    assert dropin['path'] == '/etc/systemd/system/nginx.service.d/recovery.conf'
    lines = dropin['content'].splitlines()
    assert lines[1:] == ['[Unit]', 'StartLimitIntervalSec=300', 'StartLimitBurst=5', '',
                         '[Service]', 'Restart=on-failure', 'RestartSec=2']
    assert dropin['validate'] == systemd_dropin.verify_command('nginx.service', 'recovery.conf')


@pytest.mark.parametrize('recovery, fragment', [
    (dict(RECOVERY, restart_sec=0), 'recovery.restart_sec: 0 is out of range'),
    (dict(RECOVERY, start_limit_burst='many'), 'recovery.start_limit_burst must be an integer'),
    (dict(RECOVERY, start_limit_interval_sec=10), 'could never be reached'),
])
def test_recovery_problems(recovery, fragment):
    found = systemd_dropin.problems(dict(unit='nginx.service', dropin='recovery.conf', recovery=recovery))
    assert any(fragment in p for p in found), found


def test_recovery_excludes_src():
    found = systemd_dropin.problems(dict(unit='nginx.service', dropin='recovery.conf', recovery=RECOVERY, src='a'))
    assert any('excludes src and content' in p for p in found), found


def test_usable_arguments_have_no_problem():
    assert systemd_dropin.problems(dict(unit='postgresql@.service', instance='15-main', dropin='hardening.conf', src='a')) == []


def _run(command, candidate):
    """Run a validate command the way managed_files does: every %s names the candidate."""
    return subprocess.run(shlex.split(command.replace('%s', candidate)), capture_output=True, text=True, check=False)


needs_systemd_analyze = pytest.mark.skipif(not shutil.which('systemd-analyze'), reason='systemd-analyze is not installed')


@pytest.fixture
def workdir():
    path = tempfile.mkdtemp()
    yield pathlib.Path(path)
    shutil.rmtree(path)


UNIT = '[Unit]\nDescription=t\n[Service]\nExecStart=/bin/true\n'


@needs_systemd_analyze
@pytest.mark.parametrize('dropin, ok', [
    ('[Service]\nProtectSystem=strict\nNoNewPrivileges=yes\n', True),
    ('[Service]\nProtectSytem=strict\n', False),          # a typo systemd would ignore
    ('[Service]\nProtectSystem=very\n', False),           # a value systemd would ignore
])
def test_verify_a_dropin_against_a_unit(workdir, dropin, ok):
    unit = workdir / 'hi-test.service'
    unit.write_text(UNIT)
    candidate = workdir / 'hardening.conf'
    candidate.write_text(dropin)
    result = _run(systemd_dropin.verify_command('hi-test.service', 'hardening.conf', str(unit)), str(candidate))
    assert (result.returncode == 0) is ok, result.stdout + result.stderr


@needs_systemd_analyze
@pytest.mark.parametrize('body, ok', [
    (UNIT + 'ProtectSystem=strict\n', True),
    (UNIT + 'PrivateTmp=perhaps\n', False),
    ('[Service]\nExecStart=/nonexistent/binary\n', False),
])
def test_verify_a_unit_the_role_writes(workdir, body, ok):
    candidate = workdir / 'hi-test.service'
    candidate.write_text(body)
    result = _run(systemd_dropin.verify_command('hi-test.service'), str(candidate))
    assert (result.returncode == 0) is ok, result.stdout + result.stderr


@needs_systemd_analyze
def test_the_recovery_dropin_passes_verify(workdir):
    unit = workdir / 'hi-test.service'
    unit.write_text(UNIT)
    candidate = workdir / 'recovery.conf'
    candidate.write_text(systemd_dropin.recovery_content(RECOVERY))
    result = _run(systemd_dropin.verify_command('hi-test.service', 'recovery.conf', str(unit)), str(candidate))
    assert result.returncode == 0, result.stdout + result.stderr


# Every daemon of the stack is brought back by systemd after a crash, through the one recovery drop-in.
RECOVERED_SERVICES = {'postgresql': 'postgresql@.service', 'pgbouncer': 'pgbouncer.service', 'redis': 'redis-server.service',
                      'nginx': 'nginx.service', 'orthanc': '{{ item.service }}.service',
                      'app_services': '{{ __app_services_unit_prefix }}{{ item.name }}.service',
                      'backup_target': '{{ __backup_target_unit }}'}


def test_every_daemon_of_the_stack_has_the_recovery_dropin():
    found = {}
    for path, task in _role_tasks():
        args = task.get(HELPER)
        if isinstance(args, dict) and 'recovery' in args:
            role = path.parent.parent.name
            assert args.get('dropin') == systemd_dropin.RECOVERY_DROPIN, '%s: %r' % (path, task.get('name'))
            assert args['recovery'] == {key: '{{ %s_%s }}' % (role, key) for key in systemd_dropin.RECOVERY_LIMITS}
            found[role] = args['unit']
    assert found == RECOVERED_SERVICES
    # no unit the roles write carries a restart policy of its own beside it
    for template in ROOT.glob('roles/*/templates/*.j2'):
        assert 'Restart=' not in template.read_text(encoding='utf-8'), template


@needs_systemd_analyze
def test_a_dropin_without_a_unit_file_fails(workdir):
    candidate = workdir / 'hardening.conf'
    candidate.write_text('[Service]\n')
    result = _run(systemd_dropin.verify_command('hospital-imaging-no-such-unit.service', 'hardening.conf'), str(candidate))
    assert result.returncode != 0 and 'no unit file' in result.stdout


def _tasks(node):
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ('block', 'rescue', 'always'):
            yield from _tasks(node.get(key) or [])


def _role_tasks():
    for path in sorted(ROOT.glob('roles/*/tasks/*.yml')):
        for task in _tasks(yaml.safe_load(path.read_text(encoding='utf-8')) or []):
            yield path, task


def _sandbox_templates():
    return {(p.parent.parent.name, p.name) for p in ROOT.glob('roles/*/templates/*.j2')
            if 'ProtectSystem=' in p.read_text(encoding='utf-8')}


def test_every_sandbox_goes_through_the_one_helper():
    """No role writes a drop-in or a sandboxed unit, or runs systemd-analyze on one, any other way."""
    problems = []
    used = set()
    for path, task in _role_tasks():
        role = path.parent.parent.name
        if HELPER in task:
            used.add(role)
            args = task[HELPER]
            used.update((role, args[key]) for key in ('src', 'unit_src') if key in args)
            continue
        text = yaml.safe_dump(task)
        module = next((k for k in task if k in WRITERS), None)
        removes = module and isinstance(task[module], dict) and task[module].get('state') == 'absent'
        if module and '.service.d' in text and not removes:
            problems.append('%s: %r writes a systemd drop-in with %s' % (path.relative_to(ROOT), task.get('name'), module))
        if 'FragmentPath' in text:
            problems.append('%s: %r verifies a drop-in by itself' % (path.relative_to(ROOT), task.get('name')))
        for role_name, template in _sandbox_templates():
            if role_name == role and template in text:
                problems.append('%s: %r renders the sandbox %s without the helper' % (path.relative_to(ROOT), task.get('name'), template))
    assert not problems, '\n'.join(problems)
    assert sorted(r for r in used if isinstance(r, str)) == SANDBOXED_ROLES
    assert _sandbox_templates() <= used, 'sandbox templates no helper call renders: %s' % (_sandbox_templates() - used)


def test_every_helper_call_notifies_a_handler_or_is_registered():
    for path, task in _role_tasks():
        if HELPER in task:
            assert task.get('notify') or task.get('register'), '%s: %r' % (path.relative_to(ROOT), task.get('name'))
