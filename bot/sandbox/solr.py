"""Just enough Solr to answer HotWax's solr-query calls over in-memory documents.

Query syntax: `field:value`, `field: value`, quoted phrases, `*` wildcards, ranges
`[a TO b]` / `{a TO b}` with NOW date math (NOW-7DAYS, NOW/DAY), `field:(a OR b)`, AND / OR /
NOT / `-`, parentheses, `*:*`, and `{!tag=...}` local params (ignored). Adjacent clauses are
ANDed, which is what HotWax's `q.op=AND` asks for. Also: JSON request `filter` (string or
list), `params.fq`, `sort`, `fl`/`fields`, `start`/`rows` (Solr's default of 10 rows),
grouping (`group.field`, `group.limit`, `group.ngroups`) and JSON `terms` facets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

DEFAULT_ROWS = 10
Predicate = Callable[[dict[str, Any]], bool]


class SolrSyntaxError(ValueError):
    """An unparsable query; the text becomes the Solr error `msg`."""


_FIELD = re.compile(r"[A-Za-z_][\w.\-]*\s*:\s*")
_LOCAL_PARAMS = re.compile(r"\{![^}]*\}")
_DATE_MATH = re.compile(
    r"^(?P<base>NOW|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)(?P<math>(?:[+-]\d+[A-Z]+|/[A-Z]+)*)$"
)
_UNITS = {
    "SECOND": timedelta(seconds=1),
    "MINUTE": timedelta(minutes=1),
    "HOUR": timedelta(hours=1),
    "DAY": timedelta(days=1),
    "WEEK": timedelta(weeks=1),
}


def parse_date(text: str, now: datetime) -> datetime | None:
    hit = _DATE_MATH.match(text.strip())
    if not hit:
        return None
    base = hit["base"]
    moment = now if base == "NOW" else datetime.fromisoformat(base.replace("Z", "+00:00"))
    for step in re.findall(r"[+-]\d+[A-Z]+|/[A-Z]+", hit["math"]):
        unit = step.lstrip("+-/0123456789").rstrip("S")
        if unit not in _UNITS:
            raise SolrSyntaxError(f"Unsupported date math unit in {text!r}")
        if step.startswith("/"):
            if unit == "DAY":
                moment = moment.replace(hour=0, minute=0, second=0, microsecond=0)
            elif unit == "HOUR":
                moment = moment.replace(minute=0, second=0, microsecond=0)
            continue
        amount = int(re.sub(r"[^\d]", "", step))
        delta = _UNITS[unit] * amount
        moment = moment - delta if step.startswith("-") else moment + delta
    return moment


def _doc_values(doc: dict[str, Any], field: str) -> list[Any]:
    value = doc.get(field)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _value_matcher(raw: str) -> Callable[[Any], bool]:
    if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
        wanted = raw[1:-1].replace('\\"', '"')
        return lambda value: str(value) == wanted
    text = raw.replace("\\", "")
    if text == "*":
        return lambda value: value not in (None, "")
    if "*" in text or "?" in text:
        regex = re.compile(
            "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
        )
        return lambda value: regex.fullmatch(str(value)) is not None
    return lambda value: str(value) == text or (_is_bool(value) and str(value).lower() == text)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _range_matcher(raw: str, now: datetime) -> Callable[[Any], bool]:
    inclusive_low, inclusive_high = raw[0] == "[", raw[-1] == "]"
    parts = raw[1:-1].split(" TO ")
    if len(parts) != 2:
        raise SolrSyntaxError(f"Malformed range {raw!r}; expected [low TO high]")
    low, high = (p.strip() for p in parts)

    def bound(text: str, value: Any) -> Any:
        if text == "*":
            return None
        as_date = parse_date(text, now)
        if as_date is not None:
            return as_date
        try:
            return float(text) if isinstance(value, int | float) else text.strip('"')
        except ValueError:
            return text

    def check(value: Any) -> bool:
        subject: Any = value
        if isinstance(value, str):
            parsed = parse_date(value, now)
            if parsed is not None:
                subject = parsed
        lo, hi = bound(low, value), bound(high, value)
        try:
            if lo is not None and (subject < lo if inclusive_low else subject <= lo):
                return False
            return not (hi is not None and (subject > hi if inclusive_high else subject >= hi))
        except TypeError:
            return False

    return check


class _Parser:
    def __init__(self, text: str, now: datetime) -> None:
        self.text = _LOCAL_PARAMS.sub("", text).strip()
        self.pos = 0
        self.now = now

    def parse(self) -> Predicate:
        if not self.text:
            return lambda doc: True
        predicate = self._or()
        self._skip()
        if self.pos != len(self.text):
            raise SolrSyntaxError(f"Unexpected text at {self.text[self.pos :]!r}")
        return predicate

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _keyword(self, word: str) -> bool:
        self._skip()
        end = self.pos + len(word)
        if self.text[self.pos : end] == word and (end == len(self.text) or self.text[end] in " ("):
            self.pos = end
            return True
        return False

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._keyword("OR") or self._keyword("||"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else lambda doc: any(p(doc) for p in parts)

    def _and(self) -> Predicate:
        parts = [self._unary()]
        while True:
            self._skip()
            if self.pos >= len(self.text) or self.text[self.pos] == ")":
                break
            if self.text.startswith("OR", self.pos) or self.text.startswith("||", self.pos):
                break
            if not self._keyword("AND"):
                self._keyword("&&")  # an explicit AND is optional: adjacency already means AND
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else lambda doc: all(p(doc) for p in parts)

    def _unary(self) -> Predicate:
        self._skip()
        if self._keyword("NOT") or self.text.startswith("-", self.pos):
            if self.text.startswith("-", self.pos):
                self.pos += 1
            inner = self._unary()
            return lambda doc: not inner(doc)
        if self.text.startswith("+", self.pos):
            self.pos += 1
        return self._primary()

    def _primary(self) -> Predicate:
        self._skip()
        if self.pos >= len(self.text):
            raise SolrSyntaxError("Query ends where a term was expected")
        if self.text[self.pos] == "(":
            self.pos += 1
            inner = self._or()
            self._expect(")")
            return inner
        if self.text.startswith("*:*", self.pos):
            self.pos += 3
            return lambda doc: True
        field_hit = _FIELD.match(self.text, self.pos)
        if field_hit:
            field = field_hit.group().split(":")[0].strip()
            self.pos = field_hit.end()
            value = self._value_matcher()
            return lambda doc: any(value(v) for v in _doc_values(doc, field))
        value = self._value_matcher()
        return lambda doc: any(value(v) for f in doc for v in _doc_values(doc, f))

    def _expect(self, char: str) -> None:
        self._skip()
        if self.pos >= len(self.text) or self.text[self.pos] != char:
            raise SolrSyntaxError(f"Expected {char!r} in query {self.text!r}")
        self.pos += 1

    def _value_matcher(self) -> Callable[[Any], bool]:
        text, start = self.text, self.pos
        if start >= len(text):
            raise SolrSyntaxError("A field has no value")
        opener = text[start]
        if opener == "(":
            self.pos += 1
            options = [self._value_matcher()]
            while self._keyword("OR"):
                options.append(self._value_matcher())
            self._expect(")")
            return lambda value: any(option(value) for option in options)
        if opener in "[{":
            end = min(
                (i for i in (text.find("]", start), text.find("}", start)) if i > 0), default=-1
            )
            if end < 0:
                raise SolrSyntaxError(f"Unclosed range in {text!r}")
            self.pos = end + 1
            return _range_matcher(text[start : end + 1], self.now)
        if opener == '"':
            end = start + 1
            while end < len(text) and (text[end] != '"' or text[end - 1] == "\\"):
                end += 1
            if end >= len(text):
                raise SolrSyntaxError(f"Unclosed quote in {text!r}")
            self.pos = end + 1
            return _value_matcher(text[start : end + 1])
        hit = re.compile(r"(?:\\.|[^\s()])+").match(text, start)
        if not hit:
            raise SolrSyntaxError(f"A field has no value in {text!r}")
        self.pos = hit.end()
        return _value_matcher(hit.group())


def compile_query(text: str, now: datetime) -> Predicate:
    return _Parser(text, now).parse()


def _sort_docs(docs: list[dict[str, Any]], sort: str | None) -> list[dict[str, Any]]:
    if not sort:
        return docs
    result = list(docs)
    for clause in reversed([c.strip() for c in sort.split(",") if c.strip()]):
        words = clause.split()
        field, desc = words[0], len(words) > 1 and words[1].lower() == "desc"
        present = [d for d in result if d.get(field) is not None]
        missing = [d for d in result if d.get(field) is None]
        present.sort(key=lambda d: str(d[field]), reverse=desc)
        result = present + missing
    return result


def _as_int(value: Any, default: int, name: str) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SolrSyntaxError(f"Invalid Number: {value!r} for {name}") from None


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _fields(value: Any) -> list[str] | None:
    if not value:
        return None
    names = value if isinstance(value, list) else re.split(r"[,\s]+", str(value))
    names = [n for n in names if n]
    return None if not names or "*" in names else names


def _project(docs: Iterable[dict[str, Any]], fields: list[str] | None) -> list[dict[str, Any]]:
    if fields is None:
        return [dict(doc) for doc in docs]
    return [{f: doc[f] for f in fields if f in doc} for doc in docs]


def _facets(spec: Any, docs: list[dict[str, Any]]) -> dict[str, Any]:
    facets: dict[str, Any] = {"count": len(docs)}
    if not isinstance(spec, dict):
        return facets
    for name, facet in spec.items():
        if not isinstance(facet, dict) or facet.get("type", "terms") != "terms":
            continue
        counts: dict[str, int] = {}
        for doc in docs:
            for value in _doc_values(doc, str(facet.get("field"))):
                counts[str(value)] = counts.get(str(value), 0) + 1
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        limit = _as_int(facet.get("limit"), 10, f"facet {name} limit")
        buckets = ordered if limit < 0 else ordered[:limit]
        facets[name] = {"buckets": [{"val": val, "count": count} for val, count in buckets]}
    return facets


def select(
    docs: list[dict[str, Any]], request: dict[str, Any], now: datetime
) -> list[dict[str, Any]]:
    """The documents the request's query and filters match, in its sort order."""
    params = _params(request)
    query = request.get("query") or params.get("q") or "*:*"
    filters: list[Any] = []
    for source in (request.get("filter"), params.get("fq")):
        filters.extend(source if isinstance(source, list) else [source] if source else [])
    predicates = [compile_query(str(query), now)] + [compile_query(str(f), now) for f in filters]
    hits = [doc for doc in docs if all(p(doc) for p in predicates)]
    return _sort_docs(hits, params.get("sort") or request.get("sort"))


