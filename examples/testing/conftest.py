"""Lets ``test_shop.py`` import ``shop`` when pytest runs from the repository root."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
