"""The reconciliation as Slack shows it: progress while paging, then the counts and every
missing order grouped by what is known of it, with the Re-import buttons; past a screenful
the full list goes as a CSV in the thread, with a Re-import button per order there."""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from datetime import UTC, datetime

from bot.engine import ButtonSpec, Toolbox
from bot.kit.blocks import (
    ACTIONS_ELEMENTS_MAX,
    Block,
    Message,
    actions,
    confirm_dialog,
    context,
    escape,
    header,
    section,
)
from bot.kit.durations import describe_duration, fmt_time, plural, slack_time, slack_time_or
from bot.kit.posting import Upload
from bot.oms import button_ref
from handlers.digest import FOLLOWUP_ACTION, classify
from handlers.reconcile.compare import Group, MissingOrder, Reconciliation

_EPOCH = datetime.fromtimestamp(0, UTC)
REIMPORT_ACTION = "reconcile.reimport"
ROLE = "operator"
MAX_LISTED = 15  # missing orders named in the message; past this the CSV has them all
MAX_ORDER_BUTTONS = 100  # per-order buttons in the thread (4 actions blocks of 25)
CSV_COLUMNS = ("shopify_order_name", "shopify_order_id", "created_at", "group", "cause", "fix")
GROUP_TITLES: dict[Group, str] = {
    "logged": "Failure logged",
    "unlogged": "No failure recorded",
    "recent": "Too recent",
}


def title(result: Reconciliation) -> str:
    scope = f" · {result.store}" if result.store else ""
    return f"Shopify vs HotWax · last {describe_duration(result.until - result.since)}{scope}"


def _period(result: Reconciliation) -> str:
    shops = ", ".join(escape(shop.label) for shop in result.shops)
    return f"Orders created {slack_time(result.since)} → {slack_time(result.until)} · {shops}"


def _counts(result: Reconciliation) -> str:
    shopify = "?" if result.shopify_count is None else str(result.shopify_count)
    hotwax = "?" if result.hotwax_count is None else str(result.hotwax_count)
    return f"*Shopify:* {shopify} orders · *HotWax:* {hotwax} orders with a Shopify id"


def progress_message(result: Reconciliation) -> Message:
    name = title(result)
    if not result.listed:
        line = ":hourglass_flowing_sand: Counting the orders in Shopify and HotWax…"
    else:
        of = f" of {result.shopify_count}" if result.shopify_count is not None else ""
        line = (
            f":hourglass_flowing_sand: The counts differ: looking up every Shopify order in "
            f"HotWax… {result.checked}{of} checked ({plural(result.pages, 'page')}), "
            f"{plural(len(result.missing), 'missing order')} so far."
        )
    return Message(
        text=f"{name}: {line}",
        blocks=[header(name), section(_counts(result)), section(line), context(_period(result))],
    )


def _order_line(order: MissingOrder) -> str:
    created = slack_time_or(order.created_at, "unknown")
    return f"  • *{escape(order.name)}* (Shopify {escape(order.shopify_id)}) · created {created}"


def _logged_text(orders: list[MissingOrder]) -> list[str]:
    """The logged failures by cause, as `/oms failed` groups them: title, fix, orders."""
    by_cause: dict[str, list[MissingOrder]] = defaultdict(list)
    titles: dict[str, tuple[str, str | None]] = {}
    for order in orders:
        if order.failure is None:
            continue
        key, cause, fix = classify(order.failure.error_message)
        by_cause[key].append(order)
        titles[key] = (cause, fix)
    lines: list[str] = []
    for key, members in sorted(by_cause.items(), key=lambda item: -len(item[1])):
        cause, fix = titles[key]
        lines.append(f"*{len(members)} × {escape(cause)}*")
        lines.append(f":wrench: {escape(fix)}" if fix else "_No known fix; the OMS's error._")
        lines += [_order_line(order) for order in members]
    return lines


def _group_blocks(result: Reconciliation, listed: set[str]) -> list[Block]:
    blocks: list[Block] = []
    for group, heading in GROUP_TITLES.items():
        members = result.group(group)
        if not members:
            continue
        shown = [order for order in members if order.shopify_id in listed]
        if group == "unlogged" and not result.failures_read:
            heading = "Failure logs not read"
        lines = [f"*{heading}* ({len(members)})"]
        if group == "logged":
            lines += _logged_text(shown)
        else:
            lines += [_order_line(order) for order in shown]
        if group == "unlogged" and result.failures_read:
            lines.append(
                "_HotWax never logged a failure for these: the webhook or the sync never "
                "reached them. Re-import them._"
            )
        if group == "recent":
            lines.append(
                f"_Created after {slack_time(result.recent_after)}: {escape(result.interval_text)}"
                "; they are not due yet._"
            )
        if len(shown) < len(members):
            lines.append(f"_… and {len(members) - len(shown)} more in the CSV in the thread._")
        blocks.append(section("\n".join(lines)))
    return blocks


def _headline(result: Reconciliation) -> str:
    missing = len(result.missing)
    if result.in_step:
        return (
            f":white_check_mark: *The counts match:* {result.shopify_count} orders in Shopify "
            f"and {result.hotwax_count} in HotWax. Nothing is missing."
        )
    if result.stopped is not None:
        return (
            f":x: *Stopped after {plural(result.pages, 'page')}* ({result.checked} Shopify "
            f"orders checked): {escape(result.stopped[:500])}. "
            f"{plural(missing, 'missing order')} found up to there."
        )
    if missing == 0:
        return (
            f":white_check_mark: *No order is missing in HotWax:* all {result.checked} Shopify "
            "orders of the window are there (the counts differ because of refreshed orders "
            "with several versions, or orders outside the window on one side)."
        )
    return (
        f":warning: *{plural(missing, 'order')} missing in HotWax* of {result.checked} "
        "Shopify orders in the window."
    )


