"""The HTML report in headless Chromium (Debian's chromium): no console message, verdict visible, screenshot kept."""
import os
import re
import shutil
import subprocess

import pytest

from ansible_collections.hospital.imaging.plugins.module_utils import validation_report as vr
from test_report import CATALOGUE, PQ, RUN, passing_results, result

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="Debian's chromium is not installed")


def chromium(url, screenshot=None, dump_dom=False):
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
            "--window-size=1280,1600"]
    argv += ["--screenshot=%s" % screenshot] if screenshot else []
    argv += ["--dump-dom"] if dump_dom else []
    proc = subprocess.run(argv + [url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=120, check=False)
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc, console


def test_console_detection_works(tmp_path):
    page = tmp_path / "control.html"
    page.write_text('<html><body><script>console.error("control-marker")</script></body></html>')
    _proc, console = chromium(page.as_uri(), screenshot=str(tmp_path / "control.png"))
    assert any("control-marker" in line for line in console)


@pytest.mark.parametrize("verdict", ["PASS", "FAIL"])
def test_report_renders_without_console_messages(verdict, tmp_path, project_root):
    results = passing_results()
    if verdict == "FAIL":
        results[0] = result("IQ-PKG-001", "fail", message="nginx: installed 1.22.1-9+deb12u2, recorded 1.22.1-9")
    report = vr.build_report(CATALOGUE, results, RUN, pq=PQ)
    run_dir = str(tmp_path / "run")
    vr.write_run_dir(run_dir, report)
    artefacts = os.path.join(project_root, "tests", "output", "validation")
    os.makedirs(artefacts, exist_ok=True)
    shot = os.path.join(artefacts, "report-%s.png" % verdict.lower())
    if os.path.exists(shot):
        os.remove(shot)
    url = "file://" + os.path.join(run_dir, "report.html")
    proc, console = chromium(url, screenshot=shot)
    assert console == [], console
    assert os.path.getsize(shot) > 10000
    proc, console = chromium(url, dump_dom=True)
    assert console == []
    first = re.search(r'<div id="verdict" class="verdict (\w+)">Verdict: (\w+)</div>', proc.stdout)
    assert first and first.group(2) == verdict
    assert proc.stdout.index('id="verdict"') < proc.stdout.index("Traceability matrix")
    assert proc.stdout.count("<svg") >= 3
