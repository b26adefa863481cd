"""What the order runbook tests share: an operators' bot whose HotWax syncs at once, and the
text a user sees in a message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BotFactory, RunningBot, text_of, write_policy
from tests.harness.fakeslack import Message, ResponsePost

# HotWax's order sync and jobs are polled often, and a re-import concludes after a second
# without MDM activity.
FAST_IMPORTS = """
[limits]
sync_poll_seconds = 0.05
import_quiet_seconds = 1
import_wait_minutes = 0.1
job_poll_seconds = 0.2
"""


@pytest.fixture
def ops(make_bot: BotFactory, tmp_path: Path) -> RunningBot:
    """A bot where Alice and Bob are operators, Carol approves; HotWax's order sync runs and
    stages at once, and its jobs run at once."""
    policy = write_policy(tmp_path, two_person=False)
    policy.write_text(policy.read_text() + FAST_IMPORTS)
    bot = make_bot(omsbot_policy=policy)
    bot.sandbox.state.job_run_seconds = 0.0
    bot.sandbox.state.sync_delay_seconds = 0.0
    return bot


def user_text(message: Message | ResponsePost | dict[str, Any]) -> str:
    """The text of a message, a response_url post or a message body, as a user reads it."""
    if isinstance(message, dict):
        return text_of(message)
    if isinstance(message, ResponsePost):
        return text_of(message.body)
    return text_of({"text": message.text, "blocks": message.blocks})
