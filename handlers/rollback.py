"""`/oms rollback [<store>]`, `/oms rollback undo` and `/oms rollback status` (HotWax's "Rollback").

HotWax's rollback ("Rollback") takes a store off Shopify and stops brokering when a
deployment goes wrong: every Shopify shop of the product store gets the access scope
`SHOP_NO_ACCESS` and the store's order brokering is turned off. Both are dangerous, so they
go through the two-person rule with a preview read live from the OMS.

A shop's access scope lives on its Shopify connection, the SystemMessageRemote HotWax's
publishers send through (`stores.shop_connection`: the shop's SsctShopifyDefaultApp link, or
the remotes' legacy metadata). When that is not exactly one remote, the bot cannot know which
to block: the request is refused, naming them, and a run stops before its first write.

The run saves the values it is about to change in the audit (a snapshot), changes them one
step at a time (each step reads the OMS first, so Resume never writes twice), reads
everything back, and then asks Shopify through each shop's connection, to see the connector
refuse ("No Access is enabled…"). `undo` restores, from that snapshot, exactly the values the
last rollback wrote, through the same approval, preview and verification.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot.engine import (
    Approval,
    Arg,
    AuditEvent,
    CommandSpec,
    DangerousAction,
    EventKind,
    Invocation,
    Outcome,
    Preview,
    PreviewLine,
    Provides,
    Runbook,
    RunContext,
    Step,
    StepFailed,
    StepSkipped,
    Toolbox,
    decision_words,
    run_approved,
)
from bot.kit.blocks import (
    Block,
    Message,
    chunk_lines,
    context,
    error_message,
    escape,
    header,
    modal,
    section,
)
from bot.kit.durations import plural, slack_time
from bot.kit.forms import CommandForm, FormField
from bot.oms import (
    OmsError,
    OmsRequestError,
    OmsUnavailable,
    ShopifyShop,
    parse_store_id,
    stores,
)

NAME = "rollback"
ROLE = "operator"
# The form that offers the stores, while they are read (it informs; it submits nothing).
STORE_FORM_LOADING = "oms:rollback-stores"
BROKERING = "brokering"
BROKERING_FIELD = "enableBrokering"
BROKERING_OFF = "N"
# How an unset (null) value is shown; it is kept, saved and written back as null.
UNSET = "unset (null)"
NO_REMOTE = "no Shopify connection"
AMBIGUOUS = "ambiguous Shopify connection"


def scope_key(shop_id: str) -> str:
    return f"scope:{shop_id}"


def shown(value: str | None) -> str:
    """A value as people read it: null is `unset (null)`."""
    return UNSET if value is None else value


def _brokering(record: dict[str, Any]) -> str | None:
    """The store's brokering flag; None when it is unset (null or empty in the OMS)."""
    value = record.get(BROKERING_FIELD)
    return None if value in (None, "") else str(value)


def _label(params: dict[str, Any], key: str) -> str:
    if key == BROKERING:
        return f"store {params['store']} order brokering"
    shop_id = key.removeprefix("scope:")
    name = params.get("shops", {}).get(shop_id)
    return f"shop {shop_id}" + (f" ({name})" if name else "") + " access scope"


def _keys(params: dict[str, Any]) -> list[str]:
    """The values a run changes, in the order it changes them: shops, then brokering."""
    targets: dict[str, str | None] = params["targets"]
    shops = sorted(k for k in targets if k != BROKERING)
    return shops + ([BROKERING] if BROKERING in targets else [])


# ---- reading the OMS ------------------------------------------------------------------------


def _expected_remote(params: dict[str, Any], shop_id: str) -> str | None:
    """The connection the request was previewed with (None: not recorded, e.g. a new shop)."""
    remotes: dict[str, str] = params.get("remotes") or {}
    return remotes.get(shop_id)


