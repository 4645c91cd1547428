"""hospital.imaging.managed_files run in-process on real files in a temporary directory."""

import glob
import grp
import os
import pwd
import stat

import pytest

from ansible_collections.hospital.imaging.plugins.modules import managed_files

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def mode_of(path):
    return '%04o' % stat.S_IMODE(os.stat(path).st_mode)


def entry(path, **kw):
    item = dict(path=str(path), owner=ME, group=MY_GROUP, mode='0640')
    item.update(kw)
    return item


def test_create_then_no_change(run_module, tmp_path):
    target = tmp_path / 'a.conf'
    args = {'files': [entry(target, content='one\n'), entry(tmp_path / 'b.conf', content='two\n', mode='0600')]}
    first = run_module(managed_files, args)
    assert not first.failed, first
    assert first['changed'] is True
    assert first['changed_paths'] == [str(target), str(tmp_path / 'b.conf')]
    assert target.read_text() == 'one\n'
    assert mode_of(target) == '0640'
    assert mode_of(tmp_path / 'b.conf') == '0600'
    assert first['results'][0]['changes'] == ['created']
    second = run_module(managed_files, args)
    assert not second.failed, second
    assert second['changed'] is False
    assert second['changed_paths'] == []
    assert [r['changes'] for r in second['results']] == [[], []]


def test_content_change_is_reported_and_not_echoed(run_module, tmp_path):
    target = tmp_path / 'secret.conf'
    target.write_text('old\n')
    os.chmod(target, 0o640)
    res = run_module(managed_files, {'files': [entry(target, content='password=s3cr3t-value\n')]})
    assert res['changed'] is True
    assert res['results'][0]['changes'] == ['content']
    assert target.read_text() == 'password=s3cr3t-value\n'
    assert 's3cr3t-value' not in str(res.data.get('results')) + str(res.data.get('changed_paths'))
    assert 'diff' not in res.data


def test_mode_only_change_keeps_content(run_module, tmp_path):
    target = tmp_path / 'm.conf'
    target.write_text('same\n')
    os.chmod(target, 0o644)
    inode = os.stat(target).st_ino
    res = run_module(managed_files, {'files': [entry(target, content='same\n', mode='0600')]})
    assert res['changed'] is True
    assert res['results'][0]['changes'] == ['mode']
    assert mode_of(target) == '0600'
    assert os.stat(target).st_ino == inode, 'a mode change must not rewrite the file'


def test_owner_change_only(run_module, tmp_path):
    if os.getuid() != 0:
        pytest.skip('changing the owner needs root')
    target = tmp_path / 'o.conf'
    target.write_text('x\n')
    os.chmod(target, 0o640)
    os.chown(target, 1, 1)
    res = run_module(managed_files, {'files': [entry(target, content='x\n', owner='root', group='root')]})
    assert res['results'][0]['changes'] == ['owner', 'group']
    assert os.stat(target).st_uid == 0 and os.stat(target).st_gid == 0


def test_validate_failure_keeps_the_old_file(run_module, tmp_path):
    target = tmp_path / 'v.sh'
    target.write_text('echo ok\n')
    os.chmod(target, 0o640)
    res = run_module(managed_files, {'files': [entry(target, content='if then fi (\n', validate='/bin/sh -n %s')]})
    assert res.failed
    assert str(target) in res['msg']
    assert 'validation' in res['msg']
    assert 'syntax error' in res['msg'] or 'unexpected' in res['msg']
    assert target.read_text() == 'echo ok\n'
    assert sorted(os.listdir(tmp_path)) == ['v.sh'], 'the candidate must be removed'


def test_validate_success_replaces(run_module, tmp_path):
    target = tmp_path / 'v.sh'
    target.write_text('echo old\n')
    os.chmod(target, 0o640)
    res = run_module(managed_files, {'files': [entry(target, content='echo new\n', validate='/bin/sh -n %s')]})
    assert not res.failed, res
    assert target.read_text() == 'echo new\n'


