"""The console's `home` line renders the Home tab, its buttons are clicked by number, and the
forms it opens are asked as prompts; a refused answer is said and the form asked again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.processes import clean_env


def _console(tmp_path: Path, lines: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(
        OMSBOT_DATABASE_URL=f"sqlite:///{tmp_path}/console.db",
        XDG_STATE_HOME=str(tmp_path / "state"),
        TMPDIR=str(tmp_path),
    )
    return subprocess.run(
        [sys.executable, "-m", "bot.surface.cli", "shell"],
        cwd=tmp_path,
        env=env,
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_home_renders_and_its_check_form_is_asked(tmp_path: Path) -> None:
    result = _console(tmp_path, "home\nclick 1\n#1003\nquit\n")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "(your Home tab, only you see it)" in out
    assert "[1] Check an order   [2] Failed imports" in out
    assert "Waiting for your approval" in out and "Your runs" in out
    assert "Check an order (a form; Enter skips an optional field)\nOrder (required): " in out
    # The answer goes where a press on the Home is answered: the user's DM with the bot.
    assert "(in your DM with the bot)" in out and "10013" in out


def test_a_refused_form_answer_is_said_and_the_form_asked_again(tmp_path: Path) -> None:
    result = _console(tmp_path, "/oms import\n10005\n#1007\nquit\n")
    out = result.stdout
    assert "Import from Shopify (a form; Enter skips an optional field)" in out
    assert "⚠ orders: <order>: 10005 could be a HotWax order id" in out
    assert out.count("Shopify orders (required): ") == 2
    assert "Import #1007 from Shopify" in out


def test_rollback_without_a_store_asks_the_store_among_the_oms_stores(tmp_path: Path) -> None:
    result = _console(tmp_path, "/oms rollback status\nSTORE\nquit\n")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Product store [OUTLET, STORE] (required): " in out
    assert "Rollback status of store STORE" in out
