"""`/oms`, `/oms help` and `/oms help <command>`: answered inside the ack, from the registry."""

from __future__ import annotations

from bot.engine import (
    Arg,
    CommandIndex,
    CommandSpec,
    ParsedCommand,
    Provides,
    UsageError,
    command_help,
    help_list,
)
from bot.kit.blocks import Message


def answer_help(command: ParsedCommand, registry: CommandIndex) -> Message:
    words = command.arg("command") or []
    if not words:
        return help_list(registry)
    name = " ".join(words).lower()
    spec = registry.get(name)
    if spec is None:
        guess = registry.closest(name)
        raise UsageError(
            f"There is no command `{name}`.",
            spec=registry.get(guess) if guess else None,
            suggestion=guess,
        )
    return command_help(spec)


PROVIDES = Provides(
    commands=(
        CommandSpec(
            name="help",
            summary="List the commands, or show one command's usage and examples.",
            answer=answer_help,
            args=(Arg("command", "the command to explain", required=False, repeat=True),),
            examples=("/oms help", "/oms help order"),
        ),
    )
)
