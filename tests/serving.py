"""Run ``visualsearch serve`` in a subprocess for a test: start it, read the URL it prints, stop it."""

from __future__ import annotations

import os
import select
import subprocess
import sys


def clean_env() -> dict[str, str]:
    """The environment without any ``VISUALSEARCH_*`` variable, so the server sees only its arguments."""
    return {k: v for k, v in os.environ.items() if not k.startswith("VISUALSEARCH_")}


def serve_command(face: str) -> list[str]:
    return [sys.executable, "-m", "visualsearch_sdk.cli", "serve", "--face", face, "--port", "0"]


def serve_face(face: str, *extra: str) -> subprocess.Popen[str]:
    """``visualsearch serve --face FACE --port 0 EXTRA...`` with a clean environment."""
    return subprocess.Popen(
        [*serve_command(face), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )


def first_line(process: subprocess.Popen[str]) -> str:
    """The first line the server prints (its provider URL); empty if nothing comes within 30 s."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    return process.stdout.readline().strip() if ready else ""


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Terminate the server (kill it if it hangs); its exit code and what it wrote to stderr."""
    if process.poll() is None:
        process.terminate()
    try:
        _, stderr = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
    return process.returncode, stderr
