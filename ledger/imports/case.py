"""1EdTech CASE CFPackage (JSON) -> a framework definition, without writing anything.

Real packages break the CASE rules in harmless ways (upper-case or non-RFC UUIDs, URLs as
identifiers, ``null`` for optional strings, timestamps without a zone, LinkURIs given as plain
strings): those are accepted, normalised and counted in ``CasePlan.normalisations``. What the
importer would have to guess about (not a CFPackage, an association pointing at nothing, two
items with one identifier, a cycle) is rejected, naming the first offending element.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from ledger.domain import Association, Competency, FrameworkDefinition, derived_id
from ledger.errors import InvalidCommand
from ledger.imports.report import InvalidImport, Normalisations
from ledger.imports.settings import AreaRule, FrameworkOptions

HIERARCHY = "isChildOf"
# CASE 1.0's association types; 1.1 and vendors add more, which are kept with a note.
ASSOCIATION_TYPES = frozenset(
    {
        "isChildOf",
        "isPeerOf",
        "isPartOf",
        "exactMatchOf",
        "precedes",
        "isRelatedTo",
        "replacedBy",
        "exemplar",
        "hasSkillLevel",
    }
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_URL = re.compile(r"^(https?|urn):", re.IGNORECASE)
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass
class CasePlan:
    """What importing the package would record: one framework, its id fixed by the document."""

    framework_id: UUID
    definition: FrameworkDefinition
    normalisations: Normalisations
    counts: dict[str, Any] = field(default_factory=dict)


def framework_id_for(document_identifier: str) -> UUID:
    return derived_id("case", document_identifier)


# ---------------------------------------------------------------------- small readers
def _decode(raw: bytes | str) -> Any:
    if isinstance(raw, bytes) and len(raw) > MAX_FILE_BYTES:
        raise InvalidImport(f"the file is larger than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        # json.loads on bytes detects UTF-8 (with or without BOM), UTF-16 and UTF-32.
        if isinstance(raw, str):
            raw = raw.removeprefix("\ufeff")
        pkg = json.loads(raw)
        # Stored events are UTF-8 and read models are text columns: lone surrogates and NULs
        # from \u escapes would fail far from here, after the import was accepted.
        dumped = json.dumps(pkg, ensure_ascii=False)
        dumped.encode("utf-8")
    except RecursionError:
        raise InvalidImport("not a CASE CFPackage: the JSON nests too deeply") from None
    except UnicodeDecodeError as e:
        raise InvalidImport(
            f"not a CASE CFPackage: not UTF-8, UTF-16 or UTF-32 JSON ({e.reason})"
        ) from None
    except UnicodeEncodeError:
        raise InvalidImport("the package holds text that is not valid Unicode") from None
    except ValueError as e:
        raise InvalidImport(f"not a CASE CFPackage: not JSON ({e})") from None
    if "\x00" in dumped:
        raise InvalidImport("the package holds NUL characters")
    return pkg


def _identifier(raw: Any, where: str, notes: Normalisations) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidImport(f"{where}: identifier must be a non-empty string")
    s = raw.strip()
    if s != raw:
        notes.note("identifier with surrounding spaces", where)
    if _UUID.fullmatch(s) or _HEX32.fullmatch(s):
        u = UUID(s)
        if s != str(u):
            notes.note("upper-case or unhyphenated UUID (lower-cased)", where)
        if u.variant != "specified in RFC 4122" or not 1 <= (u.version or 0) <= 8:
            notes.note("identifier not an RFC 4122 UUID (kept)", where)
        return str(u)
    if _URL.match(s):
        found = _UUID.findall(s)
        if found:
            notes.note("URL as identifier (its UUID taken)", where)
            return str(UUID(found[-1]))
        notes.note("URL as identifier (kept whole)", where)
        return s
    notes.note("identifier not a UUID (kept)", where)
    return s


def _optional_str(obj: dict, key: str, where: str, notes: Normalisations) -> str | None:
    if key not in obj:
        return None
    value = obj[key]
    if value is None:
        notes.note("null for an optional field (treated as absent)", f"{where}.{key}")
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "uri":
        notes.note("number where text belongs (made text)", f"{where}.{key}")
        return str(value)
    if not isinstance(value, str):
        raise InvalidImport(f"{where}: {key} must be a string, not {type(value).__name__}")
    return value.strip() or None


def _timestamp(obj: dict, where: str, notes: Normalisations) -> str | None:
    raw = obj.get("lastChangeDateTime")
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidImport(f"{where}: lastChangeDateTime must be a string")
    try:
        t = datetime.fromisoformat(raw.strip())
        if t.tzinfo is None:
            notes.note("timestamp without a zone (read as UTC)", where)
            t = t.replace(tzinfo=UTC)
        return t.astimezone(UTC).isoformat()
    except (ValueError, OverflowError):
        raise InvalidImport(f"{where}: lastChangeDateTime {raw!r} is not a date-time") from None


@dataclass(frozen=True)
class _Node:
    identifier: str | None
    uri: str | None


def _link(raw: Any, where: str, notes: Normalisations) -> _Node:
    """A LinkURI: normally {title, identifier, uri}; some files give only the URI string."""
    if isinstance(raw, str):
        if not raw.strip():
            raise InvalidImport(f"{where} is empty")
        notes.note("LinkURI given as a string", where)
        return _Node(None, raw.strip())
    if not isinstance(raw, dict):
        raise InvalidImport(f"{where} must be an object with identifier and uri")
    uri = raw.get("uri")
    if uri is not None and not isinstance(uri, str):
        raise InvalidImport(f"{where}.uri must be a string")
    ident = raw.get("identifier")
    if ident is None and not uri:
        raise InvalidImport(f"{where} has neither identifier nor uri")
    return _Node(
        _identifier(ident, f"{where}.identifier", notes) if ident is not None else None,
        uri.strip() if uri and uri.strip() else None,
    )


# ---------------------------------------------------------------------- the package
def parse_case(raw: bytes | str | dict, options: FrameworkOptions | None = None) -> CasePlan:
    """Reads a CFPackage into a plan. Raises InvalidImport (and nothing else) on bad input."""
    options = options or FrameworkOptions()
    notes = Normalisations()
    pkg = raw if isinstance(raw, dict) else _decode(raw)
    if not isinstance(pkg, dict) or not isinstance(pkg.get("CFDocument"), dict):
        raise InvalidImport("not a CASE CFPackage: no CFDocument object at the top level")
    doc = pkg["CFDocument"]
    doc_id = _identifier(doc.get("identifier"), "CFDocument", notes)
    title = _optional_str(doc, "title", "CFDocument", notes)
    if not title:
        raise InvalidImport("CFDocument: title is required")
    doc_uri = _optional_str(doc, "uri", "CFDocument", notes)
    for key in ("description", "creator", "version", "adoptionStatus", "subject"):
        if key in doc and doc[key] is None:
            notes.note("null for an optional field (treated as absent)", f"CFDocument.{key}")
    package_uri = None
    if "CFPackageURI" in doc and doc["CFPackageURI"] is not None:
        package_uri = _link(doc["CFPackageURI"], "CFDocument.CFPackageURI", notes).uri

    defs = pkg.get("CFDefinitions")
    if isinstance(defs, dict):
        for kind, entries in defs.items():
            for n, entry in enumerate(entries if isinstance(entries, list) else ()):
                for key, value in entry.items() if isinstance(entry, dict) else ():
                    if value is None:
                        notes.note(
                            "null for an optional field (treated as absent)",
                            f"CFDefinitions.{kind}[{n}].{key}",
                        )
    items = pkg.get("CFItems", [])
    assocs = pkg.get("CFAssociations", [])
    if items is None:
        notes.note("null for an optional field (treated as absent)", "CFItems")
        items = []
    if assocs is None:
        notes.note("null for an optional field (treated as absent)", "CFAssociations")
        assocs = []
    if not isinstance(items, list):
        raise InvalidImport("CFItems must be a list")
    if not isinstance(assocs, list):
        raise InvalidImport("CFAssociations must be a list")

    # -- items
    parsed: dict[str, dict[str, Any]] = {}
    first_seen: dict[str, int] = {}
    by_uri: dict[str, str] = {}
    if doc_uri:
        by_uri[doc_uri] = doc_id
    for i, item in enumerate(items):
        where = f"CFItems[{i}]"
        if not isinstance(item, dict):
            raise InvalidImport(f"{where} must be an object")
        ident = _identifier(item.get("identifier"), where, notes)
        where = f"CFItems[{i}] (identifier {ident})"
        if ident == doc_id:
            raise InvalidImport(f"{where}: an item has the document's identifier")
        statement = item.get("fullStatement")
        if not isinstance(statement, str) or not statement.strip():
            raise InvalidImport(f"{where}: fullStatement is required and must be text")
        uri = _optional_str(item, "uri", where, notes)
        item_type = _optional_str(item, "CFItemType", where, notes)
        if item_type is None and isinstance(item.get("CFItemTypeURI"), dict):
            title_of_type = item["CFItemTypeURI"].get("title")
            if isinstance(title_of_type, str) and title_of_type.strip():
                item_type = title_of_type.strip()
                notes.note("CFItemType taken from CFItemTypeURI.title", where)
        for key in ("abbreviatedStatement", "notes", "language", "alternativeLabel"):
            _optional_str(item, key, where, notes)
        _timestamp(item, where, notes)
        fields = {
            "statement": statement.strip(),
            "code": _optional_str(item, "humanCodingScheme", where, notes),
            "uri": uri,
            "item_type": item_type,
            "external_id": item["identifier"].strip(),
        }
        if ident in parsed:
            if parsed[ident] != fields:
                raise InvalidImport(
                    f"{where}: identifier appears twice (first at CFItems[{first_seen[ident]}]) "
                    "with different content"
                )
            notes.note("item listed twice (kept once)", where)
            continue
        parsed[ident] = fields
        first_seen[ident] = i
        if uri:
            by_uri.setdefault(uri, ident)

    def resolve(node: _Node) -> str | None:
        """The package node a link names, by identifier first, then by URI."""
        if node.identifier is not None and (node.identifier in parsed or node.identifier == doc_id):
            return node.identifier
        if node.uri is not None and node.uri in by_uri:
            return by_uri[node.uri]
        if node.identifier is None and node.uri is not None:
            found = _UUID.findall(node.uri)
            if found and (str(UUID(found[-1])) in parsed or str(UUID(found[-1])) == doc_id):
                return str(UUID(found[-1]))
        return None

    # -- associations
    parents: dict[str, list[tuple[str, int | None, int]]] = {}
    others: list[Association] = []
    seen_assoc: set[tuple[str, str, str]] = set()
    by_type: dict[str, int] = {}
    external = 0
    for i, a in enumerate(assocs):
        where = f"CFAssociations[{i}]"
        if not isinstance(a, dict):
            raise InvalidImport(f"{where} must be an object")
        aid = _identifier(a.get("identifier"), where, notes)
        where = f"CFAssociations[{i}] (identifier {aid})"
        kind = a.get("associationType")
        if not isinstance(kind, str) or not kind.strip():
            raise InvalidImport(f"{where}: associationType is required")
        kind = kind.strip()
        if kind not in ASSOCIATION_TYPES:
            notes.note("association type outside CASE 1.0 (kept)", f"{where}: {kind}")
        for end in ("originNodeURI", "destinationNodeURI"):
            if a.get(end) is None:
                raise InvalidImport(f"{where}: {end} is required")
        origin_link = _link(a["originNodeURI"], f"{where}.originNodeURI", notes)
        dest_link = _link(a["destinationNodeURI"], f"{where}.destinationNodeURI", notes)
        _timestamp(a, where, notes)
        seq = a.get("sequenceNumber")
        if seq is not None:
            if isinstance(seq, str) and re.fullmatch(r"-?[0-9]{1,9}", seq.strip()):
                notes.note("sequenceNumber given as text", where)
                seq = int(seq.strip())
            elif isinstance(seq, float) and seq.is_integer() and abs(seq) < 2**31:
                notes.note("sequenceNumber given as a decimal number", where)
                seq = int(seq)
            elif not isinstance(seq, int) or isinstance(seq, bool):
                raise InvalidImport(f"{where}: sequenceNumber must be a whole number")
        origin = resolve(origin_link)
        dest = resolve(dest_link)
        if origin is None or (kind == HIERARCHY and origin == doc_id):
            raise InvalidImport(f"{where}: originNodeURI points at no item or document")
        if dest is None:
            if kind == HIERARCHY or dest_link.uri is None or not _URL.match(dest_link.uri):
                raise InvalidImport(f"{where}: destinationNodeURI points at no item or document")
            # Crosswalks (exactMatchOf, exemplar...) may name a node of another framework.
            external += 1
        key = (kind, origin, dest or dest_link.uri or "")
        if key in seen_assoc:
            notes.note("association listed twice (kept once)", where)
            continue
        seen_assoc.add(key)
        by_type[kind] = by_type.get(kind, 0) + 1
        if kind == HIERARCHY:
            parents.setdefault(origin, []).append((dest, seq, i))
            continue
        others.append(
            Association(
                type=kind,
                origin=origin,
                destination=dest or dest_link.identifier or dest_link.uri or "",
                identifier=aid,
                destination_uri=dest_link.uri,
            )
        )

    # -- hierarchy: the first parent (in file order) is the tree; more parents stay associations
    parent_of: dict[str, str | None] = {}
    seq_of: dict[str, int | None] = {}
    for ident in parsed:
        links = parents.get(ident, [])
        if not links:
            notes.note("item with no isChildOf (made a root)", ident)
            parent_of[ident], seq_of[ident] = None, None
            continue
        dest, seq, _ = links[0]
        parent_of[ident] = None if dest == doc_id else dest
        seq_of[ident] = seq
        for extra_dest, _seq, j in links[1:]:
            notes.note("item with more than one parent (first kept as the tree)", ident)
            others.append(Association(HIERARCHY, ident, extra_dest, _assoc_id(assocs, j)))
    for ident in parsed:
        seen: set[str] = set()
        node: str | None = ident
        while node is not None:
            if node in seen:
                raise InvalidImport(
                    f"CFItems[{first_seen[ident]}] (identifier {ident}): isChildOf makes a cycle"
                )
            seen.add(node)
            node = parent_of[node]

    children: dict[str | None, list[str]] = {}
    for ident in parsed:
        children.setdefault(parent_of[ident], []).append(ident)
    ordered: list[Competency] = []

    def kids_of(parent: str | None) -> list[str]:
        return sorted(
            children.get(parent, []),
            key=lambda c: (seq_of[c] is None, seq_of[c] or 0, first_seen[c]),
        )

    # Depth first without recursion: a deep package must not hit Python's recursion limit.
    stack = [(kid, None, rank) for rank, kid in enumerate(kids_of(None), start=1)][::-1]
    while stack:
        kid, parent, rank = stack.pop()
        f = parsed[kid]
        ordered.append(
            Competency(
                id=kid,
                statement=f["statement"],
                code=f["code"],
                parent_id=parent,
                external_id=f["external_id"],
                uri=f["uri"],
                item_type=f["item_type"],
                sequence=rank,
            )
        )
        stack.extend([(k, kid, r) for r, k in enumerate(kids_of(kid), start=1)][::-1])
    competencies = _apply_areas(tuple(ordered), options.areas)

    source = {
        "format": "CASE",
        "document_identifier": doc_id,
        "document_uri": doc_uri,
        "package_uri": package_uri,
        "creator": _optional_str(doc, "creator", "CFDocument", Normalisations()),
        "version": _optional_str(doc, "version", "CFDocument", Normalisations()),
        "adoption_status": _optional_str(doc, "adoptionStatus", "CFDocument", Normalisations()),
        "last_change": _timestamp(doc, "CFDocument", notes),
        "title": title,
    }
    definition = FrameworkDefinition(
        title=options.title or title,
        scale=options.scale,
        method=options.method,
        competencies=competencies,
        associations=tuple(others),
        graduation_area=options.graduation_area,
        source={k: v for k, v in source.items() if v is not None},
    ).with_defaults()
    try:
        definition.validate()
    except InvalidCommand as e:
        raise InvalidImport(f"the package does not make a valid framework: {e.detail}") from None
    return CasePlan(
        framework_id=framework_id_for(doc_id),
        definition=definition,
        normalisations=notes,
        counts={
            "items": len(competencies),
            "roots": sum(1 for c in competencies if c.parent_id is None),
            "associations": dict(sorted(by_type.items())),
            "external_destinations": external,
        },
    )


def _assoc_id(assocs: list, j: int) -> str | None:
    ident = assocs[j].get("identifier")
    return ident.strip().lower() if isinstance(ident, str) else None


def _apply_areas(
    competencies: tuple[Competency, ...], rules: tuple[AreaRule, ...]
) -> tuple[Competency, ...]:
    """Item rules beat prefix rules; the longest matching prefix wins. A rule that matches
    nothing is an error: it is almost always a typo, and silently ignoring it loses credit."""
    if not rules:
        return competencies
    ids = {c.id for c in competencies}
    by_item: dict[str, str] = {}
    prefixes: list[AreaRule] = []
    for n, rule in enumerate(rules):
        if rule.item is not None:
            item = rule.item.strip().lower() if _UUID.fullmatch(rule.item.strip()) else rule.item
            if item not in ids:
                raise InvalidImport(f"areas[{n}]: item {rule.item!r} is not in the package")
            by_item[item] = rule.area
        else:
            if not any((c.code or "").startswith(rule.prefix or "") for c in competencies):
                raise InvalidImport(f"areas[{n}]: code prefix {rule.prefix!r} matches no item")
            prefixes.append(rule)
    prefixes.sort(key=lambda r: len(r.prefix or ""), reverse=True)
    out = []
    for c in competencies:
        area = by_item.get(c.id)
        if area is None and c.code:
            area = next((r.area for r in prefixes if c.code.startswith(r.prefix or "")), None)
        out.append(replace(c, graduation_area=area) if area else c)
    return tuple(out)


def associations_of(
    definition: FrameworkDefinition, competency_id: str, kind: str | None = None
) -> list[dict[str, Any]]:
    """A competency's associations, both directions, hierarchy included, optionally one type."""
    ident = competency_id.strip()
    if _UUID.fullmatch(ident):
        ident = ident.lower()
    known = {c.id: c for c in definition.competencies}
    if ident not in known:
        raise InvalidImport(f"competency {competency_id!r} is not in framework")
    out: list[dict[str, Any]] = []
    me = known[ident]
    if me.parent_id is not None and kind in (None, HIERARCHY):
        out.append({"type": HIERARCHY, "direction": "out", "other": me.parent_id, "uri": None})
    for c in definition.competencies:
        if c.parent_id == ident and kind in (None, HIERARCHY):
            out.append({"type": HIERARCHY, "direction": "in", "other": c.id, "uri": c.uri})
    for a in definition.associations:
        if kind is not None and a.type != kind:
            continue
        if a.origin == ident:
            out.append(
                {
                    "type": a.type,
                    "direction": "out",
                    "other": a.destination,
                    "uri": a.destination_uri,
                    "in_framework": a.destination in known,
                }
            )
        elif a.destination == ident:
            out.append({"type": a.type, "direction": "in", "other": a.origin, "uri": None})
    return out


__all__ = [
    "CasePlan",
    "associations_of",
    "framework_id_for",
    "parse_case",
]
