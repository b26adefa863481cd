"""Job watches: every replica polls each `[[watches]]` entry, each alert is posted once.

A runbook family provides a `WatchSource` whose `detect` reads the OMS for one watch and
says what it found: events (a failed run, a late job, a pause, a failed-imports spike), each
with a key every replica computes alike, and recoveries (the job succeeded, ran, resumed).
This module does the rest, the same for every kind of event:

- **Once across replicas**: an event is claimed in the database before it is posted
  (bot/store/watch_events.py `take_alert`, with a lease like digest slots); the replica
  that loses the claim posts nothing. A state change (scheduled -> paused) is claimed by a
  compare-and-set (`WatchView.changed`): only the replica whose write changed it reports it.
- **Folding**: a repeat of a live alert of the same subject within the hour (an event with
  `fold`) goes into the first message's thread ("failed again at …, 3 times in the last
  hour") instead of a new message.
- **Quiet hours**: an event found in the watch's quiet hours is claimed and *held*, then
  posted by the first poll after they end, each as it would have been, saying when it
  happened. Held rather than dropped or merged: nothing that broke overnight is lost, each
  alert keeps its own Run now button, and it comes when someone is there to act on it.
- **Closing**: a recovery closes the subject's live alerts that began before it; the replica
  that closes one updates its first message (a held alert closed before it was posted is
  posted closed).
- **Not twice after a stop**: an alert is marked "posting" just before its message may reach
  Slack, and the message carries a metadata mark naming (watch, alert). A replica that takes
  over an alert left "posting" (its poster was stopped or died after Slack took the message,
  before recording it) looks for the mark in the channel and records the message it finds
  instead of posting again, as the scheduler does for digest slots.

The first poll of a watch is its baseline: runs that ended more than one poll interval
before it are history, not news (the same instant on every replica: the first sets it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from bot.engine.audit import EventKind
from bot.engine.contract import ButtonSpec, Toolbox
from bot.engine.scheduled import SYSTEM_ACTOR
from bot.engine.watchlist import Watch
from bot.kit.blocks import Block, Message, actions, context, escape, section
from bot.kit.durations import plural, slack_time
from bot.kit.posting import (
    SEND_FAILURES,
    PostMark,
    find_marked_post,
    find_marked_reply,
    slack_error,
)
from bot.kit.reply import Replier
from bot.oms import OmsError
from bot.store import watch_events as ledger
from bot.store.audit import AuditEvent
from bot.store.watch_events import AlertRecord

if TYPE_CHECKING:
    from bot.engine.host import Host

log = logging.getLogger(__name__)

FOLD_WINDOW = 3600.0  # repeats within this of the first alert go into its thread
MARK_EVENT = "oms_bot_watch_alert"  # the metadata event type of an alert's message
ICONS = {"failed": ":x:", "late": ":hourglass:", "paused": ":double_vertical_bar:",
         "spike": ":chart_with_upwards_trend:"}  # fmt: skip


@dataclass(frozen=True)
class WatchEvent:
    """Something a watch found. `key` is the same on every replica for the same event;
    `text` is mrkdwn (escaped by the family), `title` plain text."""

    key: str
    kind: str  # failed, late, paused, spike
    subject: str  # the job (or "failed imports") it is about
    at: float  # when it happened (epoch seconds)
    title: str
    text: str
    buttons: tuple[ButtonSpec, ...] = ()
    fold: bool = False  # a repeat of a live alert of the subject goes into its thread
    repeat: str = ""  # what a folded repeat says before "N times in the last hour"


@dataclass(frozen=True)
class Recovery:
    """The subject is well again (as of `at`): its live alerts of `kind` begun before close."""

    kind: str
    subject: str
    at: float
    note: str  # mrkdwn: what the closed message says happened


@dataclass
class Findings:
    events: list[WatchEvent] = field(default_factory=list)
    recoveries: list[Recovery] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for /oms watches: names that match nothing


class WatchView:
    """What a source may know and change of its watch's memory while it detects."""

    def __init__(
        self, host: Host, watch: Watch, *, now: float, baseline: float, poll_seconds: float
    ) -> None:
        self._host = host
        self.watch = watch
        self.now = now
        self.baseline = baseline
        self.poll_seconds = poll_seconds

    async def changed(self, subject: str, aspect: str, value: str) -> str | None:
        """Record that `subject`'s `aspect` is now `value`; the value before when this replica
        saw it change (so it alone reports the change), None otherwise (no change, the
        first sighting, or another replica reported it)."""
        result = await self.change(subject, aspect, value)
        return None if result is None else result[0]

    async def change(self, subject: str, aspect: str, value: str) -> tuple[str | None, int] | None:
        """`changed`, also telling the first sighting (None before) and the change's number
        (the same on every replica: a key for what the change starts)."""
        return await asyncio.to_thread(
            ledger.change_state, self._host.store, self.watch.id, subject, aspect, value,
            now=self.now,
        )  # fmt: skip


