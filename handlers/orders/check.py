"""`/oms check <order>`: HotWax's order-sync troubleshooting runbook as a decision tree.

In HotWax:
  - the search index disagrees with the order record -> the index is stale (reindex);
  - stuck in Created longer than the threshold (policy `[limits] stuck_minutes`, default 30):
      web -> the order-approval causes (payment not authorised or settled) and what to run;
      POS -> the order in Shopify: fulfilled -> Refresh; not fulfilled -> nothing to do yet;
  - otherwise it looks fine.
Not in HotWax but in Shopify -> the recorded import failures (the Shopify order MDM failed
records, and logInsights where the tenant has it) with their known causes and a Re-import
button; none recorded -> run the New orders job or re-import this order.
In neither -> the order was never placed.

Each verdict names its first fix, and only a button for that fix is primary: where the first
fix is outside the bot (the payment, the address in Shopify), no button is. A button that runs
a job (Approve orders, New orders, the order sync) starts it through the jobs family, and when
the run has ended checks the order again, replacing the check's message with the new verdict.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from bot.engine import (
    ActionSpec,
    Arg,
    AuditEvent,
    ButtonSpec,
    Click,
    CommandSpec,
    Invocation,
    Provides,
    Toolbox,
)
from bot.kit.blocks import Block, Message, actions, context, escape, fields, header, section
from bot.kit.durations import plural
from bot.oms import (
    Attempt,
    Order,
    OrderRef,
    ShopifyOrder,
    attempt,
    button_ref,
    mdm,
    parse_order_ref,
    read_each,
    reads_together,
    search,
)
from handlers.jobs import run_job_button, run_service_job_button, start_job_run
from handlers.orders import approve, imports, refresh
from handlers.orders.causes import explain
from handlers.orders.lookup import (
    live_version,
    order_references,
    shopify_order_for,
    status_words,
    versions_line,
    when,
)
from handlers.orders.pages import links_block
from handlers.orders.reimport import is_web

CHECK_ACTION = "check.order"
JOB_THEN_CHECK_ACTION = "check.run_job"
# How often the job run's end is looked for in the audit, at most (a local database read).
RUN_END_POLL_SECONDS = 1.0
GOOD_PAYMENTS = approve.GOOD_PAYMENTS
MDM_LOGS_SCANNED = 10
T = TypeVar("T")


@dataclass
class Diagnosis:
    title: str
    verdict: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    buttons: list[ButtonSpec] = field(default_factory=list)
    # What the card links to: the order's HotWax page and its Shopify admin page.
    order: Order | None = None
    shopify_id: str | None = None


def _facts(order: Order) -> list[tuple[str, str]]:
    return [
        ("HotWax order", f"`{order.order_id}`"),
        ("Status", status_words(order.status_id)),
        ("Channel", order.sales_channel_label),
        ("Store", order.product_store_id or "-"),
        ("Order date", when(order.order_date)),
        ("Shopify", f"{order.shopify_order_name or '-'} / {order.shopify_order_id or '-'}"),
    ]


async def diagnose(tools: Toolbox, ref: OrderRef) -> Diagnosis:
    # The order is read together with what its verdict most likely needs next: the search
    # index for a HotWax order id, the Shopify order for a Shopify reference (an order
    # missing from HotWax). Read ahead, their failures wait: one shows only where the
    # verdict uses that read, as when it was read after the order.
    by_shopify = ref.kind != "order_id"
    # The failed MDM logs, which an order missing from HotWax needs, start too; they are a
    # chain of calls (configs, pages), so the check never waits for them: `reads_together`
    # would, and where HotWax has the order they are cancelled unused.
    logs_ahead = asyncio.ensure_future(attempt(_failed_logs(tools))) if by_shopify else None
    try:
        orders, index_ahead, shop_ahead = await reads_together(
            tools.oms.find_orders(ref),
            _no() if by_shopify else attempt(search.indexed_status(tools.oms, ref.value)),
            attempt(shopify_order_for(tools, ref, None)) if by_shopify else _no(),
        )
        order = live_version(orders)
        if order is not None:
            if logs_ahead is not None:
                logs_ahead.cancel()
            index = index_ahead if order.order_id == ref.value else None
            shop = shop_ahead if shop_ahead and _same_shopify_order(shop_ahead, order) else None
            return await _in_hotwax(tools, ref, order, orders, index, shop)
        shop_found = shop_ahead.value() if shop_ahead else await shopify_order_for(tools, ref, None)
        if shop_found is None:
            return Diagnosis(
                title=f"Check {ref.value}",
                verdict=f"{ref.value} is neither in HotWax nor in Shopify: the order was never "
                "placed (or the reference is wrong). Check the id or name with the customer or "
                "the store.",
            )
        return await _only_in_shopify(tools, shop_found, logs_ahead)
    finally:
        if logs_ahead is not None and not logs_ahead.done():
            logs_ahead.cancel()


async def _no() -> None:
    """No read ahead."""
    return None


async def _ready(read: T) -> T:
    """A read already made, where reads_together expects one to make."""
    return read


def _same_shopify_order(shop: Attempt[ShopifyOrder | None], order: Order) -> bool:
    """Whether the Shopify order read ahead (by the reference) is the one the HotWax order
    names, so reading it again by the HotWax order's Shopify id would answer the same."""
    found = shop.result
    return shop.error is None and found is not None and found.id == order.shopify_order_id


