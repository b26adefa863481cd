"""Importing one Shopify order into HotWax, as `/oms import` and the refresh do it: replay the
shop's order-sync job from just before the order (bot/oms/ordersync.py), follow the job run,
then wait for what HotWax's data manager (MDM) does with the order.

A finished job run proves only that the sync was queued: the import comes later, through the
MDM, and an order unchanged since the last sync is skipped with no record at all. So the step
waits, showing its progress, until the caller sees the order arrive (`arrived`), a failed MDM
record names the order (the step fails with the OMS's error and its known fix), or nothing more
happens for `[limits] import_quiet_seconds` (or `import_wait_minutes` in all): then the step
fails saying what happened, having changed nothing but the replay itself.

An import that fails because the Shopify order has no shipping address (HotWax's
createOrderContactMech error) fails with the code `CONTACT_MECH`, which the refresh answers
with the recovery (handlers/orders/recovery.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.engine import RunContext, StepFailed, restorer
from bot.kit.blocks import clip
from bot.kit.durations import plural
from bot.oms import OmsError, OrderSync, ShopifyOrder, differing, mdm
from handlers.orders.causes import explain
from handlers.orders.lookup import order_sync, shopify

FOLLOW_SECONDS = 120.0  # the job run only queues the sync: it ends in seconds
# MDM logs are read from this long before the replay: the OMS's clock and ours may differ.
CLOCK_SLACK = timedelta(minutes=2)
# The failure code of an import that failed in createOrderContactMech (no shipping address).
CONTACT_MECH = "create-order-contact-mech"
CONTACT_MECH_SERVICE = "createOrderContactMech"

SUMMARY_MAX = 300  # an audit summary's length (the run engine's too)
# The restore obligation of a replay: the order-sync job's parameters before the window.
SYNC_OBLIGATION = "order-sync-parameters"

Arrived = Callable[[], Awaitable[str | None]]


def describe_failure(error: str, *, web: bool = False, pos_refresh: bool = False) -> str:
    """The OMS's error, followed by its known cause and fix when there is one: a web order's
    (`web`) or a POS order's refresh's (`pos_refresh`) where they differ."""
    known = explain(error)
    if known is None:
        return error
    fix = known.fix_for(web=web, pos_refresh=pos_refresh)
    return f"{error} (cause: {known.cause} Fix: {fix})"


def is_web(order: ShopifyOrder) -> bool:
    """Whether the Shopify order was not a POS sale (its address can be corrected)."""
    return (order.source_name or "").lower() != "pos"


def failure_code(error: str) -> str | None:
    """The code of an import error the runbooks answer with a fix of their own."""
    return CONTACT_MECH if CONTACT_MECH_SERVICE in error else None


async def shopify_order(ctx: RunContext, shopify_id: str, missing: str) -> ShopifyOrder:
    """The order in Shopify, which the import needs (its last change dates the replay);
    StepFailed saying `missing` when Shopify does not have it."""
    order = await shopify(ctx.tools).order_by_id(shopify_id)
    if order is None or order.updated_at is None:
        raise StepFailed(missing)
    return order


def _parameters(original: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's parameter list recorded in a restore obligation."""
    params = original.get("parameters")
    if not isinstance(params, list) or not all(isinstance(p, dict) for p in params):
        raise StepFailed("the recorded order-sync parameters are unreadable; nothing was changed")
    return [dict(p) for p in params]


