"""Debian's Chromium for the browser tests (the review page, the offline API docs).

Without it they skip, saying so. CI installs it and sets MODERATE_REQUIRE_BROWSER: there a
missing Chromium fails them.
"""

from __future__ import annotations

import os
import shutil

import pytest

# Headless, and quiet: no sync, no component updates, no background requests of its own.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium() -> str:
    """The system Chromium's executable; the test skips (or, in CI, fails) without one."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("MODERATE_REQUIRE_BROWSER"):  # CI: the browser tests must run
            pytest.fail("no Chromium found, and MODERATE_REQUIRE_BROWSER is set")
        pytest.skip("no Chromium found (apt-get install chromium); .ci/run installs it")
    return found
