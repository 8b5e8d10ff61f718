"""Helpers for the end-to-end tests: run Python in a child process, make small distinct images anywhere."""

from __future__ import annotations

import inspect
import io
import subprocess
import sys
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw


def image(n: int) -> bytes:
    """A small JPEG, different for every ``n`` (children get this same function)."""
    picture = Image.new("RGB", (96, 72), ((n * 53) % 256, (n * 97) % 256, (n * 151) % 256))
    draw = ImageDraw.Draw(picture)
    x, y = n % 40, (n * 7) % 30
    draw.rectangle([x, y, x + 30, y + 25], fill=((n * 31) % 256, 20, 200))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


# Prepended to every child script, which can then call ``image(n)``.
CHILD_PRELUDE = "import io, os, sys\nfrom PIL import Image, ImageDraw\n\n" + inspect.getsource(image)


def child_script(body: str) -> str:
    """The prelude plus ``body`` (dedented), as one script."""
    return CHILD_PRELUDE + "\n" + textwrap.dedent(body)


def run_child(body: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``body`` in a fresh interpreter (``sys.argv[1:]`` are ``args``) and wait for it."""
    return subprocess.run(
        [sys.executable, "-c", child_script(body), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def index_url(path: Path) -> str:
    """The provider URL of a persistent local index at ``path``."""
    return f"local://{path.as_posix()}"
