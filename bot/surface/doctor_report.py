"""What `oms-bot doctor` finds, and the markdown report a user can attach to an issue.

Evidence is redacted by construction: it is built from field names, JSON types, counts and
the bot's own words, never from a value the OMS returned (a value could be customer data or
a secret: SystemMessageRemote rows carry credentials).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bot import __version__
from bot.oms import OmsAuthError, OmsError, OmsRequestError, OmsUnavailable, TenantProfile
from bot.oms.conventions import json_type

Verdict = Literal["CONFIRMED", "DIFFERENT", "UNKNOWN"]
VERDICTS: tuple[Verdict, ...] = ("CONFIRMED", "DIFFERENT", "UNKNOWN")
NO_WRITE = (
    "oms-bot doctor performs no write of any kind: it logs in and only reads (GET requests, "
    "and the read-only POSTs findJobs and Solr queries)."
)
_MAX_FIELDS = 14


@dataclass(frozen=True)
class Finding:
    probe: str  # short name, unique in a report
    verdict: Verdict
    assumption: str  # what the bot assumes about the tenant
    evidence: str  # what the probe saw (redacted), or why it could not probe


def field_list(record: Mapping[str, Any], *, limit: int = _MAX_FIELDS) -> str:
    """`a (string), b (number), … (+3 more)`: a record's field names and JSON types."""
    names = sorted(str(key) for key in record)
    shown = [f"{name} ({json_type(record[name])})" for name in names[:limit]]
    if len(names) > limit:
        shown.append(f"… (+{len(names) - limit} more)")
    return ", ".join(shown) or "no field"


def shape(value: Any) -> str:
    """A JSON value's shape in a few words: `object`, `array of 3 objects`, `string`."""
    if isinstance(value, list):
        kinds = sorted({json_type(item) for item in value})
        return f"array of {len(value)} {'/'.join(kinds) + 's' if kinds else 'items'}"
    return json_type(value)


def redacted_error(exc: OmsError) -> str:
    """Why a read failed, without the OMS's own text (it may quote ids or a body snippet)."""
    if isinstance(exc, OmsUnavailable):
        return exc.message  # the bot's words: refused, timed out, HTTP 503
    if isinstance(exc, OmsAuthError):
        return "the OMS refused the login or the session"
    if isinstance(exc, OmsRequestError):
        return f"the OMS refused the read (HTTP {exc.status_code or '?'})"
    return "the OMS answered in an unexpected form"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def console_line(finding: Finding) -> str:
    return f"{finding.verdict:<9}  {finding.probe}: {finding.evidence}"


def tally(findings: Iterable[Finding]) -> str:
    counts = Counter(f.verdict for f in findings)
    return ", ".join(f"{counts[v]} {v}" for v in VERDICTS)


def render(
    findings: list[Finding], profile: TenantProfile | None, *, when: datetime, problem: str = ""
) -> str:
    """The markdown report."""
    lines = [
        "# oms-bot doctor report",
        "",
        NO_WRITE,
        "Evidence names fields and their JSON types only: no value the OMS returned (customer "
        "data, credentials) is in this report.",
        "",
        f"- When: {when:%Y-%m-%d %H:%M} UTC",
        f"- oms-bot: {__version__}",
    ]
    if profile is not None:
        lines.append(f"- Tenant: {profile.describe(with_url=False)}")
    if problem:
        lines.append(f"- Could not run: {problem}")
    lines.append(f"- Result: {tally(findings)}")
    if profile is not None:
        lines += ["", "## Tenant sources", "", "| Source | State | Detail |", "|---|---|---|"]
        lines += [f"| {p.source} | {p.state} | {_cell(p.detail)} |" for p in profile.probes]
    lines += [
        "",
        "## Assumptions",
        "",
        "| Probe | Verdict | The bot assumes | Evidence |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {_cell(f.probe)} | {f.verdict} | {_cell(f.assumption)} | {_cell(f.evidence)} |"
        for f in findings
    ]
    return "\n".join(lines) + "\n"
