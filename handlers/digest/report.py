"""A failed-imports digest end to end: fetch page by page from the tenant's sources, render
within Block Kit limits, post (paced per channel, 429 honoured), attach the full CSV in the
thread, audit it all.

The sources are those the tenant records failed imports in (`failure_sources` of its profile):
the Shopify order MDM's failed records and, where the tenant has it, logInsights. A store
scope (`--store`, a product store) maps to its shops' myshopify domains, which logInsights
documents carry; the MDM names no shop, so its records belong to a store only when every shop
of the OMS is that store's. What a source could not cover is said in the digest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.engine import ButtonSpec, Toolbox
from bot.kit.blocks import Block, Message, actions, context, divider, escape, header, section
from bot.kit.durations import describe_duration, plural, slack_time, typed_duration
from bot.kit.posting import SlackClient, Upload, post_message, upload_file
from bot.oms import (
    FAILURE_PROBES,
    FailedImport,
    OmsClient,
    OmsError,
    OmsRequestError,
    TenantProfile,
    button_ref,
    failures,
    loginsights,
    reads_together,
    stores,
)
from handlers.digest.grouping import Aggregator, Counter, Group
from handlers.digest.links import OrderLinks, find_links

MAX_GROUPS_SHOWN = 12
DEFAULT_WINDOW = 24 * 3600.0  # `--since` when it is not given
FOLLOWUP_ACTION = "digest_followup"
SOURCE_NAMES = {
    loginsights.MDM: "Shopify order MDM (SYNC_ and UPDATE_SHOPIFY_ORDER)",
    loginsights.LOGINSIGHTS: "logInsights",
}


class UnknownStore(ValueError):
    """The product store asked for does not exist; the message lists those that do."""


@dataclass(frozen=True)
class Scope:
    """Which failures belong to the digest: every one, or one product store's."""

    store: str | None
    shops: frozenset[str] | None  # the store's myshopify hosts; None: every shop
    mdm: bool  # whether the MDM's records (which name no shop) belong to it
    mdm_shop: str | None  # the one shop every MDM record comes from, when there is one
    notes: tuple[str, ...] = ()  # mrkdwn, escaped


async def check_store(oms: OmsClient, store: str) -> None:
    """UnknownStore, listing the OMS's product stores, if `store` is not one of them."""
    try:
        await stores.get_product_store(oms, store)
    except OmsRequestError as exc:
        if exc.status_code != 404:
            raise
        known = await stores.list_product_stores(oms)
        listed = ", ".join(f"{sid} ({name})" if name else sid for sid, name in known)
        raise UnknownStore(
            f"There is no product store {store} in the OMS. "
            + (f"The product stores are: {listed}." if listed else "The OMS lists none.")
        ) from None


async def resolve_scope(oms: OmsClient, store: str | None) -> Scope:
    """The scope of `store` (a product store id), or of every shop; UnknownStore if none."""
    every = await stores.list_shops(oms)
    hosts = {shop.domain for shop in every if shop.domain}
    if store is None:
        only = next(iter(hosts)) if len(hosts) == 1 else None
        return Scope(None, None, True, only)
    await check_store(oms, store)
    mine = [shop for shop in every if shop.product_store_id == store]
    domains = frozenset(shop.domain for shop in mine if shop.domain)
    notes: list[str] = []
    if not mine:
        notes.append(
            f"Product store {escape(store)} has no Shopify shops, so no order of it can fail."
        )
    elif len(domains) < len(mine):
        notes.append(
            "Some of the store's shops have no myshopify domain in the OMS: logInsights "
            "failures cannot be matched to them."
        )
    # The MDM's records name no shop: they are the store's only when every shop is.
    whole = bool(mine) and len(mine) == len(every)
    if mine and not whole:
        notes.append(
            "The Shopify order MDM does not record which shop an order came from, and this "
            "OMS has shops of other product stores too, so its failed records are left out "
            "here; `/oms failed` without --store shows them."
        )
    only = next(iter(domains)) if whole and len(domains) == 1 else None
    return Scope(store, domains, whole, only, tuple(notes))


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
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())  # mrkdwn, escaped

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


Sink = Callable[[list[FailedImport]], None]


