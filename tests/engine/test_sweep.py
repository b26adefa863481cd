"""The housekeeping sweep keeps going past a part that fails: a restore that crashes on a
bug of its own leaves its obligation owed, and the rest of the sweep still has its turn."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from bot.engine.steps import RunContext, restorer
from bot.store import Store, obligations, runs
from tests.conftest import BotFactory, write_policy

CRASHING = "test-crashing-restore"


@restorer(CRASHING)
async def _crashing_restore(ctx: RunContext, original: dict[str, Any]) -> str:
    # A restorer with a bug of its own (not an OMS refusal, not a StepFailed).
    raise RuntimeError(f"a bug putting back {original['what']}")


def _abandoned_run_owing(store: Store, *, kind: str, now: float) -> str:
    """An approve run that was writing when its process died: interrupted, owing `kind`."""
    run_id = uuid.uuid4().hex
    runs.create_run(
        store,
        run_id=run_id,
        runbook="approve",
        title="Approve order 10014",
        params={"orders": ["10014"]},
        order_keys=["10014"],
        requested_by="U_OPS",
        channel_id="C_OPS",
        response_url=None,
        owner="gone",
        step_names=["Approve order 10014", "Verify in the OMS"],
        now=now - 600,
    )
    obligations.owe(
        store,
        run_id,
        generation=1,
        key="k",
        kind=kind,
        what="the test's thing",
        payload={"what": "the test's thing"},
        now=now - 600,
    )
    runs.interrupt_stale(store, now=now - 300, lease=30)  # unless the bot's own sweep did
    run = runs.get_run(store, run_id)
    assert run is not None and run.state == "interrupted"
    return run_id


def test_a_restore_that_crashes_leaves_its_obligation_owed_and_the_sweep_going(
    make_bot: BotFactory, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path, two_person=False))
    store = bot.services.store
    run_id = _abandoned_run_owing(store, kind=CRASHING, now=time.time())

    asyncio.run(bot.services.sweep())  # raised the restorer's RuntimeError before

    owed = obligations.open_for(store, run_id)
    assert [o.kind for o in owed] == [CRASHING]  # still owed: the next sweep tries again
    run = runs.get_run(store, run_id)
    assert run is not None and run.state == "interrupted"  # given back, Resume still offered
    asyncio.run(bot.services.sweep())  # and again, without raising
