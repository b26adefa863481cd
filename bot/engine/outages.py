"""What the user is told when a dependency is down or the bot is going away.

Every click and command answers even when the bot's database cannot be reached, naming it
(never "internal error"), and a request that comes in while the process drains for a
restart is told so instead of being refused at the socket.
"""

from __future__ import annotations

from bot.kit.blocks import Message, context, error_message, section

DATABASE_DOWN_TITLE = "The bot's database is unreachable"


def database_unreachable(*, changed: bool = False) -> Message:
    """The answer to a request the database stopped. `changed`: the request got as far as
    a change (a button already taken) before the database went away."""
    if changed:
        detail = (
            "It went away while this was being handled; part of it may have been done. "
            "Try again in a minute, then check `/oms history`."
        )
    else:
        detail = "Nothing was changed; try again in a minute."
    return error_message(
        DATABASE_DOWN_TITLE,
        detail,
        "If it keeps happening, ask whoever runs the bot to check its database "
        "(`oms-bot check-config`).",
    )


RESTARTING_TEXT = "oms-bot is restarting; nothing was done. Try again in a minute."


def restarting() -> Message:
    """The answer to a request that came in while the process was draining for a restart."""
    return Message(
        text=RESTARTING_TEXT,
        blocks=[
            section(f":arrows_counterclockwise: {RESTARTING_TEXT}"),
            context("Work already under way is finished before the bot stops."),
        ],
    )
