# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The files of a systemd service sandbox and the systemd-analyze verify check each one passes.

One place for the write-and-verify mechanics of every role's drop-in (or role-owned unit): the
action plugin hospital.imaging.systemd_dropin turns its arguments into hospital.imaging.managed_files
entries with plan(); managed_files writes each candidate only after verify_command() accepted it.
"""

from __future__ import annotations

import re
import shlex

UNIT_DIR = '/etc/systemd/system'
SERVICE_NAME = re.compile(r'^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.service$')
DROPIN_NAME = re.compile(r'^[A-Za-z0-9_.\-]+\.conf$')
INSTANCE_NAME = re.compile(r'^[A-Za-z0-9:_.\\-]+$')

# Arguments: $1 the unit name systemd-analyze verifies (an instance for a template), $2 the drop-in's
# name (empty: the candidate is the unit file itself), $3 the unit file (empty: the loaded unit's
# FragmentPath, else the first unit file on systemd's search path), $4 the candidate.
# The candidate takes its place in a private directory that systemd-analyze searches first, so it masks
# the live file of the same name. systemd only warns about a setting it ignores (unknown key, bad
# value) and still exits 0: any message about the candidate fails the check too.
_SCRIPT = r'''u=$1; n=$2; f=$3; c=$4
d=$(mktemp -d) || exit 1
if [ -n "$n" ]; then
  if [ -z "$f" ]; then
    f=$(systemctl show -P FragmentPath -- "$u" 2>/dev/null)
    t=${u%%@*}@.service
    for p in /etc/systemd/system /run/systemd/system /usr/lib/systemd/system /lib/systemd/system; do
      [ -n "$f" ] && break
      if [ -f "$p/$u" ]; then f=$p/$u; elif [ -f "$p/$t" ]; then f=$p/$t; fi
    done
  fi
  if [ -z "$f" ] || [ ! -f "$f" ]; then rm -rf "$d"; echo "no unit file of $u to verify the drop-in against"; exit 1; fi
  mkdir "$d/$u.d" && cp "$c" "$d/$u.d/$n" && cp "$f" "$d/$u" || { rm -rf "$d"; exit 1; }
  m=$d/$u.d/$n
else
  cp "$c" "$d/$u" || { rm -rf "$d"; exit 1; }
  m=$d/$u
fi
o=$(systemd-analyze verify --man=no "$d/$u" 2>&1); r=$?
rm -rf "$d"
echo "$o"
case "$o" in *"$m"*) exit 1;; esac
exit $r'''


def verified_unit(unit, instance=None):
    """The unit systemd-analyze verifies: the instance of a template unit when one is named."""
    if instance:
        prefix, _sep, _rest = unit.partition('@')
        return '%s@%s.service' % (prefix, instance)
    return unit


def verify_command(unit, dropin=None, unit_path=None):
    """The managed_files validate command (%s: the candidate) for a drop-in of unit, or for the unit file itself."""
    # managed_files replaces every %s of the command: the script has none, the candidate is the last argument.
    return ' '.join(shlex.quote(part) for part in
                    ['/bin/sh', '-c', _SCRIPT, 'systemd-dropin-verify', unit, dropin or '', unit_path or '']) + ' %s'


RECOVERY_DROPIN = 'recovery.conf'
RECOVERY_LIMITS = {
    'restart_sec': (1, 300),
    'start_limit_burst': (1, 100),
    'start_limit_interval_sec': (1, 86400),
}


def recovery_problems(recovery):
    """What is wrong with a recovery policy (restart_sec, start_limit_burst, start_limit_interval_sec)."""
    found = []
    values = {}
    for key, (low, high) in RECOVERY_LIMITS.items():
        value = recovery.get(key)
        try:
            values[key] = int(value)
        except (TypeError, ValueError):
            found.append('recovery.%s must be an integer: %r' % (key, value))
            continue
        if not low <= values[key] <= high:
            found.append('recovery.%s: %s is out of range (%s-%s)' % (key, value, low, high))
    if not found and values['start_limit_interval_sec'] <= values['start_limit_burst'] * values['restart_sec']:
        found.append('recovery.start_limit_interval_sec: %s is not longer than start_limit_burst x restart_sec '
                     '(%s x %s): the start limit could never be reached'
                     % (values['start_limit_interval_sec'], values['start_limit_burst'], values['restart_sec']))
    return found


def recovery_content(recovery):
    """The drop-in that restarts a crashed service: Restart=on-failure (a crash, a kill, a failed start;
    never a clean stop), RestartSec between tries, and a start limit after which the unit stays failed
    (a loud, alertable state) instead of looping forever."""
    return ('# Managed by hospital.imaging (systemd_dropin recovery): how systemd brings this service back.\n'
            '[Unit]\n'
            'StartLimitIntervalSec=%d\n'
            'StartLimitBurst=%d\n'
            '\n'
            '[Service]\n'
            'Restart=on-failure\n'
            'RestartSec=%d\n'
            % (int(recovery['start_limit_interval_sec']), int(recovery['start_limit_burst']),
               int(recovery['restart_sec'])))


def problems(args):
    """What is wrong with the arguments, as sentences (empty when they are usable)."""
    found = []
    unit = args.get('unit') or ''
    if not SERVICE_NAME.match(unit):
        found.append('unit must be a service name such as nginx.service or postgresql@.service: %r' % unit)
    if args.get('instance') is not None:
        if '@.' not in unit:
            found.append('instance is only for a template unit (name@.service): %r' % unit)
        if not INSTANCE_NAME.match(args['instance'] or ''):
            found.append('instance must be a unit instance name: %r' % args['instance'])
    if not DROPIN_NAME.match(args.get('dropin') or ''):
        found.append('dropin must be a file name ending in .conf: %r' % args.get('dropin'))
    if args.get('recovery') is not None:
        if args.get('src') is not None or args.get('content') is not None:
            found.append('recovery is the drop-in: it excludes src and content')
        found.extend(recovery_problems(args['recovery']))
    has_dropin = args.get('src') is not None or args.get('content') is not None or args.get('recovery') is not None
    has_unit = args.get('unit_src') is not None or args.get('unit_content') is not None
    if args.get('src') is not None and args.get('content') is not None:
        found.append('src and content are mutually exclusive')
    if args.get('unit_src') is not None and args.get('unit_content') is not None:
        found.append('unit_src and unit_content are mutually exclusive')
    if not has_dropin and not has_unit:
        found.append('give the drop-in (src or content), the unit (unit_src or unit_content), or both')
    if has_unit and '@.' in unit:
        found.append('a unit the role writes itself cannot be a template: %r' % unit)
    return found


def _entry(path, src, content, validate):
    entry = dict(path=path, state='file', owner='root', group='root', mode='0644', validate=validate)
    if src is not None:
        entry['src'] = src
    else:
        entry['content'] = content
    return entry


def plan(args):
    """The managed_files entries, in order: the unit the role writes, the drop-in directory, the drop-in."""
    unit = args['unit']
    checked = verified_unit(unit, args.get('instance'))
    files = []
    own_unit = args.get('unit_src') is not None or args.get('unit_content') is not None
    if own_unit:
        files.append(_entry('%s/%s' % (UNIT_DIR, unit), args.get('unit_src'), args.get('unit_content'),
                            verify_command(checked)))
    content = args.get('content')
    if args.get('recovery') is not None:
        content = recovery_content(args['recovery'])
    if args.get('src') is not None or content is not None:
        directory = '%s/%s.d' % (UNIT_DIR, unit)
        files.append(dict(path=directory, state='directory', owner='root', group='root', mode='0755'))
        files.append(_entry('%s/%s' % (directory, args['dropin']), args.get('src'), content,
                            verify_command(checked, args['dropin'],
                                           '%s/%s' % (UNIT_DIR, unit) if own_unit else None)))
    return files
