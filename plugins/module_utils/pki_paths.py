# -*- coding: utf-8 -*-
# Copyright: hospital.imaging contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the pki role installs the CA certificate, the host certificate and its key on every host.

The one place the directory is written: the pki role installs there, every other role and module finds
the files through the hospital.imaging.pki_path lookup. A site moves it with imaging_pki_dir.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath

PKI_DIR = '/etc/ssl/hospital-imaging'
FILES = ('ca.crt', 'host.crt', 'host.key')


def pki_path(name=None, directory=None):
    """The path of one of FILES (or the directory itself when name is None)."""
    directory = directory or PKI_DIR
    if name is None or name == '':
        return directory
    if name not in FILES:
        raise ValueError('%r is not a file the pki role installs (%s)' % (name, ', '.join(FILES)))
    return posixpath.join(directory, name)
