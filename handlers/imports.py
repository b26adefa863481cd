"""`/oms import <shopify order> [...]`: re-import orders from Shopify, one checklist line each.

Each order is imported by replaying the shop's order-sync job over a window around the order's
Shopify `updatedAt` (see bot/oms/ordersync.py), then looked up in HotWax to verify. An order
already in HotWax is skipped; an order that fails shows the OMS's error and its known fix, and
the other orders still run.
"""

from __future__ import annotations

from typing import Any

from bot.actions import ActionSpec, ButtonSpec, Click
from bot.blocks import Block, Message, actions, confirm_dialog, context, escape, header, section
from bot.commands import Arg, CommandSpec, Registry
from bot.context import Invocation
from bot.known_causes import explain
from bot.oms.refs import OrderRef, parse_order_ref
from bot.runs import Outcome, Runbook, RunContext, Step, StepFailed, StepSkipped
from bot.services import Services
from handlers.common import live_version, order_sync, shopify, status_words

NAME = "import"
ROLE = "operator"
CONFIRM_ACTION = "import.confirm"
MAX_ORDERS = 20
FOLLOW_SECONDS = 120.0


def shopify_ref(text: str) -> OrderRef:
    """A Shopify order id or name; a short number is ambiguous (it looks like a HotWax id)."""
    ref = parse_order_ref(text)
    if ref.kind != "order_id":
        return ref
    if ref.value.isdigit() and not ref.explicit:
        raise ValueError(
            f"`{text}` could be a HotWax order id; give the Shopify order id "
            f"(shopify:{text} if that is what it is) or name (#1004)"
        )
    raise ValueError(
        f"`{text}` is a HotWax order id; give the Shopify order id (6178678210724) or name (#1004)"
    )


def describe_failure(error: str) -> str:
    known = explain(error)
    if known is None:
        return error
    return f"{error} (cause: {known.cause} Fix: {known.fix})"


def import_step(shopify_id: str, name: str) -> Step:
    async def run(ctx: RunContext) -> str:
        services = ctx.services
        existing = live_version(await services.oms.find_orders_by_shopify_id(shopify_id))
        if existing is not None and not existing.is_cancelled:
            raise StepSkipped(
                f"already in HotWax as {existing.order_id} ({status_words(existing.status_id)})"
            )
        order = await shopify(services).order_by_id(shopify_id)
        if order is None or order.updated_at is None:
            raise StepFailed(f"{name} was not found in Shopify; it cannot be imported")
        sync = order_sync(services)
        run_id = await ctx.oms_write(
            "re-import a Shopify order (order-sync window replay)",
            {"shopifyOrderId": shopify_id, "job": sync.job_name},
            sync.replay(order.updated_at),
        )
        result = await sync.follow(run_id, timeout=FOLLOW_SECONDS)
        if not result.finished:
            raise StepFailed(
                f"the import job run {run_id} is still running; check it later with `/oms mdm`"
            )
        if result.has_error:
            raise StepFailed(describe_failure(result.errors or "the import job failed"))
        found = live_version(await services.oms.find_orders_by_shopify_id(shopify_id))
        if found is None or found.is_cancelled:
            raise StepFailed(f"the import job finished but {name} is not in HotWax")
        return f"imported as {found.order_id} ({status_words(found.status_id)})"

    return Step(f"Import {name}", run, stop_on_failure=False)


def _title(params: dict[str, Any]) -> str:
    names = [o["name"] for o in params["orders"]]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"Import {shown} from Shopify"


async def _outcome(ctx: RunContext) -> Outcome:
    return Outcome(f"{len(ctx.params['orders'])} order(s) are in HotWax.")


RUNBOOK = Runbook(
    name=NAME,
    title=_title,
    steps=lambda p: [import_step(o["id"], o["name"]) for o in p["orders"]],
    order_keys=lambda p: [o["id"] for o in p["orders"]],
    role=ROLE,
    outcome=_outcome,
)


