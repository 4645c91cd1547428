"""Write the SHA-256 manifest of an image store and the record of one backup.

    python3 /usr/local/lib/imaging-backup/imaging_image_manifest.py STORE PROOF_DIR [INSTANCES]

The record (PROOF_DIR/record.json) holds the time the listing began (UTC), the number of files, the
SHA-256 of the manifest (PROOF_DIR/manifest.sha256, "sha256  ./relative/path" lines, oldest file first) and, when
given, Orthanc's instance count. Orthanc writes a file before it commits the instance to the index, so
every file the index names at that time is in the manifest. DICOM files are written once: a file whose
path, size and modification time are those of the previous manifest keeps its checksum, so a run hashes
only what is new.
"""
import datetime
import hashlib
import json
import os
import sys


def previous(proof):
    """path -> (size, mtime_ns, sha256) from the last run's state file."""
    try:
        with open(os.path.join(proof, "manifest.state"), encoding="utf-8") as handle:
            return {row[0]: (row[1], row[2], row[3]) for row in map(json.loads, handle)}
    except (OSError, ValueError, TypeError, IndexError):
        return {}


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main(store, proof, instances=None):
    taken_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    known = previous(proof)
    rows, hashed = [], 0
    for root, dirs, files in os.walk(store):
        dirs.sort()
        for name in files:
            path = os.path.join(root, name)
            rel = "./" + os.path.relpath(path, store)
            info = os.stat(path)
            old = known.get(rel)
            if old and old[0] == info.st_size and old[1] == info.st_mtime_ns:
                checksum = old[2]
            else:
                checksum = sha256(path)
                hashed += 1
            rows.append((rel, info.st_size, info.st_mtime_ns, checksum))
    # oldest first: files are written once, so a new run appends to the previous manifest and restic, which
    # cuts files into content-defined chunks, stores only its new end
    rows.sort(key=lambda row: (row[2], row[0]))
    manifest = "".join("%s  %s\n" % (row[3], row[0]) for row in rows).encode()
    record = {
        "taken_at": taken_at,
        "store": store,
        "files": len(rows),
        "bytes": sum(row[1] for row in rows),
        "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        "instances": int(instances) if instances not in (None, "") else None,
        "hashed": hashed,
    }
    state = "".join(json.dumps(row) + "\n" for row in rows).encode()
    for name, data in (("manifest.sha256", manifest), ("manifest.state", state),
                       ("record.json", (json.dumps(record, indent=2) + "\n").encode())):
        target = os.path.join(proof, name)
        with open(target + ".new", "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(target + ".new", target)
    sys.stdout.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    main(*sys.argv[1:])
