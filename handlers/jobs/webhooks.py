"""`/oms webhooks [subscribe|unsubscribe <topic>]`: Shopify webhook subscriptions (HotWax's
"Job categories"; docs/oms-api.md, "Jobs and webhooks").

Where the tenant's Maarg has the Shopify connector's `shopify/webhook-subscription`, the
subscriptions are the shop connection's (`[stores] shopify_remote`, a SystemMessageRemote),
for the topics the connector handles (orders updated, bulk operations finish). Otherwise, on
an OFBiz tenant, the legacy OFBiz webhook services are used, with the legacy Job Manager's
topics (new orders, cancelled orders, payment status, returns, inventory level update, new
products, delete products) and the Shopify config from the policy (`[stores]
shopify_config_id`) or the OMS's first one. Subscribing and removing ask for a confirmation,
need the operator role, and are audited; the result is read back. A topic the OMS has no
handler for (new products on OFBiz) says so instead of offering to subscribe.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine import (
    ActionSpec,
    Arg,
    ButtonSpec,
    Click,
    CommandSpec,
    Invocation,
    NotConfigured,
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
    escape,
    header,
    section,
)
from bot.kit.reply import Replier
from bot.kit.suggest import closest_of
from bot.oms import JobsApi, OmsRequestError, ServiceJobsApi
from handlers.jobs.catalog import (
    MOQUI_TOPICS,
    OFBIZ_TOPICS,
    TOPICS,
    Topic,
    parse_any_topic,
    parse_topic,
    topic_choices,
)
from handlers.jobs.common import MOQUI, OFBIZ, ROLE

SUBSCRIBE_ACTION = "webhooks.subscribe"
UNSUBSCRIBE_ACTION = "webhooks.unsubscribe"
CANCEL_ACTION = "webhooks.cancel"
CONNECTOR = "HotWax's Shopify connector (Maarg `shopify/webhook-subscription`)"


@dataclass(frozen=True)
class Place:
    """Where this OMS keeps its webhook subscriptions."""

    backend: str  # MOQUI or OFBIZ
    target: str  # the shop's SystemMessageRemote (Moqui) or Shopify config (OFBiz)


@dataclass(frozen=True)
class Hook:
    hook_id: str
    callback: str | None


async def _ofbiz_config(tools: Toolbox, reply: Replier) -> str | None:
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


async def _place(tools: Toolbox, reply: Replier) -> Place | None:
    """The connector's route where Maarg has it (asked once, with the shop connection);
    the legacy OFBiz services on an OFBiz tenant whose Maarg answers 404 there."""
    profile = await tools.oms.profile()
    remote = tools.policy.stores.shopify_remote
    if remote:
        try:
            await ServiceJobsApi(tools.oms).webhooks(remote, MOQUI_TOPICS[0].graphql)
            return Place(MOQUI, remote)
        except OmsRequestError as exc:
            if exc.status_code != 404 or not profile.has_ofbiz:
                raise
    elif not profile.has_ofbiz:
        raise NotConfigured(
            "On this OMS the Shopify webhooks are managed through HotWax's Shopify connector, "
            "which needs the shop's connection: set `[stores] shopify_remote = "
            '"<SystemMessageRemote id>"` in the policy file.'
        )
    config = await _ofbiz_config(tools, reply)
    return Place(OFBIZ, config) if config else None


async def _hooks(
    tools: Toolbox, place: Place, topics: tuple[Topic, ...]
) -> tuple[dict[str, Hook], dict[str, Hook]]:
    """(topic key -> its subscription, for the topics subscribed; Shopify topic -> the
    subscriptions the OMS has to topics the catalogue does not name). The connector answers
    one topic a call, so only the OFBiz service, which lists them all, shows the others."""
    found: dict[str, Hook] = {}
    if place.backend == MOQUI:
        api = ServiceJobsApi(tools.oms)
        for topic in topics:
            hooks = await api.webhooks(place.target, topic.graphql)
            if hooks:
                found[topic.key] = Hook(hooks[0].subscription_id, hooks[0].callback_url)
        return found, {}
    listed = await JobsApi(tools.oms).webhooks(place.target)
    for topic in topics:
        hook = next((h for h in listed if h.topic == topic.topic), None)
        if hook is not None:
            found[topic.key] = Hook(hook.webhook_id, hook.address)
    named = {topic.topic for topic in TOPICS}
    others = {h.topic: Hook(h.webhook_id, h.address) for h in listed if h.topic not in named}
    return found, others


async def _hook(tools: Toolbox, place: Place, topic: Topic) -> Hook | None:
    return (await _hooks(tools, place, (topic,)))[0].get(topic.key)


def _topics(place: Place) -> tuple[Topic, ...]:
    return MOQUI_TOPICS if place.backend == MOQUI else OFBIZ_TOPICS


def _label(topic: Topic) -> str:
    """ "Returns (refunds/create)", or the Shopify topic alone where the catalogue has no name."""
    return f"{topic.name} ({topic.topic})" if topic.catalogued else topic.topic


def _say(text: str, icon: str = "") -> Message:
    return Message(text=text, blocks=[section(f"{icon} {escape(text)}".strip())])


def _no_endpoint(topic: Topic) -> Message:
    return _say(
        f"{topic.name} ({topic.topic}) has no webhook endpoint configured in the OMS, so it "
        "cannot be subscribed. HotWax has to configure a handler for it first.",
        ":warning:",
    )


def _elsewhere(topic: Topic, place: Place) -> Message:
    """A topic this OMS's webhook backend does not handle."""
    if place.backend == MOQUI:
        handled = ", ".join(t.key for t in MOQUI_TOPICS)
        return _say(
            f"{topic.name} ({topic.topic}) is a legacy OFBiz webhook. This OMS manages its "
            f"webhooks through HotWax's Shopify connector, which handles: {handled}.",
            ":warning:",
        )
    return _say(
        f"{topic.name} ({topic.topic}) is handled by HotWax's Moqui Shopify connector, which "
        "this OMS does not have; its webhooks are the legacy OFBiz ones.",
        ":warning:",
    )


