"""One settings object, read at the edges: CLI flag > MODERATE_* environment > default."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable from the environment, with the `MODERATE_` prefix."""

    model_config = SettingsConfigDict(env_prefix="MODERATE_", extra="ignore")

    data_dir: Path = Path("labels/data")
    artifacts_dir: Path = Field(
        default=Path("model/artifacts"), description="trained models; serving uses its `current`"
    )
    # labels stage: where `moderate labels import` writes; outside git, because data derived
    # from the public corpora must never be committed.
    import_dir: Path = Path("build/corpora-store")

    # service stage: `moderate serve` and `moderate score`. A description makes a setting
    # part of `moderate serve --help`.
    model_path: Path | None = Field(
        default=None, description="an artifact directory to serve instead of artifacts_dir/current"
    )
    reference_model: Path | None = Field(
        default=None,
        description="the model used while artifacts_dir has no current [default: the shipped "
        "model/reference]",
    )
    host: str = Field(default="127.0.0.1", description="address to bind")
    port: int = Field(default=8000, ge=1, le=65535, description="port to listen on")
    workers: int = Field(default=1, ge=1, description="worker processes")
    api_keys: str | None = Field(
        default=None,
        description="comma-separated API keys, sent as X-API-Key; set but holding no key "
        "refuses to start (unset, with no key file, the API is open)",
    )
    api_key_file: Path | None = Field(
        default=None, description="file of API keys, one a line, '#' comments; it must hold a key"
    )
    max_comment_chars: int = Field(default=5_000, ge=1, description="characters per comment")
    max_comments: int = Field(default=1_000, ge=1, description="comments per request")
    max_body_bytes: int = Field(default=2_000_000, ge=1, description="bytes per request body")
    max_explain_chars: int = Field(
        default=20_000, ge=0, description="characters per request with explain: true"
    )
    max_second_opinion_comments: int = Field(
        default=100,
        ge=0,
        description="comments per request with second_opinion: true (about 50 ms each re-scored)",
    )
    cors_origins: str = Field(
        default="", description="comma-separated allowed origins; empty: closed"
    )
    # review stage: `moderate review` and its queue; the page signs moderators in with the
    # API's keys (a key file's comment after a key names its moderator).
    review_db: Path = Field(
        default=Path("build/review.sqlite"), description="the review queue's SQLite file"
    )
    review_host: str = Field(
        default="127.0.0.1", description="address the review page binds (loopback without keys)"
    )
    review_port: int = Field(default=8001, ge=1, le=65535, description="review page port")
    review_lease_seconds: float = Field(
        default=300.0, gt=0, description="how long a comment a moderator opened stays theirs"
    )
    review_moderator: str | None = Field(
        default=None,
        description="the moderator's name when no API key is configured [default: the login name]",
    )
    review_api_queue: bool = Field(
        default=False, description='let POST /v1/score queue its review band with "queue": true'
    )
    require_model: bool = False  # refuse to start (rather than be unready) without a model
    # Set by the server for its workers when there are several: where a reload is sent so
    # that it reaches every worker.
    supervisor_pid: int | None = None
    # Comments per batch of `moderate score`: larger batches keep both cores busier while
    # the next batch is read (8,000 measured 5-10% faster than 2,000 on 200,000 comments).
    batch_size: int = 8_000


def load_settings() -> Settings:
    """Read the settings from the environment now (never at import time)."""
    return Settings()


def env_name(field: str) -> str:
    """The environment variable of a setting."""
    return f"MODERATE_{field.upper()}"


def describe_error(error: ValidationError) -> str:
    """A settings error as one line naming each variable: `MODERATE_PORT: Input should be ...`."""
    return "; ".join(
        f"{env_name(str(e['loc'][0])) if e['loc'] else 'settings'}: {e['msg']}"
        for e in error.errors()
    )


def documented() -> list[tuple[str, str, str]]:
    """(variable, default, description) of each setting that `moderate serve --help` lists."""
    return [
        (env_name(name), "" if field.default is None else str(field.default), field.description)
        for name, field in Settings.model_fields.items()
        if field.description
    ]
