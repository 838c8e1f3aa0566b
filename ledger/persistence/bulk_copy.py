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

from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier, Literal


def to_stored_events(mapper: Mapper[Any], events: Sequence[Any]) -> list[StoredEvent]:
    """``mapper.to_stored_event`` for each event, the same bytes, with less Python per event:
    topics looked up once per class, and the transcodings of top-level values (every event's
    timestamp, ids, dates, amounts) applied here instead of through the JSON encoder's
    per-value callback. Anything else (nested values, compression, encryption, another
    transcoder) goes the library's way."""
    transcoder = mapper.transcoder
    if mapper.compressor or mapper.cipher or type(transcoder) is not JSONTranscoder:
        return [mapper.to_stored_event(e) for e in events]
    encode = transcoder.encoder.encode
    transcodings = transcoder.types
    plain = (str, int, bool, type(None))
    topics: dict[type, tuple[str, int]] = {}
    out = []
    for event in events:
        cls = type(event)
        known = topics.get(cls)
        if known is None:
            known = topics[cls] = (get_topic(cls), getattr(cls, "class_version", 1))
        topic, class_version = known
        state = dict(vars(event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        for name, value in state.items():
            if not isinstance(value, plain):
                transcoding = transcodings.get(type(value))
                if transcoding is not None:
                    state[name] = {"_type_": transcoding.name, "_data_": transcoding.encode(value)}
        if class_version > 1:
            state["class_version"] = class_version
        out.append(
            StoredEvent(
                originator_id=originator_id,
                originator_version=originator_version,
                topic=topic,
                state=encode(state).encode("utf8"),
            )
        )
    return out


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
