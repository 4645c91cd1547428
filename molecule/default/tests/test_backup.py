"""The image store's backup (restic, encrypted, on a timer) and the restore of index and images together.

playbooks/backup.yml takes the index (pgBackRest) and then the images; a second backup after 100 new
instances stores about their size; playbooks/restore.yml on a host whose image store and database are gone
brings both back to the snapshot's time and proves it (SHA-256 of every file, the index's files present,
the instance count, C-FIND and WADO-RS). A repository that refuses the key or is gone fails the backup.
Every backup goes to two repositories: off the host, over SFTP to the imaging_backup host's own daemon
(chroot, SFTP only, this host's key, the daemon's host key pinned), and a local one for fast restores; the
restore reads the off-host one.
"""

import io
import json
import os
import re
import shlex
import tarfile
import time

import pytest

from conftest import (ct_instance, inventory_name_of, orthanc_config, orthanc_record, put_file, run_playbook, runs_in_pass,
                      stack_host)

RESTIC = "/usr/local/sbin/imaging-restic"
BACKUP = "/usr/local/sbin/imaging-image-backup"
REPORT = re.compile(r"Image backup taken: (\d+) files, (\d+) instances, .*?offsite snapshot (\w+): (\d+) new files, "
                    r"(\d+) bytes added, ([0-9.]+) s; local snapshot (\w+): (\d+) new files")
SSH = "ssh -F /etc/imaging-backup/ssh_config imaging-backup-offsite"
PROOF_DIR = "/var/lib/pgbackrest-proof"  # postgresql_backup_proof_dir (the sandbox keeps the default)


def _flat(text):
    """Ansible's output with its line wrapping undone."""
    return re.sub(r"\s+", " ", text)


def _backup():
    started = time.monotonic()
    run = run_playbook("playbooks/backup.yml")
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    found = REPORT.search(_flat(run.stdout))
    assert found, run.stdout[-3000:]
    files, instances, snapshot, new, added, seconds, local_snapshot, local_new = found.groups()
    return {"snapshot": snapshot, "files": int(files), "instances": int(instances), "new": int(new),
            "added": int(added), "seconds": float(seconds), "playbook_seconds": elapsed,
            "local_snapshot": local_snapshot, "local_new": int(local_new)}


@pytest.fixture(scope="module")
def backup_host():
    return stack_host(orthanc_record(stack_host("sandbox"))["backup"]["offsite"]["host"])


def _count(host, orthanc_api):
    curl, port = orthanc_api
    return json.loads(host.check_output(f"{curl} http://127.0.0.1:{port}/statistics"))["CountInstances"]


def test_image_backup_is_scheduled_encrypted_and_recorded(host, backup_host):
    record = orthanc_record(host)["backup"]
    assert record["enabled"] is True and record["tool"] == "restic"
    assert record["repositories"] == ["offsite", "local"]
    assert orthanc_record(host)["waivers"] == []
    assert host.service("imaging-image-backup.timer").is_enabled
    assert host.service("imaging-image-backup.timer").is_running
    timers = host.check_output("systemctl list-timers imaging-image-backup.timer --no-legend --all")
    assert "imaging-image-backup.service" in timers
    assert host.run("systemd-analyze verify /etc/systemd/system/imaging-image-backup.service").rc == 0
    # encrypted at rest: the repository's files are restic's (no DICOM file in clear), its key from the vault
    assert host.file(record["repository"] + "/config").exists
    assert host.run(f"grep -rl DICM {shlex.quote(record['repository'])}/data").rc == 1
    assert host.file("/etc/imaging-backup/restic.pass").mode == 0o600
    wrong = host.run(f"RESTIC_PASSWORD=not-the-key restic -r {shlex.quote(record['repository'])} cat config")
    assert wrong.rc != 0 and "wrong password" in wrong.stderr, wrong.stderr
    # off the host: the same, in the backup host's chroot, which holds no key to read it
    target = json.loads(backup_host.file("/etc/ansible/facts.d/imaging_backup_target.fact").content_string)
    offsite = target["root"] + record["offsite"]["path"]
    assert backup_host.file(offsite + "/config").exists
    assert backup_host.run(f"grep -rl DICM {shlex.quote(offsite)}/data").rc == 1
    assert not backup_host.file("/etc/imaging-backup/restic.pass").exists
    assert host.run(f"{RESTIC} offsite cat config").rc == 0


