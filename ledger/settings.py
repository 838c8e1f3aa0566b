"""Configuration, read from the environment (prefix ``LEDGER_``) by pydantic-settings."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/ledger.sqlite",
        description="sqlite:///PATH or postgresql://USER@HOST:PORT/DB[?schema=NAME]",
    )
    signing_key_path: Path = Field(
        default=Path("var/school-ed25519.pem"),
        description="The school's Ed25519 private key (PEM) that signs checkpoints.",
    )
    checkpoint_interval: int = Field(default=1000, ge=1)
    school_name: str = "Demo High School"
    district_code: str = "17001"
    school_code: str = "1234"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # A request's head (request line and headers) must arrive within this many seconds of its
    # first byte, or of the connection opening: a client that trickles a head, or opens a
    # connection and sends nothing, would otherwise hold it for ever (api/http_protocol.py).
    head_timeout_seconds: float = Field(default=10.0, gt=0, le=300)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        # A level the logger does not know had been logged at INFO without a word.
        return value.upper() if isinstance(value, str) else value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
