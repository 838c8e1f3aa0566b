"""What a CASE package does not say and the ledger needs: the scale, the mastery method and the
graduation areas. They come from command-line options or a small mapping file (JSON or TOML)."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ledger.domain import Level, MasteryMethod, Scale
from ledger.imports.report import InvalidImport

FOUR_POINT = Scale(
    (
        Level("IE", "Insufficient evidence", None),
        Level("1", "Beginning", Decimal(1)),
        Level("2", "Developing", Decimal(2)),
        Level("3", "Proficient", Decimal(3), mastery=True),
        Level("4", "Advanced", Decimal(4), mastery=True),
    )
)
MET_NOT_MET = Scale(
    (
        Level("IE", "Insufficient evidence", None),
        Level("NM", "Not met", Decimal(0)),
        Level("M", "Met", Decimal(1), mastery=True),
    )
)
SCALES = {"4-point": FOUR_POINT, "met-not-met": MET_NOT_MET}
DEFAULT_METHOD = MasteryMethod("decaying_average")


@dataclass(frozen=True)
class AreaRule:
    """A graduation area for a subtree: items whose code starts with ``prefix``, or one item
    (and, by inheritance, everything under it)."""

    area: str
    prefix: str | None = None
    item: str | None = None


@dataclass(frozen=True)
class FrameworkOptions:
    scale: Scale = FOUR_POINT
    method: MasteryMethod = DEFAULT_METHOD
    graduation_area: str | None = None
    areas: tuple[AreaRule, ...] = field(default_factory=tuple)
    title: str | None = None


def _decimal(raw: Any, where: str) -> Decimal:
    try:
        d = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        raise InvalidImport(f"{where}: {raw!r} is not a number") from None
    if not d.is_finite():
        raise InvalidImport(f"{where}: {raw!r} is not a finite number")
    return d


def parse_scale(spec: str) -> Scale:
    """``4-point``, ``met-not-met``, or levels low to high: ``?IE=Insufficient evidence,
    1=Beginning,2=Developing,3=Proficient*,4=Advanced*`` (``*`` counts as mastery, a leading
    ``?`` marks insufficient evidence; numeric codes are their value, others their rank)."""
    spec = spec.strip()
    if spec in SCALES:
        return SCALES[spec]
    levels = []
    rank = 0
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            raise InvalidImport(f"--scale {spec!r}: an empty level")
        code, _, label = part.partition("=")
        mastery = label.endswith("*") or (not label and code.endswith("*"))
        code, label = code.rstrip("*").strip(), label.rstrip("*").strip()
        if code.startswith("?"):
            code = code[1:].strip()
            levels.append(Level(code, label or code, None))
            continue
        rank += 1
        try:
            value = Decimal(code)
        except InvalidOperation:
            value = Decimal(rank)
        if not code:
            raise InvalidImport(f"--scale {spec!r}: a level without a code")
        levels.append(Level(code, label or code, value, mastery=mastery))
    return Scale(tuple(levels))


def parse_method(spec: str) -> MasteryMethod:
    """``name`` or ``name:parameter`` (``decaying_average:0.65``, ``n_mastery:3``)."""
    name, _, param = spec.strip().partition(":")
    return MasteryMethod(name.strip(), _decimal(param, "--method") if param.strip() else None)


def parse_area(spec: str) -> AreaRule | str:
    """``AREA`` (the whole framework), ``CODE-PREFIX=AREA`` or ``id:ITEM-ID=AREA``."""
    key, sep, area = spec.rpartition("=")
    if not sep:
        if not spec.strip():
            raise InvalidImport("--area needs an area code")
        return spec.strip()
    if not area.strip() or not key.strip():
        raise InvalidImport(f"--area {spec!r}: give PREFIX=AREA, id:ITEM=AREA or AREA")
    if key.startswith("id:"):
        return AreaRule(area.strip(), item=key[3:].strip())
    return AreaRule(area.strip(), prefix=key.strip())


def read_mapping(path: Path) -> FrameworkOptions:
    """The mapping file (see docs/imports.md): ``.toml`` is TOML, anything else JSON."""
    try:
        text = path.read_bytes()
    except OSError as e:
        raise InvalidImport(f"cannot read mapping file {path}: {e.strerror}") from None
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text.decode("utf-8-sig"))
        else:
            data = json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise InvalidImport(f"mapping file {path.name}: {e}") from None
    return mapping_from_dict(data, path.name)


def mapping_from_dict(data: Any, name: str = "mapping") -> FrameworkOptions:
    if not isinstance(data, dict):
        raise InvalidImport(f"{name}: the mapping is an object/table")
    unknown = set(data) - {"title", "scale", "method", "graduation_area", "areas"}
    if unknown:
        raise InvalidImport(f"{name}: unknown keys {sorted(unknown)}")
    opts: dict[str, Any] = {}
    if "title" in data:
        if not isinstance(data["title"], str):
            raise InvalidImport(f"{name}: title is text")
        opts["title"] = data["title"].strip() or None
    if "graduation_area" in data:
        if not isinstance(data["graduation_area"], str):
            raise InvalidImport(f"{name}: graduation_area is text")
        opts["graduation_area"] = data["graduation_area"].strip() or None
    if "scale" in data:
        scale = data["scale"]
        if isinstance(scale, str):
            opts["scale"] = parse_scale(scale)
        elif isinstance(scale, list) and scale:
            levels = []
            for n, lv in enumerate(scale):
                where = f"{name}: scale[{n}]"
                if not isinstance(lv, dict) or not isinstance(lv.get("code"), str):
                    raise InvalidImport(f"{where} needs a code")
                value = lv.get("value")
                levels.append(
                    Level(
                        code=lv["code"],
                        label=str(lv.get("label") or lv["code"]),
                        value=None if value is None else _decimal(value, where),
                        mastery=lv.get("mastery") is True,
                    )
                )
            opts["scale"] = Scale(tuple(levels))
        else:
            raise InvalidImport(f"{name}: scale is a preset name or a list of levels")
    if "method" in data:
        m = data["method"]
        if isinstance(m, str):
            opts["method"] = parse_method(m)
        elif isinstance(m, dict) and isinstance(m.get("name"), str):
            param = m.get("parameter")
            opts["method"] = MasteryMethod(
                m["name"],
                None if param is None else _decimal(param, f"{name}: method.parameter"),
                str(m.get("order_by", "effective")),
            )
        else:
            raise InvalidImport(f"{name}: method is a name or {{name, parameter, order_by}}")
    if "areas" in data:
        rules = []
        if not isinstance(data["areas"], list):
            raise InvalidImport(f"{name}: areas is a list")
        for n, r in enumerate(data["areas"]):
            where = f"{name}: areas[{n}]"
            if not isinstance(r, dict) or not isinstance(r.get("area"), str):
                raise InvalidImport(f"{where} needs an area")
            prefix, item = r.get("prefix"), r.get("item")
            if (prefix is None) == (item is None) or not isinstance(prefix or item, str):
                raise InvalidImport(f"{where} names exactly one of prefix or item")
            rules.append(AreaRule(r["area"], prefix=prefix, item=item))
        opts["areas"] = tuple(rules)
    return FrameworkOptions(**opts)


def merged(base: FrameworkOptions, **override: Any) -> FrameworkOptions:
    """Command-line options win over the mapping file; ``None`` means "not given"."""
    fields = {k: v for k, v in override.items() if v is not None}
    if "areas" in fields:
        fields["areas"] = base.areas + tuple(fields["areas"])
    return FrameworkOptions(**{**base.__dict__, **fields})
