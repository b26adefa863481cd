"""`/oms mdm [--failed] [--since 24h]`: the Shopify order MDM imports and their failures.

The report covers both order configs (new orders and updates), newest first, and is posted in
the channel (so the team sees what is failing) with the failed records, each with Re-import and
Check buttons. Each failed-records file is attached in the report's thread as a CSV of the
order, its Shopify id and the error only: the OMS's file carries the whole Shopify order, which
is customer data and stays out of Slack.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from bot.engine import CommandSpec, Flag, Invocation, Provides
from bot.kit.blocks import Block, Message, actions, chunk_lines, context, escape, header, section
from bot.kit.durations import describe_duration, parse_duration, plural, slack_time_or
from bot.kit.posting import SlackError, Upload, slack_error
from bot.oms import button_ref, mdm
from handlers.orders import check, imports
from handlers.orders.causes import explain

MAX_RECORDS_SHOWN = 10
MAX_FILES = 5


def _when(value: datetime | None) -> str:
    return slack_time_or(value, "?")


def _run_line(log: mdm.MdmLog) -> str:
    icon = ":x:" if log.failed else ":white_check_mark:"
    counts = f"{log.total_records if log.total_records is not None else '?'} records"
    if log.failed_records:
        counts += f", {log.failed_records} failed"
    return (
        f"{icon} `{escape(log.log_id)}` {escape(log.status)} · started {_when(log.start)} · "
        f"finished {_when(log.finish)} · {counts}"
    )


async def mdm_command(inv: Invocation) -> None:
    tools = inv.tools
    failed_only = bool(inv.command.flag("failed"))
    window = inv.command.flag("since") or 24 * 3600.0
    since = datetime.now(UTC) - timedelta(seconds=window)
    logs = await mdm.recent_logs(tools.oms, failed_only=failed_only, since=since)
    described = f"last {describe_duration(window)}" + (", failed runs" if failed_only else "")
    if not logs:
        await inv.reply.ephemeral(
            Message(
                text=f"No Shopify Order MDM runs ({described}).",
                blocks=[section(f":mag: No Shopify Order MDM runs ({escape(described)}).")],
            ),
            replace=True,
        )
        return
    files: list[tuple[mdm.MdmLog, list[mdm.FailedRecord]]] = []
    records: list[mdm.FailedRecord] = []
    for log in [entry for entry in logs if entry.failed][:MAX_FILES]:
        found = await mdm.failed_records(tools.oms, log)
        if found:
            files.append((log, found))
            records += found
    blocks: list[Block] = [header("Shopify Order MDM")]
    blocks += [section(c) for c in chunk_lines([_run_line(log) for log in logs])]
    for n, record in enumerate(records[:MAX_RECORDS_SHOWN]):
        known = explain(record.error)
        text = (
            f"*{escape(record.order_name)}* (Shopify {escape(record.shopify_order_id)}): "
            f"{escape(record.error)}"
        )
        if known:
            text += f"\n_Fix:_ {escape(known.fix)}"
        blocks.append(section(text))
        ref = button_ref(record.shopify_order_id, record.order_name)
        if ref is None:
            continue  # a record without a usable id or name: nothing a button could act on
        specs = [check.check_button(ref)]
        if ref.startswith("shopify:"):
            name = record.order_name or record.shopify_order_id
            specs.insert(0, imports.import_button([{"id": record.shopify_order_id, "name": name}]))
        _, buttons = await tools.actions.buttons(
            specs,
            created_by=inv.user_id,
            channel_id=inv.channel_id,
            ttl=24 * 3600,
            first_index=2 * n,
        )
        blocks.append(actions(buttons))
    if len(records) > MAX_RECORDS_SHOWN:
        blocks.append(
            context(
                "The attached files hold "
                f"{plural(len(records) - MAX_RECORDS_SHOWN, 'more failed record')}."
            )
        )
    failed_runs = sum(1 for log in logs if log.failed)
    blocks.append(
        context(
            f"{plural(len(logs), 'run')} ({escape(described)}), {failed_runs} with "
            f"failures · asked by <@{inv.user_id}>"
        )
    )
    message = Message(
        text=f"Shopify Order MDM: {plural(len(logs), 'run')}, {failed_runs} with failures",
        blocks=blocks,
    )
    try:
        ts = await inv.reply.post(message)
    except SlackError as exc:
        await inv.reply.ephemeral(
            Message(
                text=message.text,
                blocks=[
                    *message.blocks[:48],
                    context(
                        f"I cannot post in this channel ({slack_error(exc)}), so "
                        "the failed-records files are not attached; invite me with "
                        "`/invite`."
                    ),
                ],
            ),
            replace=True,
        )
        return
    unattached: list[str] = []
    for log, found in files:
        # The report is posted: a file Slack refuses is said in its thread, not an error.
        uploaded = await inv.reply.upload(
            Upload(
                filename=f"mdm-{log.log_id}-failed-records.csv",
                title=f"Failed records of MDM run {log.log_id}",
                content=_records_csv(found),
                what=f"The CSV of the failed records of MDM run {log.log_id}",
            ),
            thread_ts=ts,
        )
        if not uploaded.attached:
            unattached.append(log.log_id)
    done = "Posted the MDM report in the channel."
    if unattached:
        which = "file" if len(unattached) == 1 else "files"
        done += (
            f" The failed-records {which} of " + ", ".join(unattached) + " could not be "
            "attached; the report's thread says why."
        )
    await inv.reply.ephemeral(Message(text=done, blocks=[section(escape(done))]), replace=True)


def _records_csv(found: list[mdm.FailedRecord]) -> str:
    """The failed records as people read them: order, Shopify id, error, record number."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["order_name", "shopify_order_id", "error", "record_number"])
    for record in found:
        writer.writerow(
            [record.order_name, record.shopify_order_id, record.error, record.record_number or ""]
        )
    return out.getvalue()


PROVIDES = Provides(
    commands=(
        CommandSpec(
            name="mdm",
            summary="The Shopify Order MDM runs and failed records, with fixes and buttons.",
            handler=mdm_command,
            flags=(
                Flag("failed", "only runs with failures"),
                Flag("since", "how far back (default 24h)", metavar="24h", parse=parse_duration),
            ),
            examples=("/oms mdm", "/oms mdm --failed --since 7d"),
        ),
    )
)
