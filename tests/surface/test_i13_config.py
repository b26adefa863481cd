"""Issue 13, what a new user hit in setting up: `check-config` reads the policy file as the
start does and names every problem on its own line (settings with their expected form, the
`[stores]` ids in the OMS, the approvals and digest channels in Slack); the Slack bot never
serves the sandbox's demo data unless asked; misspelled keys are named; `oms-bot sandbox
--port 0` says the port it got and the `[stores]` a bot pointed at it needs.

Real processes, the fake Slack and the sandbox on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bot.kit.config import FORMS, HIDDEN, Settings
from bot.sandbox import (
    DEMO_ORDER_SYNC_JOB,
    DEMO_PASSWORD,
    DEMO_SHOPIFY_REMOTE,
    DEMO_USERNAME,
    SandboxServer,
)
from tests.conftest import SIGNING_SECRET, bot_env, text_of
from tests.harness.driver import SlackDriver
from tests.harness.fakeslack import FakeSlack
from tests.processes import clean_env, free_port, oms_bot, spawn_bot, wait_healthy


def _lines(output: str, prefix: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(prefix)]


def _policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


# ---- settings -------------------------------------------------------------------------------


def test_check_config_names_each_bad_setting_with_its_expected_form(tmp_path: Path) -> None:
    env = clean_env(
        OMS_TIMEOUT="abc",
        OMSBOT_PORT="eighty",
        SLACK_BOT_TOKEN="xoxp-a-user-token-not-a-bot-one",
        SLACK_SIGNING_SECRET="s3cret-signing",
        OMSBOT_DATABASE_URL="mysql://bot:hunter22@db/omsbot",
    )
    result = oms_bot("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert sorted(_lines(result.stdout, "FAILED")) == sorted(
        [
            "FAILED settings: OMS_TIMEOUT=abc: expected a number of seconds above 0 and at "
            "most 120, e.g. 30",
            "FAILED settings: OMSBOT_PORT=eighty: expected a port number from 1 to 65535, "
            "e.g. 3000",
            "FAILED settings: SLACK_BOT_TOKEN (value hidden): expected a bot token starting "
            "with xoxb- (the app's OAuth & Permissions page)",
            "FAILED settings: OMSBOT_DATABASE_URL=mysql://bot:***@db/omsbot: expected "
            "sqlite:///path/to/file.db or postgresql://user@host:5432/dbname",
        ]
    )
    assert "xoxp-a-user" not in result.stdout and "hunter22" not in result.stdout
    # The start says the same, one problem a line.
    started = oms_bot("run", cwd=tmp_path, env=env)
    assert started.returncode == 2
    assert "oms-bot: OMS_TIMEOUT=abc: expected a number of seconds" in started.stderr
    assert (
        "oms-bot: OMSBOT_PORT=eighty: expected a port number from 1 to 65535, e.g. 3000"
        in started.stderr.splitlines()
    )


def test_every_setting_says_its_expected_form() -> None:
    assert set(FORMS) == set(Settings.model_fields)
    secrets = {n for n, f in Settings.model_fields.items() if "SecretStr" in str(f.annotation)}
    assert secrets <= HIDDEN


def test_settings_that_need_each_other_are_all_named(tmp_path: Path) -> None:
    """A bad value does not hide the pairs: every missing partner gets its line too."""
    env = clean_env(
        OMS_TIMEOUT="abc",
        OMS_BASE_URL="https://demo-oms.hotwax.io",
        SLACK_APP_TOKEN="xapp-1-A111-222-xyz",
    )
    result = oms_bot("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert sorted(_lines(result.stdout, "FAILED")) == sorted(
        [
            "FAILED settings: OMS_TIMEOUT=abc: expected a number of seconds above 0 and at "
            "most 120, e.g. 30",
            "FAILED settings: OMS_BASE_URL is set, so set OMS_USERNAME and OMS_PASSWORD, or "
            "OMS_API_TOKEN",
            "FAILED settings: SLACK_APP_TOKEN / SLACK_SIGNING_SECRET need SLACK_BOT_TOKEN as well",
        ]
    )


# ---- the policy file --------------------------------------------------------------------------


def test_check_config_names_every_policy_problem_as_the_start_refuses_them(
    tmp_path: Path, fake_slack: FakeSlack, sandbox: SandboxServer
) -> None:
    env = clean_env(**bot_env(fake_slack, sandbox, tmp_path / "c.db"))
    env["OMSBOT_PORT"] = str(free_port())
    cases = {
        # unknown keys in two tables: both named
        '[roles]\nop = ["U1"]\n[limits]\nmax_ordres = 5\n[stores]\ndefualt = "STORE"\n': [
            "limits.max_ordres: unknown key (did you mean max_orders?)",
            "stores.defualt: unknown key (did you mean default?)",
        ],
        # two undefined roles: both named
        '[roles]\nop = ["U1"]\n[commands]\napprove = ["opx"]\nrefresh = ["opy"]\n': [
            "[commands] approve names undefined role(s) opx; define them under [roles]",
            "[commands] refresh names undefined role(s) opy; define them under [roles]",
        ],
        "[roles\n": ["is not valid TOML"],
    }
    for text, problems in cases.items():
        env["OMSBOT_POLICY"] = str(_policy(tmp_path, text))
        checked = oms_bot("check-config", cwd=tmp_path, env=env)
        assert checked.returncode == 1, checked.stdout
        failed = _lines(checked.stdout, "FAILED policy: ")
        assert len(failed) == len(problems), checked.stdout
        for problem in problems:
            (line,) = [line for line in failed if problem in line]
            assert "OMSBOT_POLICY" in line
        assert "skip   stores: not checked" in checked.stdout
        started = oms_bot("run", cwd=tmp_path, env=env)
        assert started.returncode == 2, started.stderr
        for problem in problems:
            assert problem in started.stderr
        assert not fake_slack.calls("chat.postMessage")


# ---- [stores] in the OMS ----------------------------------------------------------------------


def test_check_config_checks_the_stores_ids_in_the_oms(
    tmp_path: Path, fake_slack: FakeSlack, sandbox: SandboxServer
) -> None:
    env = clean_env(**bot_env(fake_slack, sandbox, tmp_path / "c.db"))
    env["OMSBOT_POLICY"] = str(
        _policy(
            tmp_path,
            '[stores]\ndefault = "STOR"\nshopify_remote = "NO_SUCH_REMOTE"\n'
            'order_sync_job = "queue_NoSuchJob"\n'
            '[[digests]]\nid = "outlet"\nchannel = "C_OPS"\ncron = "0 8 * * *"\n'
            'store = "OUTLETS"\n',
        )
    )
    result = oms_bot("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert _lines(result.stdout, "FAILED stores") == [
        'FAILED stores: [stores] default = "STOR": the OMS has no product store STOR (did you '
        "mean STORE?); its product stores are OUTLET, STORE",
        'FAILED stores: [stores] shopify_remote = "NO_SUCH_REMOTE": the OMS has no shop '
        "connection (SystemMessageRemote) NO_SUCH_REMOTE; it is the remote the shop's "
        "order-sync job names in its systemMessageRemoteId parameter",
        'FAILED stores: [stores] order_sync_job = "queue_NoSuchJob": the OMS has no service job '
        "queue_NoSuchJob; it is the shop's order-sync job in the Job Manager, e.g. "
        "queue_ShopifyOrderSync_10000",
        'FAILED stores: [[digests]] id "outlet": store = "OUTLETS": the OMS has no product store '
        "OUTLETS (did you mean OUTLET?); its product stores are OUTLET, STORE",
    ]
    # Both exist, but the job syncs another shop's connection.
    env["OMSBOT_POLICY"] = str(
        _policy(
            tmp_path,
            f'[stores]\nshopify_remote = "SHOP_CONFIG_10001"\n'
            f'order_sync_job = "{DEMO_ORDER_SYNC_JOB}"\n',
        )
    )
    result = oms_bot("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert _lines(result.stdout, "FAILED stores") == [
        f'FAILED stores: [stores] order_sync_job = "{DEMO_ORDER_SYNC_JOB}": it syncs the shop '
        f"connection {DEMO_SHOPIFY_REMOTE}, not shopify_remote SHOP_CONFIG_10001: name the same "
        "shop's connection and job"
    ]
    # Right: ok. Unset against a real OMS: a warning that the order runbooks need them.
    env["OMSBOT_POLICY"] = str(
        _policy(
            tmp_path,
            f'[stores]\ndefault = "STORE"\nshopify_remote = "{DEMO_SHOPIFY_REMOTE}"\n'
            f'order_sync_job = "{DEMO_ORDER_SYNC_JOB}"\n',
        )
    )
    result = oms_bot("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout
    assert (
        f"ok     stores: found in the OMS: default STORE, shopify_remote {DEMO_SHOPIFY_REMOTE}, "
        f"order_sync_job {DEMO_ORDER_SYNC_JOB}" in result.stdout
    )
    env["OMSBOT_POLICY"] = str(_policy(tmp_path, '[roles]\nop = ["U_ALICE"]\n'))
    result = oms_bot("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout
    (warning,) = _lines(result.stdout, "WARN")
    assert warning.startswith(
        "WARN   stores: [stores] shopify_remote and order_sync_job not set: /oms refresh"
    )


# ---- Slack channels -----------------------------------------------------------------------------


def test_check_config_checks_the_approvals_and_digest_channels(
    tmp_path: Path, fake_slack: FakeSlack, sandbox: SandboxServer
) -> None:
    """conversations.info (channels:read, groups:read): each channel exists, is not archived
    and has the bot in it."""
    env = clean_env(**bot_env(fake_slack, sandbox, tmp_path / "c.db"))
    digests = "".join(
        f'[[digests]]\nid = "{ident}"\nchannel = "{channel}"\ncron = "0 8 * * *"\n'
        for ident, channel in (
            ("ops", "C_OPS"),
            ("secret", "G_SECRET"),
            ("old", "C_OLD"),
            ("gone", "C_GONE"),
        )
    )
    env["OMSBOT_POLICY"] = str(_policy(tmp_path, f'[approvals]\nchannel = "C_RANDOM"\n{digests}'))
    result = oms_bot("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 1
    invite = "invite it with `/invite @omsbot` in that channel"
    assert _lines(result.stdout, "FAILED") == [
        f'FAILED Slack channels: [approvals] channel = "C_RANDOM": the bot is not in #random; '
        f"{invite}",
        'FAILED Slack channels: [[digests]] id "secret": channel = "G_SECRET": Slack has no such '
        f"channel, or it is private and the bot is not in it: check the id, and {invite}",
        'FAILED Slack channels: [[digests]] id "old": channel = "C_OLD": #oms-old is archived; '
        "name a channel in use",
        'FAILED Slack channels: [[digests]] id "gone": channel = "C_GONE": Slack has no such '
        f"channel, or it is private and the bot is not in it: check the id, and {invite}",
    ]
    asked = [call.body.get("channel") for call in fake_slack.calls("conversations.info")]
    assert asked == ["C_RANDOM", "C_OPS", "G_SECRET", "C_OLD", "C_GONE"]

    # Invited everywhere: ok. A token without the scopes gets told to reinstall.
    fake_slack.add_channel("C_RANDOM", "random")
    fake_slack.add_channel("G_SECRET", "oms-secret", is_private=True)
    env["OMSBOT_POLICY"] = str(
        _policy(
            tmp_path,
            '[approvals]\nchannel = "G_SECRET"\n'
            '[[digests]]\nid = "ops"\nchannel = "C_RANDOM"\ncron = "0 8 * * *"\n',
        )
    )
    result = oms_bot("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout
    assert "ok     Slack channels: the bot is in #oms-secret, #random" in result.stdout
    fake_slack.fail_next("conversations.info", "missing_scope", times=2)
    result = oms_bot("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert (
        'FAILED Slack channels: [approvals] channel = "G_SECRET": the bot token lacks the '
        "channels:read and groups:read scopes: reinstall the app from manifest.yml" in result.stdout
    )


# ---- the sandbox only when asked -------------------------------------------------------------


def test_slack_bot_refuses_the_sandbox_unless_asked(
    tmp_path: Path, fake_slack: FakeSlack, sandbox: SandboxServer
) -> None:
    env = clean_env(**bot_env(fake_slack, sandbox, tmp_path / "bot.db"))
    del env["OMS_BASE_URL"], env["OMS_USERNAME"], env["OMS_PASSWORD"]
    port = free_port()
    env.update(OMSBOT_PORT=str(port), OMSBOT_HOST="127.0.0.1")
    # The OMS address misspelled in .env: ignored by the settings, so named.
    (tmp_path / ".env").write_text(f"OMS_BASEURL={sandbox.url}\n")
    refused = oms_bot("run", cwd=tmp_path, env=env)
    assert refused.returncode == 2
    lines = refused.stderr.splitlines()
    assert (
        "oms-bot: warning: OMS_BASEURL (in .env) is not an oms-bot setting; did you mean "
        "OMS_BASE_URL?" in lines
    )
    assert any(
        line.startswith(
            "oms-bot: refusing to start: SLACK_BOT_TOKEN is set but OMS_BASE_URL is "
            "not: the Slack bot would answer with the embedded sandbox's demo data"
        )
        and "OMSBOT_SANDBOX=1" in line
        for line in lines
    ), refused.stderr
    assert not fake_slack.calls()
    checked = oms_bot("check-config", cwd=tmp_path, env=env)
    assert checked.returncode == 1
    assert _lines(checked.stdout, "FAILED settings: SLACK_BOT_TOKEN is set but OMS_BASE_URL")
    assert _lines(checked.stdout, "WARN   settings: OMS_BASEURL (in .env)")

    # Asked for: it serves, and says so in its log.
    env["OMSBOT_SANDBOX"] = "1"
    proc = spawn_bot(env, tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        driver = SlackDriver(f"{url}/slack/events", SIGNING_SECRET, fake_slack)
        sent = driver.slash("order 10002")
        assert sent.http.status_code == 200
        posts = fake_slack.wait_for(lambda: fake_slack.response_posts(sent.response_url), 20)
        assert "Status history" in text_of(posts[-1].body)
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    messages = [record["message"] for record in logged if record["level"] == "WARNING"]
    assert any("OMSBOT_SANDBOX is on" in m and "demo data" in m for m in messages)
    assert any("OMS_BASEURL (in .env)" in m for m in messages)
    # Both at once is a contradiction, not a choice.
    env["OMS_BASE_URL"] = sandbox.url
    env.update(OMS_USERNAME=DEMO_USERNAME, OMS_PASSWORD=DEMO_PASSWORD)
    both = oms_bot("run", cwd=tmp_path, env=env)
    assert both.returncode == 2
    assert "OMSBOT_SANDBOX is on and OMS_BASE_URL is set" in both.stderr


def test_the_console_keeps_the_sandbox_and_names_misspelled_keys(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.surface.cli", "run"],
        cwd=tmp_path,
        env=clean_env(OMSBOT_LOGLEVEL="DEBUG", SLACK_TOKEN="x"),
        input="/oms order 10002\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Status history" in result.stdout
    lines = result.stderr.splitlines()
    assert (
        "oms-bot: warning: OMSBOT_LOGLEVEL (in the environment) is not an oms-bot setting; "
        "did you mean OMSBOT_LOG_LEVEL?" in lines
    )
    assert (
        "oms-bot: warning: SLACK_TOKEN (in the environment) is not an oms-bot setting; "
        "did you mean SLACK_BOT_TOKEN?" in lines
    )


# ---- oms-bot sandbox --port 0 -----------------------------------------------------------------


def test_sandbox_on_port_zero_prints_its_port_and_the_stores_a_bot_needs(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.surface.cli", "sandbox", "--port", "0"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner: list[str] = []
        deadline = time.monotonic() + 30
        while not banner or not banner[-1].startswith("Scenarios"):
            assert time.monotonic() < deadline, banner
            banner.append(proc.stdout.readline().rstrip("\n"))
        url = banner[1].strip().removeprefix("OMS_BASE_URL=")
        assert not url.endswith(":0") and url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/api/checkLoginOptions", timeout=5).status_code == 200
        start = banner.index("  [stores]")
        policy = _policy(tmp_path, "\n".join(line.strip() for line in banner[start:-1]) + "\n")
        env = clean_env(
            OMS_BASE_URL=url,
            OMS_USERNAME=DEMO_USERNAME,
            OMS_PASSWORD=DEMO_PASSWORD,
            OMSBOT_DATABASE_URL=f"sqlite:///{tmp_path}/c.db",
        )
        # Without the printed [stores], the order runbooks are not set up ...
        bare = oms_bot("shell", "-c", "/oms import #1007", cwd=tmp_path, env=env)
        assert "not set up" in bare.stdout
        # ... with them they are, and check-config finds every id in that sandbox.
        env["OMSBOT_POLICY"] = str(policy)
        ready = oms_bot("shell", "-c", "/oms import #1007", cwd=tmp_path, env=env)
        assert "not set up" not in ready.stdout
        assert "Import 1 order" in ready.stdout
        checked = oms_bot("check-config", cwd=tmp_path, env=env)
        assert checked.returncode == 0, checked.stdout
        assert "ok     stores: found in the OMS: default STORE" in checked.stdout
    finally:
        proc.terminate()
        proc.wait(10)