def test_the_backup_host_admits_this_host_to_sftp_only_in_its_chroot(host, backup_host):
    """The backup host's daemon: this host's key, SFTP only, nothing outside the chroot, no password, no other key;
    this host refuses a backup host whose host key is not the pinned one."""
    target = json.loads(backup_host.file("/etc/ansible/facts.d/imaging_backup_target.fact").content_string)
    assert backup_host.service("imaging-backup-sftp").is_running
    assert backup_host.service("imaging-backup-sftp").is_enabled
    assert backup_host.file("/etc/imaging-backup-sftp/sshd_config").mode == 0o600
    # a shell command is refused: internal-sftp is forced
    shell = host.run(f"{SSH} id")
    assert shell.rc != 0 and "uid=" not in shell.stdout, shell.stdout
    # SFTP sees the chroot: its own repositories, no /etc
    listing = host.run(f"printf 'ls /\\nls /{target['repositories'].strip('/')}\\n' | sftp -b - -F /etc/imaging-backup/ssh_config "
                       f"imaging-backup-offsite")
    assert listing.rc == 0, listing.stderr
    assert "sandbox" in listing.stdout and "etc" not in listing.stdout.split(), listing.stdout
    assert host.run("echo 'ls /etc' | sftp -b - -F /etc/imaging-backup/ssh_config imaging-backup-offsite").rc != 0
    # another key (the operator's throw-away one) and passwords are refused
    host.check_output("rm -f /var/tmp/other_ed25519* && ssh-keygen -q -t ed25519 -N '' -f /var/tmp/other_ed25519")
    # (a client configuration of its own: ssh adds -i to the IdentityFile of /etc/imaging-backup/ssh_config, not replaces it)
    offsite = orthanc_record(host)["backup"]["offsite"]
    try:
        other = host.run("ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -i /var/tmp/other_ed25519 "
                         "-o UserKnownHostsFile=/etc/imaging-backup/known_hosts -o HostKeyAlias=imaging-backup-offsite "
                         f"-p {offsite['port']} {offsite['user']}@{offsite['address']} -s sftp </dev/null")
    finally:
        host.run("rm -f /var/tmp/other_ed25519 /var/tmp/other_ed25519.pub")
    assert other.rc != 0 and "Permission denied (publickey)" in other.stderr, other.stderr
    methods = host.run(f"{SSH} -o PreferredAuthentications=password -o PubkeyAuthentication=no true")
    assert methods.rc != 0 and "Permission denied (publickey)" in methods.stderr, methods.stderr
    # a backup host with another host key is refused
    host.check_output("cp -p /etc/imaging-backup/known_hosts /etc/imaging-backup/known_hosts.keep")
    try:
        host.check_output("rm -f /var/tmp/fake_host_key* && ssh-keygen -q -t ed25519 -N '' -f /var/tmp/fake_host_key && "
                          "printf 'imaging-backup-offsite %s\\n' \"$(cut -d' ' -f1,2 /var/tmp/fake_host_key.pub)\" "
                          "> /etc/imaging-backup/known_hosts")
        spoofed = host.run(f"{SSH} -s sftp </dev/null")
        assert spoofed.rc != 0 and "Host key verification failed" in spoofed.stderr, spoofed.stderr
        # restic (0.14 on Debian 12) reports only that its SFTP session ended
        refused = host.run(f"{RESTIC} offsite cat config")
        assert refused.rc != 0 and "unable to start the sftp session" in refused.stderr, refused.stderr
    finally:
        host.check_output("mv /etc/imaging-backup/known_hosts.keep /etc/imaging-backup/known_hosts && rm -f /var/tmp/fake_host_key*")
    assert host.run(f"{RESTIC} offsite cat config").rc == 0


def test_image_backup_fails_loudly_when_the_repository_refuses_the_key_or_is_gone(host, backup_host):
    record = orthanc_record(host)["backup"]
    repo = record["repository"]
    host.check_output("cp -p /etc/imaging-backup/restic.pass /etc/imaging-backup/restic.pass.keep")
    try:
        host.check_output("echo not-the-repository-key > /etc/imaging-backup/restic.pass")
        refused = host.run(BACKUP)
        assert refused.rc != 0
        assert "wrong password" in refused.stderr, refused.stderr
        unit = host.run("systemctl start imaging-image-backup.service")
        assert unit.rc != 0
        assert host.run("systemctl is-failed imaging-image-backup.service").stdout.strip() == "failed"
    finally:
        host.check_output("mv /etc/imaging-backup/restic.pass.keep /etc/imaging-backup/restic.pass")
        host.run("systemctl reset-failed imaging-image-backup.service")
    host.check_output(f"mv {shlex.quote(repo)} {shlex.quote(repo)}.away")
    try:
        gone = host.run(BACKUP)
        assert gone.rc != 0
        assert "Is there a repository at the following location" in gone.stderr, gone.stderr
    finally:
        host.check_output(f"mv {shlex.quote(repo)}.away {shlex.quote(repo)}")
    assert host.run(f"{RESTIC} local cat config").rc == 0
    # the backup host down: the off-host repository cannot be reached, and the backup says so
    backup_host.check_output("systemctl stop imaging-backup-sftp")
    try:
        unreachable = host.run(BACKUP)
        assert unreachable.rc != 0
        assert "Connection refused" in unreachable.stderr, unreachable.stderr
    finally:
        backup_host.check_output("systemctl start imaging-backup-sftp")
    assert host.run(f"{RESTIC} offsite cat config").rc == 0


