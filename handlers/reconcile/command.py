"""`/oms reconcile [--since 24h] [--store X]` and its Re-import all button."""

from __future__ import annotations

import time

from bot.engine import (
    ActionSpec,
    Click,
    CommandSpec,
    Flag,
    Invocation,
    Provides,
    record_post,
)
from bot.kit.blocks import Message, actions, context, error_message, escape, section
from bot.kit.durations import describe_duration, parse_duration, plural, typed_duration
from bot.kit.posting import SlackError, slack_error
from bot.oms import parse_store_id
from handlers.digest import UnknownStore
from handlers.reconcile import compare
from handlers.reconcile.publish import post_thread
from handlers.reconcile.render import (
    REIMPORT_ACTION,
    final_message,
    progress_message,
    reimport_button,
)

NAME = "reconcile"
DEFAULT_SINCE = 24 * 3600.0
SINCE = Flag("since", "how far back to look (default 24h)", metavar="24h", parse=parse_duration)
STORE = Flag("store", "only this product store's shops (its id, e.g. STORE)", "X", parse_store_id)


def window_refusal(seconds: float, limit_days: float) -> Message | None:
    """Why a window is refused (longer than `[limits] reconcile_max_days`), or None."""
    limit = limit_days * 86400
    if seconds <= limit:
        return None
    return error_message(
        "That window is too long to reconcile",
        f"`--since {typed_duration(seconds)}` asks for {describe_duration(seconds)}; the limit "
        f"is {describe_duration(limit)} (`reconcile_max_days` under `[limits]` in the policy).",
        f"Give `--since {typed_duration(limit)}` or less, or reconcile one store at a time.",
    )


async def _shops(inv: Invocation, store: str | None) -> list[compare.Shop] | None:
    """The shops to compare, or None after telling the user what is wrong."""
    try:
        return await compare.resolve_shops(inv.tools, store)
    except (UnknownStore, compare.NoShops) as exc:
        hint = (
            "Give a product store id with `--store` (e.g. `--store STORE`), or leave it out "
            "for the configured shop."
        )
        await inv.reply.ephemeral(
            error_message("Nothing to reconcile", str(exc), hint), replace=True
        )
        return None


async def reconcile_now(inv: Invocation) -> None:
    tools = inv.tools
    seconds = inv.command.flag("since") or DEFAULT_SINCE
    refusal = window_refusal(seconds, tools.policy.limits.reconcile_max_days)
    if refusal is not None:
        await inv.reply.ephemeral(refusal, replace=True)
        return
    store = inv.command.flag("store")
    shops = await _shops(inv, store)
    if shops is None:
        return
    until = time.time()
    since = until - seconds
    start = compare.Reconciliation(since=since, until=until, store=store, shops=shops)
    try:
        ts = await inv.reply.post(progress_message(start))
    except SlackError as exc:
        await inv.reply.ephemeral(
            error_message(
                "The reconciliation could not be posted here",
                f"Slack answered `{slack_error(exc)}`.",
                "Invite me to this channel (`/invite @oms-bot`) and try again.",
            ),
            replace=True,
        )
        return

    async def progress(result: compare.Reconciliation) -> None:
        await inv.reply.progress(ts, progress_message(result))

    result = await compare.run(
        tools, since=since, until=until, store=store, shops=shops, progress=progress
    )
    message = await final_message(tools, result, created_by=inv.user_id, channel_id=inv.channel_id)
    try:
        await inv.reply.update(ts, message)
    except SlackError:
        # The final state is never dropped: refused as an update, it is posted anew.
        ts = await inv.reply.post(message)
    file_id = await post_thread(
        tools, inv.reply, result, ts, created_by=inv.user_id, channel_id=inv.channel_id
    )
    await record_post(
        tools, actor=inv.user_id, outcome="failed" if result.stopped else "ok",
        summary=f"reconcile: {len(result.missing)} missing of {result.checked} checked"
        + (" (stopped halfway)" if result.stopped else ""),
        channel=inv.channel_id, ts=ts,
        detail={"missing": len(result.missing), "shopify": result.shopify_count,
                "hotwax": result.hotwax_count, "csv": file_id, "store": store},
    )  # fmt: skip


async def on_reimport(click: Click) -> None:
    """Re-import all: `/oms import` of this batch as the presser (it verifies each order);
    the rest is offered as the next batch in the thread."""
    refs = [str(r) for r in click.params.get("refs") or []]
    offset = int(click.params.get("offset") or 0)
    limit = click.tools.policy.limits.max_import
    batch = refs[offset : offset + limit]
    if not batch:
        return
    rest = len(refs) - offset - len(batch)
    if rest > 0 and click.message_ts:
        names = [str(n) for n in click.params.get("names") or []]
        spec = reimport_button(list(zip(refs, names, strict=False)), offset + limit, limit)
        _, elements = await click.tools.actions.buttons(
            [spec], created_by=click.user_id, channel_id=click.channel_id
        )
        await click.reply.post(
            Message(
                text=f"Next batch: {plural(rest, 'more order')} to re-import",
                blocks=[
                    section(
                        f"Batch {offset // limit + 1} ({plural(len(batch), 'order')}) asked "
                        f"for by <@{click.user_id}>. *{plural(rest, 'more order')}* to go:"
                    ),
                    actions(elements),
                    context("Press it once this batch's import has finished."),
                ],
            ),
            thread_ts=click.message_ts,
        )
    await click.tools.run_command(click, "import " + " ".join(batch))


def _pressed(click: Click) -> str:
    refs = click.params.get("refs") or []
    offset = int(click.params.get("offset") or 0)
    count = min(len(refs) - offset, click.tools.policy.limits.max_import)
    return f"Re-import of {plural(count, 'order')} requested by <@{escape(click.user_id)}>"


PROVIDES = Provides(
    commands=(
        CommandSpec(
            name=NAME,
            summary="Compare Shopify with HotWax: counts, then every order missing in HotWax.",
            handler=reconcile_now,
            flags=(SINCE, STORE),
            examples=(
                "/oms reconcile",
                "/oms reconcile --since 3d",
                "/oms reconcile --store STORE",
            ),
        ),
    ),
    actions=(ActionSpec(REIMPORT_ACTION, on_reimport, pressed_note=_pressed),),
)
