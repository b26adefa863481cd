"""A failed-imports digest end to end: fetch page by page, render within Block Kit limits,
post (paced per channel, 429 honoured), attach the full CSV in the thread, audit it all."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions import ButtonSpec, fmt_time
from bot.blocks import Block, Message, actions, context, divider, escape, header, section
from bot.digest import Aggregator, Group
from bot.durations import describe_duration
from bot.oms.client import OmsClient
from bot.oms.loginsights import FailedImport, count_failed_imports, iter_failed_import_pages
from bot.store.audit import AuditEvent

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

MAX_GROUPS_SHOWN = 12
FOLLOWUP_ACTION = "digest_followup"
POST_INTERVAL = 1.0  # seconds between posts to one channel (Slack allows about one a second)
MAX_RATE_LIMIT_WAITS = 5
T = TypeVar("T")


@dataclass
class DigestReport:
    since: float
    until: float
    store: str | None
    total: int
    previous: int
    groups: list[Group]
    newest: list[FailedImport]
    csv_path: Path

    @property
    def listed(self) -> int:
        return sum(len(g.examples) for g in self.groups[:MAX_GROUPS_SHOWN])

    @property
    def fits(self) -> bool:
        """Whether the message lists every failure (otherwise the CSV carries them)."""
        return self.total <= self.listed

    def window_text(self) -> str:
        return describe_duration(self.until - self.since)

    def discard(self) -> None:
        self.csv_path.unlink(missing_ok=True)


async def build_report(
    oms: OmsClient, *, since: float, until: float, store: str | None, page_size: int
) -> DigestReport:
    """Fetch the window's failures page by page and aggregate them as they come."""
    aggregator = Aggregator()
    try:
        async for _found, page in iter_failed_import_pages(
            oms, since=since, until=until, store=store, page_size=page_size
        ):
            aggregator.add(page)
        previous = await count_failed_imports(
            oms, since=since - (until - since), until=since, store=store
        )
    except BaseException:
        aggregator.discard()
        raise
    return DigestReport(
        since=since,
        until=until,
        store=store,
        total=aggregator.total,
        previous=previous,
        groups=aggregator.ranked(),
        newest=aggregator.newest,
        csv_path=aggregator.close(),
    )


def _change(total: int, previous: int) -> str:
    if previous == 0:
        return "none in the previous window" if total == 0 else "up from 0 the window before"
    delta = total - previous
    percent = round(abs(delta) * 100 / previous)
    if delta == 0:
        return f"same as the previous window ({previous})"
    arrow = ":arrow_up:" if delta > 0 else ":arrow_down:"
    return f"{arrow} {abs(delta)} ({percent}%) vs {previous} in the previous window"


def order_link(failure: FailedImport) -> str:
    """The Shopify order name, linked to its `site` when that is a plain http(s) URL."""
    name = escape(failure.shopify_order_name)
    site = failure.site or ""
    if site.startswith(("https://", "http://")) and not any(c in site for c in "<>| \n"):
        return f"<{site}|{name}>"
    return name


def _example(failure: FailedImport) -> str:
    first = failure.first_attempted or fmt_time(failure.timestamp.timestamp())
    return f"  • {order_link(failure)} · first attempted {escape(first)}"


def _group_text(group: Group) -> str:
    lines = [f"*{group.count} × {escape(group.title)}*"]
    if group.fix:
        lines.append(f":wrench: {escape(group.fix)}")
    else:
        lines.append("_No known fix; the text above is the OMS's error with ids taken out._")
    lines += [_example(f) for f in group.examples]
    return "\n".join(lines)


def digest_title(report: DigestReport) -> str:
    scope = f" · {report.store}" if report.store else ""
    return f"Failed Shopify imports · last {report.window_text()}{scope}"


async def render_digest(
    services: Services,
    report: DigestReport,
    *,
    created_by: str,
    channel_id: str | None,
    late_note: str | None = None,
    in_thread_csv: bool = True,
) -> Message:
    """The digest message: totals and change, causes with fixes and examples, buttons."""
    title = digest_title(report)
    period = f"{fmt_time(report.since)} → {fmt_time(report.until)}"
    blocks: list[Block] = [header(title)]
    if late_note:
        blocks.append(context(f":hourglass: {escape(late_note)}"))
    if report.total == 0:
        change = _change(0, report.previous)
        blocks += [
            section(f":white_check_mark: *No failed imports* in this window ({change})."),
            context(period),
        ]
        text = f"{title}: no failed imports ({period})"
        return Message(text=text, blocks=blocks)
    causes = len(report.groups)
    blocks.append(
        section(
            f"*{report.total} failed import{'s' if report.total != 1 else ''}* in "
            f"{causes} cause{'s' if causes != 1 else ''} · {_change(report.total, report.previous)}"
        )
    )
    blocks.append(context(period))
    for group in report.groups[:MAX_GROUPS_SHOWN]:
        blocks.append(section(_group_text(group)))
    hidden = report.groups[MAX_GROUPS_SHOWN:]
    if hidden:
        count = sum(g.count for g in hidden)
        blocks.append(context(f"… {len(hidden)} more causes ({count} failures) not shown."))
    if not report.fits:
        if in_thread_csv:
            note = (
                f":page_facing_up: All {report.total} failed orders are in the CSV file "
                "in this thread."
            )
        else:
            note = (
                f":page_facing_up: {report.total - report.listed} failed orders are not listed. "
                "`/oms digest now` posts this digest in the channel with every order as a CSV "
                "file in its thread."
            )
        blocks.append(context(note))
    if report.newest:
        blocks.append(divider())
        names = ", ".join(order_link(f) for f in report.newest)
        blocks.append(section(f"*Newest failures:* {names}"))
        blocks.append(
            actions(await followup_buttons(services, report.newest, created_by, channel_id))
        )
    text = f"{title}: {report.total} failed imports ({period})"
    return Message(text=text, blocks=blocks)


