"""Publishing a framework under an id a record already has (POST /v1/frameworks takes the id) is
refused at once as a state conflict. It was written twelve times, each insert failing as a
version conflict, with a backoff between (about half a second), and then answered 409
concurrency-conflict "the record kept changing ...; try again", which no retry can cure."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.application import LedgerApplication
from ledger.errors import StateConflict
from tests.builders import School, framework_definition


def test_a_framework_is_not_published_under_an_id_that_is_taken(
    app: LedgerApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    school = School.build(app)
    sid, _login = school.enroll("F1")
    inserts = []
    insert = app.recorder.insert_events

    def counted(*args: Any, **kwargs: Any) -> Any:
        inserts.append(1)
        return insert(*args, **kwargs)

    monkeypatch.setattr(app.recorder, "insert_events", counted)
    position = app.position()
    for taken in (school.framework_id, sid):
        for key in (None, f"publish-{taken}"):
            with pytest.raises(StateConflict, match="exists already"):
                app.publish_framework(
                    school.admin, framework_definition(), framework_id=taken, idempotency_key=key
                )
    assert inserts == []
    assert app.position() == position
    assert app.framework(school.framework_id).revision == 1
