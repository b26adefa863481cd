"""One reconciliation, without Slack: counts, then Shopify's orders page by page looked up in
HotWax, then what is known of each missing order.

Reads run together where they do not depend on each other (the two counts; one page's HotWax
lookup and the next Shopify page), bounded by the client's own concurrency. Only the missing
orders and the ids of the last few pages are kept, so memory does not grow with the window
(bench/reconcile.py measures it up to 500,000 orders). A failure halfway stops the paging
and is kept with how far it got: what was found up to there is still reported.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from bot.engine import NotConfigured, Toolbox
from bot.kit.blocks import escape
from bot.kit.durations import describe_duration, plural
from bot.oms import (
    FailedImport,
    OmsError,
    ServiceJobsApi,
    ShopifyProxy,
    reconcile,
    shopify,
    stores,
)
from handlers.digest import check_store, logged_failures
from handlers.jobs import cron_interval
from handlers.reconcile.interval import DEFAULT_INTERVAL, THRU_BUFFER

Group = Literal["logged", "unlogged", "recent"]
# A runaway guard: 100 orders a page, so 2 million orders in a window at most.
MAX_PAGES = 20_000
# Shopify pages by cursor and does not repeat an order, but one edited while the window is
# paged may come again at a page edge; it must not be counted or listed twice. Only the ids
# of this many recent pages are remembered (every id of a large window would cost tens of
# MB); the missing orders, which are kept anyway, are deduplicated exactly.
RECENT_PAGES = 10


@dataclass(frozen=True)
class Shop:
    label: str  # how the message names it
    remote_id: str  # its SystemMessageRemote, the Shopify proxy's connection


@dataclass
class MissingOrder:
    shopify_id: str
    name: str
    created_at: datetime | None
    group: Group = "unlogged"
    failure: FailedImport | None = None


@dataclass
class Reconciliation:
    since: float
    until: float
    store: str | None
    shops: list[Shop]
    shopify_count: int | None = None
    hotwax_count: int | None = None
    listed: bool = False  # whether Shopify's orders were paged (the counts differed)
    checked: int = 0  # Shopify orders read
    pages: int = 0
    missing: list[MissingOrder] = field(default_factory=list)
    recent_after: float = 0.0  # orders created after this are not yet due
    interval_text: str = ""  # mrkdwn-safe: how often the sync runs, and how that is known
    failures_read: bool = True
    stopped: str | None = None  # why the paging stopped halfway (mrkdwn-unsafe text)
    notes: list[str] = field(default_factory=list)  # mrkdwn, escaped

    @property
    def in_step(self) -> bool:
        return (
            not self.listed
            and self.shopify_count is not None
            and (self.shopify_count == self.hotwax_count)
        )

    def group(self, name: Group) -> list[MissingOrder]:
        return [order for order in self.missing if order.group == name]


Progress = Callable[[Reconciliation], Awaitable[None]]


class NoShops(ValueError):
    """The product store has no Shopify shop with a connection; the text says which."""


async def resolve_shops(tools: Toolbox, store: str | None) -> list[Shop]:
    """The shops to compare: the policy's shop without --store, else the store's shops with
    a connection. UnknownStore / NoShops / NotConfigured say what is wrong."""
    oms = tools.oms
    if store is None:
        remote = tools.policy.stores.shopify_remote
        if not remote:
            raise NotConfigured(
                "The policy file does not say which Shopify connection to use: set "
                '`shopify_remote` under `[stores]` (e.g. shopify_remote = "SHOP_CONFIG_10000"), '
                "or name a product store with `--store`."
            )
        return [Shop(f"connection {remote}", remote)]
    await check_store(oms, store)
    shops: list[Shop] = []
    for shop in await stores.list_shops(oms, store):
        found = await stores.find_remote(oms, shop.shop_id)
        if found is not None:
            shops.append(Shop(shop.name or shop.shop_id, found.system_message_remote_id))
    if not shops:
        raise NoShops(
            f"Product store {store} has no Shopify shop with a connection in the OMS, so there "
            "is nothing to compare."
        )
    return shops


async def sync_interval(tools: Toolbox) -> tuple[timedelta, str]:
    """How often the order sync runs, and how the message should say it."""
    job = tools.policy.stores.order_sync_job
    default = describe_duration(DEFAULT_INTERVAL.total_seconds())
    if not job:
        return DEFAULT_INTERVAL, (
            f"the order-sync job is not configured (`order_sync_job`), so orders newer than "
            f"{default} count as too recent"
        )
    try:
        found = await ServiceJobsApi(tools.oms).job(job)
    except OmsError:
        found = None
    seconds = cron_interval(found.cron_expression if found else None)
    if seconds is None:
        return DEFAULT_INTERVAL, (
            f"the schedule of {job} could not be read, so orders newer than {default} count "
            "as too recent"
        )
    return (
        timedelta(seconds=seconds),
        f"the order sync ({job}) runs every {describe_duration(seconds)}",
    )


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


async def count_both(result: Reconciliation, tools: Toolbox) -> None:
    """Shopify's count (every shop's) and HotWax's, read together. A count that cannot be
    read is noted: the orders are then compared one by one."""
    since, until = _moment(result.since), _moment(result.until)

    async def shopify_total() -> int:
        counts = await asyncio.gather(
            *(
                shopify.order_count(ShopifyProxy(tools.oms, shop.remote_id), since, until)
                for shop in result.shops
            )
        )
        return sum(counts)

    answers = await asyncio.gather(
        shopify_total(),
        reconcile.hotwax_order_count(tools.oms, since, until, store=result.store),
        return_exceptions=True,
    )
    for which, answer in zip(("Shopify", "HotWax"), answers, strict=True):
        if isinstance(answer, OmsError):
            result.notes.append(
                f"{which}'s order count could not be read ({escape(answer.message[:200])}): the "
                "orders were compared one by one."
            )
        elif isinstance(answer, BaseException):
            raise answer
    if isinstance(answers[0], int):
        result.shopify_count = answers[0]
    if isinstance(answers[1], int):
        result.hotwax_count = answers[1]


async def _lookup(tools: Toolbox, page: list[shopify.WindowOrder]) -> list[MissingOrder]:
    ids = [order.id for order in page]
    present = set()
    for start in range(0, len(ids), reconcile.LOOKUP_BATCH):
        present |= await reconcile.present_shopify_ids(
            tools.oms, ids[start : start + reconcile.LOOKUP_BATCH]
        )
    return [
        MissingOrder(order.id, order.name, order.created_at)
        for order in page
        if order.id not in present
    ]


async def list_missing(result: Reconciliation, tools: Toolbox, progress: Progress) -> None:
    """Page Shopify's orders of the window and look each page up in HotWax while the next
    page is read. Stops at the first failure, keeping it and what was found before it."""
    since, until = _moment(result.since), _moment(result.until)
    result.listed = True
    recent: deque[set[str]] = deque(maxlen=RECENT_PAGES)
    missing = {order.shopify_id for order in result.missing}
    for shop in result.shops:
        proxy = ShopifyProxy(tools.oms, shop.remote_id)
        fetch: asyncio.Task[shopify.WindowPage] | None = asyncio.ensure_future(
            shopify.window_page(proxy, since, until)
        )
        lookup: asyncio.Task[list[MissingOrder]] | None = None
        cursors: set[str] = set()
        try:
            while fetch is not None:
                page = await fetch
                if page.cursor is not None:
                    # A proxy that answers a cursor it gave before would page forever.
                    if page.cursor in cursors or result.pages >= MAX_PAGES:
                        result.stopped = (
                            f"Shopify's paging did not end after {plural(result.pages, 'page')} "
                            "(a cursor came back, or more pages than any window holds)"
                        )
                        return
                    cursors.add(page.cursor)
                fresh = [o for o in page.orders if not any(o.id in ids for ids in recent)]
                recent.append({o.id for o in fresh})
                lookup = asyncio.ensure_future(_lookup(tools, fresh))
                fetch = (
                    asyncio.ensure_future(
                        shopify.window_page(proxy, since, until, after=page.cursor)
                    )
                    if page.cursor
                    else None
                )
                for order in await lookup:
                    if order.shopify_id not in missing:
                        missing.add(order.shopify_id)
                        result.missing.append(order)
                lookup = None
                result.pages += 1
                result.checked += len(fresh)
                await progress(result)
        except OmsError as exc:
            result.stopped = exc.message
            return
        finally:
            for task in (fetch, lookup):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, OmsError):
                        await task


async def classify_missing(result: Reconciliation, tools: Toolbox, interval: timedelta) -> None:
    """Group the missing orders: a logged failure first (even for a new order), then too
    recent (created within one sync interval and its buffer), else no failure recorded."""
    result.recent_after = result.until - (interval + THRU_BUFFER).total_seconds()
    if not result.missing:
        return
    wanted = {order.shopify_id: order.name for order in result.missing}
    try:
        found, notes = await logged_failures(
            tools.oms,
            since=result.since,
            until=max(result.until, datetime.now(UTC).timestamp()),
            store=result.store,
            page_size=tools.policy.limits.digest_page_size,
            wanted=wanted,
        )
        result.notes.extend(notes)
    except OmsError as exc:
        result.failures_read = False
        result.notes.append(
            f"The failure logs could not be read ({escape(exc.message[:200])}): the missing orders "
            "are listed without their causes."
        )
        found = {}
    for order in result.missing:
        order.failure = found.get(order.shopify_id)
        created = order.created_at.timestamp() if order.created_at else None
        if order.failure is not None:
            order.group = "logged"
        elif created is not None and created >= result.recent_after:
            order.group = "recent"
        else:
            order.group = "unlogged"


async def run(
    tools: Toolbox,
    *,
    since: float,
    until: float,
    store: str | None,
    shops: list[Shop],
    progress: Progress,
) -> Reconciliation:
    """The whole comparison of `shops` (resolve_shops). OMS failures while paging are kept on
    the result with how far it got."""
    result = Reconciliation(since=since, until=until, store=store, shops=shops)
    interval, result.interval_text = await sync_interval(tools)
    await count_both(result, tools)
    if result.in_step:
        return result
    result.listed = True
    await progress(result)
    await list_missing(result, tools, progress)
    await classify_missing(result, tools, interval)
    return result