async def _in_hotwax(
    tools: Toolbox,
    ref: OrderRef,
    order: Order,
    orders: list[Order],
    index_ahead: Attempt[str | None] | None,
    shop_ahead: Attempt[ShopifyOrder | None] | None,
) -> Diagnosis:
    title = f"Check {order.shopify_order_name or order.order_id}"
    diag = Diagnosis(title=title, verdict="", facts=_facts(order), order=order)
    versions = versions_line(orders)
    if versions:
        diag.findings.append(versions)
    since = order.entry_date or order.order_date
    threshold = tools.policy.limits.stuck_minutes
    age_min = (datetime.now(UTC) - since).total_seconds() / 60 if since else None
    created = order.status_id == "ORDER_CREATED"
    stuck_pos = (
        created
        and (age_min is None or age_min >= threshold)
        and order.sales_channel_enum_id == "POS_SALES_CHANNEL"
    )
    # A stuck POS order's verdict needs the Shopify order: read with the index (unless read
    # ahead). Its failure waits, since a stale index is the verdict whatever Shopify says.
    indexed, shop_read = await reads_together(
        _ready(index_ahead)
        if index_ahead
        else attempt(search.indexed_status(tools.oms, order.order_id)),
        (_ready(shop_ahead) if shop_ahead else attempt(shopify_order_for(tools, ref, order)))
        if stuck_pos
        else _no(),
    )
    indexed_status = indexed.value()
    if indexed_status and indexed_status != order.status_id:
        diag.verdict = (
            f"The order search index is stale: it shows {status_words(indexed_status)} while "
            f"the order is {status_words(order.status_id)}. Nothing is wrong with the order; "
            "reindex it (order detail page > Reindex) so Find Order shows the truth."
        )
        return diag
    if not created:
        diag.verdict = f"Looks fine: the order is {status_words(order.status_id)} in HotWax."
        return diag
    if age_min is not None and age_min < threshold:
        diag.verdict = (
            f"Created {age_min:.0f} minutes ago, within the normal {threshold:.0f} "
            "minutes; the Approve orders job should pick it up."
        )
        return diag
    stuck = f"Stuck in Created for {age_min / 60:.1f} hours." if age_min else "Stuck in Created."
    if shop_read is not None:
        _pos_stuck(order, shop_read.value(), diag, stuck)
    else:
        job = await _ofbiz_job_button(tools, "approve-orders", f"order:{order.order_id}")
        _web_stuck(order, diag, stuck, job)
    return diag