def _scope_value(params: dict[str, Any], connection: stores.ShopConnection) -> str:
    """A shop's scope as previewed and read back; a connection that is missing, ambiguous or
    not the one the request named reads differently, so the approval sees the change."""
    remote = connection.remote
    if remote is None:
        if connection.problem and (connection.dangling or connection.matches):
            return f"{AMBIGUOUS} ({', '.join(connection.remote_ids + list(connection.dangling))})"
        return NO_REMOTE
    expected = _expected_remote(params, connection.shop.shop_id)
    if expected and remote.system_message_remote_id != expected:
        now = remote.system_message_remote_id
        return f"{remote.scope} (its connection is now {now}, not {expected})"
    return remote.scope


async def _read(tools: Toolbox, params: dict[str, Any], key: str) -> str | None:
    """A value as the OMS holds it now; brokering may be None (unset)."""
    if key == BROKERING:
        return _brokering(await stores.get_product_store(tools.oms, params["store"]))
    connection = await stores.shop_connection(tools.oms, key.removeprefix("scope:"))
    return _scope_value(params, connection)


async def _read_all(tools: Toolbox, params: dict[str, Any]) -> dict[str, str | None]:
    return {key: await _read(tools, params, key) for key in _keys(params)}


def _connection_problem(params: dict[str, Any], connection: stores.ShopConnection) -> str | None:
    """Why a run must not write a shop's scope through this connection, or None."""
    if connection.problem:
        return connection.problem
    expected = _expected_remote(params, connection.shop.shop_id)
    remote = connection.remote
    if expected and remote is not None and remote.system_message_remote_id != expected:
        return (
            f"its Shopify connection is now {remote.system_message_remote_id}, not {expected} "
            "as when the request was approved"
        )
    return None


async def _saved_values(ctx: RunContext) -> dict[str, str | None]:
    """What the run's first step saved (from the audit, so it survives a restart)."""
    snapshot = await ctx.saved_snapshot() or {}
    return dict(snapshot.get("values", {}))


async def _state_report(ctx: RunContext, reason: str) -> str:
    """The reason, then every value's state now: changed, unchanged or unknown."""
    before = await _saved_values(ctx)
    lines = []
    for key in _keys(ctx.params):
        try:
            now = await _read(ctx.tools, ctx.params, key)
        except OmsError as exc:
            lines.append(f"{_label(ctx.params, key)}: unknown (could not read it: {exc.message})")
            continue
        if key in before and before[key] != now:
            lines.append(
                f"{_label(ctx.params, key)}: changed ({shown(before[key])} → {shown(now)})"
            )
        else:
            lines.append(f"{_label(ctx.params, key)}: unchanged ({shown(now)})")
    return reason + "\nState of every value now:\n" + "\n".join(f"• {ln}" for ln in lines)


# ---- the runbook ---------------------------------------------------------------------------


async def _snapshot(ctx: RunContext) -> str:
    # Before the first write: every shop must have exactly the connection the request named,
    # or the run would stop halfway (or block the wrong remote).
    problems = []
    for key in _keys(ctx.params):
        if key == BROKERING:
            continue
        shop_id = key.removeprefix("scope:")
        problem = _connection_problem(
            ctx.params, await stores.shop_connection(ctx.tools.oms, shop_id)
        )
        if problem:
            problems.append(f"{_label(ctx.params, key)}: {problem}")
    if problems:
        raise StepFailed(
            "Nothing was changed: the bot cannot tell which Shopify connection to block.\n"
            + "\n".join(f"• {p}" for p in problems)
        )
    values = await _read_all(ctx.tools, ctx.params)
    await ctx.audit_snapshot(
        f"values before the {_words(ctx.params)} of store {ctx.params['store']}",
        {"store": ctx.params["store"], "mode": ctx.params["mode"], "values": values},
    )
    return "saved in the audit: " + "; ".join(
        f"{_label(ctx.params, k)} {shown(v)}" for k, v in values.items()
    )


