"""The `oms-bot` command as a newcomer runs it: real processes, real exit codes."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from bot.sandbox import SandboxServer
from tests.conftest import SIGNING_SECRET, bot_env, text_of
from tests.harness.driver import SlackDriver
from tests.harness.fakeslack import FakeSlack
from tests.processes import clean_env, free_port, oms_bot, spawn_bot, wait_healthy


def test_shell_runs_help_against_embedded_sandbox(tmp_path: Path) -> None:
    result = oms_bot("shell", "-c", "/oms help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "oms-bot commands" in result.stdout
    assert "/oms order <order>" in result.stdout


def test_shell_shows_order_and_exits_nonzero_on_failure(tmp_path: Path) -> None:
    result = oms_bot("shell", "-c", "/oms order #1003", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Working on" in result.stdout
    assert "2 versions share this Shopify order" in result.stdout
    assert "(updated, only you see this)" in result.stdout
    failed = oms_bot("shell", "-c", "/oms help", "-c", "/oms ordr 10002", cwd=tmp_path)
    assert failed.returncode == 1
    assert "Unknown command" in failed.stdout and "Did you mean `order`?" in failed.stdout


def test_shell_reads_lines_from_stdin(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.surface.cli", "shell", "--as", "U123"],
        cwd=tmp_path,
        env=clean_env(),
        input="/oms help order\nquit\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Acting as U123" in result.stdout
    assert "/oms order <order>" in result.stdout


def test_run_without_slack_opens_the_console(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.surface.cli", "run"],
        cwd=tmp_path,
        env=clean_env(),
        input="/oms help\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "No Slack credentials" in result.stderr
    assert "oms-bot commands" in result.stdout


def test_invalid_setting_stops_the_start_naming_it(tmp_path: Path) -> None:
    result = oms_bot("run", cwd=tmp_path, env=clean_env(OMSBOT_PORT="eighty"))
    assert result.returncode == 2
    assert "OMSBOT_PORT" in result.stderr
    result = oms_bot("run", cwd=tmp_path, env=clean_env(OMS_BASE_URL="demo-oms.hotwax.io"))
    assert result.returncode == 2
    assert (
        "oms-bot: OMS_BASE_URL=demo-oms.hotwax.io: expected an http(s) URL, "
        "e.g. https://demo-oms.hotwax.io" in result.stderr.splitlines()
    )


def test_unreachable_database_refuses_to_start(
    tmp_path: Path, fake_slack: FakeSlack, sandbox: SandboxServer
) -> None:
    env = clean_env(**bot_env(fake_slack, sandbox, tmp_path / "x.db"))
    env["OMSBOT_DATABASE_URL"] = "postgresql://nobody:hunter22@127.0.0.1:1/none"
    env["OMSBOT_PORT"] = str(free_port())
    result = oms_bot("run", cwd=tmp_path, env=env)
    assert result.returncode == 3
    assert "refusing to start" in result.stderr and "127.0.0.1:1" in result.stderr
    assert "hunter22" not in result.stderr


def test_check_config_all_ok_on_sandbox(tmp_path: Path) -> None:
    result = oms_bot(
        "check-config",
        cwd=tmp_path,
        env=clean_env(OMSBOT_DATABASE_URL=f"sqlite:///{tmp_path}/c.db"),
    )
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "ok     settings",
        "ok     policy",
        "ok     OMS login",
        "ok     Maarg discovery",
        "ok     tenant",
        "ok     stores",
        "ok     Slack auth.test",
        "ok     Slack channels",
        "ok     database",
    ]


def test_check_config_reports_each_failure(
    tmp_path: Path, fake_slack: FakeSlack, sandbox: SandboxServer
) -> None:
    env = clean_env(**bot_env(fake_slack, sandbox, tmp_path / "c.db"))
    env["OMS_PASSWORD"] = "wrong-password"
    env["OMSBOT_DATABASE_URL"] = "postgresql://postgres@127.0.0.1:1/none"
    fake_slack.fail_next("auth.test", "invalid_auth")
    result = oms_bot("check-config", cwd=tmp_path, env=env)
    assert result.returncode == 1
    out = result.stdout
    assert "ok     settings" in out
    assert "FAILED OMS login" in out
    assert "ok     Maarg discovery" in out
    assert "FAILED Slack auth.test: Slack answered invalid_auth" in out
    assert "FAILED database" in out
    assert "wrong-password" not in out


def test_a_policy_typo_fails_check_config_and_the_start_alike(tmp_path: Path) -> None:
    """`[approvals.actions] aprove` would silently leave /oms approve without a second person;
    both check-config and the start refuse it, naming the closest valid action."""
    policy = tmp_path / "policy.toml"
    policy.write_text('[roles]\napprover = ["U1"]\n[approvals.actions]\naprove = ["approver"]\n')
    env = clean_env(OMSBOT_POLICY=str(policy), OMSBOT_DATABASE_URL=f"sqlite:///{tmp_path}/c.db")
    checked = oms_bot("check-config", cwd=tmp_path, env=env)
    assert checked.returncode == 1
    (line,) = [ln for ln in checked.stdout.splitlines() if ln.startswith("FAILED policy")]
    assert "[approvals.actions] aprove is not an approval action (did you mean approve?)" in line
    started = oms_bot("shell", "-c", "/oms help", cwd=tmp_path, env=env)
    assert started.returncode == 2
    assert "[approvals.actions] aprove is not an approval action" in started.stderr


def test_check_config_bad_settings(tmp_path: Path) -> None:
    result = oms_bot("check-config", cwd=tmp_path, env=clean_env(SLACK_BOT_TOKEN="nope"))
    assert result.returncode == 1
    assert "FAILED settings" in result.stdout and "SLACK_BOT_TOKEN" in result.stdout


def test_sigterm_finishes_in_flight_work_then_exits(
    tmp_path: Path, fake_slack: FakeSlack, sandbox: SandboxServer
) -> None:
    port = free_port()
    env = clean_env(**bot_env(fake_slack, sandbox, tmp_path / "bot.db"))
    env.update(OMSBOT_PORT=str(port), OMSBOT_HOST="127.0.0.1")
    proc = spawn_bot(env, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        driver = SlackDriver(f"{url}/slack/events", SIGNING_SECRET, fake_slack)
        assert driver.slash("help").http.status_code == 200  # warm: auth.test, OMS login
        sandbox.state.latency = 1.5
        sent = driver.slash("order 10002")
        assert sent.http.status_code == 200
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught, so the process
        # ends "killed by SIGTERM" (exit 143 in a container), as supervisors expect.
        assert proc.wait(30) == -signal.SIGTERM
        posts = fake_slack.response_posts(sent.response_url)
        assert posts, "the in-flight command's answer was lost at shutdown"
        assert "Status history" in text_of(posts[-1].body)
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            raise AssertionError("still serving after SIGTERM")
        except httpx.ConnectError:
            pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_shell_buttons_and_a_second_person(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[roles]\napprover = []\n[approvals.actions]\napprove = ["approver"]\n')
    env = clean_env(OMSBOT_POLICY=str(policy), OMSBOT_DATABASE_URL=f"sqlite:///{tmp_path}/c.db")
    result = oms_bot(
        "shell",
        "-c",
        "/oms approve 10014",
        "-c",
        "click 1",
        "-c",
        "as U0SECOND",
        "-c",
        "click 1",
        cwd=tmp_path,
        env=env,
    )
    out = result.stdout
    assert "[1] Approve (primary)   [2] Deny (danger)" in out
    assert "You asked for this, so someone else must approve it." in out
    assert "Now acting as U0SECOND." in out
    assert "Approved by @U0SECOND" in out
    assert "✅ Approved 1 order: 10014." in out
    assert result.returncode == 1  # the refused self-approval counts as a failed line


def test_shell_check_shows_each_scenario_verdict(tmp_path: Path) -> None:
    """The README's scenario table, on the embedded sandbox."""
    verdicts = {
        "10002": "Shopify shows it fulfilled",
        "#1003": "Looks fine",
        "10005": "payment is PAYMENT_NOT_AUTH",
        "#1006": "HotWax failed to import it",
        "#1007": "no import failure is recorded",
        "#1008": "the order was never placed",
        "10009": "The order search index is stale",
        "10014": "You can approve it now",
    }
    args = [a for ref in verdicts for a in ("-c", f"/oms check {ref}")]
    result = oms_bot(
        "shell",
        *args,
        cwd=tmp_path,
        env=clean_env(OMSBOT_DATABASE_URL=f"sqlite:///{tmp_path}/c.db"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for verdict in verdicts.values():
        assert verdict in result.stdout
