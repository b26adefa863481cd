"""Issue 16, reads in parallel: a runbook step reads independent things at once, within the
OMS_MAX_CONCURRENT_READS bound, with the same answers and the same errors as when it read
them one after another. Through the real endpoint; the OMS side is the sandbox's app behind
bench/spans.py's recorder, which sees every request's span and how many were in flight."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.spans import Span, TimedOms, critical_path
from bot.sandbox import SandboxServer
from tests.conftest import BotFactory, RunningBot, text_of, write_policy
from tests.harness.fakeslack import ResponsePost

LATENCY = 0.15  # per OMS call: long enough for reads sent together to overlap at the OMS


@pytest.fixture
def timed(sandbox: SandboxServer) -> Iterator[TimedOms]:
    """The sandbox (its state, data and faults) behind a recorder of what the OMS sees."""
    oms = TimedOms(sandbox).start()
    yield oms
    oms.stop()


def _bot(make_bot: BotFactory, tmp_path: Path, timed: TimedOms, **settings: Any) -> RunningBot:
    """An operator bot whose OMS is `timed`, its profile learned and its login done, so only
    the runbook's own reads are recorded."""
    policy = write_policy(tmp_path, two_person=False)
    bot = make_bot(omsbot_policy=policy, oms_base_url=timed.url, **settings)
    _text(bot, "check #1006")  # warms the login and the tenant profile
    bot.sandbox.state.latency = LATENCY
    timed.recorder.clear()
    return bot


def _reply(bot: RunningBot, text: str) -> ResponsePost:
    return bot.reply_post(bot.slash(text), timeout=20)


def _text(bot: RunningBot, text: str) -> str:
    return text_of(_reply(bot, text).body)


def _overlapped(spans: list[Span]) -> bool:
    return critical_path(spans) < sum(s.seconds for s in spans) - LATENCY / 2


# ---- the reads of one step go together ----------------------------------------------------------


def test_check_of_a_missing_order_reads_its_sources_together(
    make_bot: BotFactory, tmp_path: Path, timed: TimedOms
) -> None:
    bot = _bot(make_bot, tmp_path, timed)
    shown = _text(bot, "check #1006")
    assert "HotWax failed to import it" in shown
    assert "Fix the address or phone in Shopify, then re-import the order." in shown
    spans = timed.recorder.spans()
    paths = [s.path for s in spans]
    # The order in HotWax and in Shopify and the failed MDM logs went out together...
    first = [s for s in spans if s.start < spans[0].end]
    assert {"/rest/s1/oms/orders", "/rest/s1/shopify/graphql"} <= {s.path for s in first}
    assert "/rest/s1/admin/dataManager/details" in {s.path for s in first}
    # ...so the check waited for fewer calls than it made.
    assert len(paths) >= 4 and _overlapped(spans)
    assert timed.recorder.max_in_flight <= 4


def test_check_order_and_refresh_read_together(
    make_bot: BotFactory, tmp_path: Path, timed: TimedOms
) -> None:
    bot = _bot(make_bot, tmp_path, timed)
    bot.sandbox.state.job_run_seconds = 0.0
    bot.sandbox.state.sync_delay_seconds = 0.0
    # /oms check 10002: the order with its search index, then the Shopify order.
    assert "Shopify shows it fulfilled" in _text(bot, "check 10002")
    spans = timed.recorder.spans()
    assert [s.path for s in spans[:2]] != [] and _overlapped(spans)
    # /oms order #1003: the live version's history and the cancelled one's together.
    timed.recorder.clear()
    shown = _text(bot, "order #1003")
    assert "Status history" in shown and "was cancelled" in shown
    histories = [s for s in timed.recorder.spans() if s.path.endswith("/status")]
    assert len(histories) == 2 and histories[1].start < histories[0].end
    # The refresh's first step: the order in HotWax, in Shopify and the sync job together.
    card = _reply(bot, "refresh 10002")
    timed.recorder.clear()
    bot.driver.click_ephemeral(card, "oms:refresh.confirm#0")
    done = bot.wait_message(lambda m: m.text.endswith(("finished", "failed")), timeout=60)
    assert done.text.endswith("finished")
    step_one = timed.recorder.spans()[:3]
    assert max(s.start for s in step_one) < min(s.end for s in step_one), step_one