def _handles(place: Place, topic: Topic) -> bool:
    return topic.moqui if place.backend == MOQUI else topic.ofbiz


async def list_command(inv: Invocation) -> None:
    place = await _place(inv.tools, inv.reply)
    if place is None:
        return
    topics = _topics(place)
    hooks, others = await _hooks(inv.tools, place, topics)
    lines = []
    subscribed = 0
    for topic in topics:
        hook = hooks.get(topic.key)
        name = f"*{topic.name}* `{topic.key}` ({topic.topic})"
        if hook is not None:
            subscribed += 1
            lines.append(
                f":large_green_circle: {name}: subscribed (webhook {escape(hook.hook_id)})"
            )
        elif place.backend == OFBIZ and topic.endpoint is None:
            lines.append(f":warning: {name}: no endpoint configured in the OMS")
        else:
            lines.append(f":white_circle: {name}: not subscribed")
    # Every subscription the OMS has is shown, the catalogue only names the usual ones.
    for shopify_topic, hook in sorted(others.items()):
        lines.append(
            f":large_green_circle: *{escape(shopify_topic)}*: subscribed (webhook "
            f"{escape(hook.hook_id)}), a topic oms-bot's catalogue does not name; "
            f"`/oms webhooks unsubscribe {escape(shopify_topic)}` removes it"
        )
    if place.backend == MOQUI:
        where = f"Through {CONNECTOR}, shop connection `{escape(place.target)}`."
    else:
        where = f"Legacy OFBiz webhook services, Shopify config `{escape(place.target)}`."
    await inv.reply.ephemeral(
        Message(
            text=f"Shopify webhooks: {subscribed} of {len(topics)} topics subscribed",
            blocks=[
                header("Shopify webhooks"),
                section("\n".join(lines)),
                context(
                    f"{where} `/oms webhooks subscribe <topic>` or "
                    "`/oms webhooks unsubscribe <topic>` changes one (operators)."
                ),
            ],
        ),
        replace=True,
    )


async def _change_command(inv: Invocation, subscribe: bool) -> None:
    topic: Topic = inv.command.arg("topic")
    place = await _place(inv.tools, inv.reply)
    if place is None:
        return
    if not _handles(place, topic):
        await inv.reply.ephemeral(_elsewhere(topic, place), replace=True)
        return
    if subscribe and place.backend == OFBIZ and topic.endpoint is None:
        await inv.reply.ephemeral(_no_endpoint(topic), replace=True)
        return
    hook = await _hook(inv.tools, place, topic)
    if subscribe and hook is not None:
        text = f"{topic.name} ({topic.topic}) is already subscribed (webhook {hook.hook_id})."
        await inv.reply.ephemeral(_say(text), replace=True)
        return
    if not subscribe and hook is None:
        text = f"{_label(topic)} is not subscribed; nothing to remove."
        if not topic.catalogued:
            guess = closest_of(topic.topic, topic_choices())
            text = (
                f"The OMS has no subscription to {topic.topic}, a topic oms-bot's catalogue "
                "does not name; nothing to remove."
                + (f" Did you mean `/oms webhooks unsubscribe {guess}`?" if guess else "")
            )
        await inv.reply.ephemeral(_say(text), replace=True)
        return
    verb = "Subscribe" if subscribe else "Unsubscribe"
    if subscribe and place.backend == MOQUI:
        what = (
            f"Shopify will send {topic.topic} events to HotWax's Shopify connector "
            f"(topic {topic.graphql}, shop connection {place.target})."
        )
    elif subscribe:
        what = f"Shopify will send {topic.topic} events to the OMS handler `{topic.endpoint}`."
    else:
        what = (
            f"Shopify stops sending {topic.topic} events to the OMS (webhook "
            f"{hook.hook_id if hook else '?'}); the jobs still import them on their schedule."
        )
    params = {"topic": topic.key, "backend": place.backend, "target": place.target}
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
    blocks: list[Block] = [header(title), section(escape(what)), actions(buttons)]
    await inv.reply.ephemeral(Message(text=title, blocks=blocks), replace=True)


