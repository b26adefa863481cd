"""Help and usage messages, generated from the command registry."""

from __future__ import annotations

from bot.engine.contract import CommandIndex, CommandSpec, UsageError
from bot.kit.blocks import Message, chunk_lines, context, divider, escape, header, section


def _line(spec: CommandSpec) -> str:
    role = f"  _(needs role {spec.role})_" if spec.role else ""
    return f"`{escape(spec.usage())}`\n    {escape(spec.summary)}{role}"


def help_list(registry: CommandIndex) -> Message:
    """Every command with its usage and one-line description."""
    specs = registry.all()
    blocks = [header("oms-bot commands")]
    blocks += [section(chunk) for chunk in chunk_lines([_line(s) for s in specs])]
    blocks.append(context("`/oms help <command>` shows a command's usage and examples."))
    names = ", ".join(s.name for s in specs)
    return Message(text=f"oms-bot commands: {names}", blocks=blocks)


def command_help(spec: CommandSpec) -> Message:
    """One command: usage, description, arguments, options, examples, role."""
    lines = [f"*Usage:* `{escape(spec.usage())}`", escape(spec.summary)]
    if spec.args:
        lines.append("*Arguments:*")
        lines += [f"• `<{a.name}>` {escape(a.help)}" for a in spec.args]
    if spec.flags:
        lines.append("*Options:*")
        lines += [f"• `{escape(f.usage()[1:-1])}` {escape(f.help)}" for f in spec.flags]
    if spec.examples:
        lines.append("*Examples:*")
        lines += [f"• `{escape(e)}`" for e in spec.examples]
    who = f"Needs role *{spec.role}*." if spec.role else "Open to everyone."
    if spec.changes_oms:
        who += " Changes the OMS."
    blocks = [header(f"/oms {spec.name}")]
    blocks += [section(chunk) for chunk in chunk_lines(lines)]
    blocks.append(context(who))
    return Message(text=f"Usage: {spec.usage()}", blocks=blocks)


def usage_error(err: UsageError) -> Message:
    """What was wrong, the closest command when it was a typo, and the correct usage."""
    lines = [f":warning: {escape(err.problem)}"]
    if err.suggestion:
        lines.append(f"Did you mean `{escape(err.suggestion)}`?")
    blocks = [section("\n".join(lines))]
    text = err.problem
    if err.spec is not None:
        usage = f"*Usage:* `{escape(err.spec.usage())}`"
        examples = [f"`{escape(e)}`" for e in err.spec.examples[:3]]
        if examples:
            usage += "\n*Examples:* " + "  ".join(examples)
        blocks += [divider(), section(usage)]
        text += f" Usage: {err.spec.usage()}"
    blocks.append(context("`/oms help` lists every command."))
    return Message(text=text, blocks=blocks)


def markdown_command_list(registry: CommandIndex) -> str:
    """The README's command table; a test keeps the README equal to this."""
    rows = ["| Command | What it does | Who may run it |", "|---|---|---|"]
    for spec in registry.all():
        who = f"role `{spec.role}`" if spec.role else "everyone"
        usage = spec.usage().replace("|", "\\|")
        rows.append(f"| `{usage}` | {spec.summary} | {who} |")
    return "\n".join(rows)
