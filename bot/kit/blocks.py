"""Block Kit builders: the one place that assembles message JSON.

Every builder clips its text to Slack's limits (tests/harness/blockkit.py checks them),
so a long OMS error or order list can never make Slack reject a message.
"""

from __future__ import annotations

import json
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


# ---- views (modals and the App Home tab) ------------------------------------------------------
# Views have limits of their own (slack-testing.md): 100 blocks, a title of 24 characters,
# private_metadata of 3000; an input's label takes 2000, its placeholder 150.

MAX_VIEW_BLOCKS = 100
VIEW_TITLE_MAX = 24
VIEW_BUTTON_MAX = 24
PRIVATE_METADATA_MAX = 3000
INPUT_LABEL_MAX = 2000
PLACEHOLDER_MAX = 150
SELECT_OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150


def fit_view(blocks: list[Block], more: str = "more") -> list[Block]:
    """`blocks`, cut to a view's 100 with the last one saying how many were left out
    ("… and 7 more"), so a long Home tab is never refused as a whole."""
    if len(blocks) <= MAX_VIEW_BLOCKS:
        return blocks
    dropped = len(blocks) - (MAX_VIEW_BLOCKS - 1)
    return [*blocks[: MAX_VIEW_BLOCKS - 1], context(f"… and {dropped} {more} not shown.")]


def text_input(
    block_id: str,
    label: str,
    *,
    multiline: bool = False,
    optional: bool = False,
    placeholder: str | None = None,
    hint: str | None = None,
    initial: str | None = None,
    max_length: int = 3000,
) -> Block:
    """An input block holding one plain-text field (its action id is the block id too:
    action ids stay unique across a view's blocks)."""
    element: Block = {
        "type": "plain_text_input",
        "action_id": block_id,
        "multiline": multiline,
        "max_length": max_length,
    }
    if placeholder:
        element["placeholder"] = plain(placeholder, PLACEHOLDER_MAX)
    if initial:
        element["initial_value"] = initial[:max_length]
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": plain(label, INPUT_LABEL_MAX),
        "element": element,
    }
    if hint:
        block["hint"] = plain(hint, INPUT_LABEL_MAX)
    return block


def option(text: str, value: str) -> Block:
    return {"text": plain(text, OPTION_TEXT_MAX), "value": value[:OPTION_VALUE_MAX]}


def select_input(
    block_id: str,
    label: str,
    options: list[tuple[str, str]],
    *,
    initial: str | None = None,
    hint: str | None = None,
) -> Block:
    """An input block holding one static select of (text, value) options (its action id is
    the block id); at most 100 options, as Slack allows."""
    shown = [option(text, value) for text, value in options[:SELECT_OPTIONS_MAX]]
    element: Block = {
        "type": "static_select",
        "action_id": block_id,
        "options": shown,
        "placeholder": plain("Choose one", PLACEHOLDER_MAX),
    }
    chosen = [o for o in shown if o["value"] == initial]
    if chosen:
        element["initial_option"] = chosen[0]
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label),
        "element": element,
    }
    if hint:
        block["hint"] = plain(hint, INPUT_LABEL_MAX)
    return block


def modal(
    callback_id: str,
    title: str,
    blocks: list[Block],
    *,
    submit: str | None = "Run",
    close: str = "Cancel",
    private_metadata: str = "",
) -> Block:
    """A modal view; without `submit` it only informs (a form still loading, an error)."""
    if len(private_metadata) > PRIVATE_METADATA_MAX:
        raise ValueError("private_metadata is over Slack's 3000 characters")
    view: Block = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, VIEW_TITLE_MAX),
        "close": plain(close, VIEW_BUTTON_MAX),
        "blocks": fit_view(blocks),
    }
    if private_metadata:  # Slack drops an empty one
        view["private_metadata"] = private_metadata
    if submit:
        view["submit"] = plain(submit, VIEW_BUTTON_MAX)
    return view


def home_view(blocks: list[Block], *, dm_channel: str | None) -> Block:
    """The App Home tab's view (at most 100 blocks: the rest become an "and N more" line).

    Its metadata keeps the user's DM channel with the bot (the Home's Messages tab): a press
    on the Home has no response_url, so what answers it goes there (`home_dm_channel`)."""
    view: Block = {"type": "home", "blocks": fit_view(blocks)}
    if dm_channel:
        view["private_metadata"] = json.dumps({"dm": dm_channel})
    return view


def home_dm_channel(view: object) -> str | None:
    """The DM channel a Home view was published with (`home_view`), or None."""
    if not isinstance(view, dict) or view.get("type") != "home":
        return None
    try:
        meta = json.loads(str(view.get("private_metadata") or "{}"))
    except ValueError:
        return None
    found = meta.get("dm") if isinstance(meta, dict) else None
    return found if isinstance(found, str) and found[:1] == "D" else None
