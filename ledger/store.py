"""Maps ``LEDGER_DATABASE_URL`` onto the eventsourcing library's persistence environment."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlparse

from ledger.errors import InvalidCommand


@dataclass(frozen=True)
class StoreConfig:
    kind: str  # "sqlite" | "postgres"
    url: str
    env: dict[str, str]
    sqlite_path: str | None = None
    postgres_conninfo: str | None = None
    postgres_schema: str = ""


# The library interpolates the schema into its SQL unquoted: anything but a plain identifier
# is a syntax error at best and statements of the URL's choosing at worst.
SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def redact(url: str) -> str:
    """The URL fit for an error message or a log line: its password replaced."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    host = parsed.netloc.rpartition("@")[2]
    return parsed._replace(netloc=f"{parsed.username or ''}:***@{host}").geturl()


def parse_database_url(url: str) -> StoreConfig:
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        # sqlite:///relative/path  or  sqlite:////absolute/path
        path = unquote(parsed.path[1:] if parsed.path.startswith("/") else parsed.path)
        if not path or path == ":memory:":
            raise InvalidCommand("sqlite URLs need a file path: events and views share one file")
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "30",
        }
        return StoreConfig(kind="sqlite", url=url, env=env, sqlite_path=path)
    if parsed.scheme in ("postgresql", "postgres"):
        query = parse_qs(parsed.query)
        schema = query.get("schema", [""])[0]
        if schema and not SCHEMA_NAME.match(schema):
            raise InvalidCommand(
                "the schema in a PostgreSQL URL is a plain identifier (letters, digits, _)"
            )
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": (parsed.path or "/").lstrip("/") or "postgres",
            "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            "POSTGRES_SCHEMA": schema,
            "POSTGRES_POOL_SIZE": query.get("pool_size", ["8"])[0],
            "POSTGRES_MAX_OVERFLOW": query.get("max_overflow", ["16"])[0],
            "POSTGRES_CONNECT_TIMEOUT": query.get("connect_timeout", ["5"])[0],
            "POSTGRES_LOCK_TIMEOUT": "10",
            # A ping on every checkout cost a round trip per read and per write (3 per command,
            # ~0.4 ms here). Reads are retried by the library on a dead connection; the
            # group-commit recorder pings a write connection only after it sat idle.
            "POSTGRES_PRE_PING": "n",
            # Concurrent commands share transactions and commits (docs/performance.md).
            "APPLICATION_RECORDER_TOPIC": "ledger.persistence.group_commit:GroupCommitRecorder",
        }
        conninfo = (
            f"host={env['POSTGRES_HOST']} port={env['POSTGRES_PORT']} "
            f"dbname={env['POSTGRES_DBNAME']} user={env['POSTGRES_USER']}"
        )
        if env["POSTGRES_PASSWORD"]:
            conninfo += f" password={env['POSTGRES_PASSWORD']}"
        return StoreConfig(
            kind="postgres", url=url, env=env, postgres_conninfo=conninfo, postgres_schema=schema
        )
    raise InvalidCommand(f"unsupported database URL scheme {parsed.scheme!r}")
