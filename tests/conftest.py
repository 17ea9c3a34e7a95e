"""Shared test setup: the corpora beside the checkout, and the marker that needs them."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CORPORA = ROOT.parent / "shared" / "corpora"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked shared_data when ../shared/corpora is not beside the checkout."""
    if CORPORA.is_dir():
        return
    skip = pytest.mark.skip(reason=f"needs the shared corpora at {CORPORA}")
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def corpora() -> Path:
    """Path to ../shared/corpora (only for tests marked shared_data)."""
    return CORPORA


@pytest.fixture
def fixtures() -> Path:
    """Path to tests/fixtures."""
    return FIXTURES
