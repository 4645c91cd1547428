#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: preflight
short_description: Validate every input of a hospital.imaging site before any host changes
description:
  - Runs on the controller (action plugin) and reads the variables of every host of the play.
  - Checks that every C(*_cidr) and C(*_cidrs) variable of the collection parses as a network without host bits,
    that every C(*_port) variable is an integer from 1 to 65535, that the site-wide listener ports
    (C(imaging_*_port)) of a host are distinct, that the inventory groups are consistent, that every required
    C(vault_*) secret is set, long enough and not a placeholder, that the operating system is supported, and that
    the variables given for each role match the role's C(meta/argument_specs.yml).
  - Reports every problem in one message that names the host, the variable and the rule, and fails.
  - Never changes anything, on the controller or on a host.
version_added: 0.1.0
author:
  - hospital.imaging contributors (@hospital-imaging)
options:
  required_secrets:
    description:
      - The secrets the site needs, usually C(imaging_required_secrets) from C(playbooks/vars/secrets.yml).
      - Each entry has C(name), C(groups) (the inventory groups whose hosts need it), and C(min_length).
    type: list
    elements: dict
    default: []
  roles:
    description:
      - Map of role name to the inventory groups it applies to; the variables a host sets for such a role are
        validated against the role's argument specification.
      - Usually C(imaging_role_groups), the collection's role-to-group map in C(playbooks/vars/role_groups.yml).
        The inventory groups preflight knows always come from that file.
    type: dict
    default: {}
  supported_os:
    description: Operating systems accepted, as C(<distribution> <major version>).
    type: list
    elements: str
    default: ["Debian 12", "Debian 13"]
  hosts:
    description: Hosts to check. Defaults to every host of the play.
    type: list
    elements: str
attributes:
  check_mode:
    support: full
    description: Nothing is changed in any mode.
  diff_mode:
    support: none
    description: There is nothing to compare.
  platform:
    support: full
    platforms: all
    description: Runs on the controller only.
notes:
  - Run it once (C(run_once=true)) in a play over all hosts; it reads C(hostvars) of every host.
"""

EXAMPLES = r"""
- name: Validate every input before any host changes
  hospital.imaging.preflight:
    required_secrets: "{{ imaging_required_secrets }}"
    roles: "{{ imaging_role_groups }}"
  run_once: true
"""

RETURN = r"""
problems:
  description: Every problem found, one line each, naming the host, the variable and the rule.
  returned: always
  type: list
  elements: str
  sample: ["db1: imaging_management_cidrs: '10.0.0.0/33' is not a valid CIDR (...)"]
hosts_checked:
  description: The hosts whose variables were checked.
  returned: always
  type: list
  elements: str
  sample: ["db1", "pacs1"]
"""