async def resolve(
    services: Services, refs: list[OrderRef]
) -> tuple[list[dict[str, str]], list[str]]:
    """Shopify id and name of each reference, and the problems found."""
    proxy = shopify(services)
    found: list[dict[str, str]] = []
    problems: list[str] = []
    for ref in refs:
        order = (
            await proxy.order_by_name(ref.value)
            if ref.kind == "shopify_name"
            else await proxy.order_by_id(ref.value)
        )
        if order is None:
            problems.append(f"{ref.value}: not found in Shopify")
        elif order.id not in [f["id"] for f in found]:
            found.append({"id": order.id, "name": order.name})
    return found, problems


def import_button(orders: list[dict[str, str]], label: str = "Re-import") -> ButtonSpec:
    """A button that imports these orders (with Slack's confirm dialog); operators only."""
    names = ", ".join(o["name"] for o in orders)
    return ButtonSpec(
        label,
        CONFIRM_ACTION,
        {"orders": orders, "order_keys": [o["id"] for o in orders]},
        style="primary",
        allowed_role=ROLE,
        confirm=confirm_dialog(
            "Import from Shopify?", f"Import {names} into HotWax now.", "Import"
        ),
    )


async def import_command(inv: Invocation) -> None:
    services = inv.services
    refs: list[OrderRef] = inv.command.arg("order")
    limit = min(MAX_ORDERS, int(services.policy.limits.get("max_import", MAX_ORDERS)))
    if len(refs) > limit:
        await inv.reply.ephemeral(
            Message(
                text=f"At most {limit} orders in one import; you gave {len(refs)}. "
                "Split them into several commands."
            ),
            replace=True,
        )
        return
    orders, problems = await resolve(services, refs)
    if problems:
        lines = "\n".join(f"• {escape(p)}" for p in problems)
        await inv.reply.ephemeral(
            Message(
                text="Nothing was imported: " + "; ".join(problems),
                blocks=[
                    section(f":warning: Nothing was imported.\n{lines}"),
                    context("Check the Shopify order ids or names and try again."),
                ],
            ),
            replace=True,
        )
        return
    _, buttons = await services.actions.buttons(
        [import_button(orders, f"Import {len(orders)} order{'s' if len(orders) > 1 else ''}")],
        created_by=inv.user_id,
        channel_id=inv.channel_id,
        ttl=15 * 60,
    )
    lines = "\n".join(f"• `{escape(o['name'])}` (Shopify {o['id']})" for o in orders)
    blocks: list[Block] = [
        header(_title({"orders": orders})),
        section(
            f"{lines}\nEach order is imported by replaying the shop's order-sync job "
            "around the order's last change in Shopify, then looked up in HotWax. Orders "
            "already in HotWax are skipped."
        ),
        actions(buttons),
    ]
    await inv.reply.ephemeral(
        Message(text=_title({"orders": orders}) + "?", blocks=blocks), replace=True
    )


async def _on_confirm(click: Click) -> None:
    await click.services.engine.try_start(
        NAME,
        {"orders": list(click.params["orders"])},
        actor=click.user_id,
        channel_id=click.channel_id,
        client=click.client,
        reply=click.reply,
    )


def register(registry: Registry) -> None:
    registry.add(
        CommandSpec(
            name=NAME,
            summary="Re-import orders from Shopify (at most 20), verifying each in HotWax.",
            handler=import_command,
            args=(
                Arg(
                    "order",
                    "Shopify order ids or names",
                    repeat=True,
                    parse=shopify_ref,
                    max_count=MAX_ORDERS,
                ),
            ),
            examples=("/oms import #1007", "/oms import 6100000000006 #1007"),
            role=ROLE,
            changes_oms=True,
        )
    )


def setup(services: Services) -> None:
    services.engine.add(RUNBOOK)
    services.actions.add(
        ActionSpec(
            CONFIRM_ACTION, _on_confirm, pressed_note=lambda c: f"Import started by <@{c.user_id}>"
        )
    )
