"""The App Home tab: what waits for one user, published with `views.publish`.

Per user: the approval requests they may decide (Approve and Deny issued exactly as the
channel's buttons: same action, same button group, same approver roles, the requester
denied, so the first press anywhere wins and the two-person rule holds), their own requests
still waiting, their runs in progress and interrupted (with Resume), the last digest of each
digest channel with its totals, and quick actions that open command forms.

It is published when the user opens the tab (`app_home_opened`) and again when something on
it changes for them (bot/engine/changes.py). Who opened the tab, and in which DM, is kept in
the database (bot/store/home_viewers.py), so the replica where a change happens republishes
the Home of every user it concerns, whichever replica served their opening.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.approvals import APPROVE_ACTION, DENY_ACTION
from bot.engine.changes import Change
from bot.engine.contract import ButtonSpec
from bot.engine.policy import RoleCheckFailed
from bot.engine.progress import RESUME_ACTION
from bot.kit.blocks import (
    Block,
    actions,
    button,
    confirm_dialog,
    context,
    divider,
    escape,
    header,
    home_view,
    section,
)
from bot.kit.durations import slack_time
from bot.kit.forms import CommandForm, FormField
from bot.store import approvals as approval_store
from bot.store.approvals import Approval
from bot.store.db import StoreUnavailable
from bot.store.home_viewers import recent_viewers, record_viewer
from bot.store.runs import list_runs
from bot.store.slots import last_slots
from bot.surface.wiring import Services

log = logging.getLogger(__name__)

# Quick actions: `home:form#<command>`, the button's value the command's name. Not tokens:
# a form only opens, and its submission is checked like a typed command.
QUICK_PREFIX = "home:form#"
MOST_SHOWN = 15  # of each list; the rest is one "and N more" line
REMEMBERED_VIEWERS = 500
# A Home not opened for this long is not republished on a change (it shows the change when
# its user next opens it): the users who look at it are the ones worth the calls.
VIEWER_DAYS = 30


def quick_forms(services: Services) -> list[tuple[str, CommandForm]]:
    """(button label, form) of each quick action whose command this bot has: Reconcile
    appears once a `reconcile` command is registered."""
    forms = [
        (
            "Check an order",
            CommandForm(
                "check",
                "Check an order",
                (
                    FormField(
                        "order",
                        "Order",
                        placeholder="10002, 6178678210724 or #1004",
                        hint="A HotWax order id, a Shopify order id or a Shopify order name.",
                    ),
                ),
                submit="Check",
            ),
        ),
        (
            "Failed imports",
            CommandForm(
                "failed",
                "Failed imports",
                (
                    FormField(
                        "since",
                        "Since",
                        flag="since",
                        optional=True,
                        placeholder="24h",
                        hint="How far back: 30m, 24h, 7d. Empty: the last 24 hours.",
                    ),
                    FormField(
                        "store",
                        "Product store",
                        flag="store",
                        optional=True,
                        placeholder="STORE",
                        hint="Empty: every store.",
                    ),
                ),
                submit="Show",
            ),
        ),
    ]
    reconcile = services.registry.get("reconcile")
    if reconcile is not None:
        usage = reconcile.usage()
        forms.append(
            (
                "Reconcile",
                CommandForm(
                    "reconcile",
                    "Reconcile",
                    (
                        FormField(
                            "args",
                            "Arguments",
                            optional=True,
                            placeholder=usage.removeprefix("/oms reconcile").strip() or None,
                            hint=reconcile.summary,
                        ),
                    ),
                    intro=f"`{escape(usage)}`",
                ),
            )
        )
    return [(label, form) for label, form in forms if services.registry.get(form.command)]


def quick_form(services: Services, command: str) -> CommandForm | None:
    return next((f for _, f in quick_forms(services) if f.command == command), None)


class HomeTabs:
    """Publishes each user's Home tab, and again when a change concerns them."""

    def __init__(self, services: Services) -> None:
        self.services = services
        # user id -> the DM channel of their Home (for answers to presses on it), newest last.
        self.viewers: OrderedDict[str, str | None] = OrderedDict()
        self._due: set[str] = set()
        services.changes.listen(self.on_change)

    def opened(self, user_id: str, dm_channel: str | None) -> None:
        self._remember(user_id, dm_channel)
        if self.services.tasks.accepting:
            self.services.tasks.spawn(self._record(user_id, dm_channel), name="home viewer")

    def _remember(self, user_id: str, dm_channel: str | None) -> None:
        known = self.viewers.pop(user_id, None)
        self.viewers[user_id] = dm_channel or known
        while len(self.viewers) > REMEMBERED_VIEWERS:
            self.viewers.popitem(last=False)

    async def _record(self, user_id: str, dm_channel: str | None) -> None:
        try:
            await asyncio.to_thread(
                record_viewer, self.services.store, user_id, dm_channel, time.time()
            )
        except StoreUnavailable as exc:  # this replica still refreshes it; others at next open
            log.warning("could not record who opened the Home tab: %s", exc)

    async def _all_viewers(self) -> list[str]:
        """Who opened their Home, on any replica (this process's own when the database is
        unreachable)."""
        since = time.time() - VIEWER_DAYS * 86400
        try:
            shared = await asyncio.to_thread(
                recent_viewers, self.services.store, since=since, limit=REMEMBERED_VIEWERS
            )
        except StoreUnavailable as exc:
            log.warning("Home refresh from this replica's viewers only: %s", exc)
            return list(self.viewers)
        for user, dm_channel in shared.items():
            if user not in self.viewers or (dm_channel and not self.viewers[user]):
                self._remember(user, dm_channel)
        return list(dict.fromkeys([*shared, *self.viewers]))

    def on_change(self, change: Change) -> None:
        """The engine's hook: schedule a refresh of every viewer the change may concern."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no bot is serving (a script using the engine alone): nothing to refresh
        if not self.services.tasks.accepting or self.services.slack is None:
            return
        self.services.tasks.spawn(self._refresh_concerned(change), name="home refresh")

    async def _refresh_concerned(self, change: Change) -> None:
        concerned = [u for u in await self._all_viewers() if await self._concerns(change, u)]
        for user in concerned:
            if user in self._due:
                continue  # a refresh not yet begun will show this change too
            self._due.add(user)
            self.services.tasks.spawn(self._refresh(user), name="home refresh")

    async def _concerns(self, change: Change, user: str) -> bool:
        if change.everyone or user in change.users:
            return True
        if not change.approver_roles:
            return False
        try:
            return await self.services.authorizer.has_any(user, change.approver_roles)
        except RoleCheckFailed:
            return False

    async def _refresh(self, user: str) -> None:
        self._due.discard(user)
        client = self.services.slack
        if client is not None:
            await self.publish(client, user, self.viewers.get(user))

    async def publish(self, client: AsyncWebClient, user: str, dm_channel: str | None) -> None:
        """Render and publish `user`'s Home; a failure is logged, never raised."""
        try:
            view = home_view(await self.render(user), dm_channel=dm_channel)
            await client.views_publish(user_id=user, view=view)
        except SlackApiError as exc:
            log.warning("could not publish the Home tab of %s: %s", user, exc.response.get("error"))
        except Exception:
            log.exception("could not render the Home tab of %s", user)

    # ---- what the tab shows -----------------------------------------------------------------

    async def render(self, user: str) -> list[Block]:
        now = time.time()
        blocks: list[Block] = [
            header("oms-bot"),
            context(f"What waits for you, as of {slack_time(now)}. Type `/oms help` anywhere."),
        ]
        quick = [
            button(label, f"{QUICK_PREFIX}{form.command}", form.command)
            for label, form in quick_forms(self.services)
        ]
        if quick:
            blocks.append(actions(quick, block_id="quick"))
        pending = await asyncio.to_thread(approval_store.list_pending, self.services.store, now=now)
        blocks += await self._to_decide(user, pending)
        blocks += self._own_requests(user, pending)
        blocks += await self._runs(user)
        blocks += await self._digests()
        return blocks

    async def _to_decide(self, user: str, pending: list[Approval]) -> list[Block]:
        mine: list[Approval] = []
        for approval in pending:
            # Never the requester's own: Approve and Deny are not theirs to press.
            if approval.requested_by == user:
                continue
            roles = tuple(approval.approver_role.split("|"))
            try:
                if await self.services.authorizer.has_any(user, roles):
                    mine.append(approval)
            except RoleCheckFailed as exc:
                log.info("home: roles of %s not read: %s", user, exc)
        blocks: list[Block] = [divider(), section("*Waiting for your approval*")]
        if not mine:
            return [*blocks, context("Nothing waits for your approval.")]
        for i, approval in enumerate(mine[:MOST_SHOWN]):
            summary = self.services.approvals.summary(approval)
            blocks.append(
                section(
                    f"*{escape(summary)}*\nAsked by <@{approval.requested_by}> at "
                    f"{slack_time(approval.created_at)}; expires at "
                    f"{slack_time(approval.expires_at)}."
                )
            )
            blocks.append(actions(await self._decision_buttons(approval, i)))
        return blocks + _more(len(mine), "requests")

    async def _decision_buttons(self, approval: Approval, index: int) -> list[Block]:
        """Approve and Deny as the request message has them (bot/engine/approvals.py): the
        same action, button group, roles and refusal of the requester."""
        roles = approval.approver_role
        summary = self.services.approvals.summary(approval)
        params = {"approval_id": approval.id}
        _, elements = await self.services.actions.buttons(
            [
                ButtonSpec(
                    "Approve",
                    APPROVE_ACTION,
                    params,
                    style="primary",
                    allowed_role=roles,
                    denied_users=(approval.requested_by,),
                    confirm=confirm_dialog("Approve and run?", summary, "Approve and run"),
                ),
                ButtonSpec(
                    "Deny",
                    DENY_ACTION,
                    params,
                    style="danger",
                    allowed_role=roles,
                    denied_users=(approval.requested_by,),
                ),
            ],
            created_by=approval.requested_by,
            channel_id=approval.approvals_channel,
            ttl=max(1.0, approval.expires_at - time.time()),
            group_key=f"approval:{approval.id}",
            first_index=2 * index,
        )
        return elements

    def _own_requests(self, user: str, pending: list[Approval]) -> list[Block]:
        own = [a for a in pending if a.requested_by == user]
        if not own:
            return []
        lines = [
            f"• *{escape(self.services.approvals.summary(a))}*: waiting for a second person "
            f"({' or '.join(a.approver_role.split('|'))}) until {slack_time(a.expires_at)}"
            for a in own[:MOST_SHOWN]
        ]
        return [section("*Your requests*\n" + "\n".join(lines)), *_more(len(own), "requests")]

    async def _runs(self, user: str) -> list[Block]:
        found = await asyncio.to_thread(
            list_runs, self.services.store, states=("running", "interrupted"), limit=500
        )
        runs = [r for r in found if r.requested_by == user]
        blocks: list[Block] = [divider(), section("*Your runs*")]
        if not runs:
            return [*blocks, context("No run of yours is in progress or interrupted.")]
        buttons = 0  # action ids stay unique across the tab's Resume buttons
        for run in runs[:MOST_SHOWN]:
            where = await self.services.message_link(run.channel_id, run.message_ts)
            title = f"<{where}|{escape(run.title)}>" if where else escape(run.title)
            state = "in progress" if run.state == "running" else "interrupted"
            blocks.append(
                section(
                    f"{title}\n{state} · started {slack_time(run.created_at)} in "
                    f"<#{run.channel_id}>"
                )
            )
            runbook = self.services.runs.runbooks.get(run.runbook)
            if run.state == "interrupted" and runbook is not None:
                spec = ButtonSpec(
                    "Resume",
                    RESUME_ACTION,
                    {"run_id": run.id, "order_keys": list(run.order_keys)},
                    style="primary",
                    allowed_role=runbook.role,
                )
                _, elements = await self.services.actions.buttons(
                    [spec],
                    created_by=run.requested_by,
                    channel_id=run.channel_id,
                    first_index=buttons,
                )
                buttons += 1
                blocks.append(actions(elements))
        return blocks + _more(len(runs), "runs")

    async def _digests(self) -> list[Block]:
        services = self.services
        latest: dict[str, tuple[float, str, str | None]] = {}
        for post in services.scheduled:
            for schedule in post.schedules(services.policy):
                slots = await asyncio.to_thread(last_slots, services.store, schedule.id, 10)
                posted = [s for s in slots if s.state == "posted" and s.posted_at]
                if not posted:
                    continue
                slot = posted[0]
                assert slot.posted_at is not None
                if schedule.channel not in latest or latest[schedule.channel][0] < slot.posted_at:
                    latest[schedule.channel] = (
                        slot.posted_at,
                        slot.outcome or "posted",
                        slot.message_ts,
                    )
        if not latest:
            return []
        lines = []
        for channel, (at, outcome, ts) in sorted(latest.items())[:MOST_SHOWN]:
            link = await services.message_link(channel, ts)
            shown = f"<{link}|{slack_time(at)}>" if link else slack_time(at)
            lines.append(f"• <#{channel}>: {shown}, {escape(outcome)}")
        return [
            divider(),
            section("*Last digests*\n" + "\n".join(lines)),
            *_more(len(latest), "channels"),
        ]


def _more(count: int, what: str) -> list[Block]:
    return [context(f"… and {count - MOST_SHOWN} more {what}.")] if count > MOST_SHOWN else []


def read_home_opened(event: dict[str, Any]) -> tuple[str, str | None] | None:
    """(user, DM channel) of an `app_home_opened` event on the Home tab, or None (the
    Messages tab, or a malformed event)."""
    user = event.get("user")
    if not isinstance(user, str) or not user or event.get("tab", "home") != "home":
        return None
    channel = event.get("channel")
    return user, channel if isinstance(channel, str) and channel.startswith("D") else None
