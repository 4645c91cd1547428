"""The action plugin never lets a file's content through in the task result."""

from ansible_collections.hospital.imaging.plugins.action.managed_files import ActionModule, HIDDEN


def test_content_is_hidden_in_the_invocation():
    result = {'changed': True, 'invocation': {'module_args': {'files': [
        {'path': '/etc/a', 'content': 'password=top-secret\n', 'mode': '0600'},
        {'path': '/etc/d', 'state': 'directory', 'content': None}]}}}
    ActionModule._hide_content(result)
    files = result['invocation']['module_args']['files']
    assert files[0]['content'] == HIDDEN
    assert files[0]['mode'] == '0600'
    assert files[1]['content'] is None
    assert 'top-secret' not in repr(result)


def test_result_without_invocation_is_left_alone():
    result = {'failed': True, 'msg': 'x'}
    ActionModule._hide_content(result)
    assert result == {'failed': True, 'msg': 'x'}
