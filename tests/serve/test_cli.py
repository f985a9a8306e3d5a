"""`bertkit serve` as a user starts it: a real process on 127.0.0.1 that answers, then stops."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from tests.serve.conftest import free_port


@pytest.mark.slow
def test_bertkit_serve_starts_answers_and_stops(classifier_run):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bertkit", "serve", "--model", str(classifier_run),
                             "--port", str(port), "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        health = None
        while health is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
            except httpx.HTTPError:
                time.sleep(0.2)
        assert health is not None and health["task"] == "classification", proc.poll()
        r = httpx.post(f"http://127.0.0.1:{port}/predict", json={"inputs": ["a film"]}, timeout=10)
        assert r.status_code == 200 and r.json()["predictions"][0]["label"] in health["labels"]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"on http://127.0.0.1:{port}/" in out
