"""Command forms: a modal whose submission runs one `/oms` command text.

A command that takes many values (`/oms import` with twenty order ids, `/oms rollback` with a
store to choose) or a quick action of the App Home tab opens a form instead of asking the
user to remember the syntax. The form knows how each field becomes part of the command text;
the Slack surface parses that text with the same grammar, checks the same policy and runs the
same handler as a typed command (bot/surface/forms.py), so a form can never do more than the
command could. What to run and where to answer travel in the view's `private_metadata`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bot.kit.blocks import (
    PRIVATE_METADATA_MAX,
    Block,
    context,
    escape,
    modal,
    section,
    select_input,
    text_input,
)

FORM_VIEW = "oms:command-form"

# Pasted lists: one value a line, or separated by spaces or commas.
_LIST_SEPARATORS = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class FormField:
    """One input of a form and how its value enters the command text."""

    name: str  # the input's block id, where Slack shows its error
    label: str
    flag: str | None = None  # "since": the value goes in as `--since <value>`
    many: bool = False  # a pasted list: split on lines, spaces and commas
    optional: bool = False
    placeholder: str | None = None
    hint: str | None = None
    options: tuple[tuple[str, str], ...] = ()  # (text, value): a select instead of text
    initial: str | None = None

    def block(self) -> Block:
        if self.options:
            return select_input(
                self.name, self.label, list(self.options), initial=self.initial, hint=self.hint
            )
        return text_input(
            self.name,
            self.label,
            multiline=self.many,
            optional=self.optional,
            placeholder=self.placeholder,
            hint=self.hint,
            initial=self.initial,
        )

    def words(self, value: str) -> list[str]:
        """The command-text words of this field's value (none when it is empty)."""
        parts = [p for p in _LIST_SEPARATORS.split(value) if p] if self.many else value.split()
        if not parts:
            return []
        return [f"--{self.flag}", " ".join(parts)] if self.flag else parts


@dataclass(frozen=True)
class CommandForm:
    """A modal that runs `/oms <command> <fields…>`."""

    command: str  # the command's name (and subcommand words), e.g. "import"
    title: str  # at most 24 characters
    fields: tuple[FormField, ...]
    intro: str | None = None  # mrkdwn above the fields
    submit: str = "Run"

    def view(self, *, channel_id: str, response_url: str | None = None) -> dict[str, Any]:
        """The modal; the submission answers in `channel_id` (and through `response_url`,
        the slash command's, when it was opened by one)."""
        blocks: list[Block] = []
        if self.intro:
            blocks.append(section(self.intro))
        blocks += [f.block() for f in self.fields]
        blocks.append(context(f"Runs `/oms {escape(self.command)} …` as you typed it."))
        meta = FormTarget(self.command, channel_id, response_url, self.fields)
        return modal(
            FORM_VIEW, self.title, blocks, submit=self.submit, private_metadata=meta.dump()
        )


@dataclass(frozen=True)
class FormTarget:
    """What a submitted form runs and where it answers (the view's private_metadata)."""

    command: str
    channel_id: str
    response_url: str | None
    fields: tuple[FormField, ...]

    def dump(self) -> str:
        data = {
            "c": self.command,
            "ch": self.channel_id,
            "r": self.response_url,
            "f": [[f.name, f.flag, f.many, f.optional, f.label] for f in self.fields],
        }
        text = json.dumps(data, separators=(",", ":"))
        if len(text) > PRIVATE_METADATA_MAX:
            # The response_url is the only long part; without it, replies use the channel.
            text = json.dumps({**data, "r": None}, separators=(",", ":"))
        return text

    @staticmethod
    def load(text: str) -> FormTarget | None:
        """The target a form was opened with, or None when the metadata is not one."""
        try:
            data = json.loads(text)
            fields = tuple(
                FormField(
                    name=str(name),
                    label=str(label),
                    flag=flag,
                    many=bool(many),
                    optional=bool(optional),
                )
                for name, flag, many, optional, label in data["f"]
                if flag is None or isinstance(flag, str)
            )
            command, channel = str(data["c"]), str(data["ch"])
            url = data.get("r")
        except (ValueError, TypeError, KeyError):
            return None
        if not command or not channel or not fields:
            return None
        return FormTarget(command, channel, url if isinstance(url, str) else None, fields)

    def compose(self, values: dict[str, str]) -> tuple[str, dict[str, str]]:
        """The command text of the submitted `values` (by field name), and the errors of the
        fields that need a value and got none (by field name)."""
        words = [self.command]
        errors: dict[str, str] = {}
        for f in self.fields:
            found = f.words(values.get(f.name, ""))
            if not found and not f.optional:
                errors[f.name] = f"Fill in {f.label.lower()}."
            words += found
        return " ".join(words), errors


def submitted_values(view: dict[str, Any]) -> dict[str, str]:
    """Each input's value in a submitted view's state, by block id (a select's chosen value;
    an empty or unreadable input is "")."""
    values: dict[str, str] = {}
    state = view.get("state")
    blocks = state.get("values") if isinstance(state, dict) else None
    if not isinstance(blocks, dict):
        return values
    for block_id, entries in blocks.items():
        if not isinstance(entries, dict):
            continue
        entry = entries.get(block_id)
        if not isinstance(entry, dict):
            continue
        chosen = entry.get("selected_option")
        value = chosen.get("value") if isinstance(chosen, dict) else entry.get("value")
        values[str(block_id)] = value if isinstance(value, str) else ""
    return values