# ---- the bound ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bound", [1, 2])
def test_reads_in_flight_never_exceed_the_bound(
    make_bot: BotFactory, tmp_path: Path, timed: TimedOms, bound: int
) -> None:
    bot = _bot(make_bot, tmp_path, timed, oms_max_concurrent_reads=bound)
    # Three checks at once, each sending up to four reads together: twelve would be in
    # flight without the bound.
    refs = ["#1006", "#1007", "10002"]
    answers: dict[str, str] = {}

    def check(ref: str) -> None:
        answers[ref] = _text(bot, f"check {ref}")

    threads = [threading.Thread(target=check, args=(ref,)) for ref in refs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert set(answers) == set(refs)
    assert "HotWax failed to import it" in answers["#1006"]
    assert "no import failure is recorded" in answers["#1007"]
    assert "Shopify shows it fulfilled" in answers["10002"]
    assert timed.recorder.max_in_flight == bound  # reached, never passed


def test_answers_are_the_same_read_together_or_one_by_one(
    make_bot: BotFactory, tmp_path: Path, timed: TimedOms
) -> None:
    together = _bot(make_bot, tmp_path, timed, db_path=tmp_path / "a.db")
    one_by_one = _bot(
        make_bot, tmp_path, timed, db_path=tmp_path / "b.db", oms_max_concurrent_reads=1
    )
    for command in ("check 10002", "check #1006", "check 10009", "check #1003", "order #1003"):
        timed.recorder.clear()
        serial = _text(one_by_one, command)
        assert timed.recorder.max_in_flight == 1, command
        assert _text(together, command) == serial, command


# ---- errors -------------------------------------------------------------------------------------


def test_a_failed_read_among_others_says_which_as_before(
    make_bot: BotFactory, tmp_path: Path, timed: TimedOms
) -> None:
    bot = _bot(make_bot, tmp_path, timed)
    state = bot.sandbox.state
    # The import failures read beside the MDM failed records: its own failure is shown.
    # (An outage: reads retry a 503 twice, so it outlasts the retries.)
    state.inject_fault("/api/solr-query", "unavailable", 3)
    shown = _text(bot, "check #1006")
    assert "The OMS call “read the import failures (logInsights)” failed" in shown
    assert "HTTP 503 Service Unavailable" in shown and "Traceback" not in shown
    # The order read fails while the Shopify order and the MDM logs are read ahead: the
    # order's failure is the one shown, as when it was the first and only read.
    state.inject_fault("/rest/s1/oms/orders", "error500")
    shown = _text(bot, "check #1006")
    assert "The OMS call “find order by Shopify order name” failed" in shown
    assert "HTTP 500 Internal Server Error" in shown


def test_a_failed_read_ahead_the_verdict_does_not_use_changes_nothing(
    make_bot: BotFactory, tmp_path: Path, timed: TimedOms
) -> None:
    bot = _bot(make_bot, tmp_path, timed)
    # #1003 is in HotWax: the failed MDM logs started for a missing order are cancelled
    # unused, so their failure is not the check's (one after another, they were never read).
    bot.sandbox.state.inject_fault("/rest/s1/admin/dataManager/details", "error500")
    shown = _text(bot, "check #1003")
    assert "Looks fine: the order is Completed" in shown and "The OMS call" not in shown
    # Where the verdict needs them, the same failure is the check's.
    bot.sandbox.state.inject_fault("/rest/s1/admin/dataManager/details", "error500")
    shown = _text(bot, "check #1006")
    assert "The OMS call “" in shown and "HTTP 500 Internal Server Error" in shown


def test_check_of_an_order_in_hotwax_never_waits_for_the_mdm_read_ahead(
    make_bot: BotFactory, tmp_path: Path, sandbox: SandboxServer
) -> None:
    # A Shopify reference starts the failed MDM logs early, in case HotWax lacks the order.
    # Here HotWax has it: the answer must come while that read is still unanswered (hung by
    # the sandbox until released), not after it.
    # The OMS timeout outlasts the reply's wait, so a check that waited for the held read
    # would time out here instead of answering after the client gave up on it.
    bot = make_bot(omsbot_policy=write_policy(tmp_path, two_person=False), oms_timeout=60)
    _text(bot, "check #1006")  # the login and tenant profile, so only the check reads below
    sandbox.state.inject_fault("/rest/s1/admin/dataManager/*", "hang", count=100)
    try:
        shown = _text(bot, "check #1002")
        assert "10002" in shown and "HotWax failed to import it" not in shown
        assert sandbox.state.requests("/rest/s1/admin/dataManager/details"), (
            "the read-ahead was never sent, so this test shows nothing"
        )
    finally:
        sandbox.state.release_held()