def _scope_step(key: str, target: str) -> Step:
    shop_id = key.removeprefix("scope:")

    async def run(ctx: RunContext) -> str:
        connection = await stores.shop_connection(ctx.tools.oms, shop_id)
        problem = _connection_problem(ctx.params, connection)
        remote = connection.remote
        if problem or remote is None:
            raise StepFailed(await _state_report(ctx, f"Shop {shop_id}: {problem or NO_REMOTE}."))
        if remote.scope == target:
            raise StepSkipped(f"already {target}; nothing to do")
        try:
            await ctx.oms_write(
                "set Shopify access scope",
                {
                    "item": key,
                    "shopId": shop_id,
                    "systemMessageRemoteId": remote.system_message_remote_id,
                    "from": remote.scope,
                    "to": target,
                },
                stores.set_access_scope(ctx.tools.oms, remote.system_message_remote_id, target),
            )
        except OmsError as exc:
            raise StepFailed(
                await _state_report(
                    ctx, f"{_not_done(exc)} shop {shop_id} to {target}: {exc.message}"
                )
            ) from None
        return f"{remote.scope} → {target} ({remote.system_message_remote_id})"

    return Step(f"Set shop {shop_id} access scope to {target}", run)


def _not_done(exc: OmsError) -> str:
    """How a write failed: refused, or not answered (it may have been applied all the same:
    the state below the reason says what the OMS holds now)."""
    if isinstance(exc, OmsUnavailable):
        return "The OMS did not answer (the change may have been applied) when asked to set"
    return "The OMS refused to set"


def _brokering_step(target: str | None) -> Step:
    async def run(ctx: RunContext) -> str:
        store_id = ctx.params["store"]
        record = await stores.get_product_store(ctx.tools.oms, store_id)
        current = _brokering(record)
        if current == target:
            raise StepSkipped(f"already {shown(target)}; nothing to do")
        try:
            await ctx.oms_write(
                "set order brokering",
                {"item": BROKERING, "productStoreId": store_id, "from": current, "to": target},
                # The whole record is written: an unset flag goes back as an explicit null.
                stores.set_store_flag(ctx.tools.oms, record, BROKERING_FIELD, target),
            )
        except OmsError as exc:
            raise StepFailed(
                await _state_report(
                    ctx, f"{_not_done(exc)} order brokering to {shown(target)}: {exc.message}"
                )
            ) from None
        return f"{shown(current)} → {shown(target)}"

    if target is None:
        return Step(f"Set order brokering back to {UNSET}", run)
    verb = "off" if target == BROKERING_OFF else "on" if target == "Y" else f"to {target}"
    return Step(f"Turn order brokering {verb}", run)


async def _verify(ctx: RunContext) -> str:
    values = await _read_all(ctx.tools, ctx.params)
    targets: dict[str, str | None] = ctx.params["targets"]
    wrong = [k for k, v in values.items() if v != targets[k]]
    await ctx.audit_read_back(
        f"read back after the {_words(ctx.params)} of store {ctx.params['store']}",
        not wrong,
        {"values": values, "targets": targets},
    )
    if wrong:
        differ = "; ".join(
            f"{_label(ctx.params, k)} is {shown(values[k])}, not {shown(targets[k])}" for k in wrong
        )
        raise StepFailed(
            await _state_report(ctx, f"The OMS does not hold the new values: {differ}")
        )
    return f"all {plural(len(values), 'value')} read back at their targets"


