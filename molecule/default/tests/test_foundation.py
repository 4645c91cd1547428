"""The all-in-one host is a real Debian systemd host, converged through the sandbox inventory."""


def test_systemd_is_pid_1(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded"), state


def test_supported_debian_release(host):
    info = host.system_info
    assert info.distribution == "debian"
    assert info.release.split(".")[0] in ("12", "13")


def test_no_failed_units(host):
    cmd = host.run("systemctl list-units --state=failed --no-legend --plain")
    assert cmd.rc == 0, cmd.stderr
    assert cmd.stdout.strip() == "", cmd.stdout
