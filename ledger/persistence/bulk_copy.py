"""Writing one chunk of a bulk block to PostgreSQL with binary COPY.

A chunk of ``LedgerApplication.bulk()`` is a few thousand events of one writer. The group-commit
recorder's path (one multi-row INSERT rendered as SQL text, values quoted by hand) costs the
client a literal per value and the server a parse of a megabyte of SQL per chunk; COPY in binary
sends the values as they are stored and the server parses nothing. What must not change:

* the chunk takes the same ``LOCK TABLE ... IN EXCLUSIVE MODE`` as every writer of the table
  (the library's recorder and the group-commit recorder) and NOTIFYs like them, so notification
  ids become visible in id order across chunks, commands and processes;
* ids are drawn in the order of the rows sent (COPY evaluates the column default row by row), so
  within a chunk they follow the order in which commands were decided;
* all or nothing: a row that exists already (another writer moved a stream on) is a unique
  violation that rolls the whole chunk back, raised as the library's ``IntegrityError``, as from
  an insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier, Literal


def supports(recorder: Any) -> bool:
    """Whether ``recorder`` writes a PostgreSQL table this module can COPY into."""
    return isinstance(recorder, PostgresApplicationRecorder)


def copy_events(recorder: PostgresApplicationRecorder, stored: Sequence[StoredEvent]) -> None:
    """Commits ``stored`` as one transaction, in order; nothing of it if any row conflicts."""
    if not stored:
        return
    datastore = recorder.datastore
    table = SQL("{}.{}").format(
        Identifier(datastore.schema), Identifier(recorder.events_table_name)
    )
    id_type = datastore.originator_id_type
    to_id = str if id_type == "text" else (lambda v: v)
    with datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
        curs.execute(
            SQL("SET LOCAL lock_timeout = {}").format(Literal(f"{int(datastore.lock_timeout)}s"))
        )
        curs.execute(SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(table))
        curs.execute(SQL("NOTIFY {}").format(Identifier(recorder.channel_name)))
        query = SQL(
            "COPY {} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
        ).format(table)
        with curs.copy(query) as copy:
            copy.set_types([id_type, "int8", "text", "bytea"])
            write = copy.write_row
            for e in stored:
                write((to_id(e.originator_id), e.originator_version, e.topic, e.state))