def order_refs(result: Reconciliation) -> list[tuple[str, str]]:
    """(reference for `/oms import`, name) of every missing order that has one."""
    refs = []
    for order in result.missing:
        ref = button_ref(order.shopify_id, order.name)
        if ref is not None:
            refs.append((ref, order.name))
    return refs


def reimport_button(refs: list[tuple[str, str]], offset: int, limit: int) -> ButtonSpec:
    batch = refs[offset : offset + limit]
    total = len(refs)
    label = (
        f"Re-import all {total}" if offset == 0 and total <= limit
        else f"Re-import {len(batch)} ({offset + 1}–{offset + len(batch)} of {total})"
    )  # fmt: skip
    return ButtonSpec(
        label,
        REIMPORT_ACTION,
        {"refs": [r for r, _ in refs], "names": [n for _, n in refs], "offset": offset},
        style="primary",
        confirm=confirm_dialog(
            "Re-import from Shopify?",
            f"Re-import {plural(len(batch), 'order')} from Shopify (`/oms import`, at most "
            f"{limit} per run).",
            "Re-import",
        ),
        allowed_role=ROLE,
    )


async def final_message(
    tools: Toolbox, result: Reconciliation, *, created_by: str, channel_id: str | None
) -> Message:
    name = title(result)
    headline = _headline(result)
    blocks: list[Block] = [header(name), section(_counts(result)), section(headline)]
    listed = listed_ids(result)
    blocks += _group_blocks(result, listed)
    notes = [context(f":information_source: {note}") for note in result.notes[:5]]
    blocks += [context(_period(result)), *notes]
    refs = order_refs(result)
    if refs:
        limit = tools.policy.limits.max_import
        _, elements = await tools.actions.buttons(
            [reimport_button(refs, 0, limit)], created_by=created_by, channel_id=channel_id
        )
        blocks.append(actions(elements))
        if len(refs) > limit:
            blocks.append(
                context(
                    f"`/oms import` takes at most {limit} orders a run: the rest is offered as "
                    "the next batch once this one starts."
                )
            )
    text = f"{name}: {headline}"
    return Message(text=text, blocks=blocks)


def listed_ids(result: Reconciliation) -> set[str]:
    """The missing orders the message names, MAX_LISTED at most: a share of each group, the
    newest first, so a long list of one kind does not hide the others."""
    queues = [
        sorted(result.group(group), key=lambda o: o.created_at or _EPOCH, reverse=True)
        for group in GROUP_TITLES
    ]
    listed: set[str] = set()
    while len(listed) < MAX_LISTED and any(queues):
        for queue in queues:
            if queue and len(listed) < MAX_LISTED:
                listed.add(queue.pop(0).shopify_id)
    return listed


def needs_thread(result: Reconciliation) -> bool:
    return len(result.missing) > MAX_LISTED


def csv_upload(result: Reconciliation) -> Upload:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for order in result.missing:
        cause, fix = "", ""
        if order.failure is not None:
            _, cause, found = classify(order.failure.error_message)
            fix = found or ""
        writer.writerow(
            [
                order.name,
                order.shopify_id,
                fmt_time(order.created_at) if order.created_at else "",
                GROUP_TITLES[order.group],
                cause,
                fix,
            ]
        )
    stamp = slack_stamp(result.until)
    return Upload(
        filename=f"missing-orders-{stamp}.csv",
        title=f"All {len(result.missing)} orders missing in HotWax",
        content=out.getvalue(),
        comment=f"Every Shopify order of the window missing in HotWax "
        f"({plural(len(result.missing), 'row')}).",
        what=f"The CSV of the {plural(len(result.missing), 'missing order')}",
    )


def slack_stamp(epoch: float) -> str:
    return time.strftime("%Y%m%d-%H%M", time.gmtime(epoch))


async def order_buttons_message(
    tools: Toolbox, result: Reconciliation, *, created_by: str, channel_id: str | None
) -> Message | None:
    """A Re-import button per missing order (the first MAX_ORDER_BUTTONS), for the thread."""
    specs = [
        ButtonSpec(
            f"Re-import {order.name}",
            FOLLOWUP_ACTION,
            {
                "command": "import",
                "order": ref,
                "order_name": order.name,
                "order_keys": [order.name, ref],
            },
            allowed_role=ROLE,
        )
        for order in result.missing[:MAX_ORDER_BUTTONS]
        if (ref := button_ref(order.shopify_id, order.name)) is not None
    ]
    if not specs:
        return None
    _, elements = await tools.actions.buttons(specs, created_by=created_by, channel_id=channel_id)
    blocks: list[Block] = [section("*Re-import one order:*")]
    for start in range(0, len(elements), ACTIONS_ELEMENTS_MAX):
        blocks.append(actions(elements[start : start + ACTIONS_ELEMENTS_MAX]))
    if len(result.missing) > MAX_ORDER_BUTTONS:
        blocks.append(
            context(
                f"Buttons for the first {MAX_ORDER_BUTTONS}; *Re-import all* above covers every "
                "one, a batch at a time."
            )
        )
    return Message(text=f"Re-import one of the {len(specs)} missing orders", blocks=blocks)