async def _check_access(ctx: RunContext) -> str:
    """Ask Shopify through each blocked shop's connection: the connector must refuse."""
    targets: dict[str, str | None] = ctx.params["targets"]
    blocked, open_ = [], []
    results: dict[str, dict[str, Any]] = {}
    for key in _keys(ctx.params):
        if key == BROKERING or targets[key] != stores.NO_ACCESS:
            continue
        shop_id = key.removeprefix("scope:")
        shop = _label(ctx.params, key).removesuffix(" access scope")
        connection = await stores.shop_connection(ctx.tools.oms, shop_id)
        remote = connection.remote
        if remote is None:
            open_.append(f"{shop}: {connection.problem or NO_REMOTE}")
            continue
        remote_id = remote.system_message_remote_id
        try:
            check = await stores.check_shopify_access(ctx.tools.oms, remote_id)
        except OmsError as exc:
            check = stores.AccessCheck(remote_id, None, f"the check failed: {exc.message}")
        results[shop_id] = {"remote": remote_id, "blocked": check.blocked, "answer": check.answer}
        if check.blocked:
            blocked.append(f"{shop} via {remote_id}: Shopify refused (“{check.answer}”)")
        elif check.blocked is False:
            open_.append(f"{shop} via {remote_id}: NOT blocked, {check.answer}")
        else:
            open_.append(f"{shop} via {remote_id}: not confirmed, {check.answer}")
    await ctx.audit_read_back(
        f"Shopify access check after the rollback of store {ctx.params['store']}",
        not open_,
        {"shops": results},
    )
    if open_:
        raise StepFailed(
            await _state_report(
                ctx,
                "Shopify access is not confirmed blocked for every shop, although the OMS "
                "holds SHOP_NO_ACCESS: "
                + "; ".join(open_)
                + ". The OMS may still act on a cached connection; Resume checks again.",
            )
        )
    return "; ".join(blocked) or "no shop to check"


def _steps(params: dict[str, Any]) -> list[Step]:
    targets: dict[str, str | None] = params["targets"]
    steps = [Step("Save the current values in the audit", _snapshot)]
    for key in _keys(params):
        if key == BROKERING:
            steps.append(_brokering_step(targets[key]))
        else:
            steps.append(_scope_step(key, str(targets[key])))
    steps.append(Step("Read every value back from the OMS", _verify))
    if any(k != BROKERING and v == stores.NO_ACCESS for k, v in targets.items()):
        steps.append(Step("Check through Shopify that access is blocked", _check_access))
    return steps


async def _outcome(ctx: RunContext) -> Outcome:
    params = ctx.params
    values = "; ".join(f"{_label(params, k)} {shown(params['targets'][k])}" for k in _keys(params))
    if params["mode"] == "undo":
        return Outcome(f"Store {params['store']} restored: {values}.")
    return Outcome(
        f"Store {params['store']} rolled back: {values}. "
        f"To restore the saved values: /oms rollback undo {params['store']}."
    )


def _words(params: dict[str, Any]) -> str:
    return "undo of the rollback" if params.get("mode") == "undo" else "rollback"


def _title(params: dict[str, Any]) -> str:
    if params.get("mode") == "undo":
        return f"Undo the rollback of store {params['store']}"
    return f"Roll back store {params['store']}"


RUNBOOK = Runbook(
    name=NAME,
    title=_title,
    steps=_steps,
    order_keys=lambda p: [f"store:{p['store']}"],
    role=ROLE,
    outcome=_outcome,
)


# ---- the two-person rule -------------------------------------------------------------------


async def _preview(tools: Toolbox, params: dict[str, Any]) -> Preview:
    keys = _keys(params)
    lines: list[PreviewLine] = []
    if params["mode"] == "rollback":
        # A shop added to the store since the request is part of the change too: it makes
        # the preview differ, so the approval stops and a new request shows it.
        live = await stores.list_shops(tools.oms, params["store"])
        extra = [scope_key(s.shop_id) for s in live if scope_key(s.shop_id) not in keys]
        for key in extra:
            current = await _read(tools, params, key)
            lines.append(
                PreviewLine(
                    f"new shop {key.removeprefix('scope:')}", shown(current), stores.NO_ACCESS
                )
            )
    for key in keys:
        current = await _read(tools, params, key)
        lines.append(
            PreviewLine(_label(params, key), shown(current), shown(params["targets"][key]))
        )
    notes = ["Values already at their target are left as they are."]
    remotes: dict[str, str] = params.get("remotes") or {}
    if remotes:
        notes.append(
            "Shopify connections: "
            + ", ".join(f"shop {shop} → {remote}" for shop, remote in sorted(remotes.items()))
            + "."
        )
    if params["mode"] == "undo":
        notes.append(f"Saved by the rollback run {str(params.get('rollback_run', ''))[:8]}.")
        unconfirmed = [_label(params, k) for k in params.get("unconfirmed", ()) if k in keys]
        if unconfirmed:
            notes.append(
                "Restored too, although the rollback's write of it got no answer or failed: "
                + "; ".join(unconfirmed)
                + ". The OMS holds the rollback's value, so that write most likely took effect."
            )
    return Preview(tuple(lines), tuple(notes))


