"""Shared fixtures: a migrated database on each backend, a clock, a wired app."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from hypothesis import settings
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from bot.app import App
from bot.cli import main
from bot.ratelimit import RateLimits
from bot.settings import Settings
from storage.migrate import upgrade
from storage.unit_of_work import Database
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio
from tests.fakes import FakeClock, RecordingChannel

# CI explores the same examples every run (a red CI is then a regression, not luck);
# locally, each run explores new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

POSTGRES_URL = os.environ.get(
    "CISONO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("memory", "sqlite", "postgres")
TABLES = ", ".join(table.name for table in SQLModel.metadata.sorted_tables)


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await upgrade(database.engine)
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of its own for this test run, migrated once, dropped at the end."""
    name = f"cisono_test_{uuid.uuid4().hex[:8]}"
    admin = make_url(POSTGRES_URL)
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)

    async def create() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    async def drop() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    try:
        asyncio.run(create())
    except (OSError, asyncpg.PostgresError) as error:
        pytest.fail(
            f"PostgreSQL is needed at {POSTGRES_URL} ({error}); start it "
            "(see README) or set CISONO_TEST_POSTGRES_URL",
            pytrace=False,
        )
    url = admin.set(database=name).render_as_string(hide_password=False)
    asyncio.run(_migrate(url))
    yield url
    asyncio.run(drop())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "cisono.db"
    asyncio.run(_migrate(f"sqlite:///{path}"))
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "memory":
        return "sqlite:///:memory:"
    if backend == "sqlite":
        path = tmp_path / "cisono.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    if database_url.endswith(":memory:"):
        await upgrade(database.engine)
    elif not database.is_sqlite:
        async with database.engine.begin() as connection:
            await connection.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def channel() -> RecordingChannel:
    return RecordingChannel()


@pytest.fixture
async def app(database: Database, clock: FakeClock, channel: RecordingChannel) -> App:
    settings = Settings(database_url=database.url)
    channels = {name: channel for name in ("terminal", "telegram", "whatsapp", "sms")}
    # conversations are tested here, not the platforms' rate limits (tests/test_delivery.py)
    return App.build(settings, channels, clock, database, limits=RateLimits({}))


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    """The fake Bot API; at the end, every call the bot made must have matched the spec."""
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()
    assert fake.violations == [], "the bot spoke something else than the Bot API"


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A migrated SQLite file for `cisono` commands, in a folder of the test's own."""
    path = tmp_path / "cli.db"
    monkeypatch.setenv("CISONO_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's folder
    assert main(["db", "upgrade"]) == 0
    return path
