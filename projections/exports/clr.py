"""A Comprehensive Learner Record 2.0 (``ClrCredential``) from read-model dicts.

We write the VC Data Model 1.1 flavour (``issuanceDate``, the ``credentials/v1`` context): that is
what 1EdTech's published CLR 2.0 and OB 3.0 JSON Schemas require, so a receiving system can check
our output against them. The VC 2.0 flavour (``validFrom``) differs only in the envelope; see
docs/exports.md. The record is unsigned: signing comes with the school key later.

Ids are stable: achievements and assertions are named after the ledger records they stand for
(``urn:uuid:`` of the credit, a name-based UUID of framework + competency), so the same ledger state
gives the same record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from ledger.domain.areas import TERMS, WASHINGTON_REQUIREMENTS

VC_V1 = "https://www.w3.org/2018/credentials/v1"
CLR_CONTEXT = "https://purl.imsglobal.org/spec/clr/v2p0/context.json"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context.json"
# Name-based ids for things the ledger keys by natural codes (schools, competencies).
CLR_NAMESPACE = uuid5(NAMESPACE_URL, "https://competency-ledger.invalid/clr")


def urn(*parts: object) -> str:
    if len(parts) == 1:
        try:
            return f"urn:uuid:{UUID(str(parts[0]))}"
        except ValueError:
            pass
    return f"urn:uuid:{uuid5(CLR_NAMESPACE, '/'.join(str(p) for p in parts))}"


def timestamp(value: datetime | date | str | None) -> str | None:
    """VC 1.1 ``DateTimeZ``: seconds precision, UTC, a trailing Z."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(d: Any) -> float | int:
    d = Decimal(str(d))
    return int(d) if d == d.to_integral_value() else float(d)


def issuer_profile(school_name: str, district_code: str, school_code: str) -> dict[str, Any]:
    return {
        "id": urn("school", district_code, school_code),
        "type": ["Profile"],
        "name": school_name,
        "otherIdentifier": [
            {
                "type": "IdentifierEntry",
                "identifier": f"{district_code}-{school_code}",
                "identifierType": "ext:WaCountyDistrictSchoolCode",
            }
        ],
        "parentOrg": {
            "id": urn("district", district_code),
            "type": ["Profile"],
            "otherIdentifier": [
                {
                    "type": "IdentifierEntry",
                    "identifier": district_code,
                    "identifierType": "ext:WaCountyDistrictCode",
                }
            ],
        },
    }


def alignment(framework: Mapping[str, Any], competency: Mapping[str, Any]) -> dict[str, Any]:
    """A CASE CFItem alignment when the competency came from a CASE framework (it keeps the
    item's identifier and URI); a local one, in the ``ext:`` space, otherwise."""
    name = competency.get("statement") or competency.get("code") or competency["id"]
    if competency.get("external_id") and competency.get("uri"):
        return {
            "type": ["Alignment"],
            "targetType": "CFItem",
            "targetCode": competency["external_id"],
            "targetUrl": competency["uri"],
            "targetName": name,
            "targetFramework": framework["title"],
        }
    return {
        "type": ["Alignment"],
        "targetType": "ext:LedgerCompetency",
        "targetCode": competency.get("code") or competency["id"],
        "targetUrl": urn("competency", framework["id"], competency["id"]),
        "targetName": name,
        "targetFramework": framework["title"],
    }


def _competency_index(
    frameworks: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str], tuple[Mapping, Mapping]]:
    return {(str(fw["id"]), str(c["id"])): (fw, c) for fw in frameworks for c in fw["competencies"]}


def _find(index, framework_id: str | None, competency_id: str):
    if framework_id is not None:
        return index.get((str(framework_id), str(competency_id)))
    for (_, cid), hit in sorted(index.items()):
        if cid == competency_id:
            return hit
    return None


