"""A file Slack refuses to take is a note where the file would have gone, never an internal
error: the report, the recovery plan or the digest it belongs to is already posted.

Through the real endpoint, with the fake Slack refusing the upload in the ways Slack does:
an error answer (`not_in_channel`) and an HTML 500 from its edge."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store.audit import search
from tests.conftest import BotFactory, RunningBot, text_of, write_policy
from tests.handlers.digest.test_digests import digest_policy
from tests.harness.fakeslack import Message


@pytest.fixture
def ops(make_bot: BotFactory, tmp_path: Path) -> RunningBot:
    bot = make_bot(omsbot_policy=write_policy(tmp_path, two_person=False))
    bot.sandbox.state.job_run_seconds = 0.0
    bot.sandbox.state.sync_delay_seconds = 0.0
    return bot


def _shown(message: Message) -> str:
    return text_of({"text": message.text, "blocks": message.blocks})


def _note_in(bot: RunningBot, thread_ts: str) -> Message:
    """The note posted in the thread of `thread_ts` that a file could not be attached."""
    found: Message = bot.wait_message(
        lambda m: m.thread_ts == thread_ts and "could not be attached" in m.text, timeout=15
    )
    return found


def _refuse_upload(bot: RunningBot, how: str) -> None:
    if how == "error":
        bot.fake.fail_next("files.completeUploadExternal", "not_in_channel")
    else:
        bot.fake.server_error_next("files.completeUploadExternal")


@pytest.mark.parametrize("how", ["error", "server"])
def test_mdm_report_says_in_its_thread_that_the_csv_could_not_be_attached(
    ops: RunningBot, how: str
) -> None:
    _refuse_upload(ops, how)
    sent = ops.slash("mdm --failed --since 7d")
    report = ops.wait_message(lambda m: m.text.startswith("Shopify Order MDM"), timeout=15)
    note = ops.wait_message(
        lambda m: m.thread_ts == report.ts and "could not be attached" in m.text
    )
    assert note.text.startswith(
        "The CSV of the failed records of MDM run DML10005 could not be attached: Slack answered"
    )
    if how == "error":
        assert "`not_in_channel`; invite me to this channel with `/invite @oms-bot`" in note.text
    done = ops.fake.wait_for(
        lambda: next(
            (
                p
                for p in ops.fake.response_posts(sent.response_url)
                if "Posted the MDM report" in text_of(p.body)
            ),
            None,
        ),
        15,
    )
    told = text_of(done.body)
    assert "DML10005 could not be attached; the report's thread says why" in told
    everything = [text_of(p.body) for p in ops.fake.response_posts()]
    everything += [_shown(m) for m in ops.fake.messages("C_OPS")]
    assert not any("internal error" in text for text in everything)
    assert ops.fake.files() == []


def test_recovery_plan_stays_and_its_support_file_failure_is_noted(ops: RunningBot) -> None:
    card = ops.reply_post(ops.slash("refresh 10004"), timeout=15)
    ops.driver.click_ephemeral(card, "oms:refresh.confirm#0")
    failed = ops.wait_message(lambda m: m.text.endswith(("finished", "failed")), timeout=30)
    ops.fake.fail_next("files.completeUploadExternal", "not_in_channel")
    ops.driver.click(failed, "oms:refresh.recover#0")
    plan = ops.wait_message(lambda m: m.thread_ts == failed.ts and "Recovery of order" in m.text)
    assert "HotWax support must remove it" in plan.text
    note = ops.wait_message(
        lambda m: m.thread_ts == failed.ts and "could not be attached" in m.text
    )
    assert note.text.startswith(
        "The HotWax support file of order 10004 could not be attached: Slack answered "
        "`not_in_channel`"
    )
    assert ops.fake.files() == []


def test_digest_is_posted_and_audited_ok_when_its_csv_is_refused(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=digest_policy(tmp_path))
    bot.fake.server_error_next("files.completeUploadExternal")
    reply = text_of(bot.reply_post(bot.slash("digest now --since 7d"), timeout=15).body)
    assert "Posted" in reply and "could not be posted" not in reply
    digest = bot.wait_message(lambda m: m.thread_ts is None and "failed imports" in m.text)
    total = len(bot.sandbox.state.data.failures)
    note = bot.wait_message(
        lambda m: m.thread_ts == digest.ts and "could not be attached" in m.text
    )
    assert note.text.startswith(f"The CSV of the {total} failed imports could not be attached")
    events = [e for e in search(bot.services.store, limit=20) if e.kind == "scheduled_post"]
    assert [e.outcome for e in events] == ["ok"]