async def _ofbiz_job_button(tools: Toolbox, job_key: str, recheck: str) -> ButtonSpec | None:
    """A Run button for an OFBiz catalogue job, where the tenant's OFBiz JobSandbox holds
    jobs; None on a tenant without it (a Moqui-only one), where the button could only fail.
    When the run ends, the order `recheck` names is checked again."""
    if "ofbiz" in (await tools.oms.profile()).job_backends:
        job = run_job_button(job_key)
        return _then_check(job, f"{job.label} and check again", recheck)
    return None


async def _order_sync_button(tools: Toolbox, recheck: str) -> ButtonSpec | None:
    """Run now for the shop's order-sync job (the Moqui Job Manager's import of new
    orders), where the tenant's Moqui Job Manager holds jobs and the policy names it."""
    job = tools.policy.stores.order_sync_job
    if job and "moqui" in (await tools.oms.profile()).job_backends:
        button = run_service_job_button(job)
        return _then_check(button, "Run the order sync now and check again", recheck)
    return None


def _then_check(job: ButtonSpec, label: str, recheck: str) -> ButtonSpec:
    """The jobs family's Run button (its confirm dialog, its role), pressed here instead: the
    job runs as the jobs runbook, and when it ends the order is checked again. Secondary:
    each verdict says which button is the first thing to do."""
    return dataclasses.replace(
        job,
        label=label,
        action=JOB_THEN_CHECK_ACTION,
        params={**job.params, "ref": recheck},
        style=None,
    )


def _web_stuck(order: Order, diag: Diagnosis, stuck: str, job: ButtonSpec | None) -> None:
    payments = [p.status_id or "none" for p in order.payment_preferences] or ["no payment"]
    paid = any(p in GOOD_PAYMENTS for p in payments)
    if not paid:
        diag.verdict = (
            f"{stuck} The Approve orders job only approves orders whose payment is authorised "
            f"or settled; this one's payment is {', '.join(payments)}. First fix the payment "
            "(in Shopify or the payment gateway); then run the Approve orders job"
            + (": the button runs it and checks the order again." if job else ".")
        )
        diag.buttons += [job] if job else []
        return
    diag.verdict = (
        f"{stuck} The payment is {', '.join(payments)}, so the Approve orders job should "
        "approve it; check that the job is scheduled, or that no order attribute it needs is "
        "missing. You can approve it now."
    )
    diag.buttons.append(
        ButtonSpec(
            "Approve now",
            approve.CHECK_APPROVE_ACTION,
            {"orders": [order.order_id], "order_keys": order_references(order)},
            style="primary",
            allowed_role=approve.ROLE,
        )
    )
    diag.buttons += [job] if job else []


def _pos_stuck(order: Order, shop: ShopifyOrder | None, diag: Diagnosis, stuck: str) -> None:
    if shop is None:
        diag.verdict = f"{stuck} The order is not in Shopify, so it cannot be refreshed."
        return
    diag.facts.append(("In Shopify", shop.fulfillment_status or "unknown"))
    if not shop.fulfilled:
        diag.verdict = (
            f"{stuck} Shopify does not show it fulfilled either, so HotWax is "
            "right; nothing to do until it is fulfilled in Shopify."
        )
        return
    diag.verdict = (
        f"{stuck} Shopify shows it fulfilled: it was imported before it was fulfilled. "
        "Refresh it to import the fulfilled version and cancel this one."
    )
    diag.buttons.append(
        ButtonSpec(
            "Refresh",
            CHECK_ACTION,
            {"then": "refresh", "order_id": order.order_id, "order_keys": order_references(order)},
            style="primary",
            allowed_role=refresh.ROLE,
        )
    )


