"""One settings object, read at the edges: CLI flag > MODERATE_* environment > default."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable from the environment, with the `MODERATE_` prefix."""

    model_config = SettingsConfigDict(env_prefix="MODERATE_", extra="ignore")

    data_dir: Path = Path("labels/data")
    artifacts_dir: Path = Path("model/artifacts")


def load_settings() -> Settings:
    """Read the settings from the environment now (never at import time)."""
    return Settings()
