"""`/oms import <shopify order> [...]`: re-import orders from Shopify, one checklist line each.

Each order is imported by replaying the shop's order-sync job from just before the order's
Shopify `updatedAt`, then waiting for HotWax's MDM import of it (handlers/orders/reimport.py).
An order already in HotWax is skipped; an order that fails shows the OMS's error and its known
fix, and the other orders still run.
"""

from __future__ import annotations

from typing import Any

from bot.engine import (
    ActionSpec,
    Arg,
    ButtonSpec,
    Click,
    CommandSpec,
    Invocation,
    Outcome,
    Provides,
    Runbook,
    RunContext,
    Step,
    StepSkipped,
    Toolbox,
)
from bot.kit.blocks import (
    Block,
    Message,
    actions,
    confirm_dialog,
    escape,
    header,
    refusal_message,
    section,
)
from bot.kit.durations import plural
from bot.kit.forms import CommandForm, FormField
from bot.oms import OrderRef, parse_order_ref, shopify_admin_url
from handlers.orders.lookup import live_version, shopify, status_words
from handlers.orders.pages import shop_host
from handlers.orders.reimport import replay_and_wait, shopify_order
from handlers.orders.shop import shopify_setup, sync_job_keys

NAME = "import"
ROLE = "operator"
CONFIRM_ACTION = "import.confirm"
MAX_ORDERS = 20


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


def import_step(shopify_id: str, name: str) -> Step:
    async def run(ctx: RunContext) -> str:
        oms = ctx.tools.oms
        existing = live_version(await oms.find_orders_by_shopify_id(shopify_id))
        if existing is not None and not existing.is_cancelled:
            raise StepSkipped(
                f"already in HotWax as {existing.order_id} ({status_words(existing.status_id)})"
            )
        order = await shopify_order(
            ctx, shopify_id, f"{name} was not found in Shopify; it cannot be imported"
        )

        async def arrived() -> str | None:
            found = live_version(await oms.find_orders_by_shopify_id(shopify_id))
            if found is None or found.is_cancelled:
                return None
            return f"imported as {found.order_id} ({status_words(found.status_id)})"

        return await replay_and_wait(
            ctx,
            order,
            arrived,
            nothing_came=f"{name} is still not in HotWax; nothing else was changed.",
        )

    return Step(f"Import {name}", run, stop_on_failure=False)


def _title(params: dict[str, Any]) -> str:
    names = [o["name"] for o in params["orders"]]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"Import {shown} from Shopify"


async def _outcome(ctx: RunContext) -> Outcome:
    count = len(ctx.params["orders"])
    return Outcome(f"{plural(count, 'order')} {'is' if count == 1 else 'are'} in HotWax.")


RUNBOOK = Runbook(
    name=NAME,
    title=_title,
    steps=lambda p: [import_step(o["id"], o["name"]) for o in p["orders"]],
    order_keys=lambda p: [*(o["id"] for o in p["orders"]), *sync_job_keys(p)],
    role=ROLE,
    outcome=_outcome,
)


async def resolve(tools: Toolbox, refs: list[OrderRef]) -> tuple[list[dict[str, str]], list[str]]:
    """Shopify id and name of each reference, and the problems found."""
    proxy = shopify(tools)
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


IMPORT_FORM = CommandForm(
    NAME,
    "Import from Shopify",
    (
        FormField(
            "orders",
            "Shopify orders",
            many=True,
            placeholder="#1007\n6100000000006",
            hint=f"Shopify order ids or names, one a line (or separated by spaces or commas); "
            f"at most {MAX_ORDERS}.",
        ),
    ),
    intro="Paste the Shopify orders to re-import. Each is checked before anything runs, "
    "and orders already in HotWax are skipped.",
    submit="Check orders",
)


async def import_command(inv: Invocation) -> None:
    tools = inv.tools
    refs: list[OrderRef] = inv.command.arg("order") or []
    if not refs:
        # Many ids are easier pasted into a form than typed: the form runs this command.
        view = IMPORT_FORM.view(channel_id=inv.channel_id, response_url=inv.reply.response_url)
        if await inv.reply.open_view(view) is None:
            await inv.reply.ephemeral(
                Message(
                    text="Name the orders to import: /oms import #1007 6100000000006",
                    blocks=[
                        section(
                            "Name the Shopify orders to import, e.g. "
                            "`/oms import #1007 6100000000006` (at most "
                            f"{MAX_ORDERS}); `/oms import` alone opens a form to paste them."
                        )
                    ],
                ),
                replace=True,
            )
        return
    limit = tools.policy.limits.max_import
    if len(refs) > limit:
        await inv.reply.ephemeral(
            Message(
                text=f"At most {limit} orders in one import; you gave {len(refs)}. "
                "Split them into several commands."
            ),
            replace=True,
        )
        return
    orders, problems = await resolve(tools, refs)
    if problems:
        await inv.reply.ephemeral(
            refusal_message(
                "Nothing was imported",
                problems,
                "Check the Shopify order ids or names and try again.",
            ),
            replace=True,
        )
        return
    _, buttons = await tools.actions.buttons(
        [import_button(orders, f"Import {plural(len(orders), 'order')}")],
        created_by=inv.user_id,
        channel_id=inv.channel_id,
        ttl=15 * 60,
    )
    host = await shop_host(tools, None)
    lines = "\n".join(
        f"• `{escape(o['name'])}` (Shopify {_admin_link(host, str(o['id']))})" for o in orders
    )
    blocks: list[Block] = [
        header(_title({"orders": orders})),
        section(
            f"{lines}\nEach order is imported by replaying the shop's order-sync job "
            "from just before the order's last change in Shopify, then waiting for HotWax's "
            "import of it. Orders already in HotWax are skipped."
        ),
        actions(buttons),
    ]
    await inv.reply.ephemeral(
        Message(text=_title({"orders": orders}) + "?", blocks=blocks), replace=True
    )


def _admin_link(host: str | None, shopify_id: str) -> str:
    """The Shopify id, linked to the order's Shopify admin page where the shop is known (the
    order is not in HotWax yet, so that is its only page)."""
    url = shopify_admin_url(host, shopify_id)
    return f"<{url}|{escape(shopify_id)}>" if url else escape(shopify_id)


async def _on_confirm(click: Click) -> None:
    await click.tools.runs.try_start(
        NAME,
        {"orders": list(click.params["orders"]), "sync_job": shopify_setup(click.tools).sync_job},
        actor=click.user_id,
        channel_id=click.channel_id,
        client=click.client,
        reply=click.reply,
    )


PROVIDES = Provides(
    commands=(
        CommandSpec(
            name=NAME,
            summary="Re-import orders from Shopify (at most 20), verifying each in HotWax.",
            handler=import_command,
            args=(
                Arg(
                    "order",
                    "Shopify order ids or names (none: a form to paste them)",
                    required=False,
                    repeat=True,
                    parse=shopify_ref,
                    max_count=MAX_ORDERS,
                ),
            ),
            examples=("/oms import #1007", "/oms import 6100000000006 #1007", "/oms import"),
            role=ROLE,
            changes_oms=True,
        ),
    ),
    runbooks=(RUNBOOK,),
    actions=(
        ActionSpec(
            CONFIRM_ACTION, _on_confirm, pressed_note=lambda c: f"Import started by <@{c.user_id}>"
        ),
    ),
)