async def _only_in_shopify(
    tools: Toolbox,
    shop: ShopifyOrder,
    logs_ahead: asyncio.Future[Attempt[list[mdm.MdmLog]]] | None = None,
) -> Diagnosis:
    diag = Diagnosis(
        title=f"Check {shop.name}",
        verdict="",
        facts=[
            ("In Shopify", f"{shop.name} / {shop.id}"),
            ("Shopify status", shop.fulfillment_status or "unknown"),
            ("In HotWax", "not found"),
        ],
        shopify_id=shop.id,
    )
    # import_failures reads logInsights only where the tenant's profile has it. The two
    # sources of failures are independent: read together.
    logged, from_mdm = await reads_together(
        search.import_failures(tools.oms, shop.name), _mdm_failures(tools, shop, logs_ahead)
    )
    errors = [f.error_message for f in logged] + from_mdm
    target = [{"id": shop.id, "name": shop.name}]
    if errors:
        for error in dict.fromkeys(errors):
            known = explain(error)
            line = f"Import failed: {error}"
            if known:
                line += f"\nCause: {known.cause}\nFix: {known.fix_for(web=is_web(shop))}"
            diag.findings.append(line)
        diag.verdict = (
            f"{shop.name} is in Shopify but HotWax failed to import it "
            f"({plural(len(set(errors)), 'recorded error')}). First fix the cause in Shopify, "
            "then re-import."
        )
        # The first fix is in Shopify, not here: the Re-import is the second step.
        diag.buttons.append(dataclasses.replace(imports.import_button(target), style=None))
        return diag
    diag.verdict = (
        f"{shop.name} is in Shopify, not in HotWax, and no import failure is "
        "recorded: the import has probably not run since it was placed. Run the "
        "New orders job, or re-import just this order."
    )
    # Orders come in through the shop's Moqui order sync where the tenant has it (HotWax's
    # current import), through the OFBiz New orders job on a legacy tenant.
    recheck = button_ref(shop.id, shop.name) or shop.name
    job = await _order_sync_button(tools, recheck) or await _ofbiz_job_button(
        tools, "new-orders", recheck
    )
    # The job is the first fix the verdict names; re-importing just this order the second.
    diag.buttons += [dataclasses.replace(job, style="primary")] if job else []
    reimport = imports.import_button(target, "Re-import this order")
    diag.buttons.append(dataclasses.replace(reimport, style=None) if job else reimport)
    return diag


async def _failed_logs(tools: Toolbox) -> list[mdm.MdmLog]:
    return await mdm.recent_logs(tools.oms, failed_only=True, limit=MDM_LOGS_SCANNED)


async def _mdm_failures(
    tools: Toolbox,
    shop: ShopifyOrder,
    logs_ahead: asyncio.Future[Attempt[list[mdm.MdmLog]]] | None,
) -> list[str]:
    """The errors of the Shopify order MDM failed records (new orders and updates) that are
    this order."""
    logs = (await logs_ahead).value() if logs_ahead else await _failed_logs(tools)
    # Each log's failed records are a download of their own: read them together.
    per_log = await read_each(mdm.failed_records(tools.oms, log) for log in logs)
    return [r.error for records in per_log for r in records if r.is_order(shop.id, shop.name)]


async def render(
    tools: Toolbox, diag: Diagnosis, user: str, channel: str, note: str | None = None
) -> Message:
    blocks: list[Block] = [header(diag.title)]
    if note:
        blocks.append(context(escape(note)))
    if diag.facts:
        blocks.append(fields(diag.facts))
    blocks += await links_block(tools, diag.order, shopify_id=diag.shopify_id)
    blocks += [section(escape(f)) for f in diag.findings[:10]]
    blocks.append(section(f"*Verdict:* {escape(diag.verdict)}"))
    if diag.buttons:
        _, elements = await tools.actions.buttons(
            diag.buttons, created_by=user, channel_id=channel, ttl=60 * 60
        )
        blocks.append(actions(elements))
    else:
        blocks.append(context("Nothing to run from here."))
    return Message(text=f"{diag.title}: {diag.verdict}", blocks=blocks)


