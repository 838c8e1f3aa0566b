"""Who may see and do what. The application calls these before it writes; the API and CLI call
the same functions before they read, so a rule lives in exactly one place."""

from __future__ import annotations

from ledger.domain.base import Actor, Role
from ledger.errors import NotPermitted

READ_ALL = frozenset({Role.REGISTRAR, Role.SYSTEM})


def require_role(actor: Actor, *roles: Role) -> None:
    if actor.role not in roles:
        allowed = ", ".join(sorted(str(r) for r in roles if r is not Role.SYSTEM))
        article = "an" if str(actor.role)[0] in "aeiou" else "a"
        raise NotPermitted(f"{article} {actor.role} may not do this (allowed: {allowed})")


def advises(actor: Actor, student) -> bool:
    return actor.role is Role.ADVISOR and actor.user_id in student.advisors


def is_self(actor: Actor, student) -> bool:
    return actor.role is Role.STUDENT and actor.student_id == student.id


def can_see_student(actor: Actor, student) -> bool:
    """May the actor read this student's record (mastery, transcript, hours, history)?"""
    if actor.role in READ_ALL:
        return True
    if actor.role is Role.GUARDIAN:
        return actor.user_id in student.guardians
    return advises(actor, student) or is_self(actor, student)


def can_see_experience(actor: Actor, experience, student) -> bool:
    if actor.role is Role.MENTOR:
        return experience.mentor_id == actor.user_id
    return can_see_student(actor, student)


def require_advisor_of(actor: Actor, student) -> None:
    if actor.role is Role.SYSTEM or advises(actor, student):
        return
    raise NotPermitted("only an assigned advisor of this student may do this")


def require_student_self(actor: Actor, student) -> None:
    if actor.role is Role.SYSTEM or is_self(actor, student):
        return
    raise NotPermitted("students record their own evidence and hours")