def _evidence_of_credit(credit: Mapping[str, Any], lineage: Mapping[str, Any] | None) -> list:
    refs: dict[str, dict[str, Any]] = {}
    for j in (lineage or {}).get("judgments", ()):
        refs[urn(j["id"])] = {
            "id": urn(j["id"]),
            "type": ["Evidence"],
            "name": "Advisor judgment",
            "genre": "judgment",
            "description": f"Judged {j.get('competency_id')} at level {j.get('level')}",
        }
        for ev in j.get("evidence", ()):
            ident = urn(ev.get("entry_id") or ev["id"])
            refs[ident] = {
                "id": ident,
                "type": ["Evidence"],
                "name": str(ev.get("kind", "evidence")).replace("_", " ").capitalize(),
                "genre": str(ev.get("kind", "evidence")),
            }
    for x in (credit.get("basis") or {}).get("experiences", ()):
        refs[urn(x)] = {
            "id": urn(x),
            "type": ["Evidence"],
            "name": "Work-based learning experience",
            "genre": "experience",
        }
    return [refs[k] for k in sorted(refs)]


_TERM_ORDER = {t: i for i, t in enumerate(TERMS)}


def _credit_order(c: Mapping[str, Any]) -> tuple:
    return (c.get("school_year") or "", _TERM_ORDER.get(c.get("term"), 99), c["title"], c["id"])