# backup_target's inputs broken, two runs of playbooks/backup_target.yml: each rule is checked on its own (one assert
# row per rule), so every broken one is named with its variable and rule, before any change
BACKUP_TARGET_BAD_INPUTS = {
    "several": ({"backup_target_sftp_port": 22, "backup_target_user": "Backup User", "backup_target_root": "/",
                 "backup_target_pgbackrest_cipher_pass": "short",
                 "backup_target_pgbackrest_clusters": [
                     {"host": "a", "address": "a", "stanza": "main", "path": "/var/lib/a", "port": 5432, "common_name": "a"},
                     {"host": "b", "address": "b", "stanza": "main", "path": "var/lib/b", "port": 5432, "common_name": "b"}]},
                ["backup_target_sftp_port must differ from the administrators' SSH port (imaging_ssh_port, 22)",
                 "backup_target_user must be a system account name (^[a-z_][a-z0-9_-]{0,31}$), not 'Backup User'",
                 "backup_target_root must be an absolute path without spaces other than /, not '/'",
                 "backup_target_pgbackrest_cipher_pass (vault_pgbackrest_cipher_pass) must have at least 32 characters",
                 "each of backup_target_pgbackrest_clusters needs a stanza of its own (stanzas: main, main)",
                 "each of backup_target_pgbackrest_clusters needs an absolute data directory (paths: /var/lib/a, var/lib/b)"]),
    "port": ({"backup_target_sftp_port": 70000, "backup_target_pgbackrest_tls_port": 0},
             ["backup_target_sftp_port must be a TCP port (1 to 65535), not 70000",
              "backup_target_pgbackrest_tls_port must be a TCP port (1 to 65535), not 0"]),
}


@runs_in_pass("trixie")
@pytest.mark.parametrize("case", sorted(BACKUP_TARGET_BAD_INPUTS))
def test_backup_target_bad_input_is_refused_before_any_change(case, backup_host):
    extra, messages = BACKUP_TARGET_BAD_INPUTS[case]
    secret = backup_host.check_output("grep -h -m1 '^repo2-cipher-pass=' /etc/pgbackrest/pgbackrest.conf | cut -d= -f2-")
    result = run_playbook("playbooks/backup_target.yml", "-e", json.dumps(extra))
    assert result.returncode != 0
    # (one error line per broken rule, as ansible-core prints each failed loop item)
    errors = [line.split("Action failed: ", 1)[1] for line in (result.stdout + result.stderr).splitlines() if "Action failed: " in line]
    assert sorted(errors) == sorted("backup_target: %s. Nothing was changed." % message for message in messages), errors
    assert " changed=0 " in result.stdout
    assert "Install the SSH daemon" not in result.stdout and "Install pgBackRest" not in result.stdout
    assert secret and secret not in result.stdout + result.stderr


PGBACKREST = "runuser -u postgres -- pgbackrest --stanza=main"
OFFSITE_PGBACKREST = "runuser -u pgbackrest -- pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=main"


def _repos(host, command):
    """The status code of each pgBackRest repository of the stanza (0 ok, 2 no backup yet), by repository key."""
    info = json.loads(host.check_output(f"{command} --output=json info"))
    return {repo["key"]: repo["status"]["code"] for repo in info[0]["repo"]}