async def followup_buttons(
    services: Services, newest: list[FailedImport], created_by: str, channel_id: str | None
) -> list[Block]:
    """Re-import and Check for each newest failure. They share one token group: the first
    press replaces the message's buttons (bot/actions.py), so one group matches what is seen."""
    specs: list[ButtonSpec] = []
    for failure in newest:
        ref = failure.shopify_order_id or failure.shopify_order_name
        for label, command in (("Re-import", "import"), ("Check", "check")):
            specs.append(
                ButtonSpec(
                    f"{label} {failure.shopify_order_name}",
                    FOLLOWUP_ACTION,
                    {
                        "command": command,
                        "order": ref,
                        "order_name": failure.shopify_order_name,
                        "order_keys": [failure.shopify_order_name, ref],
                    },
                    style="primary" if command == "import" else None,
                )
            )
    _, elements = await services.actions.buttons(
        specs, created_by=created_by, channel_id=channel_id
    )
    return elements


class ChannelPacer:
    """At most one post per `interval` per channel, within this process. A reservation, not
    a lock, so it works from any event loop (tests run several)."""

    def __init__(self, interval: float = POST_INTERVAL) -> None:
        self.interval = interval
        self._next: dict[str, float] = {}

    async def wait(self, channel: str) -> None:
        now = time.monotonic()
        at = max(now, self._next.get(channel, 0.0))
        self._next[channel] = at + self.interval
        if at > now:
            await asyncio.sleep(at - now)


PACER = ChannelPacer()


async def with_rate_limit(call: Callable[[], Awaitable[T]]) -> T:
    """Run a Web API call, waiting out 429s beyond the client's own retries."""
    for attempt in range(MAX_RATE_LIMIT_WAITS + 1):
        try:
            return await call()
        except SlackApiError as exc:
            if exc.response.status_code != 429 or attempt == MAX_RATE_LIMIT_WAITS:
                raise
            retry_after = float(exc.response.headers.get("Retry-After", "1") or 1)
            log.warning("Slack rate limited the post; waiting %.0fs", retry_after)
            await asyncio.sleep(min(retry_after, 60.0))
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Posted:
    ts: str
    csv_file_id: str | None


async def post_message(
    client: AsyncWebClient, channel: str, message: Message, thread_ts: str | None = None
) -> str:
    await PACER.wait(channel)
    resp = await with_rate_limit(
        lambda: client.chat_postMessage(
            channel=channel, text=message.text, blocks=message.blocks, thread_ts=thread_ts
        )
    )
    return str(resp["ts"])


async def post_digest(
    client: AsyncWebClient, channel: str, report: DigestReport, message: Message
) -> Posted:
    """Post the digest; when it does not list every failure, upload the CSV in its thread."""
    ts = await post_message(client, channel, message)
    file_id: str | None = None
    if not report.fits:
        stamp = time.strftime("%Y%m%d-%H%M", time.gmtime(report.until))
        resp: Any = await with_rate_limit(
            lambda: client.files_upload_v2(
                channel=channel,
                thread_ts=ts,
                file=str(report.csv_path),
                filename=f"failed-imports-{stamp}.csv",
                title=f"All {report.total} failed imports",
                initial_comment=f"Every failed order of this digest ({report.total} rows).",
            )
        )
        files = resp.get("files") or [resp.get("file") or {}]
        file_id = str(files[0].get("id")) if files and files[0].get("id") else None
    return Posted(ts, file_id)


async def audit_post(
    services: Services,
    *,
    actor: str,
    outcome: str,
    summary: str,
    channel: str,
    ts: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    services.metrics.digest_posted(outcome)
    await services.audit.record(
        AuditEvent(
            kind="scheduled_post",
            actor=actor,
            outcome=outcome,
            summary=summary[:300],
            channel_id=channel,
            detail=detail,
            message_channel=channel if ts else None,
            message_ts=ts,
        )
    )


def slack_error(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or exc.response.status_code)
    return str(exc) or type(exc).__name__
