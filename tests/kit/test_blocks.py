"""The Block Kit builders keep every message within Slack's limits: texts are clipped with an
ellipsis and a message never has more than 50 blocks. Unit tests of the builders, checked by
the Block Kit gate, and end-to-end tests where the bot's real replies would cross a limit."""

from __future__ import annotations

import dataclasses
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.kit.blocks import (
    BUTTON_TEXT_MAX,
    FALLBACK_TEXT_MAX,
    FIELD_TEXT_MAX,
    HEADER_TEXT_MAX,
    MAX_BLOCKS,
    SECTION_TEXT_MAX,
    Block,
    Message,
    actions,
    button,
    clip,
    confirm_dialog,
    context,
    fields,
    header,
    mrkdwn,
    plain,
    section,
)
from bot.store.approvals import create_approval
from tests.conftest import BotFactory, RunningBot, text_of, write_policy
from tests.harness.blockkit import check_message

LONG = "Service findOrders failed: org.apache.ofbiz.entity.GenericEntityException (timeout) "


def _passes_the_gate(message: Message) -> None:
    assert check_message(message.to_slack()) == [], check_message(message.to_slack())


def _texts(blocks: list[Block]) -> list[str]:
    """Every text object's text in the blocks, in order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("plain_text", "mrkdwn"):
                found.append(str(node["text"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


# -- the builders ------------------------------------------------------------------------------


def test_clip_marks_the_cut_with_an_ellipsis() -> None:
    assert clip("abc", 3) == "abc"
    assert clip("abcd", 3) == "ab…"
    assert clip("", 3) == ""


def test_texts_are_clipped_to_slacks_limits() -> None:
    long = LONG * 100  # 8,400 characters
    assert len(long) > 2 * SECTION_TEXT_MAX
    for text in (plain(long), mrkdwn(long), section(long)["text"]):
        assert len(text["text"]) == SECTION_TEXT_MAX
        assert text["text"] == long[: SECTION_TEXT_MAX - 1] + "…"
    assert plain("")["text"] == " " and mrkdwn("")["text"] == " "  # Slack refuses empty text
    message = Message(
        text=long,
        blocks=[
            header(long),
            section(long),
            fields([(f"Field {i}", long) for i in range(12)]),
            context(*[long] * 12),
        ],
    )
    _passes_the_gate(message)
    assert len(message.text) == FALLBACK_TEXT_MAX and message.text.endswith("…")
    head, body, table, notes = message.blocks
    assert head["text"]["text"] == long[: HEADER_TEXT_MAX - 1] + "…"
    assert len(body["text"]["text"]) == SECTION_TEXT_MAX
    assert len(table["fields"]) == 10
    assert all(len(f["text"]) == FIELD_TEXT_MAX and f["text"][-1] == "…" for f in table["fields"])
    assert len(notes["elements"]) == 10
    assert all(len(e["text"]) == SECTION_TEXT_MAX for e in notes["elements"])


def test_buttons_and_their_confirm_dialog_are_clipped() -> None:
    long = LONG * 10
    dialog = confirm_dialog(long, long, long, long)
    pressed = [
        button(long, f"oms:x#{i}", "v" * 3000, style="primary", confirm=dialog) for i in range(30)
    ]
    message = Message(text="buttons", blocks=[actions(pressed)])
    _passes_the_gate(message)
    (row,) = message.blocks
    assert len(row["elements"]) == 25
    first = row["elements"][0]
    assert first["text"]["text"] == long[: BUTTON_TEXT_MAX - 1] + "…"
    assert len(first["value"]) == 2000
    dialog = first["confirm"]
    assert [len(dialog[k]["text"]) for k in ("title", "text", "confirm", "deny")] == [
        100,
        300,
        30,
        30,
    ]
    assert all(dialog[k]["text"].endswith("…") for k in ("title", "text", "confirm", "deny"))


def test_a_message_of_sixty_blocks_is_cut_to_fifty_saying_how_many_were_left_out() -> None:
    blocks = [section(f"Row {i}") for i in range(60)]
    assert check_message({"text": "rows", "blocks": blocks}) != []  # the gate refuses 60
    message = Message(text="rows", blocks=blocks)
    _passes_the_gate(message)
    assert len(message.blocks) == MAX_BLOCKS
    assert message.blocks[: MAX_BLOCKS - 1] == blocks[: MAX_BLOCKS - 1]
    assert message.blocks[-1] == context("… 11 more blocks not shown.")
    exactly = Message(text="rows", blocks=blocks[:MAX_BLOCKS])
    assert exactly.blocks == blocks[:MAX_BLOCKS]  # 50 fit: nothing is cut


# -- the bot's replies -------------------------------------------------------------------------


def test_a_long_oms_error_is_shown_clipped(bot: RunningBot) -> None:
    error = LONG * 60  # 5,040 characters, as a Java exception chain can be
    bot.sandbox.state.inject_fault(
        "/rest/s1/oms/orders", "json", 1, status=400, body={"errors": error}
    )
    reply = bot.reply_post(bot.slash("order 10002"))
    assert reply.status == 200  # Slack took it: it passed the Block Kit gate
    (block, *_) = reply.blocks
    shown = block["text"]["text"]
    title = ":warning: *The OMS call “find order by order id” failed*\n"
    assert len(shown) == SECTION_TEXT_MAX
    assert shown == title + error[: SECTION_TEXT_MAX - len(title) - 1] + "…"
    assert reply.text is not None and len(reply.text) <= FALLBACK_TEXT_MAX
    assert reply.text.endswith("…")


def test_a_long_order_list_clips_the_cards_header(make_bot: BotFactory, tmp_path: Path) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path, two_person=False))
    orders = ["10014", "10015", *bot.sandbox.state.add_bulk_orders(18, template_id="10014")]
    reply = bot.reply_post(bot.slash("approve " + " ".join(orders)), timeout=15)
    assert reply.status == 200
    title = "Approve orders " + ", ".join(orders)
    assert len(title) > HEADER_TEXT_MAX  # 20 order ids do not fit in a header
    head = reply.blocks[0]
    assert head["type"] == "header"
    assert head["text"]["text"] == title[: HEADER_TEXT_MAX - 1] + "…"
    assert all(f"Order `{o}`: Created → *Approved*" in text_of(reply.body) for o in orders)


def test_a_long_shopify_order_name_is_shown_whole_without_a_button_that_cannot_work(
    bot: RunningBot,
) -> None:
    # A shop's order name prefix can make a name longer than a command takes (40 characters):
    # a button would only answer with a usage error, so the digest offers none for it.
    name = "#" + "BROOKLYN-FLAGSHIP-POPUP-" * 3 + "WEB-1042"
    state = bot.sandbox.state
    with state.lock:
        newest = max(state.data.failures, key=lambda f: f.timestamp)
        state.data.failures.append(
            dataclasses.replace(
                newest,
                document_id="long-name-failure",
                shopify_order_id="6100000009999",
                shopify_order_name=name,
                order_created=state.now() - timedelta(minutes=4),
                first_attempted=state.now() - timedelta(minutes=1),
                timestamp=state.now() - timedelta(minutes=1),  # the newest failure
            )
        )
    reply = bot.reply_post(bot.slash("failed --since 7d"), timeout=15)
    assert reply.status == 200
    (row,) = [b for b in reply.blocks if b["type"] == "actions"]
    labels = [e["text"]["text"] for e in row["elements"]]
    assert labels and all(len(label) <= BUTTON_TEXT_MAX for label in labels)
    assert not any("BROOKLYN" in label for label in labels)
    assert name in text_of(reply.body)  # the whole name is still shown in the text


def test_more_than_fifty_blocks_are_cut_to_fifty(bot: RunningBot) -> None:
    # More requests waiting than one message can list: each needs a line, the lines fill
    # more than 49 sections of 3,000 characters.
    now = time.time()
    for i in range(800):
        create_approval(
            bot.services.store,
            action="approve",
            params={"orders": [str(30000 + i), *(str(40000 + 20 * i + k) for k in range(19))]},
            params_hash=f"p{i}",
            preview=[],
            preview_hash=f"v{i}",
            requested_by="U_ALICE",
            requested_channel="C_OPS",
            approvals_channel="C_APPROVALS",
            approver_role="approver",
            expires_at=now + 900,
            now=now + i / 1000,
        )
    reply = bot.reply_post(bot.slash("approvals"), timeout=15)
    assert reply.status == 200  # Slack took it: it passed the Block Kit gate
    assert len(reply.blocks) == MAX_BLOCKS
    assert reply.blocks[0]["text"]["text"] == "Pending approvals (800)"
    last = _texts([reply.blocks[-1]])
    assert len(last) == 1
    cut = re.fullmatch(r"… (\d+) more blocks not shown\.", last[0])
    assert cut is not None and int(cut.group(1)) >= 1
    # The oldest requests come first and are the ones shown.
    shown = text_of(reply.body)
    assert "Approve orders 30000, 40000," in shown and "Approve orders 30799," not in shown
