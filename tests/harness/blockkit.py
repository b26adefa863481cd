"""Offline Block Kit gate: the checks Slack would apply to a message or modal, as far as we know.

slack_sdk's models validate per-object limits when serialised, but they drop unknown keys and
know nothing about message-level rules (block count, unique ids, button text type, fallback
text). This module adds those, and reports each problem as Slack does in `invalid_blocks`
errors: a short reason followed by `[json-pointer:/path]`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_MESSAGE_TEXT = 40000

# Surfaces where Slack allows 100 blocks instead of 50.
_VIEW_SURFACES = frozenset({"modal", "home"})


def problem(reason: str, pointer: str) -> str:
    """Format one problem the way Slack formats `invalid_blocks` errors."""
    return f"{reason} [json-pointer:{pointer}]"


def check_message(message: dict[str, Any], surface: str = "message") -> list[str]:
    """Return every Block Kit problem in a message payload (empty list = acceptable).

    `message` is what the app sends: chat.postMessage/chat.update/chat.postEphemeral arguments or
    a response_url body. Only `text` and `blocks` are inspected.
    """
    problems: list[str] = []
    text = message.get("text")
    blocks = message.get("blocks")
    if text is not None and not isinstance(text, str):
        problems.append(problem("text must be a string", "/text"))
    elif isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
        problems.append(problem(f"must be at most {MAX_MESSAGE_TEXT} characters", "/text"))
    if blocks is None:
        return problems
    # Our design requires fallback text on every message with blocks: notifications and screen
    # readers show `text`, and Slack only warns (client-side) when it is missing.
    if blocks and not (isinstance(text, str) and text.strip()):
        problems.append(problem("fallback text is required when blocks are given", "/text"))
    limit = MAX_VIEW_BLOCKS if surface in _VIEW_SURFACES else MAX_MESSAGE_BLOCKS
    problems.extend(check_blocks(blocks, limit=limit))
    return problems


def check_view(view: dict[str, Any]) -> list[str]:
    """Return every problem in a modal/home view (title <= 24, blocks <= 100, ...)."""
    problems: list[str] = []
    try:
        rebuilt = View(**view).to_dict()
    except (SlackObjectFormationError, KeyError, TypeError, ValueError) as exc:
        problems.append(problem(f"invalid view: {_describe(exc)}", ""))
    else:
        # Blocks are diffed separately below, with better pointers.
        problems.extend(
            _diff(
                {k: v for k, v in view.items() if k != "blocks"},
                {k: v for k, v in rebuilt.items() if k != "blocks"},
                "",
            )
        )
    problems.extend(check_blocks(view.get("blocks", []), limit=MAX_VIEW_BLOCKS))
    blocks = view.get("blocks")
    has_input = isinstance(blocks, list) and any(
        isinstance(b, dict) and b.get("type") == "input" for b in blocks
    )
    if view.get("type") == "modal" and has_input and not view.get("submit"):
        # Slack refuses it: a modal with an input block needs a submit button (views.open).
        problems.append(problem("a modal with input blocks needs submit", "/submit"))
    return problems


def check_blocks(blocks: object, *, limit: int = MAX_MESSAGE_BLOCKS) -> list[str]:
    """Check a blocks array: SDK round trip per block plus the rules the SDK does not enforce."""
    if not isinstance(blocks, list):
        return [problem("blocks must be an array", "/blocks")]
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(problem(f"must contain at most {limit} blocks", "/blocks"))
    seen_block_ids: dict[str, int] = {}
    seen_action_ids: dict[str, str] = {}
    for index, block in enumerate(blocks):
        pointer = f"/blocks/{index}"
        if not isinstance(block, dict):
            problems.append(problem("block must be an object", pointer))
            continue
        problems.extend(_round_trip(block, pointer))
        problems.extend(_check_section_text(block, pointer))
        problems.extend(_check_button_text(block, pointer))
        problems.extend(_check_dates(block, pointer))
        block_id = block.get("block_id")
        if isinstance(block_id, str):
            if block_id in seen_block_ids:
                problems.append(
                    problem(
                        f"block_id {block_id!r} repeats block {seen_block_ids[block_id]}",
                        f"{pointer}/block_id",
                    )
                )
            else:
                seen_block_ids[block_id] = index
        problems.extend(_check_action_ids(block, pointer, seen_action_ids))
    return problems


def _round_trip(block: dict[str, Any], pointer: str) -> list[str]:
    """Parse with the SDK and serialise again; failures and lost keys are problems."""
    try:
        parsed = Block.parse(block)
        if parsed is None:
            return [problem(f"unknown block type {block.get('type')!r}", f"{pointer}/type")]
        rebuilt = parsed.to_dict()
    except (SlackObjectFormationError, KeyError, TypeError, ValueError) as exc:
        return [problem(_describe(exc), pointer)]
    return _diff(block, rebuilt, pointer)


def _diff(original: object, rebuilt: object, pointer: str) -> list[str]:
    """Find where the SDK's re-serialisation differs: that is a key it did not recognise."""
    if isinstance(original, dict) and isinstance(rebuilt, dict):
        found: list[str] = []
        for key, value in original.items():
            if key not in rebuilt:
                found.append(problem(f"unknown or misplaced key {key!r}", f"{pointer}/{key}"))
            else:
                found.extend(_diff(value, rebuilt[key], f"{pointer}/{key}"))
        return found
    if isinstance(original, list) and isinstance(rebuilt, list):
        if len(original) != len(rebuilt):
            return [problem("array was not understood", pointer)]
        found = []
        for index, (left, right) in enumerate(zip(original, rebuilt, strict=True)):
            found.extend(_diff(left, right, f"{pointer}/{index}"))
        return found
    if original != rebuilt:
        return [problem(f"value {original!r} was not understood", pointer)]
    return []