async def subscribe_command(inv: Invocation) -> None:
    await _change_command(inv, subscribe=True)


async def unsubscribe_command(inv: Invocation) -> None:
    await _change_command(inv, subscribe=False)


def _clicked_place(click: Click) -> Place:
    """The place the confirmation was made for (buttons made before Moqui carry `config`)."""
    backend = str(click.params.get("backend") or OFBIZ)
    return Place(backend, str(click.params.get("target") or click.params.get("config")))


async def _on_subscribe(click: Click) -> None:
    topic = parse_topic(str(click.params["topic"]))
    place = _clicked_place(click)
    if place.backend == OFBIZ and topic.endpoint is None:
        await click.reply.safe_ephemeral(_no_endpoint(topic))
        return
    if await _hook(click.tools, place, topic) is not None:
        text = f"{topic.name} was subscribed meanwhile; nothing was changed."
        await click.reply.safe_ephemeral(_say(text))
        return
    if place.backend == MOQUI:
        write = ServiceJobsApi(click.tools.oms).subscribe(place.target, topic.graphql)
        parameters = {"systemMessageRemoteId": place.target, "topic": topic.graphql}
    else:
        endpoint = topic.endpoint or ""
        write = JobsApi(click.tools.oms).subscribe(place.target, topic.topic, endpoint)
        parameters = {"shopifyConfigId": place.target, "topic": topic.topic, "endpoint": endpoint}
    await click.tools.audit.write(
        write,
        operation=f"subscribe the {topic.topic} webhook",
        parameters=parameters,
        actor=click.user_id,
        channel_id=click.channel_id,
        order_keys=(f"webhook:{topic.topic}",),
    )
    hook = await _hook(click.tools, place, topic)
    text = (
        f"Subscribed {topic.name} ({topic.topic}): webhook {hook.hook_id}."
        if hook
        else f"The OMS accepted the {topic.name} subscription, but it does not list it yet."
    )
    await click.reply.safe_ephemeral(_say(text, ":white_check_mark:"))


async def _on_unsubscribe(click: Click) -> None:
    topic = parse_any_topic(str(click.params["topic"]))
    place = _clicked_place(click)
    hook = await _hook(click.tools, place, topic)
    if hook is None:
        text = f"{topic.name} is no longer subscribed; nothing was changed."
        await click.reply.safe_ephemeral(_say(text))
        return
    if place.backend == MOQUI:
        write = ServiceJobsApi(click.tools.oms).unsubscribe(place.target, hook.hook_id, topic.topic)
        parameters = {"systemMessageRemoteId": place.target, "webhookSubscriptionId": hook.hook_id}
    else:
        write = JobsApi(click.tools.oms).unsubscribe(place.target, hook.hook_id, topic.topic)
        parameters = {"shopifyConfigId": place.target, "webhookId": hook.hook_id}
    await click.tools.audit.write(
        write,
        operation=f"remove the {topic.topic} webhook",
        parameters=parameters,
        actor=click.user_id,
        channel_id=click.channel_id,
        order_keys=(f"webhook:{topic.topic}",),
    )
    left = await _hook(click.tools, place, topic)
    if left is not None:
        text = (
            f"The OMS accepted removing {topic.name}, but it still lists a subscription "
            f"(webhook {left.hook_id})."
        )
        await click.reply.safe_ephemeral(_say(text, ":warning:"))
        return
    text = f"Unsubscribed {_label(topic)}: webhook {hook.hook_id} removed."
    await click.reply.safe_ephemeral(_say(text, ":white_check_mark:"))


async def _on_cancel(click: Click) -> None:
    return None  # the buttons are gone already; nothing was changed


def _topic_arg(*, any_topic: bool = False) -> Arg:
    """A catalogue topic; with `any_topic`, also any Shopify topic (`orders/paid`): a
    subscription the OMS has to a topic the catalogue does not name can still be removed."""
    if any_topic:
        return Arg(
            "topic",
            "a topic: " + ", ".join(t.key for t in TOPICS) + ", or a Shopify topic such as "
            "orders/paid that the OMS has a subscription for",
            parse=parse_any_topic,
        )
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
            examples=("/oms webhooks subscribe orders-updated",),
            role=ROLE,
            changes_oms=True,
        ),
        CommandSpec(
            name="webhooks unsubscribe",
            summary="Remove a Shopify webhook subscription (asks to confirm).",
            handler=unsubscribe_command,
            args=(_topic_arg(any_topic=True),),
            examples=("/oms webhooks unsubscribe bulk-operations-finish",),
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
