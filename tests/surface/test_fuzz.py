"""Fuzz: hostile `/oms` texts and button payloads through the real, signed HTTP endpoint.

One bot serves the whole module (starting one per example would be most of the run time).
Every example must be acked with HTTP 200, every message the bot sends (ack, response_url
post, chat.* call) must pass the Block Kit gate, and no error may escape to the log.

The bot runs with no policy file, so every command that changes the OMS is refused whoever
sends it; the module ends by checking that the OMS received no write at all.

The default run is short and derandomized (the same examples every time, so CI is stable);
`make fuzz` runs the `long` profile: HYPOTHESIS_PROFILE=long, thousands of random examples.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.kit.serve import ThreadedServer
from bot.sandbox import SandboxServer
from bot.store.tokens import NewToken, create_tokens
from tests.conftest import SIGNING_SECRET, RunningBot, gated, start_bot
from tests.fault_fixtures import LogCapture, audit_events, captured_logs
from tests.harness.blockkit import check_message
from tests.harness.driver import VERIFICATION_TOKEN, SlackDriver
from tests.harness.fakeslack import FakeSlack
from tests.harness.signing import signed_headers

_BASE = settings(
    deadline=None,  # one example is several HTTP round trips; timing is not the point
    database=None,  # nothing written to .hypothesis/
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("fuzz-short", parent=_BASE, max_examples=40, derandomize=True)
settings.register_profile("long", parent=_BASE, max_examples=2000)
FUZZ = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "fuzz-short"))

# Reads the OMS answers with POST; any other POST, PUT or DELETE would be a write.
READ_POSTS = frozenset(
    {
        "/api/login",
        "/api/performFind",
        "/api/solr-query",
        "/api/findJobs",
        "/api/service/getShopifyWebhooks",
    }
)

USERS = ["U_ALICE", "U_BOB", "U_CAROL", "U_DAVE", "U_NOBODY", ""]
CHANNELS = ["C_OPS", "C_APPROVALS", "C_RANDOM", "C_OLD", "G_SECRET", "D_NOBODY", ""]

INJECTIONS = [
    "'; DROP TABLE audit_events; --",
    '" OR 1=1 --',
    "<@U123>",
    "<!channel>",
    "<!here|here>",
    "<!subteam^S_OPERATORS>",
    "<https://evil.example|click me>",
    "*bold* _it_ ~strike~ `code` ```block```",
    "&lt;&gt;&amp;",
    "${jndi:ldap://127.0.0.1/x}",
    "{{7*7}}",
    "%s%n%x",
    "../../etc/passwd",
    "\u202eevil\u202c",
    "\x00\x07\x1b[31m",
    "\ud7ff\ue000\U0010ffff",
    "#1003",
    "10002",
    "--since",
    "--store=",
    "--mine --failed",
    '"unbalanced',
    "'",
    ":skull:" * 50,
]


READS = [
    "order 10002",
    "order #1003",
    "order 6100000000002",
    "check 10014",
    "history 10002",
    "history --mine --failed",
    "failed --since 2h",
    "jobs",
    "job JOB_APR_ORD",
    "mdm --failed",
    "webhooks",
    "approvals",
    "rollback status",
    "digest",
]


# ---- the bot under fuzz ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_bot(
    fake_slack_server: FakeSlack,
    sandbox_server: SandboxServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningBot, LogCapture]]:
    fake, sandbox = fake_slack_server, sandbox_server
    fake.reset()
    sandbox.state.reset()
    db = tmp_path_factory.mktemp("fuzz") / "bot.db"
    with captured_logs() as logs:
        server: ThreadedServer
        server, services = start_bot(fake, sandbox, db)  # no policy file: no one may write
        driver = SlackDriver(f"{server.url}/slack/events", SIGNING_SECRET, fake)
        try:
            yield RunningBot(server.url, services, driver, fake, sandbox), logs
        finally:
            server.stop()
            fake.reset()
            sandbox.state.reset()


def _settle(bot: RunningBot) -> None:
    """Wait until the work started after the acks is done (replies sent, audit written)."""
    deadline = time.monotonic() + 20
    quiet = 0
    while quiet < 3:  # idle three polls in a row: a task may start the next one
        quiet = quiet + 1 if bot.services.tasks.pending == 0 else 0
        assert time.monotonic() < deadline, "background work did not finish"
        time.sleep(0.01)


def _unhandled(logs: LogCapture, since: int) -> list[str]:
    """Log lines of errors nothing handled: tracebacks and Bolt's listener failures."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in logs.records[since:]
        if r.exc_info
        or "Traceback" in r.getMessage()
        or (r.name == "slack_bolt" and r.levelno >= 40)
    ]


def _oms_writes(sandbox: SandboxServer) -> list[str]:
    return [
        f"{r.method} {r.path}"
        for r in sandbox.state.requests()
        if r.method in ("PUT", "DELETE", "PATCH")
        or (r.method == "POST" and r.path not in READ_POSTS)
    ]


