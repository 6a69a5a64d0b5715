"""`--ready-file`: a script that starts an emulator in the background can wait until it answers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("module", "port_flag", "probe"),
    [("cloudports.emulators.arm", "--port", "/_arm/health"), ("cloudports.emulators.aws", "-p", "/moto-api/")],
)
def test_ready_file_names_a_server_that_answers(module: str, port_flag: str, probe: str, tmp_path: Path) -> None:
    if module.endswith("aws"):
        pytest.importorskip("flask", reason="moto's server mode needs moto[server]")
    ready = tmp_path / "ready"
    server = subprocess.Popen(
        [sys.executable, "-m", module, port_flag, "0", "--ready-file", str(ready)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (ready.exists() and ready.read_text().endswith("\n")) and time.monotonic() < deadline:
            assert server.poll() is None, "the server exited"
            time.sleep(0.05)
        url = ready.read_text().strip()
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")  # the port it bound, not 0
        with urllib.request.urlopen(url + probe, timeout=10) as answer:  # answers at once: no retry needed
            assert answer.status == 200
    finally:
        server.kill()
        server.wait()
