"""CLR 2.0 from hand-made read-model dicts, validated against 1EdTech's schema."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

from projections.exports.clr import clr_credential, issuer_profile
from tests.exports.clrcheck import assert_valid_clr, clr_validator, errors_of

FW = {
    "id": "11111111-1111-4111-8111-111111111111",
    "title": "Career Readiness",
    "competencies": [
        {"id": "CR.1", "code": "CR.1", "statement": "Communicates professionally",
         "external_id": "c4f3a9b2-0000-4000-8000-000000000001",
         "uri": "https://case.example.org/uri/c4f3a9b2-0000-4000-8000-000000000001"},
        {"id": "CR.2", "code": "CR.2", "statement": "Solves problems with data"},
    ],
}  # fmt: skip
STUDENT = {"id": "22222222-2222-4222-8222-222222222222", "local_id": "L100"}
CREDIT = {
    "id": "33333333-3333-4333-8333-333333333333",
    "title": "Career Preparation",
    "area": "CTE",
    "amount": Decimal("0.5"),
    "method": "mastery",
    "status": "approved",
    "school_year": "2025-26",
    "term": "S1",
    "work_based": True,
    "mastery_based": True,
    "basis": {"judgments": ["44444444-4444-4444-8444-444444444444"], "framework_id": FW["id"]},
    "approved_at": datetime(2026, 1, 20, 17, 0, tzinfo=UTC),
}
CLASS = {
    "id": "55555555-5555-4555-8555-555555555555",
    "title": "English 11",
    "area": "ENG",
    "amount": Decimal("1.0"),
    "method": "course",
    "status": "approved",
    "school_year": "2025-26",
    "term": "FY",
    "course_id": "ENG11",
    "mark": "B+",
    "work_based": False,
    "mastery_based": False,
    "basis": {"courses": [{"course_id": "ENG11"}]},
    "approved_at": datetime(2026, 6, 10, 17, 0, tzinfo=UTC),
}
LINEAGE = {
    "judgments": [
        {
            "id": "44444444-4444-4444-8444-444444444444",
            "competency_id": "CR.1",
            "level": "3",
            "evidence": [
                {"kind": "reflection", "id": "66666666-6666-4666-8666-666666666666"},
                {"kind": "hours", "id": "77777777-7777-4777-8777-777777777777",
                 "entry_id": "88888888-8888-4888-8888-888888888888"},
            ],
        }
    ]
}  # fmt: skip
MASTERY = [
    {"framework_id": FW["id"], "competency_id": "CR.1", "code": "CR.1", "level": "3",
     "mastered": True, "counted_judgments": ["44444444-4444-4444-8444-444444444444"],
     "last_judged_on": date(2026, 1, 15)},
    {"framework_id": FW["id"], "competency_id": "CR.2", "code": "CR.2", "level": "2",
     "mastered": False, "counted_judgments": [], "last_judged_on": date(2026, 1, 15)},
]  # fmt: skip
ISSUER = issuer_profile("Demo High School", "17001", "1234")


def build(**kw):
    args = dict(
        student=STUDENT,
        transcript={
            "position": 42,
            "as_of": None,
            "terms": [
                {
                    "school_year": "2025-26",
                    "term": "S1",
                    "credits": [
                        CREDIT,
                        {
                            **CREDIT,
                            "id": "9" * 8 + "-9999-4999-8999-" + "9" * 12,
                            "status": "proposed",
                        },
                    ],
                },
                {"school_year": "2025-26", "term": "FY", "credits": [CLASS]},
            ],
        },  # fmt: skip
        mastery=MASTERY,
        frameworks=[FW],
        lineages={CREDIT["id"]: LINEAGE},
        issuer=ISSUER,
        issued_at=datetime(2026, 6, 15, 12, 0, tzinfo=UTC),
    )
    args.update(kw)
    return clr_credential(**args)


def test_clr_validates_and_holds_credits_and_mastered_competencies(shared_data):
    clr = build(checkpoint={"size": 120, "root": "ab" * 32})
    assert_valid_clr(shared_data, clr)
    subject = clr["credentialSubject"]
    names = [a["name"] for a in subject["achievement"]]
    assert names == ["English 11", "Career Preparation", "CR.1: Communicates professionally"]
    by_name = {vc["name"]: vc for vc in subject["verifiableCredential"]}
    prep = by_name["Career Preparation"]
    assert prep["credentialSubject"]["creditsEarned"] == 0.5
    assert prep["issuanceDate"] == "2026-01-20T17:00:00Z"
    (cfitem,) = prep["credentialSubject"]["achievement"]["alignment"]
    assert cfitem == {
        "type": ["Alignment"],
        "targetType": "CFItem",
        "targetCode": "c4f3a9b2-0000-4000-8000-000000000001",
        "targetUrl": "https://case.example.org/uri/c4f3a9b2-0000-4000-8000-000000000001",
        "targetName": "Communicates professionally",
        "targetFramework": "Career Readiness",
    }
    evidence = {e["id"]: e["genre"] for e in prep["evidence"]}
    assert evidence == {
        "urn:uuid:44444444-4444-4444-8444-444444444444": "judgment",
        "urn:uuid:66666666-6666-4666-8666-666666666666": "reflection",
        "urn:uuid:88888888-8888-4888-8888-888888888888": "hours",
    }
    english = by_name["English 11"]["credentialSubject"]
    assert english["creditsEarned"] == 1 and english["result"][0]["value"] == "B+"
    assert clr["issuer"]["name"] == "Demo High School"
    assert all(vc["issuer"] == clr["issuer"] for vc in subject["verifiableCredential"])
    assert subject["association"] == [
        {
            "type": "Association",
            "associationType": "isPartOf",
            "sourceId": subject["achievement"][2]["id"],
            "targetId": "urn:uuid:" + CREDIT["id"],
        }
    ]
    assert clr["ledgerCheckpoint"] == {"treeSize": 120, "rootHash": "ab" * 32}
    assert "checkpoint size 120" in clr["description"]


def test_same_state_same_record_and_no_names():
    a, b = build(), build()
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert "Given" not in json.dumps(a)


def test_local_competencies_align_outside_case(shared_data):
    mastered = [{**MASTERY[1], "mastered": True}]
    clr = build(mastery=mastered, lineages={}, transcript={"terms": []})
    assert_valid_clr(shared_data, clr)
    (a,) = clr["credentialSubject"]["achievement"]
    assert a["alignment"][0]["targetType"] == "ext:LedgerCompetency"
    assert a["alignment"][0]["targetUrl"].startswith("urn:uuid:")


def test_the_schema_is_the_vc_1_1_flavour(shared_data):
    """Why we write issuanceDate: the published schema refuses the VC 2.0 envelope."""
    v = clr_validator(shared_data)
    complex_ = json.loads((shared_data / "credentials" / "clr20-complex.json").read_text())
    simple = json.loads((shared_data / "credentials" / "clr20-simple.json").read_text())
    assert errors_of(v, complex_) == []
    assert any("issuanceDate" in e for e in errors_of(v, simple))
    ours = build()
    vc2 = {k: v_ for k, v_ in ours.items() if k != "issuanceDate"}
    vc2["validFrom"] = ours["issuanceDate"]
    assert any("issuanceDate" in e for e in errors_of(v, vc2))
    broken = json.loads(json.dumps(ours))
    del broken["credentialSubject"]["achievement"][0]["criteria"]
    assert any("criteria" in e for e in errors_of(v, broken))
