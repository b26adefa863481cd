"""The watch source the engine polls, and `/oms watches`: the policy's watches with their jobs,
quiet hours and last poll, and the alerts still open (each with a link to its message)."""

from __future__ import annotations

from bot.engine import (
    ActionSpec,
    AlertRecord,
    CommandSpec,
    Findings,
    Invocation,
    Provides,
    Toolbox,
    Watch,
    WatchSource,
    WatchView,
)
from bot.kit.blocks import Message, chunk_lines, context, escape, section
from bot.kit.durations import describe_duration, plural, slack_time
from handlers.watches import moqui, ofbiz, spike
from handlers.watches.render import HISTORY_ACTION, on_history
from handlers.watches.targets import resolve

MAX_ALERTS = 20  # open alerts listed in /oms watches
KIND_WORDS = {"failed": "failed run", "late": "late", "paused": "paused", "spike": "spike"}


async def detect(tools: Toolbox, watch: Watch, view: WatchView) -> Findings:
    """Everything one watch finds in one poll."""
    found = Findings()
    targets = await resolve(tools.oms, watch)
    if targets.unknown:
        found.notes.append(
            "not a job or category this OMS has: "
            + ", ".join(f"`{escape(n)}`" for n in targets.unknown)
        )
    for part in (
        await ofbiz.detect(tools, watch, view, targets.ofbiz),
        await moqui.detect(tools, watch, view, targets.moqui),
        await spike.detect(tools, watch, view),
    ):
        found.events += part.events
        found.recoveries += part.recoveries
        found.notes += part.notes
    return found


async def watches_command(inv: Invocation) -> None:
    await inv.reply.ephemeral(await _listing(inv), replace=True)


async def _listing(inv: Invocation) -> Message:
    policy = inv.tools.policy
    if not policy.watches:
        text = "No job watches are set up."
        return Message(
            text=text,
            blocks=[
                section(f":eyes: {text}"),
                context(
                    "Add `[[watches]]` tables to the policy file: `channel`, `jobs` (OFBiz enum "
                    "ids, Moqui job names or category names) and optional `quiet_hours`, "
                    "`timezone` and `failed_imports_per_hour`."
                ),
            ],
        )
    state = await inv.tools.watch_state()
    every = describe_duration(policy.limits.watch_poll_seconds)
    lines = []
    for watch in policy.watches:
        poll = state.polls.get(watch.id)
        last = (
            f"last poll {slack_time(poll.last_poll_at)}: {poll.last_outcome or 'in progress'}"
            if poll
            else "not polled yet"
        )
        extras = []
        if watch.quiet_text:
            extras.append(f"quiet {watch.quiet_text} ({escape(watch.timezone)})")
        if watch.failed_imports_per_hour:
            extras.append(f"failed imports over {watch.failed_imports_per_hour}/h")
        lines.append(
            f"• *{escape(watch.id)}* → <#{watch.channel}> · "
            + ", ".join(f"`{escape(j)}`" for j in watch.jobs)
            + (" · " + " · ".join(extras) if extras else "")
            + f"\n      {last}"
        )
    alerts = [a for a in state.open_alerts if any(w.id == a.watch_id for w in policy.watches)]
    alert_lines = [await _alert_line(inv.tools, a) for a in alerts[:MAX_ALERTS]]
    title = f"{plural(len(policy.watches), 'job watch', 'job watches')}, polled every {every}"
    blocks = [section(f":eyes: *{title}*")]
    blocks += [section(chunk) for chunk in chunk_lines(lines)]
    if alert_lines:
        blocks.append(section(f"*{plural(len(alerts), 'open alert')}*"))
        blocks += [section(chunk) for chunk in chunk_lines(alert_lines)]
        if len(alerts) > MAX_ALERTS:
            blocks.append(context(f"… and {len(alerts) - MAX_ALERTS} more."))
    else:
        blocks.append(context("No open alerts."))
    return Message(text=f"{title}; {plural(len(alerts), 'open alert')}", blocks=blocks)


async def _alert_line(tools: Toolbox, alert: AlertRecord) -> str:
    title = escape(str(alert.body.get("title") or alert.subject))
    link = await tools.message_link(alert.channel, alert.message_ts)
    shown = f"<{link}|{title}>" if link else title
    held = " (not posted yet: quiet hours, or Slack refused it)" if alert.state == "held" else ""
    return (
        f"• {shown} · {KIND_WORDS.get(alert.kind, alert.kind)} · since "
        f"{slack_time(alert.occurred_at)} · watch `{escape(alert.watch_id)}`{held}"
    )


PROVIDES = Provides(
    commands=(
        CommandSpec(
            name="watches",
            summary="The job watches, their last poll and the alerts still open.",
            handler=watches_command,
            examples=("/oms watches",),
        ),
    ),
    actions=(
        ActionSpec(
            HISTORY_ACTION, on_history, pressed_note=lambda c: f"History asked by <@{c.user_id}>"
        ),
    ),
    watches=(WatchSource("jobs", detect),),
)