def _check_section_text(block: dict[str, Any], pointer: str) -> list[str]:
    # The SDK enforces this too, but its error names no field; this gives Slack's pointer.
    text = block.get("text")
    if block.get("type") == "section" and isinstance(text, dict):
        body = text.get("text")
        if isinstance(body, str) and len(body) > MAX_SECTION_TEXT:
            return [
                problem(f"must be at most {MAX_SECTION_TEXT} characters", f"{pointer}/text/text")
            ]
    return []


def _check_button_text(block: dict[str, Any], pointer: str) -> list[str]:
    # Slack rejects mrkdwn button labels even though the SDK model accepts them.
    found: list[str] = []
    for path, node in _walk(block, pointer):
        if node.get("type") != "button":
            continue
        label = node.get("text")
        if not (isinstance(label, dict) and label.get("type") == "plain_text"):
            found.append(problem("button text must be a plain_text object", f"{path}/text"))
    return found


# Slack's date formatting, `<!date^EPOCH^TOKENS[^LINK]|FALLBACK>` (docs.slack.dev, "Formatting
# text for app surfaces"): whole-second epoch, a token string, a fallback.
_DATE = re.compile(r"<!date\^\d+\^[^^|<>]*\{[a-z_]+\}[^^|<>]*(\^[^|<>]+)?\|[^<>|]+>")


def _check_dates(block: dict[str, Any], pointer: str) -> list[str]:
    """`<!date…>` is mrkdwn: Slack shows it as typed in plain_text, and malformed it shows
    raw text everywhere."""
    found: list[str] = []
    for path, node in _walk(block, pointer):
        text = node.get("text")
        if isinstance(text, str) and "&lt;!date" in text:
            # An escaped token: Slack shows the markup instead of a time.
            found.append(problem("escaped <!date> token shows as raw text", f"{path}/text"))
        if not isinstance(text, str) or "<!date" not in text:
            continue
        if node.get("type") == "plain_text":
            found.append(problem("<!date> is not formatted in plain_text", f"{path}/text"))
        elif node.get("type") == "mrkdwn":
            tokens = re.findall(r"<!date[^>]*>", text)
            if any(not _DATE.fullmatch(t) for t in tokens):
                found.append(problem("malformed <!date> token", f"{path}/text"))
    return found


def _check_action_ids(
    block: dict[str, Any], pointer: str, seen_in_message: dict[str, str]
) -> list[str]:
    """Slack requires action_id unique per block; we require it unique per message.

    The stricter rule keeps click routing unambiguous: a handler that looks a button up by
    action_id alone must never find two.
    """
    found: list[str] = []
    seen_in_block: set[str] = set()
    for path, node in _walk(block, pointer):
        action_id = node.get("action_id")
        if not isinstance(action_id, str):
            continue
        if action_id in seen_in_block:
            found.append(problem(f"action_id {action_id!r} repeats in block", f"{path}/action_id"))
        elif action_id in seen_in_message:
            found.append(
                problem(
                    f"action_id {action_id!r} repeats {seen_in_message[action_id]}",
                    f"{path}/action_id",
                )
            )
        seen_in_block.add(action_id)
        seen_in_message.setdefault(action_id, path)
    return found


def _walk(node: object, pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield every dict under `node` (itself included) with its json-pointer."""
    if isinstance(node, dict):
        yield pointer, node
        for key, value in node.items():
            yield from _walk(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{pointer}/{index}")


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing required key {exc.args[0]!r}"
    return str(exc) or type(exc).__name__
