"""`/oms webhooks [subscribe|unsubscribe <topic>]`: Shopify webhook subscriptions (HotWax's
"Job categories").

The topics are the Job Manager's (new orders, cancelled orders, payment status, returns,
inventory level update, new products, delete products). The Shopify config comes from the
policy (`[stores] shopify_config_id`) or is the OMS's first one. Subscribing and removing ask
for a confirmation, need the operator role, and are audited. A topic the OMS has no handler
endpoint for (new products) says so instead of offering to subscribe.
"""

from __future__ import annotations

from bot.engine import (
    ActionSpec,
    Arg,
    ButtonSpec,
    Click,
    CommandSpec,
    Invocation,
    Provides,
    Toolbox,
)
from bot.kit.blocks import (
    Block,
    Message,
    actions,
    confirm_dialog,
    context,
    error_message,
    header,
    section,
)
from bot.kit.reply import Replier
from bot.oms import JobsApi, Webhook
from handlers.jobs.catalog import TOPICS, Topic, parse_topic
from handlers.jobs.run import ROLE

SUBSCRIBE_ACTION = "webhooks.subscribe"
UNSUBSCRIBE_ACTION = "webhooks.unsubscribe"
CANCEL_ACTION = "webhooks.cancel"


async def _config_id(tools: Toolbox, reply: Replier) -> str | None:
    configured = tools.policy.stores.shopify_config_id
    if configured:
        return configured
    ids = await JobsApi(tools.oms).shopify_config_ids()
    if not ids:
        await reply.ephemeral(
            error_message(
                "No Shopify configuration in the OMS",
                "Webhooks belong to a Shopify config, and the OMS has none.",
                "Set `[stores] shopify_config_id` in the policy file if it should use one.",
            ),
            replace=True,
        )
        return None
    return ids[0]


def _no_endpoint(topic: Topic) -> Message:
    text = (
        f"{topic.name} ({topic.topic}) has no webhook endpoint configured in the OMS, so it "
        "cannot be subscribed. HotWax has to configure a handler for it first."
    )
    return Message(text=text, blocks=[section(f":warning: {text}")])


def _hook_for(hooks: list[Webhook], topic: Topic) -> Webhook | None:
    return next((h for h in hooks if h.topic == topic.topic), None)


async def list_command(inv: Invocation) -> None:
    config = await _config_id(inv.tools, inv.reply)
    if config is None:
        return
    hooks = await JobsApi(inv.tools.oms).webhooks(config)
    lines = []
    subscribed = 0
    for topic in TOPICS:
        hook = _hook_for(hooks, topic)
        name = f"*{topic.name}* `{topic.key}` ({topic.topic})"
        if hook is not None:
            subscribed += 1
            lines.append(f":large_green_circle: {name}: subscribed (webhook {hook.webhook_id})")
        elif topic.endpoint is None:
            lines.append(f":warning: {name}: no endpoint configured in the OMS")
        else:
            lines.append(f":white_circle: {name}: not subscribed")
    await inv.reply.ephemeral(
        Message(
            text=f"Shopify webhooks: {subscribed} of {len(TOPICS)} topics subscribed",
            blocks=[
                header("Shopify webhooks"),
                section("\n".join(lines)),
                context(
                    f"Shopify config `{config}`. `/oms webhooks subscribe <topic>` or "
                    "`/oms webhooks unsubscribe <topic>` changes one (operators)."
                ),
            ],
        ),
        replace=True,
    )


async def _change_command(inv: Invocation, subscribe: bool) -> None:
    topic: Topic = inv.command.arg("topic")
    if subscribe and topic.endpoint is None:
        await inv.reply.ephemeral(_no_endpoint(topic), replace=True)
        return
    config = await _config_id(inv.tools, inv.reply)
    if config is None:
        return
    hook = _hook_for(await JobsApi(inv.tools.oms).webhooks(config), topic)
    if subscribe and hook is not None:
        text = f"{topic.name} ({topic.topic}) is already subscribed (webhook {hook.webhook_id})."
        await inv.reply.ephemeral(Message(text=text, blocks=[section(text)]), replace=True)
        return
    if not subscribe and hook is None:
        text = f"{topic.name} ({topic.topic}) is not subscribed; nothing to remove."
        await inv.reply.ephemeral(Message(text=text, blocks=[section(text)]), replace=True)
        return
    verb = "Subscribe" if subscribe else "Unsubscribe"
    what = (
        f"Shopify will send {topic.topic} events to the OMS handler `{topic.endpoint}`."
        if subscribe
        else f"Shopify stops sending {topic.topic} events to the OMS (webhook "
        f"{hook.webhook_id if hook else '?'}); the jobs still import them on their schedule."
    )
    params = {"topic": topic.key, "config": config}
    _, buttons = await inv.tools.actions.buttons(
        [
            ButtonSpec(
                verb,
                SUBSCRIBE_ACTION if subscribe else UNSUBSCRIBE_ACTION,
                params,
                style="primary" if subscribe else "danger",
                allowed_users=(inv.user_id,),
                allowed_role=ROLE,
                confirm=confirm_dialog(f"{verb} {topic.name}?", what, verb),
            ),
            ButtonSpec("Cancel", CANCEL_ACTION, {}, allowed_users=(inv.user_id,)),
        ],
        created_by=inv.user_id,
        channel_id=inv.channel_id,
        ttl=15 * 60,
    )
    title = f"{verb} the {topic.name} webhook?"
    blocks: list[Block] = [header(title), section(what), actions(buttons)]
    await inv.reply.ephemeral(Message(text=title, blocks=blocks), replace=True)