def _consequences(params: dict[str, Any]) -> str:
    if params.get("mode") == "undo":
        return (
            "Shopify access and order brokering go back to the values saved before the "
            "rollback: where access returns, orders, inventory and fulfilment sync with Shopify "
            "again; where brokering returns, new orders are allocated to facilities again."
        )
    return (
        "Every Shopify shop of the store loses access: no orders are imported from Shopify, "
        "no inventory or fulfilment updates are synced, and Shopify webhooks are ignored. "
        "Order brokering stops: new orders stay unallocated until it is turned back on. "
        f"Undo with /oms rollback undo {params['store']}."
    )


def _parameters(params: dict[str, Any]) -> list[tuple[str, str]]:
    """The approval card's labelled parameters (the values to change are in its preview)."""
    shops: dict[str, str] = params.get("shops") or {}
    shown = [
        ("Product store", str(params["store"])),
        ("Shopify shops", ", ".join(f"{i} ({n})" if n else i for i, n in sorted(shops.items()))),
    ]
    if params.get("mode") == "undo":
        shown.append(("Undoes the rollback run", str(params.get("rollback_run", ""))[:8]))
    return shown


DANGEROUS = DangerousAction(
    name=NAME,
    summary=_title,
    consequences=_consequences,
    preview=_preview,
    execute=run_approved(NAME),
    parameters=_parameters,
)


# ---- the commands --------------------------------------------------------------------------


def _store_of(inv: Invocation) -> str | None:
    given: str | None = inv.command.arg("store")
    return given or inv.tools.policy.stores.default


async def _no_store(inv: Invocation) -> None:
    """No store given and no default: offer the OMS's stores in a form, or, where no form
    can open (a command run from a button, an expired trigger), say how to name one."""
    if await _store_form(inv):
        return
    # The hint names the subcommand the user typed: `rollback`, `rollback undo` or
    # `rollback status`.
    command = f"/oms {inv.command.spec.name}"
    await inv.reply.ephemeral(
        Message(
            text="Which product store? None was given and the policy names no default.",
            blocks=[
                section(
                    ":warning: Which product store? None was given and the policy names no "
                    f"default. Give one (`{command} STORE`), or ask whoever runs the bot to "
                    'set `[stores] default = "STORE"` in the policy file.'
                )
            ],
        ),
        replace=True,
    )


async def _store_form(inv: Invocation) -> bool:
    """Open a form whose select lists the OMS's product stores (read as `_store_exists`
    reads them); submitted, it runs this command with the store chosen. The form opens at
    once, saying it is loading, since the trigger expires 3 s after the command while the
    OMS may take longer; it is filled in once the stores are read. False when no form
    could open."""
    name = inv.command.spec.name
    title = name.capitalize()
    loading = modal(
        STORE_FORM_LOADING,
        title,
        [section("Reading the product stores from the OMS…")],
        submit=None,
    )
    view_id = await inv.reply.open_view(loading)
    if view_id is None:
        return False
    try:
        known = await stores.list_product_stores(inv.tools.oms)
    except OmsError as exc:
        failed = f":warning: The OMS did not list its product stores: {escape(exc.message)}"
        await inv.reply.update_view(
            view_id, modal(STORE_FORM_LOADING, title, [section(failed)], submit=None)
        )
        raise
    if not known:
        empty = "The OMS lists no product store, so there is nothing to choose."
        await inv.reply.update_view(
            view_id, modal(STORE_FORM_LOADING, title, [section(empty)], submit=None)
        )
        return True
    options = tuple((f"{sid} ({label})" if label else sid, sid) for sid, label in known)
    form = CommandForm(
        name,
        title,
        (
            FormField(
                "store",
                "Product store",
                options=options,
                hint=f"The policy names no default store. /oms {name} STORE names one.",
            ),
        ),
        intro=f"*/oms {escape(name)}*: {escape(inv.command.spec.summary)}",
        submit="Continue",
    )
    view = form.view(channel_id=inv.channel_id, response_url=inv.reply.response_url)
    await inv.reply.update_view(view_id, view)
    return True


