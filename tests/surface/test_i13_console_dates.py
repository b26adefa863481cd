"""Issue 13 in the console: Slack's `<!date>` times read as the terminal's local time."""

from __future__ import annotations

import re
from pathlib import Path

from tests.processes import clean_env, oms_bot


def test_the_console_shows_slack_dates_in_the_terminals_zone(tmp_path: Path) -> None:
    result = oms_bot(
        "shell", "-c", "/oms order 10002", cwd=tmp_path, env=clean_env(TZ="America/New_York")
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "<!date" not in result.stdout and "{date_short_pretty}" not in result.stdout
    # The order date and each status change, in the terminal's zone (New York: EST/EDT).
    assert re.search(r"Order date: \d{4}-\d\d-\d\d \d\d:\d\d E[SD]T", result.stdout), result.stdout
