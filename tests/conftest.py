"""One suite, two stores: every test that takes ``store_url`` runs on SQLite and on PostgreSQL.

PostgreSQL tests each get a schema of their own in the database named by
``LEDGER_TEST_POSTGRES_URL`` (default postgresql://postgres@127.0.0.1:5432/test). Without a
server they skip with the reason, unless ``LEDGER_REQUIRE_POSTGRES=1``, when they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from ledger.application import LedgerApplication
from ledger.integrity.keys import ensure_key
from ledger.settings import get_settings

POSTGRES_URL = os.environ.get(
    "LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("LEDGER_REQUIRE_POSTGRES") == "1"
_pg_error: str | None = None
_pg_checked = False


def _postgres_unavailable() -> str | None:
    global _pg_checked, _pg_error
    if not _pg_checked:
        _pg_checked = True
        try:
            with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
                conn.execute("select 1")
        except Exception as e:  # noqa: BLE001 - any failure means "no server here"
            _pg_error = f"PostgreSQL at {POSTGRES_URL} does not answer: {e}".splitlines()[0]
    return _pg_error


def require_postgres() -> None:
    reason = _postgres_unavailable()
    if reason:
        if REQUIRE_POSTGRES:
            pytest.fail(f"LEDGER_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture(autouse=True, scope="session")
def school_signing_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test signs with a key of the test run's own, never ./var's: a fresh clone has no
    var/ and a developer's var/ must not change what the suite sees."""
    path = tmp_path_factory.mktemp("keys") / "school-ed25519.pem"
    ensure_key(path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEDGER_SIGNING_KEY_PATH", str(path))
        get_settings.cache_clear()
        yield path
    get_settings.cache_clear()


def _with_query(url: str, **params: str) -> str:
    sep = "&" if "?" in url else "?"
    return url + sep + "&".join(f"{k}={v}" for k, v in params.items())


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose schema exists only for this test."""
    require_postgres()
    schema = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield _with_query(POSTGRES_URL, schema=schema)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite'}"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return request.getfixturevalue("sqlite_url")


class FakeClock:
    """A recorded-time source a test can move: scripted school years need known instants."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 9, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(store_url: str, clock: FakeClock) -> Iterator[LedgerApplication]:
    application = LedgerApplication(database_url=store_url, clock=clock)
    try:
        yield application
    finally:
        application.close()


@pytest.fixture
def shared_data() -> Path:
    """../shared/data: skip when absent, fail when LEDGER_SHARED_DATA names it."""
    named = os.environ.get("LEDGER_SHARED_DATA")
    path = Path(named) if named else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not path.is_dir():
        if named:
            pytest.fail(f"LEDGER_SHARED_DATA={named} is not a folder")
        pytest.skip(f"shared data not found at {path} (set LEDGER_SHARED_DATA)")
    return path
