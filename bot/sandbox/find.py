"""OFBiz performFind semantics over plain dict rows: `inputFields` operators, orderBy, paging.

Supported: `<f>` / `<f>_value` with `<f>_op` (equals, notEqual, like, notLike, contains, in,
not-in, between, greaterThan[EqualTo], lessThan[EqualTo], empty, not-empty) and `<f>_ic=Y`;
OR groups `<f>_fldN_value/_op/_grp`: conditions in one group are ANDed, groups are ORed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

OPERATORS = frozenset(
    {
        "equals",
        "notEqual",
        "like",
        "notLike",
        "contains",
        "in",
        "not-in",
        "between",
        "greaterThan",
        "greaterThanEqualTo",
        "lessThan",
        "lessThanEqualTo",
        "empty",
        "not-empty",
    }
)
_SUFFIXES = ("_value", "_op", "_ic", "_grp")
_GROUPED = re.compile(r"^(?P<field>.+?)_fld(?P<n>\d+)_(?P<part>value|op|ic|grp)$")


class FindError(ValueError):
    """A malformed performFind request; the text becomes `_ERROR_MESSAGE_`."""


@dataclass
class Condition:
    field: str
    op: str = "equals"
    value: Any = None
    ignore_case: bool = False
    group: str = "0"


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [value]


def _comparable(row_value: Any, wanted: Any, ignore_case: bool) -> tuple[Any, Any]:
    """Compare numbers as numbers (epoch-ms dates, quantities) and everything else as text."""
    if isinstance(row_value, int | float) and not isinstance(row_value, bool):
        try:
            return float(row_value), float(wanted)
        except (TypeError, ValueError):
            pass
    left, right = str(row_value), str(wanted)
    if ignore_case:
        return left.lower(), right.lower()
    return left, right


def _like(pattern: str, text: str, ignore_case: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.IGNORECASE if ignore_case else 0) is not None


def matches(row: Mapping[str, Any], cond: Condition) -> bool:
    value = row.get(cond.field)
    op = cond.op
    if op == "empty":
        return value in (None, "")
    if op == "not-empty":
        return value not in (None, "")
    if op in ("in", "not-in"):
        wanted = [_comparable(value, w, cond.ignore_case) for w in _as_list(cond.value)]
        found = value is not None and any(left == right for left, right in wanted)
        return found if op == "in" else not found
    if op == "between":
        bounds = _as_list(cond.value)
        if len(bounds) != 2 or value is None:
            return False
        low = _comparable(value, bounds[0], cond.ignore_case)
        high = _comparable(value, bounds[1], cond.ignore_case)
        return bool(low[1] <= low[0] <= high[1])
    if value is None:
        return op in ("notEqual", "notLike")
    left, right = _comparable(value, cond.value, cond.ignore_case)
    checks: dict[str, Callable[[], bool]] = {
        "equals": lambda: left == right,
        "notEqual": lambda: left != right,
        "like": lambda: _like(str(cond.value), str(value), cond.ignore_case),
        "notLike": lambda: not _like(str(cond.value), str(value), cond.ignore_case),
        "contains": lambda: str(right) in str(left),
        "greaterThan": lambda: bool(left > right),
        "greaterThanEqualTo": lambda: bool(left >= right),
        "lessThan": lambda: bool(left < right),
        "lessThanEqualTo": lambda: bool(left <= right),
    }
    return checks[op]()


def parse_conditions(input_fields: Mapping[str, Any]) -> list[Condition]:
    plain: dict[str, Condition] = {}
    grouped: dict[tuple[str, str], Condition] = {}
    for key, value in input_fields.items():
        hit = _GROUPED.match(key)
        if hit:
            cond = grouped.setdefault(
                (hit["field"], hit["n"]), Condition(hit["field"], group=hit["n"])
            )
            field = hit["part"]
        else:
            suffix = next((s for s in _SUFFIXES if key.endswith(s)), "")
            name = key[: -len(suffix)] if suffix else key
            cond = plain.setdefault(name, Condition(name))
            field = suffix.lstrip("_") or "value"
        if field == "value":
            cond.value = value
        elif field == "op":
            cond.op = str(value)
        elif field == "ic":
            cond.ignore_case = str(value).upper() == "Y"
        else:
            cond.group = str(value)
    conditions = list(plain.values()) + list(grouped.values())
    for cond in conditions:
        if cond.op not in OPERATORS:
            raise FindError(f"Unknown operator [{cond.op}] for field [{cond.field}]")
    return conditions


def row_matches(row: Mapping[str, Any], conditions: list[Condition]) -> bool:
    """Plain conditions are ANDed; for grouped (fldN) fields, any one group must hold."""
    by_field_group: dict[str, dict[str, list[Condition]]] = {}
    for cond in conditions:
        by_field_group.setdefault(cond.field, {}).setdefault(cond.group, []).append(cond)
    for groups in by_field_group.values():
        if not any(all(matches(row, c) for c in group) for group in groups.values()):
            return False
    return True


def sort_rows(rows: list[dict[str, Any]], order_by: str | None) -> list[dict[str, Any]]:
    """`orderBy` is pipe-separated ("runTime DESC | jobId"); a "-" prefix also means DESC."""
    if not order_by:
        return rows
    result = list(rows)
    for part in reversed([p.strip() for p in order_by.split("|") if p.strip()]):
        words = part.split()
        name, desc = words[0], len(words) > 1 and words[1].upper() == "DESC"
        if name.startswith("-"):
            name, desc = name[1:], True
        present = [r for r in result if r.get(name) is not None]
        missing = [r for r in result if r.get(name) is None]
        present.sort(key=lambda r: (isinstance(r[name], str), r[name]), reverse=desc)
        result = present + missing
    return result


def select_fields(rows: list[dict[str, Any]], fields: list[str] | None) -> list[dict[str, Any]]:
    if not fields:
        return rows
    return [{name: row.get(name) for name in fields} for row in rows]
