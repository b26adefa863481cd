"""The "Check this order" message shortcut: `/oms check` on every order a message names.

The references are found in the message's text (bot/oms/refs.py `find_order_refs`): HotWax
ids, Shopify ids and names, HotWax order page links and Shopify admin order links. At most
MAX_CHECKS are checked, so one long message cannot start a flood of OMS reads; the answer says
which were left out. The checks are answered in the message's thread, where whoever asked about
the orders sees them; the policy's roles of `/oms check` apply (the surface checks them first).
"""

from __future__ import annotations

from bot.engine import Provides, Shortcut, ShortcutSpec
from bot.kit.blocks import Message, context, error_message, escape, section
from bot.kit.durations import plural
from bot.oms import OmsError, OrderRef, find_order_refs
from handlers.orders import check_card

CALLBACK_ID = "oms_check_message"
MAX_CHECKS = 5


def _named(refs: list[OrderRef]) -> str:
    return ", ".join(f"`{escape(r.value)}`" for r in refs)


def no_references() -> Message:
    return Message(
        text="No order reference found in that message.",
        blocks=[
            section(":mag: I found no order reference in that message, so nothing was checked."),
            context(
                "I look for HotWax order ids (10002), Shopify order ids (6178678210724) and "
                "names (#1004), HotWax order page links and Shopify admin order links. To "
                "check an order by hand: `/oms check <order>`."
            ),
        ],
    )


def intro(user: str, refs: list[OrderRef]) -> Message:
    shown = refs[:MAX_CHECKS]
    text = f"<@{user}> asked me to check {plural(len(shown), 'order')}: {_named(shown)}."
    blocks = [section(f":mag: {text}")]
    if len(refs) > len(shown):
        rest = refs[len(shown) :]
        blocks.append(
            context(
                f"The message names {len(refs)} orders; I check at most {MAX_CHECKS} at a time. "
                f"Not checked: {_named(rest)} (use `/oms check <order>` for each)."
            )
        )
    return Message(text=text, blocks=blocks)


async def check_message(shortcut: Shortcut) -> list[str]:
    tools = shortcut.tools
    refs = find_order_refs(shortcut.text, tools.oms.base_url).refs
    if not refs:
        await shortcut.reply.ephemeral(no_references())
        return []
    # Where the bot may not post in the thread, each message goes to the user alone instead.
    await shortcut.post_in_thread(intro(shortcut.user_id, refs))
    for ref in refs[:MAX_CHECKS]:
        try:
            card = await check_card(tools, ref, shortcut.user_id, shortcut.channel_id)
        except OmsError as exc:
            card = error_message(
                f"Checking {ref.value} failed: the OMS call “{exc.operation}” failed",
                exc.message,
                "Nothing was changed. Try `/oms check` again in a minute.",
            )
        await shortcut.post_in_thread(card)
    return [r.value for r in refs[:MAX_CHECKS]]


PROVIDES = Provides(shortcuts=(ShortcutSpec(CALLBACK_ID, check_message, command="check"),))