async def _collect(
    oms: OmsClient,
    sources: frozenset[str],
    scope: Scope,
    *,
    since: float,
    until: float,
    page_size: int,
    sink: Sink,
) -> tuple[list[str], list[str]]:
    """Stream one window's failures into `sink`, the MDM first (so an order in both sources
    is counted with the MDM's error). Returns the sources read and notes on what was not."""
    read: list[str] = []
    notes: list[str] = []
    if loginsights.MDM in sources and scope.mdm:
        async for page in failures.iter_mdm_failures(
            oms, since=since, until=until, page_size=page_size, shop=scope.mdm_shop
        ):
            sink(page)
        read.append(loginsights.MDM)
    if loginsights.LOGINSIGHTS in sources:
        pages = 0
        try:
            async for _found, page in loginsights.iter_failed_import_pages(
                oms, since=since, until=until, shops=scope.shops, page_size=page_size
            ):
                pages += 1
                sink(page)
            read.append(loginsights.LOGINSIGHTS)
        except OmsError as exc:
            if not loginsights.core_unreadable(exc):
                raise
            if pages:
                read.append(loginsights.LOGINSIGHTS)
                notes.append(
                    f"logInsights stopped answering after {plural(pages, 'page')} "
                    f"({escape(exc.message)}): its part of this digest is incomplete."
                )
            else:
                notes.append(
                    f"logInsights could not be read ({escape(exc.message)}): this tenant may "
                    "not have it. Only the Shopify order MDM is in this digest."
                )
    return read, notes


@dataclass(frozen=True)
class _PreviousCounts:
    """The window before's distinct failed orders over the sources it read (the MDM alone,
    and with the others), so the change compares the same sources this window was read from,
    whichever it could read."""

    by_sources: dict[frozenset[str], int]
    failed: OmsError | None  # why the sources after the MDM could not be read, if so

    def over(self, read: list[str]) -> int:
        """The count over the sources `read`; the error of a source it needed and could not
        read, as when the windows were read one after the other."""
        wanted = frozenset(read)
        if wanted in self.by_sources:
            return self.by_sources[wanted]
        if self.failed is not None:
            raise self.failed
        return max(self.by_sources.values(), default=0)  # read what it could: all of it


async def _count_previous(
    oms: OmsClient,
    sources: frozenset[str],
    scope: Scope,
    *,
    since: float,
    until: float,
    page_size: int,
) -> _PreviousCounts:
    """Count the window before, the MDM first (as the window itself is read), the count
    taken after the MDM and again after the other sources."""
    counter = Counter()
    try:
        mdm, _ = await _collect(
            oms, sources & {loginsights.MDM}, scope,
            since=since, until=until, page_size=page_size, sink=counter.add,
        )  # fmt: skip
        by_sources = {frozenset(mdm): counter.total}
        try:
            rest, _ = await _collect(
                oms, sources - {loginsights.MDM}, scope,
                since=since, until=until, page_size=page_size, sink=counter.add,
            )  # fmt: skip
        except OmsError as exc:
            return _PreviousCounts(by_sources, exc)
        by_sources[frozenset(mdm + rest)] = counter.total
        return _PreviousCounts(by_sources, None)
    finally:
        counter.close()


def _absent_notes(profile: TenantProfile) -> list[str]:
    """A note for each failure source the tenant's profile found absent (a Moqui-only
    tenant's missing logInsights is how such tenants are, so it is not noted)."""
    return [
        f"{escape(probe.source)} could not be read ({escape(probe.detail)}): this tenant may "
        "not have it, so "
        "its failed imports are not in this digest."
        for probe in profile.unused()
        if probe.source in FAILURE_PROBES
        and not probe.transient
        and (FAILURE_PROBES[probe.source] == loginsights.MDM or profile.has_ofbiz)
    ]


