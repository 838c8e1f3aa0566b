"""Evidence of learning: reflections and artifacts (the student), mentor notes (the mentor)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from api import schemas
from api.deps import (
    ActorDep,
    Ledger,
    LedgerDep,
    ResourceWriterDep,
    WriterDep,
    check_if_match,
    etag,
    visible_experience,
    visible_of_student,
    visible_student,
    written,
)
from api.routes import PROBLEMS
from ledger.domain import Artifact, MentorNote, Reflection
from ledger.errors import NotFound

router = APIRouter(tags=["evidence"], responses=PROBLEMS)


def _reflection(r: Reflection) -> dict:
    # The text lives in the reflection's events; this is the record around it.
    return {
        "id": str(r.id),
        "version": r.version,
        "kind": "reflection",
        "student_id": str(r.student_id),
        "experience_id": str(r.experience_id) if r.experience_id else None,
        "competencies": list(r.competencies),
        "text_version": r.text_version,
    }


def _content(ledger: Ledger, record_id: UUID, *names: str) -> dict:
    """The record's current content, from its events (where the text lives)."""
    found: dict = {}
    for event in ledger.app.repository.event_store.get(record_id):
        found.update({n: getattr(event, n) for n in names if hasattr(event, n)})
    return found


def _artifact(a: Artifact) -> dict:
    return {
        "id": str(a.id),
        "version": a.version,
        "kind": "artifact",
        "artifact_kind": a.kind,
        "student_id": str(a.student_id),
        "experience_id": str(a.experience_id) if a.experience_id else None,
    }


def _mentor_note(n: MentorNote) -> dict:
    # The note's text and ratings live in its event; this is the record around it.
    return {
        "id": str(n.id),
        "version": n.version,
        "kind": "mentor_note",
        "student_id": str(n.student_id),
        "experience_id": str(n.experience_id),
        "mentor_id": n.mentor_id,
    }


@router.post(
    "/v1/students/{student_id}/reflections",
    status_code=201,
    response_model=schemas.Written,
    summary="Submit a reflection (the student)",
)
def submit_reflection(
    student_id: UUID,
    body: schemas.ReflectionIn,
    caller: WriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    visible_student(ledger, caller.actor, student_id)
    result = ledger.app.submit_reflection(
        caller.actor, student_id, **body.model_dump(), **caller.kw
    )
    r = ledger.app.reflection(result.id)
    return written(response, ledger, result, f"/v1/reflections/{r.id}", _reflection(r), r)


@router.get(
    "/v1/reflections/{reflection_id}", response_model=schemas.Resource, summary="One reflection"
)
def get_reflection(
    reflection_id: UUID, actor: ActorDep, ledger: LedgerDep, response: Response
) -> dict:
    r = ledger.app.reflection(reflection_id)
    visible_of_student(ledger, actor, r, "reflection")
    response.headers["ETag"] = etag(r)
    return {**_reflection(r), **_content(ledger, r.id, "text")}


@router.post(
    "/v1/reflections/{reflection_id}/revisions",
    response_model=schemas.Written,
    summary="Revise a reflection (the student); the earlier text stays in the ledger",
)
def revise_reflection(
    reflection_id: UUID,
    body: schemas.ReflectionRevisionIn,
    caller: ResourceWriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    r = ledger.app.reflection(reflection_id)
    visible_of_student(ledger, caller.actor, r, "reflection")
    check_if_match(ledger, caller, r)
    result = ledger.app.revise_reflection(
        caller.actor, reflection_id, **body.model_dump(), **caller.kw
    )
    r = ledger.app.reflection(reflection_id)
    return written(response, ledger, result, f"/v1/reflections/{r.id}", _reflection(r), r)


@router.post(
    "/v1/students/{student_id}/artifacts",
    status_code=201,
    response_model=schemas.Written,
    summary="Attach an artifact (the student)",
)
def attach_artifact(
    student_id: UUID,
    body: schemas.ArtifactIn,
    caller: WriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    visible_student(ledger, caller.actor, student_id)
    result = ledger.app.attach_artifact(caller.actor, student_id, **body.model_dump(), **caller.kw)
    a = ledger.app.load(Artifact, result.id, "artifact")
    return written(response, ledger, result, f"/v1/artifacts/{a.id}", _artifact(a), a)


@router.get("/v1/artifacts/{artifact_id}", response_model=schemas.Resource, summary="One artifact")
def get_artifact(artifact_id: UUID, actor: ActorDep, ledger: LedgerDep, response: Response) -> dict:
    a = ledger.app.load(Artifact, artifact_id, "artifact")
    visible_of_student(ledger, actor, a, "artifact")
    response.headers["ETag"] = etag(a)
    return {**_artifact(a), **_content(ledger, a.id, "uri", "sha256", "size", "caption")}


@router.post(
    "/v1/experiences/{experience_id}/mentor-notes",
    status_code=201,
    response_model=schemas.Written,
    summary="Write a mentor note (the experience's mentor)",
)
def write_mentor_note(
    experience_id: UUID,
    body: schemas.MentorNoteIn,
    caller: WriterDep,
    ledger: LedgerDep,
    response: Response,
) -> schemas.Written:
    visible_experience(ledger, caller.actor, experience_id)
    result = ledger.app.write_mentor_note(
        caller.actor, experience_id, **body.model_dump(), **caller.kw
    )
    n = ledger.app.load(MentorNote, result.id, "mentor_note")
    return written(response, ledger, result, f"/v1/mentor-notes/{n.id}", _mentor_note(n), n)


@router.get(
    "/v1/mentor-notes/{note_id}", response_model=schemas.Resource, summary="One mentor note"
)
def get_mentor_note(note_id: UUID, actor: ActorDep, ledger: LedgerDep, response: Response) -> dict:
    n = ledger.app.load(MentorNote, note_id, "mentor_note")
    try:
        # Whoever may see the note's experience (its mentor, or those who see the student).
        visible_experience(ledger, actor, n.experience_id)
    except NotFound:
        raise NotFound("mentor_note", note_id) from None
    response.headers["ETag"] = etag(n)
    return {**_mentor_note(n), **_content(ledger, n.id, "text", "ratings")}
