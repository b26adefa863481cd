"""A failed-imports digest end to end: fetch page by page, render within Block Kit limits,
post (paced per channel, 429 honoured), attach the full CSV in the thread, audit it all."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.engine import ButtonSpec, Toolbox
from bot.kit.blocks import Block, Message, actions, context, divider, escape, header, section
from bot.kit.durations import describe_duration, fmt_time
from bot.kit.posting import post_message, with_rate_limit
from bot.oms import FailedImport, OmsClient, loginsights
from handlers.digest.grouping import Aggregator, Group

MAX_GROUPS_SHOWN = 12
FOLLOWUP_ACTION = "digest_followup"


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
        async for _found, page in loginsights.iter_failed_import_pages(
            oms, since=since, until=until, store=store, page_size=page_size
        ):
            aggregator.add(page)
        previous = await loginsights.count_failed_imports(
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
    tools: Toolbox,
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
        blocks.append(actions(await followup_buttons(tools, report.newest, created_by, channel_id)))
    text = f"{title}: {report.total} failed imports ({period})"
    return Message(text=text, blocks=blocks)


async def followup_buttons(
    tools: Toolbox, newest: list[FailedImport], created_by: str, channel_id: str | None
) -> list[Block]:
    """Re-import and Check for each newest failure. They share one token group: the first
    press replaces the message's buttons, so one group matches what is seen."""
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
    _, elements = await tools.actions.buttons(specs, created_by=created_by, channel_id=channel_id)
    return elements


@dataclass(frozen=True)
class Posted:
    ts: str
    csv_file_id: str | None


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