async def _store_exists(inv: Invocation, store_id: str) -> bool:
    """Whether the OMS has product store `store_id`; if not, the user is told which it has."""
    try:
        await stores.get_product_store(inv.tools.oms, store_id)
    except OmsRequestError as exc:
        if exc.status_code != 404:
            raise
        known = await stores.list_product_stores(inv.tools.oms)
        listed = ", ".join(f"`{sid}`" + (f" ({name})" if name else "") for sid, name in known)
        command = f"/oms {inv.command.spec.name}"
        example = f"`{command} {escape(known[0][0])}`" if known else f"`{command} STORE`"
        # The same answer as `/oms failed --store`: an error, naming the stores there are.
        await inv.reply.ephemeral(
            error_message(
                "No such product store",
                f"There is no product store `{store_id}` in the OMS. "
                + (f"Its product stores are: {listed}." if listed else "It lists none."),
                f"Give one of them, e.g. {example}; the id is the productStoreId shown in "
                "HotWax's Company app.",
            ),
            replace=True,
        )
        return False
    return True


def _preview_lines(preview: Preview) -> list[str]:
    return [f"• {escape(ln.what)}: `{escape(ln.current)}`" for ln in preview.lines]


async def _ask(inv: Invocation, params: dict[str, Any], done_words: str) -> None:
    """Request approval unless every value is at its target already."""
    preview = await _preview(inv.tools, params)
    if all(ln.current == ln.new for ln in preview.lines):
        text = f"{done_words}; nothing to approve."
        await inv.reply.ephemeral(
            Message(
                text=text,
                blocks=[
                    section(f":white_check_mark: {escape(text)}"),
                    *[section(c) for c in chunk_lines(_preview_lines(preview))],
                ],
            ),
            replace=True,
        )
        return
    await inv.tools.approvals.request(
        NAME,
        params,
        requester=inv.user_id,
        channel_id=inv.channel_id,
        client=inv.client,
        reply=inv.reply,
    )


async def rollback_command(inv: Invocation) -> None:
    store_id = _store_of(inv)
    if store_id is None:
        await _no_store(inv)
        return
    if not await _store_exists(inv, store_id):
        return
    shops: list[ShopifyShop] = await stores.list_shops(inv.tools.oms, store_id)
    connections = [await stores.shop_connection(inv.tools.oms, shop) for shop in shops]
    problems: list[tuple[ShopifyShop, str]] = [
        (c.shop, c.problem) for c in connections if c.problem
    ]
    if problems:
        await _refuse(inv, store_id, problems)
        return
    targets = {scope_key(s.shop_id): stores.NO_ACCESS for s in shops}
    targets[BROKERING] = BROKERING_OFF
    params = {
        "mode": "rollback",
        "store": store_id,
        "shops": {s.shop_id: s.name or "" for s in shops},
        "remotes": {
            c.shop.shop_id: c.remote.system_message_remote_id for c in connections if c.remote
        },
        "targets": targets,
        "order_keys": [f"store:{store_id}"],
    }
    await _ask(inv, params, f"Store {store_id} is already rolled back")


