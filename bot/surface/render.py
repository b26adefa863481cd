"""Block Kit rendered as terminal text: the console's view of a Slack message."""

from __future__ import annotations

import re
from typing import Any

from bot.kit.durations import render_slack_dates

_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")
_BARE_LINK = re.compile(r"<((?:https?|mailto):[^>]+)>")
# A link to a message of the console itself (the stand-in's workspace URL): no browser opens
# it, so the console names the channel instead.
_CONSOLE_MESSAGE = re.compile(r"^https://console\.invalid/archives/([A-Z0-9_]+)/p\d+$")
_MENTION = re.compile(r"<([@#])([A-Z0-9_]+)>")
_EMOJI_CODE = re.compile(r":([a-z0-9_+-]+):")
# Slack's *bold* and _italic_ marks around whole words (not the underscores inside ids such
# as queue_ShopifyOrderSync_10000): a terminal shows the words alone.
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
# The emoji the bot uses, as a terminal shows them.
EMOJI = {
    "white_check_mark": "✅",
    "x": "❌",
    "hourglass_flowing_sand": "⏳",
    "hourglass": "⌛",
    "white_circle": "⚪",
    "fast_forward": "⏩",
    "warning": "⚠️",
    "no_entry": "⛔",
    "lock": "🔒",
    "raised_hand": "✋",
    "mag": "🔍",
    "ballot_box_with_check": "☑️",
    "arrow_forward": "▶️",
    "large_green_circle": "🟢",
    "double_vertical_bar": "⏸️",
    "page_facing_up": "📄",
    "no_entry_sign": "🚫",
    "information_source": "ℹ️",
    "wrench": "🔧",
    "grey_question": "❔",
    "calendar": "📆",
    "boom": "💥",
    "arrow_up": "⬆️",
    "arrow_down": "⬇️",
}


def _link(url: str, label: str) -> str:
    console = _CONSOLE_MESSAGE.match(url)
    if console:
        channel = "console" if console.group(1) == "C0CONSOLE" else console.group(1)
        return f"{label} (a message in #{channel} above)"
    return f"{label} ({url})"


def mrkdwn_to_text(text: str) -> str:
    text = render_slack_dates(text)  # <!date^…> in the terminal's local time
    text = _LINK.sub(lambda m: _link(m.group(1), m.group(2)), text)
    text = _BARE_LINK.sub(lambda m: m.group(1), text)
    text = _MENTION.sub(lambda m: f"{m.group(1)}{m.group(2)}", text)
    text = _EMOJI_CODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    text = _ITALIC.sub(r"\1", _BOLD.sub(r"\1", text))
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(obj: dict[str, Any] | None) -> str:
    return mrkdwn_to_text(str((obj or {}).get("text", "")))


def render_blocks(
    blocks: list[dict[str, Any]],
    fallback: str,
    buttons: list[dict[str, Any]],
    *,
    first_number: int | None = None,
) -> list[str]:
    """Lines for the blocks; every button is appended to `buttons` and shown as [N]: its
    place in `buttons`, or counted from `first_number` (the console numbers the buttons of
    every message it shows in one series)."""
    number = len(buttons) if first_number is None else first_number - 1
    if not blocks:
        return [mrkdwn_to_text(fallback)]
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = _text(block.get("text"))
            lines += [title, "=" * min(len(title), 72)]
        elif kind == "section":
            if block.get("text"):
                lines.append(_text(block["text"]))
            for item in block.get("fields", []):
                label, _, value = _text(item).partition("\n")
                lines.append(f"  {label.strip('*')}: {value}")
        elif kind == "context":
            lines.append("  (" + " | ".join(_text(e) for e in block.get("elements", [])) + ")")
        elif kind == "divider":
            lines.append("-" * 40)
        elif kind == "actions":
            labels = []
            for element in block.get("elements", []):
                if element.get("type") == "button":
                    buttons.append({**element, "block_id": block.get("block_id")})
                    style = f" ({element['style']})" if element.get("style") else ""
                    number += 1
                    labels.append(f"[{number}] {_text(element.get('text'))}{style}")
            lines.append("  " + "   ".join(labels) + "   (type `click N`)")
        elif kind == "rich_text":
            lines.append(mrkdwn_to_text(fallback))
    return lines