def _retention_notes(sources: list[str], since: float, until: float, now: float) -> list[str]:
    """What logInsights' 60-day retention leaves out of this window or the previous one."""
    if loginsights.LOGINSIGHTS not in sources:
        return []
    kept_from = now - loginsights.RETENTION_SECONDS
    days = loginsights.RETENTION_DAYS
    if since < kept_from:
        return [
            f"logInsights keeps failed imports for {days} days: it has no data older than "
            f"{slack_time(kept_from)}, so failures before that are missing from this window "
            "(and from the previous one it is compared with)."
        ]
    if since - (until - since) < kept_from:
        return [
            f"logInsights keeps failed imports for {days} days: the previous window reaches "
            f"back before {slack_time(kept_from)}, so the change is against an incomplete count."
        ]
    return []


async def build_report(
    oms: OmsClient, *, since: float, until: float, store: str | None, page_size: int
) -> DigestReport:
    """Fetch the window's failures page by page and aggregate them as they come; then count
    the previous window the same way, for the change. UnknownStore for a store not in the OMS."""
    profile = await oms.profile()
    sources, absent_notes = profile.failure_sources_to_read, _absent_notes(profile)
    scope = await resolve_scope(oms, store)
    aggregator = Aggregator()
    try:
        # The window before (for the change) is counted while this one is read: one after
        # the other, the digest took twice as long.
        (read, notes), previous = await reads_together(
            _collect(
                oms, sources, scope,
                since=since, until=until, page_size=page_size, sink=aggregator.add,
            ),
            _count_previous(
                oms, sources, scope,
                since=since - (until - since), until=since, page_size=page_size,
            ),
        )  # fmt: skip
        previous_total = previous.over(read)
    except BaseException:
        aggregator.discard()
        raise
    notes = [
        *scope.notes,
        *absent_notes,
        *notes,
        *_retention_notes(read, since, until, time.time()),
    ]
    return DigestReport(
        since=since,
        until=until,
        store=store,
        total=aggregator.total,
        previous=previous_total,
        groups=aggregator.ranked(),
        newest=aggregator.newest,
        csv_path=aggregator.close(),
        sources=tuple(read),
        notes=tuple(notes),
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


def _example(failure: FailedImport, links: OrderLinks) -> str:
    if failure.first_attempted_at:
        when = f"first attempted {slack_time(failure.first_attempted_at)}"
    elif failure.first_attempted:
        # Not in the known form, or the OMS's zone is unknown: as the OMS wrote it.
        when = f"first attempted {escape(failure.first_attempted)}"
    else:
        when = f"failed {slack_time(failure.timestamp)}"
    source = "MDM" if failure.source == loginsights.MDM else "logInsights"
    return f"  • {links.link(failure)} · {when} ({source})"


def _group_text(group: Group, links: OrderLinks) -> str:
    lines = [f"*{group.count} × {escape(group.title)}*"]
    if group.fix:
        lines.append(f":wrench: {escape(group.fix)}")
    else:
        lines.append("_No known fix; the text above is the OMS's error with ids taken out._")
    lines += [_example(f, links) for f in group.examples]
    return "\n".join(lines)


def _sources_text(report: DigestReport) -> str:
    if not report.sources:
        return "no source read"
    return "from " + " and ".join(SOURCE_NAMES.get(s, s) for s in report.sources)


def digest_now_command(report: DigestReport) -> str:
    """`/oms digest now` for the same window and store as this report (the hint must not
    post a different digest than the one the user is looking at)."""
    command = "/oms digest now"
    window = report.until - report.since
    if abs(window - DEFAULT_WINDOW) >= 60:
        command += f" --since {typed_duration(window)}"
    if report.store:
        command += f" --store {report.store}"
    return command


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
    """The digest message: totals and change, causes with fixes and examples, buttons.
    `late_note` is mrkdwn."""
    title = digest_title(report)
    period = f"{slack_time(report.since)} → {slack_time(report.until)} · {_sources_text(report)}"
    blocks: list[Block] = [header(title)]
    if late_note:
        blocks.append(context(f":hourglass: {late_note}"))
    notes = [context(f":information_source: {note}") for note in report.notes]
    if report.total == 0:
        change = _change(0, report.previous)
        blocks += [
            section(f":white_check_mark: *No failed imports* in this window ({change})."),
            context(period),
            *notes,
        ]
        text = f"{escape(title)}: no failed imports ({period})"
        return Message(text=text, blocks=blocks)
    causes = len(report.groups)
    blocks.append(
        section(
            f"*{plural(report.total, 'failed import')}* in {plural(causes, 'cause')} · "
            f"{_change(report.total, report.previous)}"
        )
    )
    blocks.append(context(period))
    blocks += notes
    shown_groups = report.groups[:MAX_GROUPS_SHOWN]
    links = await find_links(
        tools.oms, [f for g in shown_groups for f in g.examples] + list(report.newest)
    )
    for group in shown_groups:
        blocks.append(section(_group_text(group, links)))
    hidden = report.groups[MAX_GROUPS_SHOWN:]
    if hidden:
        count = sum(g.count for g in hidden)
        blocks.append(
            context(
                f"… {plural(len(hidden), 'more cause')} ({plural(count, 'failure')}) not shown."
            )
        )
    if not report.fits:
        if in_thread_csv:
            note = (
                f":page_facing_up: All {report.total} failed orders are in the CSV file "
                "in this thread."
            )
        else:
            note = (
                f":page_facing_up: {plural(report.total - report.listed, 'failed order')} "
                "not listed here. "
                f"`{digest_now_command(report)}` posts this digest in the channel with every "
                "order as a CSV "
                "file in its thread."
            )
        blocks.append(context(note))
    if report.newest:
        blocks.append(divider())
        names = ", ".join(links.link(f) for f in report.newest)
        blocks.append(section(f"*Newest failures:* {names}"))
        blocks.append(actions(await followup_buttons(tools, report.newest, created_by, channel_id)))
    text = f"{escape(title)}: {plural(report.total, 'failed import')} ({period})"
    return Message(text=text, blocks=blocks)


async def followup_buttons(
    tools: Toolbox, newest: list[FailedImport], created_by: str, channel_id: str | None
) -> list[Block]:
    """Re-import and Check for each newest failure. They share one token group: the first
    press replaces the message's buttons, so one group matches what is seen."""
    specs: list[ButtonSpec] = []
    for failure in newest:
        ref = button_ref(failure.shopify_order_id, failure.shopify_order_name)
        if ref is None:
            continue  # neither a Shopify id nor a name the commands take
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
    client: SlackClient, channel: str, report: DigestReport, message: Message
) -> Posted:
    """Post the digest; when it does not list every failure, upload the CSV in its thread (a
    refused upload is said there in a note: the digest itself is posted)."""
    ts = await post_message(client, channel, message)
    file_id: str | None = None
    if not report.fits:
        stamp = time.strftime("%Y%m%d-%H%M", time.gmtime(report.until))
        uploaded = await upload_file(
            client,
            channel,
            Upload(
                filename=f"failed-imports-{stamp}.csv",
                title=f"All {report.total} failed imports",
                path=report.csv_path,
                comment=f"Every failed order of this digest ({plural(report.total, 'row')}).",
                what=f"The CSV of the {plural(report.total, 'failed import')}",
            ),
            thread_ts=ts,
        )
        file_id = uploaded.file_id
    return Posted(ts, file_id)


async def logged_failures(
    oms: OmsClient,
    *,
    since: float,
    until: float,
    store: str | None,
    page_size: int,
    wanted: dict[str, str],
) -> tuple[dict[str, FailedImport], tuple[str, ...]]:
    """The failed import logged in [since, until) for each of `wanted` (Shopify id -> order
    name) that has one, read from the tenant's failure sources as the digest reads them (the
    MDM first); a record without a Shopify id is matched by the order's name. Also the notes
    on what could not be read (mrkdwn, escaped). Only the wanted orders' failures are kept."""
    profile = await oms.profile()
    scope = await resolve_scope(oms, store)
    by_name = {name: shopify_id for shopify_id, name in wanted.items() if name}
    found: dict[str, FailedImport] = {}

    def sink(page: list[FailedImport]) -> None:
        for failure in page:
            key = failure.shopify_order_id
            if key not in wanted:
                key = by_name.get(failure.shopify_order_name)
            if key is not None and key not in found:
                found[key] = failure

    _, notes = await _collect(
        oms, profile.failure_sources_to_read, scope,
        since=since, until=until, page_size=page_size, sink=sink,
    )  # fmt: skip
    return found, (*_absent_notes(profile), *notes)
