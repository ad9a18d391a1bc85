from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def repo_root() -> Path:
    return REPO


def regenerate() -> bool:
    """``ACCELPORT_REGEN=1 pytest tests/test_fixtures.py`` rewrites expected files for review."""
    return os.environ.get("ACCELPORT_REGEN") == "1"