def _check_clean(bot: RunningBot, logs: LogCapture, since: int) -> None:
    """After one example: no write, no gate violation, no unhandled error logged since `since`."""
    _settle(bot)
    assert _oms_writes(bot.sandbox) == []
    violations = list(bot.fake.gate_violations)
    bot.fake.gate_violations.clear()  # report each once, with the example that caused it
    assert not violations, f"Block Kit gate: {violations[0].method}: {violations[0].problems}"
    unhandled = _unhandled(logs, since)
    assert not unhandled, "\n".join(unhandled)


# ---- /oms texts ------------------------------------------------------------------------------

_words = st.one_of(
    st.sampled_from(INJECTIONS),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="ascii"), max_size=20),
    st.from_regex(r"--[a-z]{1,8}(=[^\s]{0,10})?", fullmatch=True),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
)


def _command_texts() -> st.SearchStrategy[str]:
    from bot.surface.wiring import build_registry

    names = sorted(spec.name for spec in build_registry().all())
    commanded = st.tuples(st.sampled_from(names), st.lists(_words, max_size=5)).map(
        lambda parts: " ".join([parts[0], *parts[1]])
    )
    # Real read commands, some with hostile extras: the handlers behind the ack get fuzzed too.
    reads = st.tuples(st.sampled_from(READS), st.lists(_words, max_size=2)).map(
        lambda parts: " ".join([parts[0], *parts[1]])
    )
    return st.one_of(
        reads,
        st.just(""),
        st.text(),
        st.text(min_size=900, max_size=4000),
        st.sampled_from(INJECTIONS),
        commanded,
        st.lists(_words, max_size=8).map(" ".join),
    )


@FUZZ
@given(text=_command_texts(), user=st.sampled_from(USERS), channel=st.sampled_from(CHANNELS))
def test_random_oms_texts(
    fuzz_bot: tuple[RunningBot, LogCapture], text: str, user: str, channel: str
) -> None:
    bot, logs = fuzz_bot
    since = len(logs.records)
    sent = bot.slash(text, user=user, channel=channel)
    assert sent.http.status_code == 200, sent.http.text
    if sent.http.text:  # the ack carries the answer or the "working on it" note
        gated(json.loads(sent.http.text))
    _check_clean(bot, logs, since)


# ---- button payloads ---------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)

ACTION_IDS = [
    "oms:run.resume#0",
    "oms:approve.cancel#1",
    "oms:approve.confirm#0",
    "oms:approval.approve#0",
    "oms:",
    "oms:nothing#x",
    "other_app_button",
]


def _issue_tokens(bot: RunningBot) -> list[str]:
    """Real tokens of harmless actions, each its own group (a Resume of a run that never
    existed, a Cancel): payloads carrying them get past the token check."""
    now = time.time()
    specs = [
        NewToken("run.resume", {"run_id": "no-such-run"}, uuid.uuid4().hex, now + 3600, "U_ALICE")
        for _ in range(20)
    ] + [
        NewToken("approve.cancel", {"order_keys": ["10014"]}, uuid.uuid4().hex, now + 3600, "U_X")
        for _ in range(20)
    ]
    return [t.token for t in create_tokens(bot.services.store, specs, now)]


@st.composite
def _payloads(draw: st.DrawFn, tokens: list[str], response_url: str) -> dict[str, Any]:
    user = draw(
        st.one_of(
            st.sampled_from(USERS).map(lambda u: {"id": u, "username": u.lower()}),
            _json,
        )
    )
    channel = draw(st.one_of(st.sampled_from(CHANNELS).map(lambda c: {"id": c}), _json))
    container = draw(
        st.one_of(
            st.fixed_dictionaries(
                {
                    "type": st.just("message"),
                    "message_ts": st.one_of(st.just("1700000000.000100"), _json),
                    "channel_id": st.one_of(st.sampled_from(CHANNELS), _json),
                    "is_ephemeral": st.one_of(st.booleans(), _json),
                }
            ),
            _json,
        )
    )
    value = draw(st.one_of(st.sampled_from(tokens), st.text(max_size=60), _json))
    action = draw(
        st.one_of(
            st.fixed_dictionaries(
                {"action_id": st.sampled_from(ACTION_IDS) | st.text(max_size=20)},
                optional={"value": st.just(value), "type": st.just("button")},
            ),
            _json,
        )
    )
    actions = draw(st.one_of(st.lists(st.just(action), min_size=1, max_size=2), _json))
    kind = draw(
        st.sampled_from(
            ["block_actions", "block_actions", "view_submission", "view_closed", "shortcut"]
        )
        | st.text(max_size=12)
    )
    payload: dict[str, Any] = {
        "type": kind,
        "user": user,
        "channel": channel,
        "container": container,
        "actions": actions,
        "api_app_id": "A0OMS",
        "token": VERIFICATION_TOKEN,
        "team": {"id": "T0OMS", "domain": "oms"},
        "trigger_id": "1.2.3",
        "response_url": draw(st.sampled_from([response_url, None, ""])),
    }
    if draw(st.booleans()):
        payload["view"] = draw(_json)
    # Any field may be missing altogether.
    dropped = draw(st.lists(st.sampled_from(sorted(payload)), max_size=3))
    return {k: v for k, v in payload.items() if k not in dropped}


