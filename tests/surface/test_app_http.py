"""The bot through its real HTTP endpoint: signed slash commands, as Slack sends them."""

from __future__ import annotations

import time

import httpx

from bot.store import open_store
from tests.conftest import RunningBot, gated, text_of
from tests.harness.signing import signed_headers


def test_help_lists_every_command(bot: RunningBot) -> None:
    ack = bot.ack("help")
    assert ack["response_type"] == "ephemeral"
    shown = text_of(ack)
    for spec in bot.services.registry.all():
        assert f"/oms {spec.name}" in shown
        assert spec.summary in shown


def test_bare_oms_is_help(bot: RunningBot) -> None:
    assert "oms-bot commands" in text_of(bot.ack(""))


def test_help_for_one_command_shows_usage_and_examples(bot: RunningBot) -> None:
    shown = text_of(bot.ack("help help"))
    assert "/oms help [<command> [...]]" in shown
    assert "/oms help order" in shown  # an example
    shown = text_of(bot.ack("help order"))
    assert "/oms order <order>" in shown
    assert "#1004" in shown


def test_help_for_unknown_command_suggests(bot: RunningBot) -> None:
    shown = text_of(bot.ack("help ordr"))
    assert "no command `ordr`" in shown
    assert "Did you mean `order`?" in shown


def test_unknown_command_names_closest_match_and_usage(bot: RunningBot) -> None:
    shown = text_of(bot.ack("oder 10002"))
    assert "Unknown command `oder`" in shown
    assert "Did you mean `order`?" in shown
    assert "Usage:" in shown and "/oms order <order>" in shown
    # Nothing reached the OMS: bad input is answered in the ack.
    assert bot.sandbox.state.requests() == []


def test_missing_argument(bot: RunningBot) -> None:
    shown = text_of(bot.ack("order"))
    assert "Missing <order>" in shown
    assert "/oms order <order>" in shown


def test_too_many_arguments(bot: RunningBot) -> None:
    shown = text_of(bot.ack("order 10002 10003"))
    assert "Too many arguments" in shown and "10003" in shown


def test_unknown_flag(bot: RunningBot) -> None:
    shown = text_of(bot.ack("order 10002 --force"))
    assert "Unknown option `--force`" in shown
    assert "/oms order <order>" in shown


def test_malformed_order_reference(bot: RunningBot) -> None:
    shown = text_of(bot.ack("order 'a b'"))
    assert "<order>" in shown and "Usage:" in shown


def test_text_over_limit(bot: RunningBot) -> None:
    shown = text_of(bot.ack("order " + "9" * 1200))
    assert "1206 characters long; the limit is 1000" in shown


def test_control_characters(bot: RunningBot) -> None:
    shown = text_of(bot.ack("order 10002\x07"))
    assert "control character (U+0007)" in shown


def test_unbalanced_quote(bot: RunningBot) -> None:
    shown = text_of(bot.ack('order "10002'))
    assert "check your quotes" in shown


def test_bad_signature_is_401_and_does_nothing(bot: RunningBot) -> None:
    sent = bot.slash("order 10002", signature="v0=" + "0" * 64)
    assert sent.http.status_code == 401
    time.sleep(0.3)
    assert bot.fake.response_posts() == []
    assert bot.sandbox.state.requests() == []


def test_stale_timestamp_is_401(bot: RunningBot) -> None:
    sent = bot.slash("order 10002", timestamp=int(time.time()) - 6 * 60)
    assert sent.http.status_code == 401
    time.sleep(0.3)
    assert bot.fake.response_posts() == []
    assert bot.sandbox.state.requests() == []


def test_unsigned_request_is_401(bot: RunningBot) -> None:
    resp = bot.driver.raw(
        "command=%2Foms&text=help", {"content-type": "application/x-www-form-urlencoded"}
    )
    assert resp.status_code == 401


def test_forged_body_with_valid_headers_is_401(bot: RunningBot) -> None:
    headers = signed_headers("another-secret", "command=%2Foms&text=help")
    resp = bot.driver.raw("command=%2Foms&text=help", headers)
    assert resp.status_code == 401


def test_order_lookup_acks_then_answers(bot: RunningBot) -> None:
    sent = bot.slash("order 10002")
    assert "Working on" in gated(sent.http.json())["text"]
    (reply,) = bot.replies(sent)
    shown = text_of(gated(reply))
    assert reply["replace_original"] is True
    assert "10002" in shown and "Created" in shown and "POS" in shown
    assert "Status history" in shown


def test_refreshed_order_shows_both_versions(bot: RunningBot) -> None:
    sent = bot.slash("order #1003")
    (reply,) = bot.replies(sent)
    shown = text_of(gated(reply))
    assert "2 versions" in shown
    assert "10013" in shown and "10003" in shown
    assert "The live one is `10013`" in shown


def test_order_by_shopify_id(bot: RunningBot) -> None:
    sent = bot.slash("order 6100000000002")
    (reply,) = bot.replies(sent)
    assert "10002" in text_of(gated(reply))


def test_order_not_found(bot: RunningBot) -> None:
    sent = bot.slash("order #1008")
    (reply,) = bot.replies(sent)
    assert "No order found in HotWax for *Shopify order #1008*" in text_of(gated(reply))


def test_oms_down_gives_clear_message_and_bot_keeps_serving(bot: RunningBot) -> None:
    bot.sandbox.state.down = True
    sent = bot.slash("order 10002")
    assert sent.http.status_code == 200
    (reply,) = bot.replies(sent, timeout=15)
    shown = text_of(gated(reply))
    assert "The OMS call" in shown and "failed" in shown
    assert "find order" in shown or "log in" in shown
    assert "Traceback" not in shown
    # Still serving.
    assert "oms-bot commands" in text_of(bot.ack("help"))
    bot.sandbox.state.down = False
    sent = bot.slash("order 10002")
    (reply,) = bot.replies(sent)
    assert "Status history" in text_of(gated(reply))


def test_oms_slow_beyond_timeout_is_reported(bot: RunningBot) -> None:
    bot.sandbox.state.latency = 4.0  # the bot's OMS_TIMEOUT is 3 s
    sent = bot.slash("order 10002")
    # The ack did not wait for the OMS: it came back before any answer existed.
    assert "Working on" in sent.http.json()["text"]
    assert bot.fake.response_posts(sent.response_url) == []
    (reply,) = bot.replies(sent, timeout=30)
    assert "timed out" in text_of(gated(reply))


def test_healthz(bot: RunningBot) -> None:
    resp = httpx.get(f"{bot.url}/healthz")
    assert resp.status_code == 200 and resp.text == "ok"


def test_readyz_ok_then_503_with_reason(bot: RunningBot) -> None:
    resp = httpx.get(f"{bot.url}/readyz", timeout=15)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"ready": True, "problems": []}
    bot.sandbox.state.down = True
    bot.sandbox.state.expire_tokens()
    resp = httpx.get(f"{bot.url}/readyz", timeout=15)
    assert resp.status_code == 503
    (problem,) = resp.json()["problems"]
    assert problem.endswith("failed: the OMS answered HTTP 503 Service Unavailable")


def test_readyz_names_an_unreachable_database(bot: RunningBot) -> None:
    bot.services.store = open_store("postgresql://postgres:s3cret-pw@127.0.0.1:1/none")
    resp = httpx.get(f"{bot.url}/readyz", timeout=15)
    assert resp.status_code == 503
    (problem,) = resp.json()["problems"]
    assert "database" in problem and "127.0.0.1:1" in problem
    assert "s3cret-pw" not in resp.text
