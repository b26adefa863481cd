"""What the jobs tests read of the bot's answers: the text shown, a command's reply, and the
note a user was told after pressing a button."""

from __future__ import annotations

from typing import Any

from tests.conftest import RunningBot, text_of
from tests.harness.fakeslack import Message, ResponsePost


def shown(message: Message | ResponsePost | Any) -> str:
    if isinstance(message, ResponsePost):
        return text_of(message.body)
    return text_of({"text": message.text, "blocks": message.blocks})


def reply(bot: RunningBot, text: str, user: str = "U_ALICE") -> ResponsePost:
    return bot.reply_post(bot.slash(text, user=user), timeout=15)


def told(bot: RunningBot, user: str, words: str, timeout: float = 10.0) -> str:
    """The first reply or ephemeral message to `user` containing `words` (waiting for it)."""

    def find() -> str | None:
        texts = [text_of(p.body) for p in bot.fake.response_posts() if p.user == user]
        texts += [shown(e) for e in bot.fake.ephemerals(user=user)]
        return next((t for t in texts if words in t), None)

    return bot.fake.wait_for(find, timeout)
