"""Command forms on the Slack surface: opening a Home quick action's form, and running a
submitted form's command (bot/kit/forms.py) with the same checks as a typed command.

A problem with the submission (a field left empty, an order id that is not one, a role the
user lacks) is shown on the form's field with `response_action: errors`, and the form stays
open; otherwise the form closes and the command answers where the form was opened.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.kit.blocks import clip, home_dm_channel, modal, section
from bot.kit.forms import FORM_VIEW, FormTarget, submitted_values
from bot.surface.dispatch import Ack, run_form
from bot.surface.home import QUICK_PREFIX, quick_form
from bot.surface.wiring import Services

log = logging.getLogger(__name__)

ERROR_MAX = 300  # Slack shows a field's error under it: a sentence, not a page


def _unreadable_form() -> dict[str, Any]:
    return modal(
        FORM_VIEW,
        "Form not readable",
        [section("This form could not be read, so nothing was run. Close it and open it again.")],
        submit=None,
        close="Close",
    )


def _plain_problem(problem: str) -> str:
    """A command's problem (mrkdwn) as a field error (plain text)."""
    return clip(problem.replace("`", "").replace("*", ""), ERROR_MAX)


async def on_form_submission(
    services: Services, body: dict[str, Any], ack: Ack, client: AsyncWebClient
) -> None:
    """Bolt's view_submission listener for command forms; answers inside the ack."""
    view = body.get("view") or {}
    user = str((body.get("user") or {}).get("id") or "")
    target = FormTarget.load(str(view.get("private_metadata") or ""))
    if target is None or not user:
        await ack(response_action="update", view=_unreadable_form())
        return
    text, errors = target.compose(submitted_values(view))
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    problem = await run_form(services, user, text, target, client)
    if problem is not None:
        # On the field the problem names (`--since: …`), else on the one filled in first.
        named = [f.name for f in target.fields if f.flag and f"--{f.flag}" in problem]
        main = next((f.name for f in target.fields if not f.optional), target.fields[0].name)
        field = named[0] if named else main
        await ack(response_action="errors", errors={field: _plain_problem(problem)})
        return
    await ack()


async def open_quick_form(services: Services, body: dict[str, Any], client: AsyncWebClient) -> None:
    """A Home quick action: open its command's form on the press's trigger."""
    acts = body.get("actions") or [{}]
    command = str(
        acts[0].get("value") or str(acts[0].get("action_id", "")).removeprefix(QUICK_PREFIX)
    )
    user = str((body.get("user") or {}).get("id") or "")
    dm = home_dm_channel(body.get("view"))
    form = quick_form(services, command)
    if form is None or dm is None or not body.get("trigger_id"):
        log.info("quick action %r of %s not opened (no form, DM or trigger)", command, user)
        return
    try:
        await client.views_open(trigger_id=body["trigger_id"], view=form.view(channel_id=dm))
    except SlackApiError as exc:
        log.info("could not open the %s form: %s", command, exc.response.get("error"))
        # Slack took too long or refused: say what to type instead, where the Home answers.
        text = f"The form did not open. Type `/oms help {form.command}` to see how to run it."
        with contextlib.suppress(SlackApiError):
            await client.chat_postMessage(channel=dm, text=text, blocks=[section(text)])