async def _refuse(inv: Invocation, store_id: str, problems: list[tuple[ShopifyShop, str]]) -> None:
    """No approval is asked when a shop's connection is not exactly one remote."""
    text = (
        f"Store {store_id} cannot be rolled back: the bot cannot tell which Shopify "
        "connection to block. Nothing was changed and no approval was asked."
    )
    lines = [f"• {escape(shop.label)}: {escape(problem)}" for shop, problem in problems]
    await inv.reply.ephemeral(
        Message(
            text=text,
            blocks=[
                section(f":no_entry: {escape(text)}"),
                *[section(c) for c in chunk_lines(lines)],
                context(
                    "In HotWax, link each shop to the connection its orders and inventory go "
                    f"through (ShopifyShopRemote, purpose {stores.DEFAULT_APP_PURPOSE}) or "
                    "remove the stale SystemMessageRemote, then ask again."
                ),
            ],
        ),
        replace=True,
    )


def _is(mode: str, store_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda p: p.get("mode") == mode and p.get("store") == store_id


async def _nothing_to_undo(inv: Invocation, text: str) -> None:
    await inv.reply.ephemeral(
        Message(text=text, blocks=[section(f":information_source: {escape(text)}")]),
        replace=True,
    )


async def undo_command(inv: Invocation) -> None:
    store_id = _store_of(inv)
    if store_id is None:
        await _no_store(inv)
        return
    if not await _store_exists(inv, store_id):
        return
    tools = inv.tools
    last = await tools.approvals.latest(NAME, _is("rollback", store_id), states=("executed",))
    if last is None or not last.run_id:
        await _nothing_to_undo(inv, f"No rollback of store {store_id} has run; nothing to undo.")
        return
    snapshots = await tools.audit.run_events(last.run_id, EventKind.OMS_SNAPSHOT)
    writes = await tools.audit.run_events(last.run_id, EventKind.OMS_WRITE)
    saved = _saved(snapshots[0].detail if snapshots else None)
    params: dict[str, Any] = {
        "mode": "undo",
        "store": store_id,
        "shops": dict(last.params.get("shops", {})),
        "remotes": dict(last.params.get("remotes", {})),
        "targets": {},
        "rollback_run": last.run_id,
        "order_keys": [f"store:{store_id}"],
    }
    # Only what the rollback wrote, to the value it held before: undo never touches a value
    # the rollback left alone (someone may have changed it on purpose since). A write that
    # failed or timed out may still have been applied: such a value counts when the OMS now
    # holds the rollback's target, which is not what was saved.
    attempted = list(dict.fromkeys(_item(w) for w in writes))
    confirmed = {_item(w) for w in writes if w.outcome == "ok"}
    rollback_targets: dict[str, str | None] = dict(last.params.get("targets", {}))
    targets: dict[str, str | None] = {}
    unconfirmed: list[str] = []
    for key in attempted:
        if key not in saved:
            continue
        if key in confirmed:
            targets[key] = saved[key]
            continue
        if key not in rollback_targets:
            continue
        now = await _read(tools, params, key)
        if now == rollback_targets[key] and now != saved[key]:
            targets[key] = saved[key]
            unconfirmed.append(key)
    if not targets:
        await _nothing_to_undo(
            inv,
            f"The last rollback of store {store_id} (run {last.run_id[:8]}) changed nothing "
            "in the OMS; nothing to undo.",
        )
        return
    params["targets"] = targets
    params["unconfirmed"] = unconfirmed
    await _ask(inv, params, f"Store {store_id} already holds the values saved before the rollback")


def _item(write: AuditEvent) -> str:
    """The value (`scope:<shop>` or `brokering`) an audited write of a rollback changed."""
    return str((write.detail or {}).get("parameters", {}).get("item"))


def _saved(snapshot: dict[str, Any] | None) -> dict[str, str | None]:
    """The values a rollback saved before its first write. Brokering saved as "unset" by an
    older version of the bot means null."""
    values: dict[str, str | None] = dict((snapshot or {}).get("values", {}))
    if values.get(BROKERING) == "unset":
        values[BROKERING] = None
    return values


async def _request_line(tools: Toolbox, what: str, approval: Approval | None) -> str:
    if approval is None:
        return f"*{what}:* none recorded"
    parts = [f"asked by <@{approval.requested_by}> at {slack_time(approval.created_at)}"]
    if approval.decided_by:
        parts.append(decision_words(approval))
    outcome = {
        "pending": "waiting for approval",
        "expired": "expired; nothing ran",
        "approved": "approved, starting",
        "executed": "started",
        "denied": "denied; nothing ran",
    }.get(approval.state, "nothing ran")  # stale or failed: decision_words says why
    if approval.run_id:
        run = await tools.runs.get(approval.run_id)
        if run is not None:
            outcome = {"done": "finished", "running": "running"}.get(run.state, run.state)
            if run.finished_at:
                outcome += f" at {slack_time(run.finished_at)}"
            if run.error:
                outcome += f": {escape(run.error.splitlines()[0])}"
    parts.append(f"outcome: {outcome}")
    return f"*{what}:* " + "; ".join(parts)


async def status_command(inv: Invocation) -> None:
    store_id = _store_of(inv)
    if store_id is None:
        await _no_store(inv)
        return
    if not await _store_exists(inv, store_id):
        return
    tools = inv.tools
    shops = await stores.list_shops(tools.oms, store_id)
    lines = []
    rolled_back = True
    for shop in shops:
        connection = await stores.shop_connection(tools.oms, shop)
        scope = _scope_value({}, connection)
        rolled_back &= scope == stores.NO_ACCESS
        line = f"• {escape(shop.label)} access scope: `{escape(scope)}`"
        if connection.remote is not None:
            line += f" (connection `{escape(connection.remote.system_message_remote_id)}`)"
        elif connection.problem:
            line += f": {escape(connection.problem)}"
        lines.append(line)
    if not shops:
        lines.append("• no Shopify shops")
    brokering = await _read(tools, {"store": store_id}, BROKERING)
    rolled_back &= brokering == BROKERING_OFF
    lines.append(f"• order brokering (`{BROKERING_FIELD}`): `{escape(shown(brokering))}`")
    last_rollback, last_undo = await asyncio.gather(
        tools.approvals.latest(NAME, _is("rollback", store_id)),
        tools.approvals.latest(NAME, _is("undo", store_id)),
    )
    state = "rolled back" if rolled_back else "not rolled back"
    blocks: list[Block] = [
        header(f"Rollback status of store {store_id}"),
        section(f"*Now:* {state}\n" + "\n".join(lines)),
        section(await _request_line(tools, "Last rollback", last_rollback)),
        section(await _request_line(tools, "Last undo", last_undo)),
        context("Read live from the OMS; requests and runs from the bot's audit."),
    ]
    await inv.reply.ephemeral(
        Message(text=f"Store {store_id}: {state}", blocks=blocks), replace=True
    )


def _store_arg() -> Arg:
    return Arg(
        "store",
        "product store id (default: the policy's [stores] default)",
        required=False,
        parse=parse_store_id,
    )


PROVIDES = Provides(
    commands=(
        CommandSpec(
            name=NAME,
            summary="Take a store off Shopify and stop brokering, with a second person's approval.",
            handler=rollback_command,
            args=(_store_arg(),),
            examples=("/oms rollback", "/oms rollback STORE"),
            role=ROLE,
            changes_oms=True,
        ),
        CommandSpec(
            name=f"{NAME} undo",
            summary="Restore what the last rollback changed, with a second person's approval.",
            handler=undo_command,
            args=(_store_arg(),),
            examples=("/oms rollback undo", "/oms rollback undo STORE"),
            role=ROLE,
            changes_oms=True,
        ),
        CommandSpec(
            name=f"{NAME} status",
            summary="Each shop's access scope, order brokering, and the last rollback and undo.",
            handler=status_command,
            args=(_store_arg(),),
            examples=("/oms rollback status", "/oms rollback status STORE"),
        ),
    ),
    runbooks=(RUNBOOK,),
    dangerous=(DANGEROUS,),
)