def _params(request: dict[str, Any]) -> dict[str, Any]:
    params = request.get("params") or {}
    if not isinstance(params, dict):
        raise SolrSyntaxError("json.params must be an object")
    return params


def answer_page(hits: list[dict[str, Any]], request: dict[str, Any]) -> dict[str, Any]:
    """The answer to `request` from its selected `hits`: the page asked for, groups, facets."""
    params = _params(request)
    start = _as_int(params.get("start", request.get("offset")), 0, "start")
    rows = _as_int(params.get("rows", request.get("limit")), DEFAULT_ROWS, "rows")
    fields = _fields(params.get("fl") or request.get("fields"))
    answer: dict[str, Any] = {
        "responseHeader": {
            "zkConnected": True,
            "status": 0,
            "QTime": 1,
            "params": {"json": request},
        }
    }
    group_field = params.get("group.field")
    if _truthy(params.get("group")) and group_field:
        answer["grouped"] = {
            str(group_field): _grouped(hits, str(group_field), params, start, rows, fields)
        }
    else:
        page = hits[start : start + rows]
        answer["response"] = {
            "numFound": len(hits),
            "start": start,
            "numFoundExact": True,
            "docs": _project(page, fields),
        }
    if request.get("facet"):
        answer["facets"] = _facets(request["facet"], hits)
    return answer


def _grouped(
    hits: list[dict[str, Any]],
    field: str,
    params: dict[str, Any],
    start: int,
    rows: int,
    fields: list[str] | None,
) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for doc in hits:
        groups.setdefault(str(doc.get(field)), []).append(doc)
    limit = _as_int(params.get("group.limit"), 1, "group.limit")
    page = list(groups.items())[start : start + rows]
    result: dict[str, Any] = {
        "matches": len(hits),
        "groups": [
            {
                "groupValue": value,
                "doclist": {
                    "numFound": len(members),
                    "start": 0,
                    "docs": _project(members[:limit] if limit >= 0 else members, fields),
                },
            }
            for value, members in page
        ],
    }
    if _truthy(params.get("group.ngroups")):
        result["ngroups"] = len(groups)
    return result
