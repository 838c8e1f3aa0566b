"""Making an export: check who asks, read through ``ReadModels``, build the file, record the
``Export`` event. The CLI and the API call these; the builders they use are pure.

A "now" export reads the current views and names the log position it read; an ``as_of`` export
reads the ledger as it stood at that recorded instant, so a past submission is reproduced byte
for byte (the Export event of the first one holds its digest to compare with).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger import access
from ledger.domain import Actor, Role
from ledger.errors import InvalidCommand, LedgerError, NotFound, NotPermitted
from ledger.settings import Settings, get_settings
from projections.exports.clr import clr_credential, issuer_profile
from projections.exports.grade_history import ExportFile, ending_year, grade_history_file
from projections.exports.profiles import CEDARS_GRADE_HISTORY, CLR_PROFILE, TRANSCRIPT_PDF_PROFILE
from projections.exports.transcript_pdf import lineage_summary, transcript_pdf

STATE_REPORTERS = (Role.REPORTER, Role.REGISTRAR, Role.SYSTEM)
# A "now" read is retried when the views move underneath it; then it pins an instant instead.
STABLE_READ_ATTEMPTS = 2


@dataclass(frozen=True)
class Made:
    file: ExportFile
    export_id: str
    position: int
    as_of: datetime | None
    document: Any = None  # the CLR as a dict, for callers that want it unserialised


def current_checkpoint(app: Any) -> dict[str, Any] | None:
    """The newest signed checkpoint as ``{size, root}``, or None when there is none (no signing
    key, no checkpoint taken yet, or no integrity module in this build)."""
    try:
        from ledger.integrity.checkpoints import latest_checkpoint
    except ImportError:
        return None
    try:
        cp = latest_checkpoint(app)
    except LedgerError:
        return None
    if cp is None:
        return None
    return {"size": cp.tree_size, "root": cp.root.hex()}


def _check_as_of(as_of: datetime | None) -> None:
    if as_of is not None and (not isinstance(as_of, datetime) or as_of.tzinfo is None):
        raise InvalidCommand("as_of is a timezone-aware instant")


def _all_students(rm: Any) -> Iterator[dict[str, Any]]:
    cursor = None
    while True:
        page = rm.list_students(cursor=cursor, limit=500)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _transcripts(rm: Any, as_of: datetime | None) -> list[dict[str, Any]]:
    found = []
    for s in _all_students(rm):
        t = rm.transcript(s["id"], as_of=as_of)
        if t is not None and t.get("student"):
            found.append(t)
    return found


def export_grade_history(
    app: Any,
    rm: Any,
    actor: Actor,
    *,
    school_year: str,
    as_of: datetime | None = None,
    settings: Settings | None = None,
) -> Made:
    """The state grade-history file for one school year, recorded as an Export. Refuses
    (ExportRefused, nothing recorded) when any row breaks the profile."""
    access.require_role(actor, *STATE_REPORTERS)
    ending_year(school_year)
    _check_as_of(as_of)
    settings = settings or get_settings()
    rm.catch_up()
    transcripts, read_as_of = None, as_of
    if as_of is None:
        for _ in range(STABLE_READ_ATTEMPTS):
            before = rm.position()
            read = _transcripts(rm, None)
            if rm.position() == before:
                transcripts = read
                break
            rm.catch_up()
        else:
            # The views kept moving under the read: read every student as of one instant.
            read_as_of = app.clock()
    if transcripts is None:
        transcripts = _transcripts(rm, read_as_of)
    position = rm.position()
    extracted = (as_of or app.clock()).date()
    file = grade_history_file(
        transcripts,
        school_year=school_year,
        district_code=settings.district_code,
        school_code=settings.school_code,
        extracted=extracted,
        profile=CEDARS_GRADE_HISTORY,
    )
    recorded = app.record_export(
        actor,
        kind="grade-history",
        profile=file.profile,
        profile_version=file.profile_version,
        as_of=read_as_of,
        position=position,
        file_name=file.name,
        row_count=file.row_count,
        sha256=file.sha256,
        parameters={"school_year": school_year},
    )
    return Made(file, recorded.id, position, read_as_of)


def _student_for(app: Any, actor: Actor, student_id: UUID | str) -> Any:
    s = app.student(student_id)
    if not access.can_see_student(actor, s):
        raise NotPermitted("no role of yours allows reading this student's record")
    return s


def _student_view(rm: Any, student_id: str, as_of: datetime | None) -> dict[str, Any]:
    rm.catch_up()
    transcript = rm.transcript(student_id, as_of=as_of)
    if transcript is None or not transcript.get("student"):
        raise NotFound("student", student_id)
    return {
        "transcript": transcript,
        "mastery": rm.mastery(student_id, as_of=as_of),
        "position": rm.position(),
    }


def _approved(transcript: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c
        for t in transcript.get("terms", ())
        for c in t.get("credits", ())
        if c["status"] == "approved"
    ]


def _frameworks(rm: Any, view: dict[str, Any]) -> list[dict[str, Any]]:
    ids = {str(m["framework_id"]) for m in view["mastery"]}
    ids |= {
        str(c["basis"]["framework_id"])
        for c in _approved(view["transcript"])
        if (c.get("basis") or {}).get("framework_id")
    }
    found = (rm.framework(fid) for fid in sorted(ids))
    return [f for f in found if f is not None]


def _lineages(rm: Any, transcript: dict[str, Any], as_of: datetime | None) -> dict[str, Any]:
    out = {}
    for c in _approved(transcript):
        lineage = rm.lineage(c["id"])
        if lineage is not None and as_of is not None:
            lineage = {
                **lineage,
                "judgments": [
                    j
                    for j in lineage["judgments"]
                    if any(e["recorded_at"] <= as_of for e in j.get("events", ()))
                ],
            }
        out[str(c["id"])] = lineage
    return out


def export_clr(
    app: Any,
    rm: Any,
    actor: Actor,
    student_id: UUID | str,
    *,
    as_of: datetime | None = None,
    settings: Settings | None = None,
    checkpoint: Callable[[Any], dict[str, Any] | None] = current_checkpoint,
) -> Made:
    """The student's CLR 2.0 as JSON bytes, recorded as an Export."""
    _check_as_of(as_of)
    s = _student_for(app, actor, student_id)
    settings = settings or get_settings()
    view = _student_view(rm, str(s.id), as_of)
    transcript = view["transcript"]
    cp = checkpoint(app)
    issued_at = as_of or app.clock()
    record = clr_credential(
        student=transcript["student"],
        transcript=transcript,
        mastery=view["mastery"],
        frameworks=_frameworks(rm, view),
        lineages={k: v for k, v in _lineages(rm, transcript, as_of).items() if v is not None},
        issuer=issuer_profile(settings.school_name, settings.district_code, settings.school_code),
        issued_at=issued_at,
        checkpoint=cp,
    )
    content = (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    achievements = len(record["credentialSubject"]["achievement"])
    file = ExportFile(
        name=f"clr-{transcript['student']['local_id']}-{issued_at:%Y%m%d}.json",
        content=content,
        media_type="application/ld+json",
        row_count=achievements,
        profile=CLR_PROFILE[0],
        profile_version=CLR_PROFILE[1],
    )
    return _record_student_export(app, actor, "clr", file, s.id, view["position"], as_of, record)


def _name_of(app: Any, user_id: str | None) -> str | None:
    if not user_id:
        return None
    try:
        return app.user(user_id).name
    except NotFound:
        return user_id


def export_transcript_pdf(
    app: Any,
    rm: Any,
    actor: Actor,
    student_id: UUID | str,
    *,
    as_of: datetime | None = None,
    settings: Settings | None = None,
    checkpoint: Callable[[Any], dict[str, Any] | None] = current_checkpoint,
) -> Made:
    """The printable transcript, recorded as an Export."""
    _check_as_of(as_of)
    s = _student_for(app, actor, student_id)
    settings = settings or get_settings()
    view = _student_view(rm, str(s.id), as_of)
    transcript = view["transcript"]
    statements = {
        (str(fw["id"]), str(c["id"])): c.get("statement")
        for fw in _frameworks(rm, view)
        for c in fw["competencies"]
    }
    wbl = [c for c in _approved(transcript) if c.get("work_based")]
    lineages = _lineages(rm, {"terms": [{"credits": wbl}]}, as_of)
    summaries = {cid: lineage_summary(c, lineages.get(str(c["id"])), as_of)
                 for cid, c in ((str(c["id"]), c) for c in wbl)}  # fmt: skip
    names = {str(v["approved_by"]): _name_of(app, v["approved_by"]) for v in summaries.values()}
    content = transcript_pdf(
        student=transcript["student"],
        transcript=transcript,
        mastery=view["mastery"],
        statements=statements,
        lineages=summaries,
        names={k: v for k, v in names.items() if v},
        school={
            "name": settings.school_name,
            "district_code": settings.district_code,
            "school_code": settings.school_code,
        },
        checkpoint=checkpoint(app),
    )
    stamp = (as_of or app.clock()).date()
    file = ExportFile(
        name=f"transcript-{transcript['student']['local_id']}-{stamp:%Y%m%d}.pdf",
        content=content,
        media_type="application/pdf",
        row_count=len(_approved(transcript)),
        profile=TRANSCRIPT_PDF_PROFILE[0],
        profile_version=TRANSCRIPT_PDF_PROFILE[1],
    )
    return _record_student_export(app, actor, "transcript-pdf", file, s.id, view["position"], as_of)


def _record_student_export(
    app: Any,
    actor: Actor,
    kind: str,
    file: ExportFile,
    student_id: UUID,
    position: int,
    as_of: datetime | None,
    document: Any = None,
) -> Made:
    recorded = app.record_export(
        actor,
        kind=kind,
        profile=file.profile,
        profile_version=file.profile_version,
        as_of=as_of,
        position=position,
        file_name=file.name,
        row_count=file.row_count,
        sha256=file.sha256,
        student_id=student_id,
    )
    return Made(file, recorded.id, position, as_of, document)
