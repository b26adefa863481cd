"""Job watches against the fake Slack and the OMS sandbox: two replicas' real Services on
PostgreSQL polled side by side (each poll driven by the test), and the bot over signed HTTP
with its own poller for `/oms watches` and the alert's buttons.

Every alert is asserted as a user sees it in the channel, through the Block Kit gate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.engine.policy import load_policy
from bot.engine.watching import WatchPoller
from bot.kit.config import ConfigError
from bot.sandbox import SandboxServer
from bot.sandbox import jobs_data as ofbiz_scenarios
from bot.sandbox import service_jobs_data as moqui_scenarios
from bot.sandbox.tenant import tenant_named, variant
from bot.surface.app import build_web_client
from bot.surface.wiring import Services, create_services
from tests.conftest import BOT_TOKEN, BotFactory, bot_env, gated, settings_for, text_of
from tests.harness.fakeslack import FakeSlack, Message
from tests.processes import clean_env, oms_bot
from tests.store_fixtures import postgres_url

__all__ = ["postgres_url"]

CHANNEL = "C_OPS"
DAILY_JOB = "bulkApprove_WarehouseTransferOrders"  # daily, turned on, last ran a day ago
QUARTER_JOB = "poll_BulkOperationResult_ShopifyBulkQuery"  # every 15 minutes, turned on
ERROR = "Error calling Shopify GraphQL API: Throttled (cost limit exceeded)"

POLICY = """
[roles]
operator = ["U_ALICE"]

[limits]
watch_poll_seconds = {poll}

{watches}
"""


def watch_table(jobs: list[str], **extra: Any) -> str:
    lines = ["[[watches]]", 'id = "ops"', f'channel = "{CHANNEL}"']
    lines.append("jobs = [" + ", ".join(f'"{j}"' for j in jobs) + "]")
    for key, value in extra.items():
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    return "\n".join(lines) + "\n"


def write_policy(tmp_path: Path, watches: str, *, poll: float = 60) -> Path:
    path = tmp_path / f"policy-{time.monotonic_ns()}.toml"
    path.write_text(POLICY.format(poll=poll, watches=watches))
    return path


def _services(fake: FakeSlack, sandbox: SandboxServer, db: Path | str, policy: Path) -> Services:
    """A replica's services wired to the fakes, without its background poller."""
    services = create_services(settings_for(fake, sandbox, db, omsbot_policy=policy))
    services.prepare()
    services.attach_slack(build_web_client(BOT_TOKEN, fake.api_url))
    return services


@pytest.fixture
async def replicas(
    postgres_url: str, fake_slack: FakeSlack, sandbox: SandboxServer, tmp_path: Path
) -> AsyncIterator[Callable[..., list[Services]]]:
    """Two replicas on one PostgreSQL database, made once the test has chosen its policy."""
    made: list[Services] = []

    def make(policy: Path, count: int = 2) -> list[Services]:
        made.extend(_services(fake_slack, sandbox, postgres_url, policy) for _ in range(count))
        return made

    yield make
    for services in made:
        await services.aclose()


async def poll_all(pollers: list[WatchPoller]) -> list[dict[str, str]]:
    """Every replica polls at the same moment, as their timers may make them do."""
    return list(await asyncio.gather(*(p.poll_once() for p in pollers)))


def alerts(fake: FakeSlack) -> list[Message]:
    """The alerts in the channel (top-level messages), each through the Block Kit gate."""
    found = [m for m in fake.messages(CHANNEL) if m.thread_ts is None]
    for message in found:
        gated({"text": message.text, "blocks": message.blocks})
    return found


def shown(message: Message) -> str:
    return text_of({"text": message.text, "blocks": message.blocks})


def buttons(message: Message) -> list[str]:
    return [
        e["text"]["text"]
        for b in message.blocks
        if b.get("type") == "actions"
        for e in b["elements"]
    ]


def now_in(sandbox: SandboxServer) -> datetime:
    return sandbox.state.now()


# ---- a failing job: once across replicas, repeats in the thread, closed by a success ---------