@dataclass(frozen=True)
class WatchSource:
    name: str  # "jobs": names it in logs
    detect: Callable[[Toolbox, Watch, WatchView], Awaitable[Findings]]


def _button_json(spec: ButtonSpec) -> dict[str, Any]:
    return asdict(spec)


def _button(data: dict[str, Any]) -> ButtonSpec:
    for key in ("allowed_users", "denied_users"):
        if isinstance(data.get(key), list):
            data[key] = tuple(data[key])
    return ButtonSpec(**data)


class WatchPoller:
    def __init__(
        self,
        host: Host,
        sources: Sequence[WatchSource],
        *,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
        lease: float = 60.0,
    ) -> None:
        self.host = host
        self.sources = list(sources)
        self.clock = clock
        self.owner = owner or f"replica-{uuid.uuid4().hex[:12]}"
        self.lease = lease
        self._task: asyncio.Task[None] | None = None

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self.host.policy.watches and self.sources and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._forever(), name="watches")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _forever(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception:  # one bad poll must not end the watching
                log.exception("watch poll failed")
            await asyncio.sleep(self.host.policy.limits.watch_poll_seconds)

    # -- one poll ------------------------------------------------------------------------------

    async def poll_once(self) -> dict[str, str]:
        """Poll every watch once; what each poll did, by watch id."""
        return {watch.id: await self.poll_watch(watch) for watch in self.host.policy.watches}

    async def poll_watch(self, watch: Watch) -> str:
        store = self.host.store
        now = self.clock()
        interval = self.host.policy.limits.watch_poll_seconds
        first = await asyncio.to_thread(
            ledger.start_poll, store, watch.id, owner=self.owner, now=now
        )
        view = WatchView(
            self.host, watch, now=now, baseline=first - interval, poll_seconds=interval
        )
        findings = Findings()
        try:
            for source in self.sources:
                found = await source.detect(self.host, watch, view)
                findings.events += found.events
                findings.recoveries += found.recoveries
                findings.notes += found.notes
        except OmsError as exc:
            outcome = f"the OMS could not be read: {exc}"
            log.warning("watch %s: %s", watch.id, outcome)
            await self._finish_poll(watch, now, outcome)
            return outcome
        quiet = watch.is_quiet(now)
        posted = held = 0
        posted += await self._settle_abandoned(watch, now)
        if not quiet:
            # The held alerts first: a repeat found now folds into the thread of one of them.
            posted += await self._release_held(watch, now)
        for event in sorted(findings.events, key=lambda e: e.at):
            result = await self._event(watch, event, quiet=quiet, now=now)
            posted += result == "posted"
            held += result == "held"
        for recovery in findings.recoveries:
            await self._recover(watch, recovery, now)
        parts = [f"{plural(posted, 'alert')} posted"]
        if held:
            parts.append(f"{held} held for after the quiet hours")
        parts += findings.notes
        outcome = "; ".join(parts)
        await self._finish_poll(watch, now, outcome)
        return outcome

    async def _finish_poll(self, watch: Watch, now: float, outcome: str) -> None:
        await asyncio.to_thread(
            ledger.finish_poll, self.host.store, watch.id, owner=self.owner, now=now,
            outcome=outcome,
        )  # fmt: skip

    # -- events --------------------------------------------------------------------------------

    async def _event(self, watch: Watch, event: WatchEvent, *, quiet: bool, now: float) -> str:
        body = {
            "title": event.title,
            "text": event.text,
            "buttons": [_button_json(b) for b in event.buttons],
            "fold": event.fold,
            "repeat": event.repeat,
        }
        state = await asyncio.to_thread(
            ledger.take_alert, self.host.store, watch.id, event.key, kind=event.kind,
            subject=event.subject, occurred_at=event.at, channel=watch.channel, body=body,
            owner=self.owner, now=self.clock(), lease=self.lease,
        )  # fmt: skip
        if state is None:
            return "elsewhere"
        record = await asyncio.to_thread(ledger.get_alert, self.host.store, watch.id, event.key)
        assert record is not None
        if state == "posting" and await self._found_posted(watch, record):
            return "found"
        if quiet:
            await self._finish(watch, event.key, "held")
            return "held"
        return await self._post(watch, record, now=now)

    async def _found_posted(self, watch: Watch, record: AlertRecord) -> bool:
        """For an alert taken over while "posting": whether the replica that held it got its
        message to Slack; if so, that message is recorded as the alert's."""
        client = self.host.slack
        if client is None:
            return False
        mark = alert_mark(watch, record.alert_key)
        ts = parent = None
        try:
            # A repeat was posted into the thread of the alert it folds into, if any.
            target = await self._fold_target(watch, record)
            if target is not None and target.message_ts:
                ts = await find_marked_reply(client, mark, thread_ts=target.message_ts)
                parent = target.alert_key if ts is not None else None
            if ts is None:
                ts = await find_marked_post(client, mark, since=record.created_at - 60)
        except SEND_FAILURES as exc:
            # Posting again risks a second message; not posting risks losing the alert.
            log.warning("watch %s: cannot see whether %s was posted (%s); posting it",
                        watch.id, record.alert_key, slack_error(exc))  # fmt: skip
            return False
        if ts is None:
            return False
        log.info("watch %s: alert %s was already posted (%s)", watch.id, record.alert_key, ts)
        state: ledger.AlertEnd = "folded" if parent else "open"
        if parent is None and record.closed_at is not None:
            state = "closed"
        await self._finish(watch, record.alert_key, state, ts, parent)
        return True

    async def _fold_target(self, watch: Watch, record: AlertRecord) -> AlertRecord | None:
        """The live alert of the subject within the hour whose thread a repeat goes into."""
        if not record.body.get("fold") or record.closed_at is not None:
            return None
        target = await asyncio.to_thread(
            ledger.fold_target, self.host.store, watch.id, record.kind, record.subject,
            record.occurred_at - FOLD_WINDOW,
        )  # fmt: skip
        if target is None or target.state != "open" or not target.message_ts:
            return None
        return target

    async def _settle_abandoned(self, watch: Watch, now: float) -> int:
        """Alerts left "posting" by a replica that stopped before recording them: found in
        the channel, or posted now (even if the OMS no longer shows what they were about)."""
        posted = 0
        store = self.host.store
        for record in await asyncio.to_thread(ledger.abandoned_alerts, store, watch.id, now=now):
            state = await asyncio.to_thread(
                ledger.take_alert, store, watch.id, record.alert_key, kind=record.kind,
                subject=record.subject, occurred_at=record.occurred_at, channel=record.channel,
                body=record.body, owner=self.owner, now=self.clock(), lease=self.lease,
            )  # fmt: skip
            if state != "posting" or await self._found_posted(watch, record):
                continue
            if watch.is_quiet(now):
                await self._finish(watch, record.alert_key, "held")
            else:
                posted += await self._post(watch, record, now=now) == "posted"
        return posted

    async def _release_held(self, watch: Watch, now: float) -> int:
        posted = 0
        for record in await asyncio.to_thread(ledger.held_alerts, self.host.store, watch.id):
            won = await asyncio.to_thread(
                ledger.claim_held, self.host.store, watch.id, record.alert_key,
                owner=self.owner, now=self.clock(), lease=self.lease,
            )  # fmt: skip
            if won:
                posted += await self._post(watch, record, now=now, held=True) == "posted"
        return posted

    async def _finish(
        self,
        watch: Watch,
        key: str,
        state: ledger.AlertEnd,
        ts: str | None = None,
        parent: str | None = None,
    ) -> None:
        done = await asyncio.to_thread(
            ledger.finish_alert, self.host.store, watch.id, key, owner=self.owner, state=state,
            message_ts=ts, parent_key=parent,
        )  # fmt: skip
        if not done:
            log.warning(
                "watch %s: the claim on %s was taken over before it finished", watch.id, key
            )

    def _replier(self, channel: str) -> Replier:
        client = self.host.slack
        if client is None:
            raise RuntimeError("the watches need the Slack client")
        return Replier(
            client, channel_id=channel, user_id=SYSTEM_ACTOR, response_url=None,
            updates=self.host.updates,
        )  # fmt: skip

    async def _post(
        self, watch: Watch, record: AlertRecord, *, now: float, held: bool = False
    ) -> str:
        """Post a claimed alert: into the thread of the subject's live alert within the hour
        when it folds, else as its own message; held again if Slack refuses it. Marked
        "posting" first, and the message carries the alert's mark (Replier.post's `mark`)."""
        reply = self._replier(watch.channel)
        store = self.host.store
        body = record.body
        marked = await asyncio.to_thread(
            ledger.mark_alert_posting, store, watch.id, record.alert_key, owner=self.owner,
            now=self.clock(), lease=self.lease,
        )  # fmt: skip
        if not marked:
            log.warning("watch %s: the claim on %s was taken over before it was posted",
                        watch.id, record.alert_key)  # fmt: skip
            return "elsewhere"
        mark = alert_mark(watch, record.alert_key)
        try:
            target = await self._fold_target(watch, record)
            if target is not None and target.message_ts:
                count = await asyncio.to_thread(
                    ledger.count_since, store, watch.id, record.kind, record.subject,
                    record.occurred_at - FOLD_WINDOW,
                )  # fmt: skip
                text = (
                    f"{body.get('repeat') or escape(record.subject)} at "
                    f"{slack_time(record.occurred_at)}, "
                    f"{plural(count + 1, 'time')} in the last hour."
                )
                blocks = [section(f"{ICONS.get(record.kind, '')} {text}")]
                if body.get("text"):
                    blocks.append(context(str(body["text"])[:2900]))
                ts = await reply.post(Message(text=text, blocks=blocks),
                                      thread_ts=target.message_ts, mark=mark)  # fmt: skip
                await self._finish(watch, record.alert_key, "folded", ts, target.alert_key)
                return "posted"
            message = await self._render(watch, record, held=held)
            ts = await reply.post(message, mark=mark)
        except (SlackApiError, OSError) as exc:
            log.warning("watch %s: alert %s not posted: %s", watch.id, record.alert_key,
                        slack_error(exc))  # fmt: skip
            await self._finish(watch, record.alert_key, "held")  # tried again next poll
            return "failed"
        await self._finish(
            watch, record.alert_key, "closed" if record.closed_at is not None else "open", ts
        )
        await self.host.audit.record(
            AuditEvent(
                kind=EventKind.SCHEDULED_POST,
                actor=SYSTEM_ACTOR,
                outcome="ok",
                summary=f"watch {watch.id}: {record.body.get('title') or record.subject}"[:300],
                channel_id=watch.channel,
                detail={"watch": watch.id, "alert": record.alert_key, "kind": record.kind},
                message_channel=watch.channel,
                message_ts=ts,
            )
        )
        return "posted"

    async def _render(self, watch: Watch, record: AlertRecord, *, held: bool) -> Message:
        body = record.body
        title = str(body.get("title") or record.subject)
        icon = ICONS.get(record.kind, ":warning:")
        where = f"Watch `{escape(watch.id)}` · {slack_time(record.occurred_at)}"
        if held and watch.quiet_text:
            where += (
                f" · held during the quiet hours ({watch.quiet_text}, {escape(watch.timezone)})"
            )
        if record.closed_at is not None:
            return closed_message(record, where)
        blocks: list[Block] = [section(f"{icon} *{escape(title)}*\n{body.get('text') or ''}"),
                               context(where)]  # fmt: skip
        specs = [_button(dict(b)) for b in body.get("buttons") or []]
        if specs:
            _, elements = await self.host.actions.buttons(
                specs, created_by=SYSTEM_ACTOR, channel_id=watch.channel
            )
            blocks.append(actions(elements))
        return Message(text=title, blocks=blocks)

    # -- recoveries ----------------------------------------------------------------------------

    async def _recover(self, watch: Watch, recovery: Recovery, now: float) -> None:
        store = self.host.store
        live = await asyncio.to_thread(
            ledger.live_alerts, store, watch.id, recovery.kind, recovery.subject
        )
        for record in live:
            if record.occurred_at >= recovery.at:
                continue  # it broke after this recovery
            won = await asyncio.to_thread(
                ledger.close_alert, store, record, now=recovery.at, note=recovery.note
            )
            if not won or record.state != "open" or not record.message_ts:
                continue  # a held alert is posted closed when the quiet hours end
            closed = await asyncio.to_thread(ledger.get_alert, store, watch.id, record.alert_key)
            assert closed is not None
            where = f"Watch `{escape(watch.id)}` · {slack_time(closed.occurred_at)}"
            try:
                await self._replier(watch.channel).update(
                    record.message_ts, closed_message(closed, where)
                )
            except (SlackApiError, OSError) as exc:
                log.warning("watch %s: closing %s not shown: %s", watch.id, record.alert_key,
                            slack_error(exc))  # fmt: skip


def alert_mark(watch: Watch, key: str) -> PostMark:
    """The metadata mark an alert's message carries: (watch, alert key)."""
    return PostMark(watch.channel, MARK_EVENT, {"watch": watch.id, "alert": key})


def closed_message(record: AlertRecord, where: str) -> Message:
    """An alert's first message once it is closed: what happened, and what closed it."""
    title = str(record.body.get("title") or record.subject)
    note = record.closed_note or "recovered"
    closed = slack_time(record.closed_at) if record.closed_at is not None else "now"
    return Message(
        text=f"{title} (closed: {note})",
        blocks=[
            section(
                f":white_check_mark: ~{escape(title)}~ *closed*\n{record.body.get('text') or ''}"
            ),
            context(f"Closed {closed}: {note}", where),
        ],
    )