@pytest.fixture(scope="module")
def issued_tokens(fuzz_bot: tuple[RunningBot, LogCapture]) -> list[str]:
    return _issue_tokens(fuzz_bot[0])


@FUZZ
@given(data=st.data())
def test_random_button_payloads(
    fuzz_bot: tuple[RunningBot, LogCapture], issued_tokens: list[str], data: st.DataObject
) -> None:
    bot, logs = fuzz_bot
    since = len(logs.records)
    response_url = bot.fake.new_response_url("C_OPS", user="U_ALICE", message_ts="1.000001")
    payload = data.draw(_payloads(issued_tokens, response_url))
    body = urlencode({"payload": json.dumps(payload)})
    http = bot.driver.raw(body, signed_headers(SIGNING_SECRET, body))
    assert http.status_code == 200, f"{http.status_code} {http.text} for {payload}"
    if http.text:
        assert not check_message(json.loads(http.text))
    _check_clean(bot, logs, since)


@FUZZ
@given(raw=st.one_of(st.text(), _json.map(json.dumps)))
def test_random_interaction_bodies(fuzz_bot: tuple[RunningBot, LogCapture], raw: str) -> None:
    """`payload=` holding anything at all: not JSON, a JSON list, a bare number."""
    bot, logs = fuzz_bot
    since = len(logs.records)
    body = urlencode({"payload": raw})
    http = bot.driver.raw(body, signed_headers(SIGNING_SECRET, body))
    assert http.status_code == 200, http.text  # acked and ignored, never a crash
    _check_clean(bot, logs, since)


# Payloads the fuzz found that made Bolt answer 500 (it reads them before any code of ours).
UNREADABLE = [
    {"type": "block_actions", "user": 1.5, "actions": [{"action_id": "oms:x", "value": "t"}]},
    {
        "type": "block_actions",
        "user": {"id": "U_ALICE"},
        "channel": {"id": "C_OPS"},
        "actions": None,
    },
    {
        "type": "block_actions",
        "user": {"id": "U_ALICE"},
        "actions": [{"action_id": ""}],
        "view": None,
    },
    {"type": "view_submission", "user": {"id": "U_ALICE"}, "view": []},
]


@pytest.mark.parametrize("payload", UNREADABLE)
def test_payloads_bolt_cannot_read_are_acked_audited_and_unsigned_ones_refused(
    fuzz_bot: tuple[RunningBot, LogCapture], payload: dict[str, Any]
) -> None:
    bot, logs = fuzz_bot
    since = len(logs.records)
    body = urlencode({"payload": json.dumps(payload)})
    unsigned = bot.driver.raw(body, {"content-type": "application/x-www-form-urlencoded"})
    assert unsigned.status_code == 401
    before = max((e.id or 0 for e in audit_events(bot.services.store)), default=0)
    assert bot.driver.raw(body, signed_headers(SIGNING_SECRET, body)).status_code == 200
    _check_clean(bot, logs, since)
    added = [e for e in audit_events(bot.services.store) if (e.id or 0) > before]
    assert [(e.kind, e.outcome, e.summary) for e in added] == [
        ("click", "rejected", "unreadable button payload")
    ]


def test_the_fuzz_wrote_nothing_to_the_oms(fuzz_bot: tuple[RunningBot, LogCapture]) -> None:
    """The read commands the fuzz builds its texts on do read the OMS, and nothing wrote.

    It sends those commands itself, so it holds alone as well as after the fuzz; what the
    examples before it in the module sent is in the OMS's request log too, checked first."""
    bot, logs = fuzz_bot
    _settle(bot)
    assert _oms_writes(bot.sandbox) == []
    bot.sandbox.state.clear_requests()
    since = len(logs.records)
    for text in READS:
        sent = bot.slash(text, user="U_ALICE", channel="C_OPS")
        assert sent.http.status_code == 200, sent.http.text
    _check_clean(bot, logs, since)
    assert bot.sandbox.state.requests(), "the fuzz's read commands reached no OMS read"


def test_every_changing_command_needs_a_role() -> None:
    """Why the fuzz cannot write: with no policy, a command that changes the OMS needs a role
    nobody holds. A changing command without a role would make the fuzz unsafe to run."""
    from bot.surface.wiring import build_registry

    open_ones = [s.name for s in build_registry().all() if s.changes_oms and not s.role]
    assert open_ones == []
