"""orthanc_modality / orthanc_peer: validation through main() (nothing is sent when any entry is invalid),
and the plan that turns Orthanc's current state into the declared one."""

import socket
import threading

import pytest

from ansible_collections.hospital.imaging.plugins.modules import orthanc_modality, orthanc_peer
from ansible_collections.hospital.imaging.plugins.module_utils import orthanc_sync

from conftest import free_port


class CountingListener(object):
    """A TCP listener that records every connection: proves that a module contacted nobody."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.sock.getsockname()[1]

    def _loop(self):
        while self.running:
            try:
                conn, _addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def listener():
    counting = CountingListener()
    yield counting
    counting.close()


def modality(**kwargs):
    entry = dict(aet='CT_ROOM1', host='10.20.1.11', port=104)
    entry.update(kwargs)
    return entry


@pytest.mark.parametrize('entries, extra, expected', [
    ([modality(aet='CT\\ROOM')], {}, "modalities[0] (AET 'CT\\\\ROOM'): aet contains a backslash"),
    ([modality(aet='A' * 17)], {}, 'aet is 17 characters long'),
    ([modality(aet='   ', name='blank')], {}, "modalities[0] (name 'blank', AET '   '): aet contains only spaces"),
    ([modality(aet='CT\x07')], {}, 'control character 0x07'),
    ([modality(), modality(aet=' ct_room1 ', host=' 10.20.1.11 ', name='other')], {},
     "modalities[1] (name 'other', AET ' ct_room1 '): aet 'ct_room1' is already declared for host 10.20.1.11 by "
     "modalities[0]"),
    ([modality(), modality(aet='CT_ROOM1', host='CT-ROOM1.example.org', name='other')],
     dict(check_modality_host=False), "aet 'CT_ROOM1' is already declared by modalities[0]"),
    ([modality(name='x'), modality(aet='MR1', name='x')], {}, "name 'x' is already used by modalities[0]"),
    ([modality(port=0)], {}, 'port 0 is out of range'),
    ([modality(port=65536)], {}, 'port 65536 is out of range'),
    ([modality(port=None)], {}, 'port is missing'),
    ([modality(host='ct-room1.example.org')], {}, "host 'ct-room1.example.org' is not an IP address"),
    ([modality(host=None)], {}, 'host is required'),
    ([modality(aet=None, name='n1')], {}, 'aet is required when state is present'),
    ([modality(aet='PACS')], dict(own_aet='PACS'), "aet 'PACS' is the archive's own AE title"),
    ([modality(aet=' pacs ')], dict(own_aet='PACS'), "is the archive's own AE title"),
    ([modality()], dict(own_aet='BAD\\OWN'), 'own_aet'),
    ([modality(name='has space')], {}, "name 'has space' must be 1-64 characters"),
    ([modality(aet='CT ROOM')], {}, "name 'CT ROOM' must be 1-64 characters"),
    ([dict(state='absent')], {}, 'needs a name or an aet'),
])
def test_invalid_modality_lists_write_nothing(run_module, listener, entries, extra, expected):
    valid = [modality(aet='MR_ROOM2', host='10.20.1.12', port=11112)]
    args = dict(url=listener.url, modalities=valid + entries, **extra)
    # every entry index shifts by one because of the valid first entry
    expected = expected.replace('modalities[1]', 'modalities[2]').replace('modalities[0]', 'modalities[1]')
    result = run_module(orthanc_modality, args)
    assert result.failed
    assert 'nothing was written' in result['msg']
    assert any(expected in err for err in result['errors']), result['errors']
    assert result['changed'] is False and result['actions'] == []
    assert listener.connections == 0


def test_hostnames_allowed_when_orthanc_does_not_check_hosts(run_module):
    port = free_port()
    result = run_module(orthanc_modality, dict(url='http://127.0.0.1:%d' % port, check_modality_host=False,
                                               modalities=[modality(host='ct-room1.example.org')]))
    # validation passed: the module went on to read Orthanc, and says what to check
    assert result.failed
    assert 'connection refused' in result['msg'] and 'GET http://127.0.0.1:%d/modalities?expand' % port in result['msg']


def test_every_invalid_entry_is_reported(run_module, listener):
    entries = [modality(aet='A\\B'), modality(aet='OK1', port=0), modality(aet='OK2', host='name.example')]
    result = run_module(orthanc_modality, dict(url=listener.url, modalities=entries))
    assert result.failed and len(result['errors']) == 3
    assert result['msg'].startswith('3 invalid modality entries')
    assert listener.connections == 0


@pytest.mark.parametrize('entry, expected', [
    (dict(name='p1', url='http://peer.example/'), 'must be an https:// URL'),
    (dict(name='p1'), 'url is required'),
    (dict(name='p1', url='https://peer.example', username='u'), 'username and password must be given together'),
    (dict(name='bad name', url='https://peer.example'), "name 'bad name'"),
])
def test_invalid_peer_lists_write_nothing(run_module, listener, entry, expected):
    result = run_module(orthanc_peer, dict(url=listener.url, peers=[entry]))
    assert result.failed
    assert any(expected in err for err in result['errors']), result['errors']
    assert listener.connections == 0


def test_duplicate_peer_names(run_module, listener):
    peers = [dict(name='p', url='https://a.example'), dict(name='p', url='https://b.example')]
    result = run_module(orthanc_peer, dict(url=listener.url, peers=peers))
    assert result['errors'] == ["peers[1] (name 'p'): name 'p' is already used by peers[0] (name 'p')"]


def test_peer_password_is_not_logged(run_module, listener):
    result = run_module(orthanc_peer, dict(url=listener.url, peers=[
        dict(name='p', url='http://a.example', username='u', password='s3cret-value')]))
    assert 's3cret-value' not in str(result.data)


# --- the plan -------------------------------------------------------------------------------------------

KEYS = orthanc_modality.COMPARE_KEYS


def payload(aet, port=104, **kwargs):
    data = dict(AET=aet, Host='10.0.0.1', Port=port, Manufacturer='Generic', AllowEcho=True, AllowFind=True,
                AllowGet=True, AllowMove=True, AllowStore=True, UseDicomTls=False)
    data.update(kwargs)
    return data


def desired(name, state='present', **kwargs):
    return dict(name=name, state=state, payload=payload(name, **kwargs) if state == 'present' else None)


def test_plan_create_update_delete_unchanged():
    existing = {'SAME': payload('SAME'), 'MOVED': payload('MOVED', port=104), 'GONE': payload('GONE'),
                'OTHER': payload('OTHER')}
    wanted = [desired('SAME'), desired('MOVED', port=11112), desired('NEW'), desired('GONE', state='absent')]
    actions = orthanc_sync.plan(existing, wanted, False, KEYS, orthanc_modality.DEFAULTS)
    assert [(a['action'], a['name']) for a in actions] == [('update', 'MOVED'), ('create', 'NEW'), ('delete', 'GONE')]
    assert actions[0]['changes'] == ['Port']
    assert actions[0]['before']['Port'] == 104 and actions[0]['after']['Port'] == 11112
    assert orthanc_sync.summarize(actions, wanted) == dict(created=1, updated=1, deleted=1, unchanged=1)


def test_plan_purge_removes_undeclared_only():
    existing = {'KEEP': payload('KEEP'), 'STRAY1': payload('STRAY1'), 'STRAY2': payload('STRAY2')}
    actions = orthanc_sync.plan(existing, [desired('KEEP')], True, KEYS, orthanc_modality.DEFAULTS)
    assert [(a['action'], a['name']) for a in actions] == [('delete', 'STRAY1'), ('delete', 'STRAY2')]


def test_plan_second_run_is_empty():
    wanted = [desired('A%03d' % i, port=1000 + i) for i in range(500)]
    existing = dict((d['name'], dict(d['payload'], AllowStorageCommitment=True, LocalAet='', Timeout=0))
                    for d in wanted)
    assert orthanc_sync.plan(existing, wanted, True, KEYS, orthanc_modality.DEFAULTS) == []


def test_plan_absent_and_missing_is_noop():
    assert orthanc_sync.plan({}, [desired('X', state='absent')], False, KEYS) == []


def test_plan_uses_defaults_for_fields_older_orthanc_omits():
    current = payload('OLD')
    del current['UseDicomTls']
    assert orthanc_sync.plan({'OLD': current}, [desired('OLD')], False, KEYS, orthanc_modality.DEFAULTS) == []
    actions = orthanc_sync.plan({'OLD': current}, [desired('OLD', UseDicomTls=True)], False, KEYS,
                                orthanc_modality.DEFAULTS)
    assert actions[0]['changes'] == ['UseDicomTls']


def test_peer_diff_masks_password():
    action = dict(action='create', name='p', before=None, after=dict(Url='https://a/', Username='u', Password='pw'),
                  payload=None, changes=['Url'])
    diff = orthanc_sync.diff_for('peer', action, secret_keys=('Password',))
    assert diff['after']['Password'] == '********' and diff['before'] == {}
    assert diff['before_header'] == 'peer p'