def test_index_backups_reach_the_off_host_repository_over_mutual_tls(host, backup_host):
    """repo2 is the backup host's pgBackRest, over TLS with the site CA's certificates both ways; the backup host
    takes the off-host backups on its own timers; each side admits only the other's certificate for the stanza."""
    record = json.loads(host.file("/etc/ansible/facts.d/imaging_postgresql.fact").content_string)
    offsite = record["backup"]["offsite"]
    assert offsite["host"] == inventory_name_of(backup_host) and offsite["protocol"] == "pgbackrest-tls" and offsite["repo"] == 2
    assert not [w for w in record["waivers"] if w["id"] == "postgresql-backup-offsite"]
    assert host.service("imaging-pgbackrest-server").is_running
    assert backup_host.service("imaging-pgbackrest-server").is_running
    for timer in ("imaging-pgbackrest-main-full.timer", "imaging-pgbackrest-main-diff.timer"):
        assert backup_host.service(timer).is_enabled and backup_host.service(timer).is_running
    # both repositories answer from the database host; WAL reaches both ("check" archives a segment to each)
    assert set(_repos(host, PGBACKREST)) == {1, 2} and set(_repos(host, PGBACKREST).values()) <= {0, 2}
    check = host.run(f"{PGBACKREST} check")
    assert check.rc == 0, check.stdout + check.stderr
    assert "repo2" in check.stdout + check.stderr
    # encrypted on the backup host with the vault's key; no cleartext WAL or page there
    conf = backup_host.file("/etc/pgbackrest/pgbackrest.conf")
    assert conf.mode == 0o640 and conf.user == "root" and conf.group == "pgbackrest"
    assert _repos(backup_host, OFFSITE_PGBACKREST) and backup_host.run("grep -rl 'PostgreSQL' /var/lib/imaging-backup/index/archive").rc == 1
    # a certificate not of the site CA is refused, and so is another stanza with the right certificate
    host.check_output("rm -f /var/tmp/rogue.* && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj '/CN=rogue' "
                      "-keyout /var/tmp/rogue.key -out /var/tmp/rogue.crt 2>/dev/null && chown postgres /var/tmp/rogue.*")
    try:
        rogue = host.run(f"{PGBACKREST} --repo=2 --repo2-host-cert-file=/var/tmp/rogue.crt --repo2-host-key-file=/var/tmp/rogue.key info")
    finally:
        host.run("rm -f /var/tmp/rogue.*")
    # (info exits 0 and reports each repository's error in its status)
    assert "status: error" in rogue.stdout and "unknown ca" in rogue.stdout, rogue.stdout + rogue.stderr
    other = host.run("runuser -u postgres -- pgbackrest --stanza=other --repo=2 info")
    assert "status: error" in other.stdout and "access denied" in other.stdout, other.stdout + other.stderr
    assert "status: ok" in host.check_output(f"{PGBACKREST} --repo=2 info")


def test_index_backup_fails_loudly_when_the_off_host_repository_is_gone(host, backup_host):
    """The backup host's TLS server stopped: the database host's check fails; the database host's TLS server
    stopped: the backup host's off-host backup fails, and its unit stays failed for monitoring to see."""
    # pgBackRest retries a refused connection for its io-timeout (60 s, twice): 5 s here keeps the drill short
    backup_host.check_output("systemctl stop imaging-pgbackrest-server")
    try:
        check = host.run(f"{PGBACKREST} --io-timeout=5 check")
        assert check.rc != 0, check.stdout
        assert "repo2" in check.stdout + check.stderr, check.stdout + check.stderr
    finally:
        backup_host.check_output("systemctl start imaging-pgbackrest-server")
    host.check_output("systemctl stop imaging-pgbackrest-server")
    backup_host.check_output("systemctl set-environment PGBACKREST_IO_TIMEOUT=5")
    try:
        unit = backup_host.run("systemctl start imaging-pgbackrest-main-diff.service")
        assert unit.rc != 0
        assert backup_host.run("systemctl is-failed imaging-pgbackrest-main-diff.service").stdout.strip() == "failed"
        journal = backup_host.check_output("journalctl -u imaging-pgbackrest-main-diff.service --no-pager -n 30")
        assert "ERROR" in journal, journal
    finally:
        backup_host.check_output("systemctl unset-environment PGBACKREST_IO_TIMEOUT")
        host.check_output("systemctl start imaging-pgbackrest-server")
        backup_host.run("systemctl reset-failed imaging-pgbackrest-main-diff.service")
    check = host.run(f"{PGBACKREST} check")
    assert check.rc == 0, check.stdout + check.stderr