async def check_card(tools: Toolbox, ref: OrderRef, user: str, channel: str) -> Message:
    """`/oms check <ref>` as a message (the "Check this order" shortcut posts it)."""
    return await render(tools, await diagnose(tools, ref), user, channel)


async def check_command(inv: Invocation) -> None:
    diag = await diagnose(inv.tools, inv.command.arg("order"))
    await inv.reply.ephemeral(
        await render(inv.tools, diag, inv.user_id, inv.channel_id), replace=True
    )


async def _on_check(click: Click) -> None:
    """Buttons that start from a check: show the refresh card, or check an order again."""
    params = click.params
    if params.get("then") == "refresh":
        ref = OrderRef("order_id", params["order_id"], explicit=True)
        orders = await click.tools.oms.find_orders(ref)
        order = live_version(orders)
        shop = await shopify_order_for(click.tools, ref, order)
        if order is None or shop is None:
            await click.reply.safe_ephemeral(Message(text="The order changed; check it again."))
            return
        await click.reply.ephemeral(
            await refresh.refresh_card(
                click.tools,
                click.user_id,
                click.channel_id,
                order,
                orders,
                shop.fulfilled,
                shop.has_shipping_address,
            )
        )
        return
    ref = parse_order_ref(str(params["ref"]))
    diag = await diagnose(click.tools, ref)
    await click.reply.ephemeral(await render(click.tools, diag, click.user_id, click.channel_id))


async def _on_job_then_check(click: Click) -> None:
    """Run the job (as the jobs runbook, with its own progress message), then, when the run
    has ended, check the order again and show the new verdict in place of the old one."""
    params = click.params
    backend = params.get("backend")
    run = await start_job_run(
        click.tools,
        str(params["job"]),
        actor=click.user_id,
        channel_id=click.channel_id,
        client=click.client,
        reply=click.reply,
        **({"backend": str(backend)} if backend else {}),
    )
    if run is None:
        return  # not started: the user was told why
    ended = await _run_end(click.tools, run.id)
    ref = parse_order_ref(str(params["ref"]))
    diag = await diagnose(click.tools, ref)
    if ended is None:
        note = f"“{run.title}” has not ended yet; this is the order as it is now."
    else:
        result = {"ok": "finished", "failed": "failed"}.get(ended.outcome, "was interrupted")
        note = f"Checked again after “{run.title}” {result}."
    message = await render(click.tools, diag, click.user_id, click.channel_id, note=note)
    await click.reply.ephemeral(message, replace=True)


async def _run_end(tools: Toolbox, run_id: str) -> AuditEvent | None:
    """The audit event of the run's end (read from the audit, which any replica writes), or
    None when it has not ended within the jobs runbook's own follow time."""
    limits = tools.policy.limits
    deadline = time.monotonic() + limits.job_follow_minutes * 60 + 60
    poll = min(limits.job_poll_seconds, RUN_END_POLL_SECONDS)
    while time.monotonic() < deadline:
        end = await tools.audit.run_end(run_id)
        if end is not None:
            return end
        await asyncio.sleep(poll)
    return None


def check_button(ref: str, label: str = "Check") -> ButtonSpec:
    return ButtonSpec(label, CHECK_ACTION, {"ref": ref})


PROVIDES = Provides(
    commands=(
        CommandSpec(
            name="check",
            summary="Diagnose why an order is missing, stuck or wrong, and offer the fix.",
            handler=check_command,
            args=(
                Arg("order", "a HotWax order id, Shopify order id or #name", parse=parse_order_ref),
            ),
            examples=("/oms check #1004", "/oms check 10005", "/oms check #1006"),
        ),
    ),
    actions=(
        ActionSpec(CHECK_ACTION, _on_check, pressed_note=lambda c: f"Opened by <@{c.user_id}>"),
        ActionSpec(
            JOB_THEN_CHECK_ACTION,
            _on_job_then_check,
            pressed_note=lambda c: (
                f"Job run started by <@{c.user_id}>; the order is checked again when it ends"
            ),
        ),
    ),
)
