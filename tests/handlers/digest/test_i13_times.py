"""Issue 13 (times, unknown stores, digest links): through the real endpoint."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import BotFactory, gated, text_of
from tests.handlers.digest.test_digests import digest_policy


def test_failed_with_an_unknown_store_lists_the_stores(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=digest_policy(tmp_path))
    text = text_of(gated(bot.reply_post(bot.slash("failed --store nope")).body))
    print(text)
    assert "No failed imports" not in text
