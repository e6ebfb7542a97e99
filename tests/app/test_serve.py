"""`topoact serve` runs a production WSGI server by default: no development-server warning."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from app_fixtures import small_run, small_run_dir  # noqa: F401


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_uses_waitress_on_loopback_and_stops_on_sigterm(small_run_dir):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "topoact", "serve", str(small_run_dir), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    assert response.status == 200
                    assert response.headers["Server"] == "topoact"       # waitress's ident
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                assert time.time() < deadline, "server did not start"
                time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    text = (out + err).decode()
    assert "development server" not in text
    assert f"http://127.0.0.1:{port}/" in text and "waitress" in text
