"""Block Kit builders: the one place that assembles message JSON.

Every builder clips its text to Slack's limits (tests/harness/blockkit.py checks them),
so a long OMS error or order list can never make Slack reject a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

Block = dict[str, Any]

MAX_BLOCKS = 50
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
MAX_FIELDS = 10
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
CONFIRM_TITLE_MAX = 100
CONFIRM_TEXT_MAX = 300
CONFIRM_BUTTON_MAX = 30
FALLBACK_TEXT_MAX = 3000


def clip(text: str, limit: int) -> str:
    """Shorten text to `limit` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control sequences."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# A user mention as `escape` leaves it: `&lt;@U0123&gt;`.
_ESCAPED_MENTION = re.compile(r"&lt;@([UW][A-Z0-9_]{1,20})&gt;")


def escape_keeping_mentions(text: str) -> str:
    """`escape`, but user mentions (`<@U0123>`) stay mentions: for stored texts the bot wrote
    with mentions in them (audit summaries), shown again in Slack. `<!channel>` and links
    stay escaped."""
    return _ESCAPED_MENTION.sub(r"<@\1>", escape(text))


def plain(text: str, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit) or " ", "emoji": True}


def mrkdwn(text: str, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, limit) or " "}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, HEADER_TEXT_MAX)}


def section(text: str, *, block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if block_id:
        block["block_id"] = block_id
    return block


def fields(pairs: list[tuple[str, str]]) -> Block:
    """A section of label/value fields (at most ten are shown)."""
    items = [mrkdwn(f"*{label}*\n{value}", FIELD_TEXT_MAX) for label, value in pairs[:MAX_FIELDS]]
    return {"type": "section", "fields": items}


def context(*texts: str) -> Block:
    return {
        "type": "context",
        "elements": [mrkdwn(t) for t in texts[:CONTEXT_ELEMENTS_MAX]],
    }


def divider() -> Block:
    return {"type": "divider"}


def confirm_dialog(title: str, text: str, confirm: str = "Yes", deny: str = "Cancel") -> Block:
    return {
        "title": plain(title, CONFIRM_TITLE_MAX),
        "text": mrkdwn(text, CONFIRM_TEXT_MAX),
        "confirm": plain(confirm, CONFIRM_BUTTON_MAX),
        "deny": plain(deny, CONFIRM_BUTTON_MAX),
    }


def button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: Block | None = None,
) -> Block:
    element: Block = {
        "type": "button",
        "text": plain(text, BUTTON_TEXT_MAX),
        "action_id": action_id,
        "value": value[:BUTTON_VALUE_MAX],
    }
    if style in ("primary", "danger"):
        element["style"] = style
    if confirm is not None:
        element["confirm"] = confirm
    return element


def actions(buttons: list[Block], *, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": buttons[:ACTIONS_ELEMENTS_MAX]}
    if block_id:
        block["block_id"] = block_id
    return block


def chunk_lines(lines: list[str], limit: int = SECTION_TEXT_MAX - 100) -> list[str]:
    """Group lines into texts that each fit one section, never splitting a line."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        line = clip(line, limit)
        if current and size + len(line) + 1 > limit:
            chunks.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        chunks.append("\n".join(current))
    return chunks


@dataclass
class Message:
    """A message: fallback `text` (always set, for notifications and screen readers) + blocks."""

    text: str
    blocks: list[Block] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.text = clip(self.text, FALLBACK_TEXT_MAX) or " "
        if len(self.blocks) > MAX_BLOCKS:
            dropped = len(self.blocks) - (MAX_BLOCKS - 1)
            self.blocks = [
                *self.blocks[: MAX_BLOCKS - 1],
                context(f"… {dropped} more blocks not shown."),
            ]

    def to_slack(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def refusal_message(nothing_done: str, problems: list[str], hint: str) -> Message:
    """A command refused as a whole: `nothing_done` ("Nothing was imported"), each problem
    as a bullet, and what to do."""
    lines = "\n".join(f"• {escape(p)}" for p in problems)
    return Message(
        text=f"{nothing_done}: " + "; ".join(problems),
        blocks=[section(f":warning: {nothing_done}.\n{lines}"), context(hint)],
    )


def error_message(title: str, detail: str, hint: str | None = None) -> Message:
    """A failure told plainly: what failed, the reason, and what to do next."""
    blocks = [section(f":warning: *{escape(title)}*\n{escape(detail)}")]
    if hint:
        blocks.append(context(hint))
    return Message(text=f"{title}: {detail}", blocks=blocks)