async def subscribe_command(inv: Invocation) -> None:
    await _change_command(inv, subscribe=True)


async def unsubscribe_command(inv: Invocation) -> None:
    await _change_command(inv, subscribe=False)


async def _on_subscribe(click: Click) -> None:
    topic = parse_topic(str(click.params["topic"]))
    config = str(click.params["config"])
    api = JobsApi(click.tools.oms)
    if topic.endpoint is None:
        await click.reply.safe_ephemeral(_no_endpoint(topic))
        return
    if _hook_for(await api.webhooks(config), topic) is not None:
        text = f"{topic.name} was subscribed meanwhile; nothing was changed."
        await click.reply.safe_ephemeral(Message(text=text, blocks=[section(text)]))
        return
    await click.tools.audit.write(
        api.subscribe(config, topic.topic, topic.endpoint),
        operation=f"subscribe the {topic.topic} webhook",
        parameters={"shopifyConfigId": config, "topic": topic.topic, "endpoint": topic.endpoint},
        actor=click.user_id,
        channel_id=click.channel_id,
        order_keys=(f"webhook:{topic.topic}",),
    )
    hook = _hook_for(await api.webhooks(config), topic)
    text = (
        f"Subscribed {topic.name} ({topic.topic}): webhook {hook.webhook_id}."
        if hook
        else f"The OMS accepted the {topic.name} subscription, but it does not list it yet."
    )
    await click.reply.safe_ephemeral(
        Message(text=text, blocks=[section(f":white_check_mark: {text}")])
    )


async def _on_unsubscribe(click: Click) -> None:
    topic = parse_topic(str(click.params["topic"]))
    config = str(click.params["config"])
    api = JobsApi(click.tools.oms)
    hook = _hook_for(await api.webhooks(config), topic)
    if hook is None:
        text = f"{topic.name} is no longer subscribed; nothing was changed."
        await click.reply.safe_ephemeral(Message(text=text, blocks=[section(text)]))
        return
    await click.tools.audit.write(
        api.unsubscribe(config, hook.webhook_id, topic.topic),
        operation=f"remove the {topic.topic} webhook",
        parameters={"shopifyConfigId": config, "webhookId": hook.webhook_id},
        actor=click.user_id,
        channel_id=click.channel_id,
        order_keys=(f"webhook:{topic.topic}",),
    )
    text = f"Unsubscribed {topic.name} ({topic.topic}): webhook {hook.webhook_id} removed."
    await click.reply.safe_ephemeral(
        Message(text=text, blocks=[section(f":white_check_mark: {text}")])
    )


async def _on_cancel(click: Click) -> None:
    return None  # the buttons are gone already; nothing was changed


def _topic_arg() -> Arg:
    return Arg("topic", "a topic: " + ", ".join(t.key for t in TOPICS), parse=parse_topic)


PROVIDES = Provides(
    commands=(
        CommandSpec(
            name="webhooks",
            summary="The Shopify webhook topics and whether each is subscribed.",
            handler=list_command,
            examples=("/oms webhooks",),
        ),
        CommandSpec(
            name="webhooks subscribe",
            summary="Subscribe a Shopify webhook topic (asks to confirm).",
            handler=subscribe_command,
            args=(_topic_arg(),),
            examples=("/oms webhooks subscribe cancelled-orders",),
            role=ROLE,
            changes_oms=True,
        ),
        CommandSpec(
            name="webhooks unsubscribe",
            summary="Remove a Shopify webhook subscription (asks to confirm).",
            handler=unsubscribe_command,
            args=(_topic_arg(),),
            examples=("/oms webhooks unsubscribe new-orders",),
            role=ROLE,
            changes_oms=True,
        ),
    ),
    actions=(
        ActionSpec(
            SUBSCRIBE_ACTION, _on_subscribe, pressed_note=lambda c: f"Confirmed by <@{c.user_id}>"
        ),
        ActionSpec(
            UNSUBSCRIBE_ACTION,
            _on_unsubscribe,
            pressed_note=lambda c: f"Confirmed by <@{c.user_id}>",
        ),
        ActionSpec(
            CANCEL_ACTION, _on_cancel, pressed_note=lambda c: f"Cancelled by <@{c.user_id}>"
        ),
    ),
)
