"""Settings from the environment (and an optional .env file)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from flows.config import FlowSettings
from flows.i18n import LOCALES
from storage.database import DEFAULT_URL, async_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field(DEFAULT_URL, validation_alias="CISONO_DATABASE_URL")
    locale: str = Field("it", validation_alias="CISONO_LOCALE")
    timezone: str = Field("Europe/Rome", validation_alias="CISONO_TIMEZONE")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        async_url(value)  # raises for anything but SQLite and PostgreSQL
        return value

    @field_validator("locale")
    @classmethod
    def _shipped_locale(cls, value: str) -> str:
        if value not in LOCALES:
            raise ValueError(f"CISONO_LOCALE must be one of {', '.join(LOCALES)}")
        return value

    @field_validator("timezone")
    @classmethod
    def _real_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"CISONO_TIMEZONE {value!r} is not a known time zone") from error
        return value

    def flow_settings(self) -> FlowSettings:
        return FlowSettings(default_locale=self.locale, timezone=self.timezone)