def clr_credential(
    *,
    student: Mapping[str, Any],
    transcript: Mapping[str, Any],
    mastery: Iterable[Mapping[str, Any]],
    frameworks: Iterable[Mapping[str, Any]],
    lineages: Mapping[str, Mapping[str, Any]],
    issuer: Mapping[str, Any],
    issued_at: datetime,
    checkpoint: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One achievement per approved credit and per mastered competency, each asserted by an
    AchievementCredential naming its evidence; mastered competencies that a credit rests on are
    associated with it (``isPartOf``)."""
    index = _competency_index(frameworks)
    subject_id = urn(student["id"])
    achievements: list[dict[str, Any]] = []
    assertions: list[dict[str, Any]] = []
    associations: list[dict[str, Any]] = []
    # competency achievement id -> the credits that rest on it
    rests_on: dict[str, list[str]] = {}

    credits = [
        c
        for term in transcript.get("terms", ())
        for c in term.get("credits", ())
        if c.get("status") == "approved"
    ]
    for c in sorted(credits, key=_credit_order):
        lineage = lineages.get(str(c["id"]))
        framework_id = (c.get("basis") or {}).get("framework_id")
        aligned: dict[str, dict] = {}
        for j in (lineage or {}).get("judgments", ()):
            hit = _find(index, j.get("framework_id") or framework_id, j["competency_id"])
            if hit is not None:
                fw, comp = hit
                ach_id = urn("competency", fw["id"], comp["id"])
                aligned[ach_id] = alignment(fw, comp)
                rests_on.setdefault(ach_id, []).append(urn(c["id"]))
        area = WASHINGTON_REQUIREMENTS.get(c.get("area"), (c.get("area"), None))[0]
        how = {"course": "a passed class", "hours": "verified work hours"}.get(
            c.get("method"), "demonstrated mastery of competencies"
        )
        achievement: dict[str, Any] = {
            "id": urn(c["id"]),
            "type": ["Achievement"],
            "achievementType": "Fieldwork" if c.get("work_based") else "Course",
            "name": c["title"],
            "description": (
                f"{Decimal(str(c['amount'])):.2f} credit in {area}, "
                f"{c.get('school_year')} {c.get('term')}"
            ),
            "criteria": {"narrative": f"Credit earned through {how}, approved by the registrar."},
            "creditsAvailable": _number(c["amount"]),
            "fieldOfStudy": area,
            "tag": sorted(
                t
                for t, on in (
                    ("work-based-learning", c.get("work_based")),
                    ("mastery-based", c.get("mastery_based")),
                )
                if on
            ),
        }
        code = c.get("course_id") or c.get("state_course_code")
        if code:
            achievement["humanCode"] = str(code)
        if aligned:
            achievement["alignment"] = [aligned[k] for k in sorted(aligned)]
        subject: dict[str, Any] = {
            "id": subject_id,
            "type": ["AchievementSubject"],
            "achievement": achievement,
            "creditsEarned": _number(c["amount"]),
            "term": f"{c.get('school_year')} {c.get('term')}",
        }
        if c.get("mark"):
            rd = urn("result-description", "mark")
            achievement["resultDescription"] = [
                {
                    "id": rd,
                    "type": ["ResultDescription"],
                    "name": "Mark",
                    "resultType": "LetterGrade",
                }
            ]
            subject["result"] = [{"type": ["Result"], "resultDescription": rd, "value": c["mark"]}]
        achievements.append(achievement)
        assertion = _assertion(
            urn("assertion", c["id"]),
            c["title"],
            subject,
            issuer,
            c.get("approved_at") or issued_at,
        )
        evidence = _evidence_of_credit(c, lineage)
        if evidence:
            assertion["evidence"] = evidence
        assertions.append(assertion)

    mastered = [m for m in mastery if m.get("mastered")]
    for m in sorted(mastered, key=lambda m: (str(m["framework_id"]), str(m["competency_id"]))):
        hit = _find(index, m["framework_id"], m["competency_id"])
        if hit is None:
            continue
        fw, comp = hit
        ach_id = urn("competency", fw["id"], comp["id"])
        label = comp.get("code") or comp["id"]
        achievement = {
            "id": ach_id,
            "type": ["Achievement"],
            "achievementType": "Competency",
            "name": f"{label}: {comp.get('statement') or label}",
            "description": comp.get("statement") or label,
            "criteria": {
                "narrative": f"Mastery on the {fw['title']} scale, from advisors' judgments of "
                "evidence."
            },
            "humanCode": str(label),
            "alignment": [alignment(fw, comp)],
        }
        subject = {
            "id": subject_id,
            "type": ["AchievementSubject"],
            "achievement": achievement,
            "result": [{"type": ["Result"], "value": str(m.get("level"))}],
        }
        achievements.append(achievement)
        assertion = _assertion(
            urn("assertion", fw["id"], comp["id"]),
            achievement["name"],
            subject,
            issuer,
            m.get("last_judged_on") or issued_at,
        )
        assertion["evidence"] = [
            {"id": urn(j), "type": ["Evidence"], "name": "Advisor judgment", "genre": "judgment"}
            for j in sorted(str(j) for j in m.get("counted_judgments", ()))
        ]
        assertions.append(assertion)
        for credit_ach in sorted(set(rests_on.get(ach_id, ()))):
            associations.append(
                {
                    "type": "Association",
                    "associationType": "isPartOf",
                    "sourceId": ach_id,
                    "targetId": credit_ach,
                }
            )

    position = transcript.get("position")
    as_of = transcript.get("as_of")
    description = f"Credits and mastered competencies recorded by {issuer.get('name')}"
    description += f", as the ledger stood at position {position}" if position is not None else ""
    if checkpoint:
        description += (
            f"; produced under ledger checkpoint size {checkpoint['size']} "
            f"root {checkpoint['root']}"
        )
    record: dict[str, Any] = {
        "@context": [VC_V1, CLR_CONTEXT, OB_CONTEXT],
        "id": urn("clr", student["id"], position, timestamp(as_of)),
        "type": ["VerifiableCredential", "ClrCredential"],
        "name": f"Comprehensive Learner Record, {issuer.get('name')}",
        "description": description + ".",
        "issuer": dict(issuer),
        "issuanceDate": timestamp(issued_at),
        "partial": False,
        "credentialSubject": {
            "id": subject_id,
            "type": ["ClrSubject"],
            "identifier": [
                {
                    "type": "IdentityObject",
                    "hashed": False,
                    "identityHash": str(student.get("local_id")),
                    "identityType": "sisSourcedId",
                }
            ],
            "achievement": achievements,
            "verifiableCredential": assertions,
        },
    }
    if associations:
        record["credentialSubject"]["association"] = associations
    if checkpoint:
        record["ledgerCheckpoint"] = {
            "treeSize": checkpoint["size"],
            "rootHash": checkpoint["root"],
        }
    return record


def _assertion(ident, name, subject, issuer, when) -> dict[str, Any]:
    return {
        "@context": [VC_V1, OB_CONTEXT],
        "id": ident,
        "type": ["VerifiableCredential", "AchievementCredential"],
        "name": name,
        "issuer": dict(issuer),
        "issuanceDate": timestamp(when),
        "credentialSubject": subject,
    }
