"""Settings from the environment (and an optional .env file)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from flows.config import FlowSettings
from flows.i18n import LOCALES
from flows.quorum import parse_rule
from flows.timing import QuietHours, parse_offsets
from storage.database import DEFAULT_POOL_SIZE, DEFAULT_URL, async_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field(DEFAULT_URL, validation_alias="CISONO_DATABASE_URL")
    database_pool: int = Field(DEFAULT_POOL_SIZE, ge=1, validation_alias="CISONO_DATABASE_POOL")
    locale: str = Field("it", validation_alias="CISONO_LOCALE")
    timezone: str = Field("Europe/Rome", validation_alias="CISONO_TIMEZONE")

    zones: str = Field("", validation_alias="CISONO_ZONES")  # comma-separated
    skills: str = Field(
        "Patente di guida,Assistenza anziani,Infanzia,Disabilità,Lingue straniere",
        validation_alias="CISONO_SKILLS",
    )  # comma-separated
    withdraw_hours: int = Field(24, ge=0, validation_alias="CISONO_WITHDRAW_HOURS")
    retention_days: int = Field(365, ge=1, validation_alias="CISONO_RETENTION_DAYS")
    shift_reminders: str = Field("24h,2h", validation_alias="CISONO_SHIFT_REMINDERS")
    assembly_reminders: str = Field("7d,1d,2h", validation_alias="CISONO_ASSEMBLY_REMINDERS")
    escalate_hours: int = Field(48, ge=0, validation_alias="CISONO_ESCALATE_HOURS")
    quiet_hours: str = Field("21:00-08:00", validation_alias="CISONO_QUIET_HOURS")
    sweep_seconds: float = Field(10.0, gt=0, validation_alias="CISONO_SWEEP_SECONDS")
    send_timeout: float = Field(15.0, gt=0, validation_alias="CISONO_SEND_TIMEOUT")  # seconds
    outbox_lease_seconds: float = Field(60.0, gt=0, validation_alias="CISONO_OUTBOX_LEASE")
    max_proxies: int = Field(10, ge=0, validation_alias="CISONO_MAX_PROXIES")
    quorum_first_call: str = Field("1/2", validation_alias="CISONO_QUORUM_FIRST_CALL")

    http_host: str = Field("127.0.0.1", validation_alias="CISONO_HTTP_HOST")
    http_port: int = Field(8080, validation_alias="CISONO_HTTP_PORT")
    public_url: str | None = Field(None, validation_alias="CISONO_PUBLIC_URL")

    telegram_token: str | None = Field(None, validation_alias="TELEGRAM_BOT_TOKEN")
    telegram_driver: Literal["aiogram", "ptb"] = Field(
        "aiogram", validation_alias="TELEGRAM_DRIVER"
    )
    telegram_api_url: str = Field("https://api.telegram.org", validation_alias="TELEGRAM_API_URL")
    telegram_webhook_url: str | None = Field(None, validation_alias="TELEGRAM_WEBHOOK_URL")
    telegram_webhook_secret: str | None = Field(None, validation_alias="TELEGRAM_WEBHOOK_SECRET")
    telegram_rate: float = Field(30.0, validation_alias="TELEGRAM_RATE_LIMIT")  # messages/s
    telegram_chat_rate: float = Field(1.0, validation_alias="TELEGRAM_CHAT_RATE_LIMIT")

    twilio_account_sid: str | None = Field(None, validation_alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = Field(None, validation_alias="TWILIO_AUTH_TOKEN")
    twilio_whatsapp_from: str | None = Field(None, validation_alias="TWILIO_WHATSAPP_FROM")
    twilio_sms_from: str | None = Field(None, validation_alias="TWILIO_SMS_FROM")
    twilio_api_url: str = Field("https://api.twilio.com", validation_alias="TWILIO_API_URL")
    twilio_whatsapp_rate: float = Field(80.0, validation_alias="TWILIO_WHATSAPP_RATE")
    twilio_sms_rate: float = Field(1.0, validation_alias="TWILIO_SMS_RATE")
    twilio_templates: Path | None = Field(None, validation_alias="TWILIO_TEMPLATES")

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_token)

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.telegram_webhook_url and not self.telegram_webhook_secret:
            raise ValueError("TELEGRAM_WEBHOOK_URL needs TELEGRAM_WEBHOOK_SECRET")
        if self.twilio_enabled and not (self.twilio_whatsapp_from or self.twilio_sms_from):
            raise ValueError("Twilio needs TWILIO_WHATSAPP_FROM or TWILIO_SMS_FROM")
        if self.twilio_enabled and not self.public_url:
            raise ValueError("Twilio needs CISONO_PUBLIC_URL (to check signatures and callbacks)")
        if self.twilio_templates is not None and not self.twilio_templates.is_file():
            raise ValueError(f"TWILIO_TEMPLATES: no file {self.twilio_templates}")
        return self

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        async_url(value)  # raises for anything but SQLite and PostgreSQL
        return value

    @field_validator("shift_reminders", "assembly_reminders")
    @classmethod
    def _offsets(cls, value: str) -> str:
        parse_offsets(value)  # raises for anything but a list like 24h,2h
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        QuietHours.parse(value)
        return value

    @property
    def quiet(self) -> QuietHours | None:
        return QuietHours.parse(self.quiet_hours)

    @field_validator("quorum_first_call")
    @classmethod
    def _quorum_rule(cls, value: str) -> str:
        try:
            parse_rule(value)
        except ValueError as error:
            raise ValueError(f"CISONO_QUORUM_FIRST_CALL: {error}") from error
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
        zones = tuple(zone.strip() for zone in self.zones.split(",") if zone.strip())
        skills = tuple(skill.strip() for skill in self.skills.split(",") if skill.strip())
        return FlowSettings(
            default_locale=self.locale,
            timezone=self.timezone,
            zones=zones,
            skills=skills,
            withdraw_hours=self.withdraw_hours,
            shift_reminders=parse_offsets(self.shift_reminders),
            escalate_hours=self.escalate_hours,
            assembly_reminders=parse_offsets(self.assembly_reminders),
            max_proxies=self.max_proxies,
            quorum_first_call=parse_rule(self.quorum_first_call),
        )