@restorer(SYNC_OBLIGATION)
async def put_back_order_sync(ctx: RunContext, original: dict[str, Any]) -> str:
    """Put the order-sync job back as it was before the run, when it reads otherwise (its
    replay was cut off between the window and the restore); read back either way."""
    job = str(original.get("job") or "")
    if not job:
        raise StepFailed("the recorded order-sync job has no name; nothing was changed")
    params = _parameters(original)
    # Only the job's parameters are read and written: the shop it syncs was checked when the
    # obligation was recorded, and the job may be any the run used (not today's setting).
    sync = OrderSync(ctx.tools.oms, job, remote_id="")
    left = await sync.parameters()
    changed = differing(left, params)
    if not changed:
        return f"{job} already read as before the run; nothing was written"
    await ctx.oms_write(
        f"put the order-sync job {job} back as before the run",
        {"job": job, "left": changed},
        sync.put_back(params),
    )
    shown = ", ".join(f"{k} {v or 'empty'}" for k, v in sorted(changed.items()))
    return f"{job} had {shown}; it reads back as before the run"


@dataclass
class _Watch:
    """What the wait has seen of the MDM since the replay."""

    since: datetime
    seen: dict[str, str] = field(default_factory=dict)  # log id -> status
    read_failures: set[str] = field(default_factory=set)  # logs whose failed records were read
    last_change: float = field(default_factory=time.monotonic)
    web: bool = False  # which known fix the failures name: a web order's,
    pos_refresh: bool = False  # or a POS order's refresh's


async def replay_and_wait(
    ctx: RunContext,
    order: ShopifyOrder,
    arrived: Arrived,
    *,
    nothing_came: str,
    pos_refresh: bool = False,
) -> str:
    """Replay the sync around `order` and wait for HotWax's import (see the module's doc).

    Returns what `arrived` said; StepFailed otherwise, ending with `nothing_came` when HotWax
    recorded nothing about the order. `pos_refresh` picks the known fixes for a POS order's
    refresh. The import's result is audited beside the replay: the replay's write succeeding
    says nothing about whether HotWax took the order in."""
    assert order.updated_at is not None
    ctx.add_references(order.id, order.name)
    found = await arrived()
    if found is not None:
        return found  # already there (a resumed run whose earlier replay did it): no replay
    sync = order_sync(ctx.tools)
    # The job syncs this shop and is not mid-replay: checked before writing.
    original = await sync.check()
    await _until_ready(ctx, sync, order)
    watch = _Watch(
        since=datetime.now(UTC) - CLOCK_SLACK, web=is_web(order), pos_refresh=pos_refresh
    )
    # Recorded before the window is set: should the process die, or the OMS drop, before the
    # replay puts the job back, Resume (or the sweep) puts back this, not what was left.
    owed = await ctx.owe(
        kind=SYNC_OBLIGATION,
        key=f"order-sync:{sync.job_name}",
        what=f"the order-sync job {sync.job_name}'s parameters",
        original={"job": sync.job_name, "parameters": original},
    )
    run_id = await ctx.oms_write(
        f"replay the order sync to re-import {order.name}",
        {"shopifyOrderId": order.id, "job": sync.job_name, "fromDate": "updatedAt - 1 min"},
        sync.replay(
            order.updated_at,
            original=_parameters(owed.payload),
            before_run=ctx.still_held,  # a run that lost its lease does not run the job
        ),
    )
    await ctx.settle(owed.key, "put back and read back by the replay")
    try:
        found = await _wait_for_import(ctx, sync, run_id, order, arrived, watch, nothing_came)
    except (StepFailed, OmsError) as exc:
        why = exc.message if isinstance(exc, OmsError) else str(exc)
        await ctx.audit_read_back(
            clip(f"re-import {order.name} from Shopify: failed: {why}", SUMMARY_MAX),
            False,
            {"shopifyOrderId": order.id, "orderSyncRun": run_id, "error": why},
        )
        raise
    # The new version's HotWax id, for the audit of what follows (the refresh's cancel).
    ctx.add_references(
        *(o.order_id for o in await ctx.tools.oms.find_orders_by_shopify_id(order.id))
    )
    await ctx.audit_read_back(
        clip(f"re-import {order.name} from Shopify: {found}", SUMMARY_MAX),
        True,
        {"shopifyOrderId": order.id, "orderSyncRun": run_id, "result": found},
    )
    return found