def test_validate_with_other_percent_signs(run_module, tmp_path):
    """Only %s names the candidate: a command with other % signs runs as written."""
    target = tmp_path / 'p.conf'
    res = run_module(managed_files, {'files': [entry(target, content='x\n',
                                                     validate="/bin/sh -c 'date +%F >/dev/null && test -s \"$1\"' sh %s")]})
    assert not res.failed, res
    assert target.read_text() == 'x\n'
    res = run_module(managed_files, {'files': [entry(tmp_path / 'q.conf', content='',
                                                     validate="/bin/sh -c 'printf %d 1 >/dev/null && test -s \"$1\"' sh %s")]})
    assert res.failed
    assert not (tmp_path / 'q.conf').exists()


def test_backup_keeps_the_previous_file(run_module, tmp_path):
    target = tmp_path / 'b.conf'
    target.write_text('before\n')
    os.chmod(target, 0o640)
    res = run_module(managed_files, {'files': [entry(target, content='after\n', backup=True)]})
    backups = glob.glob(str(target) + '.*~')
    assert len(backups) == 1
    assert res['results'][0]['backup_file'] == backups[0]
    with open(backups[0]) as f:
        assert f.read() == 'before\n'
    assert target.read_text() == 'after\n'
    again = run_module(managed_files, {'files': [entry(target, content='after\n', backup=True)]})
    assert again['changed'] is False
    assert len(glob.glob(str(target) + '.*~')) == 1


def test_directory_created_then_mode_fixed(run_module, tmp_path):
    target = tmp_path / 'd' / 'sub'
    res = run_module(managed_files, {'files': [entry(target, state='directory', mode='2750'),
                                               entry(target / 'f', content='x\n')]})
    assert not res.failed, res
    assert target.is_dir() and mode_of(target) == '2750'
    assert (target / 'f').read_text() == 'x\n'
    os.chmod(target, 0o755)
    res = run_module(managed_files, {'files': [entry(target, state='directory', mode='2750')]})
    assert res['results'][0]['changes'] == ['mode']
    assert mode_of(target) == '2750'
    res = run_module(managed_files, {'files': [entry(target, state='directory', mode='2750')]})
    assert res['changed'] is False


def test_absent_removes_files_and_directories(run_module, tmp_path):
    f = tmp_path / 'gone.conf'
    f.write_text('x')
    d = tmp_path / 'gone.d'
    (d / 'inner').mkdir(parents=True)
    res = run_module(managed_files, {'files': [{'path': str(f), 'state': 'absent'},
                                               {'path': str(d), 'state': 'absent'},
                                               {'path': str(tmp_path / 'never'), 'state': 'absent'}]})
    assert res['changed_paths'] == [str(f), str(d)]
    assert not f.exists() and not d.exists()
    res = run_module(managed_files, {'files': [{'path': str(f), 'state': 'absent'}]})
    assert res['changed'] is False


def test_check_mode_changes_nothing(run_module, tmp_path):
    existing = tmp_path / 'e.conf'
    existing.write_text('old\n')
    os.chmod(existing, 0o644)
    args = {'files': [entry(existing, content='new\n'),
                      entry(tmp_path / 'new.conf', content='n\n'),
                      entry(tmp_path / 'newdir', state='directory', mode='0755'),
                      {'path': str(existing) + '.gone', 'state': 'absent'}]}
    (tmp_path / 'e.conf.gone').write_text('keep')
    res = run_module(managed_files, args, check_mode=True, diff=True)
    assert not res.failed, res
    assert res['changed'] is True
    assert res['changed_paths'] == [str(existing), str(tmp_path / 'new.conf'), str(tmp_path / 'newdir'),
                                    str(existing) + '.gone']
    assert res['results'][0]['changes'] == ['content', 'mode']
    assert existing.read_text() == 'old\n' and mode_of(existing) == '0644'
    assert not (tmp_path / 'new.conf').exists() and not (tmp_path / 'newdir').exists()
    assert (tmp_path / 'e.conf.gone').exists()
    texts = [d for d in res['diff'] if d.get('before') == 'old\n']
    assert texts and texts[0]['after'] == 'new\n'


def test_directory_missing_for_file_fails_naming_it(run_module, tmp_path):
    res = run_module(managed_files, {'files': [entry(tmp_path / 'no' / 'such.conf', content='x')]})
    assert res.failed
    assert str(tmp_path / 'no') in res['msg']


def test_src_without_action_plugin_is_refused(run_module, tmp_path):
    res = run_module(managed_files, {'files': [entry(tmp_path / 'x', src='x.j2')]})
    assert res.failed and 'action plugin' in res['msg']