def _upload(host, orthanc_api, count):
    """``count`` new CT instances of one new study, sent to Orthanc's REST API; their total size in bytes."""
    curl, port = orthanc_api
    buf = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for number in range(count):
            data, _ds = ct_instance("BACKUP^INCREMENT", "BACKUP-INCREMENT", pixels=os.urandom(8192))
            total += len(data)
            info = tarfile.TarInfo("%03d.dcm" % number)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    host.check_output("rm -rf /var/tmp/backup-increment && mkdir -p /var/tmp/backup-increment")
    put_file(host, "/var/tmp/backup-increment.tar", buf.getvalue())
    host.check_output("tar -xf /var/tmp/backup-increment.tar -C /var/tmp/backup-increment")
    host.check_output(f"for f in /var/tmp/backup-increment/*.dcm; do {curl} -X POST --data-binary @$f "
                      f"http://127.0.0.1:{port}/instances >/dev/null || exit 1; done")
    host.check_output("rm -rf /var/tmp/backup-increment /var/tmp/backup-increment.tar")
    return total


# The whole-archive drill runs in the Debian 12 pass of the default scenario (with the crash drills), to keep CI in
# its budget; in the Debian 13 pass (restic 0.18) validation's OQ-BAK-002 backs up and restores into a scratch
# directory, and the tests above check the key and the repository.
@pytest.mark.disruptive
@runs_in_pass("bookworm")
def test_restore_brings_back_index_and_images_and_proves_it(host, orthanc_api, pg_version):
    """Backup, 100 new instances, an incremental backup that stores about their size; then the image store and
    the database are destroyed and restore.yml brings both back, proven."""
    first = _backup()
    assert first["instances"] == _count(host, orthanc_api)

    size = _upload(host, orthanc_api, 100)
    second = _backup()
    assert second["instances"] == first["instances"] + 100
    assert second["new"] == 100, second
    # Deduplicated chunks plus the metadata: about the size of what is new, not of the store. Each new file
    # rewrites the tree blobs of the two directories above it (Orthanc's xx/yy fan-out, up to 256 entries of a
    # few hundred bytes each), so the metadata allowance is per new file: 128 KiB (measured: 43 KiB).
    assert second["added"] < 2 * size + second["new"] * 128 * 1024, (second, size)
    figures = (size, second["new"], second["added"], second["seconds"], second["playbook_seconds"])
    print("incremental image backup after 100 new instances (%d bytes): %d new files, %d bytes added, "
          "restic %.1f s, backup.yml %.0f s" % figures)

    # the restore reads the off-host repository: the local one goes with the host
    assert second["local_new"] == 100 and second["local_snapshot"] != second["snapshot"]
    local_repo = orthanc_record(host)["backup"]["repository"]
    local_index = json.loads(host.file("/etc/ansible/facts.d/imaging_postgresql.fact").content_string)["backup"]["repository"]
    host.check_output(f"mv {shlex.quote(local_repo)} {shlex.quote(local_repo)}.away")
    # (its contents, not the directory: PostgreSQL's service sandbox keeps the directory it started with writable)
    index_away = shlex.quote(local_index + ".away")
    host.check_output(f"mkdir {index_away} && mv {shlex.quote(local_index)}/* {index_away}/")
    # and the index's proof records: the backups carry them as their annotations
    proofs = shlex.quote(PROOF_DIR)
    host.check_output(f"mkdir {proofs}.away && mv {proofs}/*.json {proofs}.away/")
    store = orthanc_config(host)["StorageDirectory"]
    data_dir = json.loads(host.file("/etc/ansible/facts.d/imaging_postgresql.fact").content_string)["data_directory"]
    host.check_output(f"systemctl stop orthanc orthanc-dicom-tls postgresql@{pg_version}-main")
    host.check_output(f"rm -rf {shlex.quote(store)} {shlex.quote(data_dir)}")

    started = time.monotonic()
    try:
        restore = run_playbook("playbooks/restore.yml", "-e", "restore_confirm=true")
        elapsed = time.monotonic() - started
    finally:
        host.check_output(f"mv {shlex.quote(local_repo)}.away {shlex.quote(local_repo)}")
        host.check_output(f"rm -rf {shlex.quote(local_index)}/* && mv {index_away}/* {shlex.quote(local_index)}/ && rmdir {index_away}")
        host.check_output(f"mv {proofs}.away/*.json {proofs}/ && rmdir {proofs}.away")
    assert restore.returncode == 0, restore.stdout[-5000:] + restore.stderr[-2000:]
    out = _flat(restore.stdout)
    assert "Restored and proven against backup" in out and "(proof record from the annotations of the backup)" in out, out[-3000:]
    assert "Images restored and proven against snapshot %s" % second["snapshot"][:8] in out, out[-3000:]
    assert "C-FIND and WADO-RS of study" in out and "answered" in out
    assert _count(host, orthanc_api) == second["instances"]
    print("restore of index and images (%d instances, %d files): %.0f s" % (second["instances"], second["files"], elapsed))