async def _wait_for_import(
    ctx: RunContext,
    sync: OrderSync,
    run_id: str,
    order: ShopifyOrder,
    arrived: Arrived,
    watch: _Watch,
    nothing_came: str,
) -> str:
    await _follow_run(ctx, sync, run_id, watch)
    watch.last_change = time.monotonic()
    limits = ctx.tools.policy.limits
    deadline = time.monotonic() + limits.import_wait_minutes * 60
    while True:
        found = await arrived()
        if found is not None:
            return found
        active = await _watch_mdm(ctx, order, watch)
        quiet = time.monotonic() - watch.last_change
        if not active and quiet >= limits.import_quiet_seconds:
            happened = _what_happened(watch)
            raise StepFailed(f"{happened[:1].upper()}{happened[1:]}. {nothing_came}")
        if time.monotonic() >= deadline:
            raise StepFailed(
                f"HotWax has not imported {order.name} after "
                f"{limits.import_wait_minutes:g} min ({_what_happened(watch)}). {nothing_came} "
                "`/oms mdm` shows the imports as they come."
            )
        await ctx.progress(f"waiting for HotWax's import of {order.name}: {_what_happened(watch)}")
        await asyncio.sleep(limits.sync_poll_seconds)


async def _until_ready(ctx: RunContext, sync: OrderSync, order: ShopifyOrder) -> None:
    """Wait until the order's last change is older than the sync's buffer: a newer one would
    fall outside the window the sync takes (it ends `thruDateBuffer` before now)."""
    assert order.updated_at is not None
    wait = (sync.ready_at(order.updated_at) - datetime.now(UTC)).total_seconds()
    if wait > 0:
        await ctx.progress(
            f"{order.name} changed in Shopify moments ago; the order sync takes it in {wait:.0f}s"
        )
        await asyncio.sleep(wait)


async def _follow_run(ctx: RunContext, sync: OrderSync, run_id: str, watch: _Watch) -> None:
    result = await sync.follow(run_id, timeout=FOLLOW_SECONDS)
    if not result.finished:
        raise StepFailed(
            f"the order-sync job run {run_id} has not ended after {FOLLOW_SECONDS:.0f}s; "
            "nothing was imported yet. Check it later with `/oms mdm`."
        )
    if result.has_error:
        error = result.errors or "the order-sync job run failed"
        raise StepFailed(
            describe_failure(error, web=watch.web, pos_refresh=watch.pos_refresh),
            code=failure_code(error),
        )


async def _watch_mdm(ctx: RunContext, order: ShopifyOrder, watch: _Watch) -> bool:
    """Read the MDM logs since the replay; StepFailed when a failed record is this order.
    Returns whether an import is still in progress."""
    oms = ctx.tools.oms
    logs = await mdm.recent_logs(oms, since=watch.since, limit=20)
    active = False
    for log in logs:
        status = log.status_id or ""
        if watch.seen.get(log.log_id) != status:
            watch.seen[log.log_id] = status
            watch.last_change = time.monotonic()
        active = active or not log.ended
        if log.ended and log.failed and log.log_id not in watch.read_failures:
            watch.read_failures.add(log.log_id)
            for record in await mdm.failed_records(oms, log):
                if record.is_order(order.id, order.name):
                    raise StepFailed(
                        f"HotWax's import of {order.name} failed (MDM {log.log_id}): "
                        + describe_failure(
                            record.error, web=watch.web, pos_refresh=watch.pos_refresh
                        ),
                        code=failure_code(record.error),
                    )
    return active


def _what_happened(watch: _Watch) -> str:
    if not watch.seen:
        return "the sync ran, and no MDM import was recorded since the replay"
    ended = sum(1 for status in watch.seen.values() if status in mdm.ENDED_STATUSES)
    return (
        f"{plural(len(watch.seen), 'MDM import')} since the replay "
        f"({', '.join(sorted(watch.seen))}), "
        f"{ended} ended, none with this order failing"
    )
