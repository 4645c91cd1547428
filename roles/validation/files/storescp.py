"""Storage SCP used as the C-MOVE destination in the integration tests.

usage: storescp.py AE_TITLE PORT DIRECTORY
Writes each received object to DIRECTORY/<SOPInstanceUID>.dcm and answers Success.
"""

import os
import sys

from pynetdicom import AE, StoragePresentationContexts, evt


def main():
    ae_title, port, directory = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.makedirs(directory, exist_ok=True)

    def on_store(event):
        ds = event.dataset
        ds.file_meta = event.file_meta
        path = os.path.join(directory, '%s.dcm' % ds.SOPInstanceUID)
        try:
            ds.save_as(path, enforce_file_format=True)  # pydicom 3
        except TypeError:
            ds.save_as(path, write_like_original=False)  # pydicom 2 (Debian 12/13)
        return 0x0000

    ae = AE(ae_title=ae_title)
    ae.supported_contexts = StoragePresentationContexts
    ae.start_server(('0.0.0.0', port), block=True, evt_handlers=[(evt.EVT_C_STORE, on_store)])


if __name__ == '__main__':
    main()