async def test_failing_moqui_job_posted_once_repeat_in_thread_closed_by_success(
    replicas: Callable[..., list[Services]], fake_slack: FakeSlack, sandbox: SandboxServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    services = replicas(write_policy(tmp_path, watch_table([DAILY_JOB])))
    pollers = [s.watch_poller() for s in services]
    await poll_all(pollers)  # the baseline: the failures before the watch began are history
    assert alerts(fake_slack) == []

    with sandbox.state.lock:
        run = moqui_scenarios.add_ended_run(
            sandbox.state.data, DAILY_JOB, at=now_in(sandbox), outcome="failed", error=ERROR
        )
    await poll_all(pollers)
    await poll_all(pollers)  # found again by both: still posted once
    posted = alerts(fake_slack)
    assert len(posted) == 1
    text = shown(posted[0])
    assert f"{DAILY_JOB} failed" in text and f"run `{run.job_run_id}` failed" in text
    assert ERROR in text and "MDM log:" in text
    assert buttons(posted[0]) == [f"Run {DAILY_JOB} now", "Show history"]
    run_now = next(b for b in posted[0].blocks if b.get("type") == "actions")["elements"][0]
    assert "confirm" in run_now  # Run now asks first

    # The second failure within the hour goes into the first message's thread.
    with sandbox.state.lock:
        again = moqui_scenarios.add_ended_run(
            sandbox.state.data, DAILY_JOB, at=now_in(sandbox), outcome="failed", error=ERROR
        )
    await poll_all(pollers)
    assert len(alerts(fake_slack)) == 1
    thread = [m for m in fake_slack.messages(CHANNEL) if m.thread_ts == posted[0].ts]
    assert len(thread) == 1
    gated({"text": thread[0].text, "blocks": thread[0].blocks})
    assert f"failed again (run `{again.job_run_id}`)" in shown(thread[0])
    assert "2 times in the last hour" in shown(thread[0])

    # The next success closes the alert: its first message is updated, its buttons gone.
    with sandbox.state.lock:
        ok = moqui_scenarios.add_ended_run(
            sandbox.state.data, DAILY_JOB, at=now_in(sandbox), outcome="finished"
        )
    await poll_all(pollers)
    first = fake_slack.message(CHANNEL, posted[0].ts)
    gated({"text": first.text, "blocks": first.blocks})
    assert "closed" in shown(first) and f"run {ok.job_run_id} succeeded" in shown(first)
    assert buttons(first) == []
    assert len(alerts(fake_slack)) == 1
    state = await services[1].watch_state()
    assert state.open_alerts == [] and state.polls["ops"].last_outcome is not None


@pytest.mark.parametrize("names_run", [True, False])
async def test_failed_run_shows_the_mdm_log_it_produced_where_the_oms_says(
    replicas: Callable[..., list[Services]], fake_slack: FakeSlack, sandbox: SandboxServer,
    tmp_path: Path, names_run: bool,
) -> None:  # fmt: skip
    """Whether the sync's MDM log names the run that queued it is not public (HotWax's notes
    say not yet): the alert shows the log where it does, and says there is none otherwise."""
    sandbox.state.tenant = variant(tenant_named("ofbiz-maarg"), mdm_log_names_run=names_run)
    pollers = [s.watch_poller() for s in replicas(write_policy(tmp_path, watch_table([DAILY_JOB])))]
    await poll_all(pollers)
    with sandbox.state.lock:
        run = moqui_scenarios.add_ended_run(
            sandbox.state.data, DAILY_JOB, at=now_in(sandbox), outcome="failed", error=ERROR
        )
        log = moqui_scenarios.add_run_mdm_log(
            sandbox.state.data, run, failed=3, names_run=names_run
        )
    await poll_all(pollers)
    [alert] = alerts(fake_slack)
    if names_run:
        assert f"*MDM log:* `{log.log_id}` (Failed, 3 failed records)" in shown(alert)
    else:
        assert "*MDM log:* none (the run created no MDM log)" in shown(alert)


# ---- a late job and a spike: each posted once ------------------------------------------------


async def test_late_job_and_failed_imports_spike_posted_once_on_moqui_only(
    replicas: Callable[..., list[Services]], fake_slack: FakeSlack, sandbox: SandboxServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    sandbox.state.tenant = tenant_named("moqui-only")
    policy = write_policy(tmp_path, watch_table([QUARTER_JOB], failed_imports_per_hour=3))
    pollers = [s.watch_poller() for s in replicas(policy)]
    await poll_all(pollers)
    assert alerts(fake_slack) == []

    with sandbox.state.lock:
        moqui_scenarios.stop_running(sandbox.state.data, QUARTER_JOB, hours=2)
        moqui_scenarios.add_failed_imports(
            sandbox.state.data, at=now_in(sandbox) - timedelta(minutes=5), count=5
        )
    await poll_all(pollers)
    await poll_all(pollers)
    posted = alerts(fake_slack)
    assert sorted(m.text for m in posted) == [
        "Failed imports spike: 5 in the last hour",
        f"{QUARTER_JOB} is late",
    ]
    late = next(m for m in posted if "late" in m.text)
    assert "every 15 minutes" in shown(late) and "more than twice that (30 minutes)" in shown(late)
    assert buttons(late) == [f"Run {QUARTER_JOB} now", "Show history"]
    spike = next(m for m in posted if "spike" in m.text)
    assert "threshold of 3" in shown(spike) and "/oms failed --since 1h" in shown(spike)

    # It runs again: the late alert is closed, nothing new is posted.
    with sandbox.state.lock:
        moqui_scenarios.add_ended_run(
            sandbox.state.data, QUARTER_JOB, at=now_in(sandbox), outcome="finished"
        )
    await poll_all(pollers)
    assert len(alerts(fake_slack)) == 2
    assert "closed" in shown(fake_slack.message(CHANNEL, late.ts))


async def test_paused_moqui_job_posted_once_without_a_name(
    replicas: Callable[..., list[Services]], fake_slack: FakeSlack, sandbox: SandboxServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    pollers = [s.watch_poller() for s in replicas(write_policy(tmp_path, watch_table([DAILY_JOB])))]
    await poll_all(pollers)
    with sandbox.state.lock:
        moqui_scenarios.pause_in_job_manager(sandbox.state.data, DAILY_JOB)
    await poll_all(pollers)
    await poll_all(pollers)
    posted = alerts(fake_slack)
    assert [m.text for m in posted] == [f"{DAILY_JOB} was paused"]
    assert "the OMS does not say by whom" in shown(posted[0])
    assert f"/oms job resume {DAILY_JOB}" in shown(posted[0])


# ---- OFBiz JobSandbox: a crashed run, a paused schedule with who, a late job -----------------


@pytest.mark.parametrize("tenant", ["ofbiz-jobs", "ofbiz-maarg"])
async def test_ofbiz_failure_pause_and_late_each_posted_once(
    replicas: Callable[..., list[Services]], fake_slack: FakeSlack, sandbox: SandboxServer,
    tmp_path: Path, tenant: str,
) -> None:  # fmt: skip
    sandbox.state.tenant = tenant_named(tenant)
    jobs = ["JOB_IMP_ORD", "approve-orders", "JOB_BKR_ORD", "JOB_IMP_ORD_UPD"]
    policy = write_policy(tmp_path, watch_table(jobs))
    pollers = [s.watch_poller() for s in replicas(policy)]
    outcomes = await poll_all(pollers)
    assert all("not a job" not in o["ops"] for o in outcomes), outcomes
    assert alerts(fake_slack) == []

    with sandbox.state.lock:
        data = sandbox.state.jobs
        crashed = ofbiz_scenarios.add_ended_run(
            data, "JOB_IMP_ORD", at=now_in(sandbox), status="SERVICE_CRASHED", mdm_failed=2
        )
        ofbiz_scenarios.cancel_schedule(data, "JOB_APR_ORD", user="jane.doe", at=now_in(sandbox))
        ofbiz_scenarios.stop_running(data, "JOB_BKR_ORD", hours=1)
        # Whether cancelScheduledJob records who is not public: a row without it says so.
        cancelled = ofbiz_scenarios.cancel_schedule(
            data, "JOB_IMP_ORD_UPD", user="x", at=now_in(sandbox)
        )
        data.jobs[cancelled]["lastModifiedByUserLogin"] = None
    await poll_all(pollers)
    await poll_all(pollers)
    posted = {m.text: m for m in alerts(fake_slack)}
    assert sorted(posted) == [
        "Approve orders was paused",
        "Brokering new orders is late",
        "Import new orders from Shopify crashed",
        "Import order updates from Shopify was paused",
    ]
    failed = shown(posted["Import new orders from Shopify crashed"])
    assert f"run `{crashed}` crashed" in failed and "(job crashed)" in failed
    assert f"*MDM log:* `DML{crashed}` (SERVICE_FAILED, 2 failed records)" in failed
    assert buttons(posted["Import new orders from Shopify crashed"]) == [
        "Run the New orders job",
        "Show history",
    ]
    assert "paused by `jane.doe`" in shown(posted["Approve orders was paused"])
    assert "Every 15 minutes" in shown(posted["Brokering new orders is late"])
    unnamed = shown(posted["Import order updates from Shopify was paused"])
    assert "the OMS does not say by whom" in unnamed


# ---- quiet hours: held, then posted once they end --------------------------------------------


async def test_quiet_hours_hold_the_alert_until_they_end(
    replicas: Callable[..., list[Services]], fake_slack: FakeSlack, sandbox: SandboxServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    start = datetime.now(UTC) - timedelta(hours=1)
    end = datetime.now(UTC) + timedelta(hours=1)
    quiet = f"{start:%H:%M}-{end:%H:%M}"
    policy = write_policy(tmp_path, watch_table([DAILY_JOB], quiet_hours=quiet))
    services = replicas(policy)
    pollers = [s.watch_poller() for s in services]
    await poll_all(pollers)
    with sandbox.state.lock:
        moqui_scenarios.add_ended_run(
            sandbox.state.data, DAILY_JOB, at=now_in(sandbox), outcome="failed", error=ERROR
        )
    outcomes = await poll_all(pollers)
    assert alerts(fake_slack) == []
    assert sorted(o["ops"].split(";")[1].strip() for o in outcomes if ";" in o["ops"]) == [
        "1 held for after the quiet hours"
    ]
    state = await services[0].watch_state()
    assert [a.state for a in state.open_alerts] == ["held"]

    # Ninety minutes on, the quiet hours are over: the first poll posts it, once.
    later = [
        services[i].watch_poller(clock=lambda: time.time() + 90 * 60, owner=f"later-{i}")
        for i in range(2)
    ]
    await poll_all(later)
    await poll_all(later)
    posted = alerts(fake_slack)
    assert len(posted) == 1
    assert f"{DAILY_JOB} failed" in posted[0].text
    assert f"held during the quiet hours ({quiet}, UTC)" in shown(posted[0])


# ---- the policy ------------------------------------------------------------------------------


def test_bad_watch_tables_are_refused_naming_each_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[watches]]\nchannel = "ops"\njobs = ["JOB_IMP_ORD"]\n'
        '[[watches]]\nid = "b"\nchannel = "C_OPS"\njobs = []\n'
        '[[watches]]\nid = "c"\nchannel = "C_OPS"\njobs = ["x"]\nquiet_hours = "22-06"\n'
        '[[watches]]\nid = "d"\nchannel = "C_OPS"\njobs = ["x"]\nquiet = "22:00-06:00"\n'
        '[[watches]]\nid = "e"\nchannel = "C_OPS"\njobs = ["x"]\ntimezone = "Mars/Base"\n'
        "[limits]\nwatch_poll_seconds = 0\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_policy(path)
    problems = raised.value.problems
    assert any("watch_poll_seconds" in p and "greater than 0" in p for p in problems), problems
    path.write_text(path.read_text().replace("watch_poll_seconds = 0", "watch_poll_seconds = 5"))
    with pytest.raises(ConfigError) as raised:
        load_policy(path)
    where = f"OMSBOT_POLICY: {path}: [[watches]]"
    assert list(raised.value.problems) == [
        f"{where} id \"watch-1\": channel 'ops' is not a Slack channel id (C… or G…)",
        f'{where} id "b": jobs must be a non-empty list of OFBiz enum ids, Moqui job names or '
        'category names, e.g. jobs = ["JOB_IMP_ORD", "orders"]',
        f'{where} id "c": quiet_hours \'22-06\' is not "HH:MM-HH:MM" (e.g. "22:00-06:00")',
        f"{where} #4: unknown key(s) quiet; a watch takes channel, failed_imports_per_hour, "
        "id, jobs, quiet_hours, timezone",
        f"{where} id \"e\": timezone 'Mars/Base' is not an IANA time zone (e.g. America/New_York)",
    ]


# ---- over the endpoint: the bot's own poller, /oms watches and Show history ------------------


def test_watches_command_lists_watches_last_poll_and_open_alerts(
    make_bot: BotFactory, sandbox: SandboxServer, tmp_path: Path
) -> None:
    away = datetime.now(UTC) + timedelta(hours=12)  # quiet hours that are not now
    quiet = f"{away:%H:%M}-{away + timedelta(minutes=1):%H:%M}"
    policy = write_policy(
        tmp_path, watch_table([DAILY_JOB, "NO_SUCH_JOB"], quiet_hours=quiet), poll=0.3
    )
    bot = make_bot(omsbot_policy=policy)
    bot.fake.wait_for(
        lambda: bot.services.store and _polled(bot.services), timeout=15
    )  # the first poll: the baseline
    with sandbox.state.lock:
        moqui_scenarios.add_ended_run(
            sandbox.state.data, DAILY_JOB, at=now_in(sandbox), outcome="failed", error=ERROR
        )
    alert = bot.wait_message(lambda m: m.thread_ts is None and "failed" in m.text, timeout=15)
    gated({"text": alert.text, "blocks": alert.blocks})
    text = text_of(gated(bot.reply_post(bot.slash("watches")).body))
    assert "1 job watch, polled every" in text
    assert f"`{DAILY_JOB}`" in text and f"quiet {quiet} (UTC)" in text
    assert (
        "last poll <!date^" in text and "not a job or category this OMS has: `NO_SUCH_JOB`" in text
    )
    assert "1 open alert" in text and f"{DAILY_JOB} failed" in text and "failed run" in text

    # Show history runs `/oms job <job>` as the presser: the job's card with its runs.
    click = bot.driver.click(alert, "oms:watches.history#1", user="U_ALICE")
    assert click.http.status_code == 200
    card = text_of(gated(bot.reply_post(click).body))
    assert DAILY_JOB in card and "failed" in card


def _polled(services: Services) -> bool:
    state = asyncio.run(services.watch_state())
    return "ops" in state.polls


# ---- check-config -----------------------------------------------------------------------------


def test_check_config_checks_the_watches_channels_and_job_names(
    tmp_path: Path, fake_slack: FakeSlack, sandbox: SandboxServer
) -> None:
    env = clean_env(**bot_env(fake_slack, sandbox, tmp_path / "c.db"))
    policy = tmp_path / "policy.toml"
    policy.write_text(
        f'[[watches]]\nid = "ops"\nchannel = "C_OPS"\njobs = ["{DAILY_JOB}", "NO_SUCH_JOB"]\n'
        '[[watches]]\nid = "gone"\nchannel = "C_GONE"\njobs = ["orders"]\n'
    )
    env["OMSBOT_POLICY"] = str(policy)
    result = oms_bot("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 1, result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert failed == [
        "FAILED watches: [[watches]] id \"ops\": jobs names 'NO_SUCH_JOB', which is no Moqui job "
        "or category and no OFBiz job enum in this OMS; `/oms jobs` lists them",
        'FAILED Slack channels: [[watches]] id "gone": channel = "C_GONE": Slack has no such '
        "channel, or it is private and the bot is not in it: check the id, and invite it with "
        "`/invite @omsbot` in that channel",
    ]
    policy.write_text(
        f'[[watches]]\nid = "ops"\nchannel = "C_OPS"\njobs = ["{DAILY_JOB}", "orders"]\n'
    )
    result = oms_bot("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout
    assert "ok     watches: ops: " in result.stdout


def test_run_now_on_an_alert_runs_the_job_for_an_operator_only(
    make_bot: BotFactory, sandbox: SandboxServer, tmp_path: Path
) -> None:
    bot = make_bot(omsbot_policy=write_policy(tmp_path, watch_table([DAILY_JOB]), poll=0.3))
    bot.fake.wait_for(lambda: _polled(bot.services), timeout=15)
    with sandbox.state.lock:
        moqui_scenarios.add_ended_run(
            sandbox.state.data, DAILY_JOB, at=now_in(sandbox), outcome="failed", error=ERROR
        )
    alert = bot.wait_message(lambda m: m.thread_ts is None and "failed" in m.text, timeout=15)
    run_now = f"/rest/s1/admin/serviceJobs/{DAILY_JOB}/runNow"
    # Someone without the operator role is refused, and nothing reaches the OMS...
    refused = bot.driver.click(alert, "oms:jobs.run#0", user="U_ERIN")
    assert refused.http.status_code == 200
    assert "operator" in text_of(gated(bot.reply_post(refused).body))
    assert sandbox.state.requests(run_now, "POST") == []
    # ... an operator's press starts the run: the OMS is asked to run the job now.
    pressed = bot.driver.click(alert, "oms:jobs.run#0", user="U_ALICE")
    assert pressed.http.status_code == 200
    bot.fake.wait_for(lambda: sandbox.state.requests(run_now, "POST") or None, timeout=15)
    kept = bot.fake.message(CHANNEL, alert.ts)
    assert "Run started by <@U_ALICE>" in shown(kept) and buttons(kept) == []


async def test_an_unreachable_oms_posts_nothing_and_the_next_poll_catches_up(
    replicas: Callable[..., list[Services]], fake_slack: FakeSlack, sandbox: SandboxServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    services = replicas(write_policy(tmp_path, watch_table([DAILY_JOB])), 1)
    poller = services[0].watch_poller()
    await poller.poll_once()
    with sandbox.state.lock:
        moqui_scenarios.add_ended_run(
            sandbox.state.data, DAILY_JOB, at=now_in(sandbox), outcome="failed", error=ERROR
        )
    sandbox.state.down = True
    outcome = await poller.poll_once()
    assert outcome["ops"].startswith("the OMS could not be read")
    assert alerts(fake_slack) == []
    state = await services[0].watch_state()
    assert state.polls["ops"].last_outcome == outcome["ops"]
    sandbox.state.down = False
    assert (await poller.poll_once())["ops"].startswith("1 alert posted")
    assert [m.text for m in alerts(fake_slack)] == [f"{DAILY_JOB} failed"]


# ---- one unreadable job does not blind its watch ---------------------------------------------


def test_a_job_whose_runs_cannot_be_read_is_named_and_the_others_still_alert(
    make_bot: BotFactory, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # The quarter-hourly job's runs answer 404, as a job deleted since the poll listed it.
    sandbox.state.inject_fault(
        f"/rest/s1/admin/serviceJobs/{QUARTER_JOB}/runs", "json", 10_000, status=404,
        body={"errors": f"ServiceJob not found with name {QUARTER_JOB}", "errorCode": 404},
    )  # fmt: skip
    policy = write_policy(tmp_path, watch_table([DAILY_JOB, QUARTER_JOB]), poll=0.3)
    bot = make_bot(omsbot_policy=policy)
    bot.fake.wait_for(lambda: _polled(bot.services), timeout=15)
    with sandbox.state.lock:
        moqui_scenarios.add_ended_run(
            sandbox.state.data, DAILY_JOB, at=now_in(sandbox), outcome="failed", error=ERROR
        )
    alert = bot.wait_message(lambda m: m.thread_ts is None and "failed" in m.text, timeout=15)
    gated({"text": alert.text, "blocks": alert.blocks})
    assert alert.text == f"{DAILY_JOB} failed"
    text = text_of(gated(bot.reply_post(bot.slash("watches")).body))
    assert f"could not read `{QUARTER_JOB}`: read the runs of {QUARTER_JOB} failed" in text
    assert "1 open alert" in text and f"{DAILY_JOB} failed" in text


# ---- an alert posted by a replica stopped before it recorded it is not posted again ----------


async def test_alert_accepted_by_slack_then_replica_stopped_is_not_posted_again(
    replicas: Callable[..., list[Services]], fake_slack: FakeSlack, sandbox: SandboxServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    services = replicas(write_policy(tmp_path, watch_table([DAILY_JOB])))
    first = services[0].watch_poller(owner="first", lease=60)
    await first.poll_once()  # the baseline
    with sandbox.state.lock:
        run = moqui_scenarios.add_ended_run(
            sandbox.state.data, DAILY_JOB, at=now_in(sandbox), outcome="failed", error=ERROR
        )
    # Slack takes the first replica's alert and its answer never comes; the replica is
    # stopped right there (as the lifespan's `watches.stop()` on SIGTERM), nothing recorded.
    with fake_slack.stall_next(
        "chat.postMessage", lambda p: p.get("channel") == CHANNEL, accept=True
    ) as stall:
        polling = asyncio.create_task(first.poll_once())
        await asyncio.to_thread(stall.wait, 30)
        polling.cancel()
        with pytest.raises(asyncio.CancelledError):
            await polling
    (posted,) = alerts(fake_slack)
    assert posted.text == f"{DAILY_JOB} failed"
    # The other replica polls once the stopped one's lease has run out: it takes the alert
    # over, finds the message in the channel by its mark, and does not post it again.
    second = services[1].watch_poller(owner="second", clock=lambda: time.time() + 120)
    await second.poll_once()
    await second.poll_once()
    assert [m.ts for m in alerts(fake_slack)] == [posted.ts]  # alert posts == 1
    # The message carries the alert's mark, and the taker-over looked for it with the metadata.
    assert posted.metadata == {
        "event_type": "oms_bot_watch_alert",
        "event_payload": {"watch": "ops", "alert": f"failed:{DAILY_JOB}:{run.job_run_id}"},
    }
    (history,) = fake_slack.calls("conversations.history")
    assert str(history.body["include_all_metadata"]).lower() in ("1", "true")
    # It is recorded as the alert's message: /oms watches links it, a success closes it.
    state = await services[1].watch_state()
    assert [(a.state, a.message_ts) for a in state.open_alerts] == [("open", posted.ts)]
    with sandbox.state.lock:
        moqui_scenarios.add_ended_run(
            sandbox.state.data, DAILY_JOB, at=now_in(sandbox), outcome="finished"
        )
    await second.poll_once()
    assert "closed" in shown(fake_slack.message(CHANNEL, posted.ts))


async def test_alert_slack_never_got_from_a_stopped_replica_is_posted_by_the_next(
    replicas: Callable[..., list[Services]], fake_slack: FakeSlack, sandbox: SandboxServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    services = replicas(write_policy(tmp_path, watch_table([DAILY_JOB])))
    first = services[0].watch_poller(owner="first", lease=60)
    await first.poll_once()  # the baseline
    with sandbox.state.lock:
        moqui_scenarios.add_ended_run(
            sandbox.state.data, DAILY_JOB, at=now_in(sandbox), outcome="failed", error=ERROR
        )
    # The post hangs before Slack acts on it, and the replica is stopped: nothing was posted.
    with fake_slack.stall_next("chat.postMessage", lambda p: p.get("channel") == CHANNEL) as stall:
        polling = asyncio.create_task(first.poll_once())
        await asyncio.to_thread(stall.wait, 30)
        polling.cancel()
        with pytest.raises(asyncio.CancelledError):
            await polling
    assert alerts(fake_slack) == []
    # The taker-over finds no message with the alert's mark, so it posts the alert: once.
    second = services[1].watch_poller(owner="second", clock=lambda: time.time() + 120)
    await second.poll_once()
    await second.poll_once()
    posted = alerts(fake_slack)
    assert [m.text for m in posted] == [f"{DAILY_JOB} failed"]
    assert len(fake_slack.calls("conversations.history")) == 1
    state = await services[1].watch_state()
    assert [(a.state, a.message_ts) for a in state.open_alerts] == [("open", posted[0].ts)]


async def test_repeat_in_the_thread_accepted_then_replica_stopped_is_not_posted_again(
    replicas: Callable[..., list[Services]], fake_slack: FakeSlack, sandbox: SandboxServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    services = replicas(write_policy(tmp_path, watch_table([DAILY_JOB])))
    first = services[0].watch_poller(owner="first", lease=60)
    await first.poll_once()  # the baseline
    with sandbox.state.lock:
        moqui_scenarios.add_ended_run(
            sandbox.state.data, DAILY_JOB, at=now_in(sandbox), outcome="failed", error=ERROR
        )
    await first.poll_once()
    (alert,) = alerts(fake_slack)
    with sandbox.state.lock:
        again = moqui_scenarios.add_ended_run(
            sandbox.state.data, DAILY_JOB, at=now_in(sandbox), outcome="failed", error=ERROR
        )
    # Slack takes the repeat in the alert's thread; the replica is stopped before recording it.
    with fake_slack.stall_next(
        "chat.postMessage", lambda p: p.get("thread_ts") == alert.ts, accept=True
    ) as stall:
        polling = asyncio.create_task(first.poll_once())
        await asyncio.to_thread(stall.wait, 30)
        polling.cancel()
        with pytest.raises(asyncio.CancelledError):
            await polling
    second = services[1].watch_poller(owner="second", clock=lambda: time.time() + 120)
    await second.poll_once()
    await second.poll_once()
    thread = [m for m in fake_slack.messages(CHANNEL) if m.thread_ts == alert.ts]
    assert len(thread) == 1  # the repeat is in the thread once
    assert f"failed again (run `{again.job_run_id}`)" in shown(thread[0])
    assert [m.ts for m in alerts(fake_slack)] == [alert.ts]
    (replies,) = fake_slack.calls("conversations.replies")
    assert replies.body["ts"] == alert.ts
