#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: systemd_dropin
short_description: Write a service's systemd sandbox drop-in, checked with systemd-analyze verify first
version_added: "1.0.0"
description:
  - The one way the roles of this collection sandbox a service. It writes
    C(/etc/systemd/system/<unit>.d/<dropin>) (and the directory), or the role's own unit file
    C(/etc/systemd/system/<unit>), or both, owned by root with mode C(0644).
  - Each candidate is checked before it replaces the live file. It is put beside a copy of the unit
    (the loaded unit's C(FragmentPath), else the first unit file on systemd's search path; the new unit
    when the role writes it) in a private directory and C(systemd-analyze verify --man=no) runs on the
    unit. The file is not replaced when verify fails or prints any message about the candidate (systemd
    only warns about an unknown key or a value it ignores); the task fails with systemd's own message.
  - Runs through M(hospital.imaging.managed_files) (action plugin on the controller), which renders
    O(src) and O(unit_src) like M(ansible.builtin.template), changes only what differs and never echoes
    the content. Notify the role's handler that reloads systemd and restarts the service.
author:
  - hospital.imaging contributors (@hospital-imaging)
attributes:
  check_mode:
    support: full
    description: Nothing is written or verified; the result names the paths that would change.
  diff_mode:
    support: full
    description: The differences of the unit and drop-in are returned.
  action:
    support: full
    description: Runs on the controller and calls M(hospital.imaging.managed_files).
options:
  unit:
    description:
      - The service the drop-in belongs to, such as V(nginx.service), or a template such as
        V(postgresql@.service) (its drop-in applies to every instance).
    type: str
    required: true
  instance:
    description:
      - For a template O(unit), the instance that systemd-analyze verifies, such as V(15-main).
      - Without it a template is verified as systemd-analyze instantiates it.
    type: str
  dropin:
    description: The file name of the drop-in in C(/etc/systemd/system/<unit>.d/).
    type: str
    default: hardening.conf
  src:
    description:
      - The drop-in, as a template of the role's C(templates/) directory.
      - Mutually exclusive with O(content).
    type: str
  content:
    description: The drop-in's whole text. Mutually exclusive with O(src) and O(recovery).
    type: str
  recovery:
    description:
      - The drop-in is the service's crash-recovery policy, written by the collection itself (give
        O(dropin=recovery.conf)), the same for every service of the stack.
      - C(Restart=on-failure) restarts the service after a crash, a kill or a failed start, never after
        a clean stop; C(RestartSec) waits between tries; after C(StartLimitBurst) starts within
        C(StartLimitIntervalSec) the unit stays failed (loud, and alertable) instead of looping forever.
      - The interval must be longer than O(recovery.start_limit_burst) times O(recovery.restart_sec),
        or the limit could never be reached.
      - Mutually exclusive with O(src) and O(content).
    type: dict
    suboptions:
      restart_sec:
        description: Seconds between a crash and the next start (1-300).
        type: int
        required: true
      start_limit_burst:
        description: Starts allowed within O(recovery.start_limit_interval_sec) (1-100).
        type: int
        required: true
      start_limit_interval_sec:
        description: The window of the start limit, in seconds (1-86400).
        type: int
        required: true
  unit_src:
    description:
      - The unit file itself, for a unit the role owns (not a packaged one), as a template of the role's
        C(templates/) directory. It is written to C(/etc/systemd/system/<unit>) and verified on its own;
        a drop-in given as well is then verified against the new unit.
      - Mutually exclusive with O(unit_content). Not for a template O(unit).
    type: str
  unit_content:
    description: The unit file's whole text. Mutually exclusive with O(unit_src).
    type: str
notes:
  - At least one of O(src), O(content), O(recovery), O(unit_src), O(unit_content) is required.
  - Needs C(systemd-analyze) and C(systemctl) on the managed host.
seealso:
  - module: hospital.imaging.managed_files
"""

EXAMPLES = r"""
- name: Sandbox the NGINX service
  hospital.imaging.systemd_dropin:
    unit: nginx.service
    src: service-sandbox.conf.j2
  notify: Restart nginx

- name: Sandbox every PostgreSQL cluster, verified on this host's cluster
  hospital.imaging.systemd_dropin:
    unit: postgresql@.service
    instance: 15-main
    src: service-sandbox.conf.j2
  notify: Restart postgresql

- name: Restart NGINX by itself after a crash, at most 5 starts in 60 s
  hospital.imaging.systemd_dropin:
    unit: nginx.service
    dropin: recovery.conf
    recovery:
      restart_sec: 2
      start_limit_burst: 5
      start_limit_interval_sec: 60
  notify: Reload systemd

- name: Install a role's own sandboxed unit
  hospital.imaging.systemd_dropin:
    unit: imaging-app-{{ item.name }}.service
    unit_src: service.unit.j2
  loop: "{{ app_services_list }}"
"""

RETURN = r"""
unit:
  description: The unit the files belong to.
  returned: always
  type: str
  sample: postgresql@.service
verified_unit:
  description: The unit systemd-analyze verified the candidates as.
  returned: always
  type: str
  sample: postgresql@15-main.service
changed_paths:
  description: The paths that were changed (in check mode, that would be changed).
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/system/nginx.service.d/hardening.conf]
results:
  description: One entry per path (the unit, the drop-in directory, the drop-in), as M(hospital.imaging.managed_files) returns them.
  returned: always
  type: list
  elements: dict
  sample: [{path: /etc/systemd/system/nginx.service.d, state: directory, changed: false, changes: []}]
"""
