"""The console as a new user meets it (issue 13): real `oms-bot shell` processes against the
embedded sandbox, or at a real pseudo-terminal against a sandbox of the test's own.

Exit codes follow what the user saw (a failed run, an error reply), uploads are saved and
shown, every shown button can be clicked by its number, Slack's confirm dialogs become y/N
questions, replies say who sees them, and at a terminal the line is edited with readline, the
history is kept, and the prompt comes back while a run goes on."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

from bot.sandbox import DEMO_PASSWORD, DEMO_USERNAME, SandboxServer
from tests.conftest import write_policy
from tests.processes import clean_env, oms_bot


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A console in its own folders: database, state (history) and temp (saved files)."""
    return clean_env(
        OMSBOT_DATABASE_URL=f"sqlite:///{tmp_path}/console.db",
        XDG_STATE_HOME=str(tmp_path / "state"),
        TMPDIR=str(tmp_path),
        **extra,
    )


def _shell(tmp_path: Path, *lines: str) -> subprocess.CompletedProcess[str]:
    args = [a for line in lines for a in ("-c", line)]
    return oms_bot("shell", *args, cwd=tmp_path, env=_env(tmp_path), timeout=120)


# ---- exit codes ------------------------------------------------------------------------------


def test_a_run_that_fails_makes_the_exit_code_non_zero(tmp_path: Path) -> None:
    failed = _shell(tmp_path, "/oms refresh 10004", "click 1")
    out = failed.stdout
    assert "Refresh? [y/N] y (the -c click; put -c n after it to answer no)" in out
    assert "· failed ·" in out  # the run's own message
    assert failed.returncode == 1, out
    done = _shell(tmp_path, "/oms refresh 10002", "click 1")
    assert "· finished ·" in done.stdout
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_error_reply_makes_the_exit_code_non_zero(tmp_path: Path) -> None:
    result = _shell(tmp_path, "/oms job NOPE")
    assert "No job `NOPE`" in result.stdout
    assert result.returncode == 1
    fine = _shell(tmp_path, "/oms job new-orders")
    assert fine.returncode == 0, fine.stdout + fine.stderr


# ---- uploads and who sees what ---------------------------------------------------------------


def test_uploads_are_saved_and_replies_say_who_sees_them(tmp_path: Path) -> None:
    result = _shell(tmp_path, "/oms mdm --failed --since 7d")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "internal error" not in out and "could not be attached" not in out
    assert "(only you see this)\nWorking on `/oms mdm --failed --since 7d`…" in out
    assert "(in #console)\nShopify Order MDM" in out
    saved = re.search(
        r"\(in #console, in a thread\)\n📎 mdm-DML10005-failed-records\.csv \((\d+) lines\) "
        r"saved to (\S+)",
        out,
    )
    assert saved, out
    path = Path(saved.group(2))
    assert path.is_relative_to(tmp_path)  # the temp folder
    content = path.read_text()
    assert content.startswith("order_name,shopify_order_id,error,record_number")
    assert "#1006" in content and int(saved.group(1)) == len(content.splitlines())
    assert "(updated, only you see this)\nPosted the MDM report in the channel." in out


# ---- buttons ---------------------------------------------------------------------------------


def test_any_shown_message_s_buttons_can_be_clicked(tmp_path: Path) -> None:
    result = _shell(
        tmp_path,
        "/oms check 10002",
        "/oms mdm --failed --since 7d",
        "click 1",  # the check's Refresh, not the newest message's first button
        "click 99",
    )
    out = result.stdout
    check, report = out.index("Stuck in Created"), out.index("Shopify Order MDM\n")
    assert "[1] Refresh (primary)" in out[check:report]
    assert "[2] Re-import (primary)   [3] Check" in out[report:]
    card = out.index("What the refresh does", report)  # what the check's Refresh opens
    assert "[4] Refresh from Shopify (primary)" in out[card:]
    assert "There is no button 99." in out
    assert "Buttons shown: [2] Re-import, [3] Check, [4] Refresh from Shopify" in out
    assert result.returncode == 1  # `click 99` failed


def test_console_help_buttons_and_plain_text(tmp_path: Path) -> None:
    result = _shell(tmp_path, "help", "oms check 10002", "buttons", "oms jobs orders")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "click N          press button [N] of any message shown" in out
    assert "Stuck in Created" in out  # `oms check` without the slash
    assert "Buttons shown: [1] Refresh" in out.split("oms jobs orders")[0]
    # Slack's *bold* and _italic_ marks are not printed; ids keep their underscores.
    assert "*Verdict:*" not in out and "Verdict:" in out
    assert "Store: STORE" in out and "(JOB_IMP_ORD)" in out


def test_every_emoji_the_bot_uses_is_shown_as_one(tmp_path: Path) -> None:
    """A code the console does not know is printed raw (`:large_green_circle:`)."""
    result = _shell(tmp_path, "/oms jobs", "/oms job new-orders", "/oms webhooks", "/oms digest")
    raw = re.findall(r"(?<![\w/]):[a-z][a-z0-9_+-]*:(?![\w/])", result.stdout)
    assert raw == [], raw


def test_a_link_to_a_console_message_names_where_it_is(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[roles]\napprover = []\n[approvals.actions]\napprove = ["approver"]\n')
    result = oms_bot(
        "shell",
        *("-c", "/oms approve 10014", "-c", "/oms approvals"),
        cwd=tmp_path,
        env=_env(tmp_path, OMSBOT_POLICY=str(policy)),
        timeout=120,
    )
    assert "request (a message in #console above)" in result.stdout
    assert "console.invalid" not in result.stdout


def test_a_confirm_dialog_is_a_y_n_question_and_no_presses_nothing(tmp_path: Path) -> None:
    result = _shell(tmp_path, "/oms refresh 10002", "click 1", "n", "click 1", "y", "click 1")
    out = result.stdout
    assert "Refresh this order?\nThe order is imported again from Shopify" in out
    assert "Refresh? [y/N] n\nNot pressed." in out
    first_answer = out.index("Refresh? [y/N] n")
    assert "Refresh order 10002 from Shopify" in out[first_answer:]  # the second click ran it
    assert out.index("Refresh? [y/N] y") > first_answer
    # The card's button went with the card's update: its number is stale now.
    assert "Button 1 is no longer shown: its message changed or was removed." in out
    assert result.returncode == 1


def test_piped_lines_answer_the_question(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.surface.cli", "shell"],
        cwd=tmp_path,
        env=_env(tmp_path),
        input="/oms refresh 10002\nclick 1\nno\nquit\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr  # piped lines are a script: one failed
    assert "Refresh this order?" in result.stdout and "Not pressed." in result.stdout
    assert "Refresh order 10002 from Shopify" not in result.stdout


def test_a_form_the_bot_opens_is_asked(tmp_path: Path) -> None:
    """Deny opens Slack's "Why?" modal; the console asks it and sends the answer."""
    policy = tmp_path / "policy.toml"
    policy.write_text('[roles]\napprover = []\n[approvals.actions]\napprove = ["approver"]\n')
    result = subprocess.run(
        [sys.executable, "-m", "bot.surface.cli", "shell"],
        cwd=tmp_path,
        env=_env(tmp_path, OMSBOT_POLICY=str(policy)),
        input="/oms approve 10014\nas U0SECOND\nclick 2\nThe stock count is wrong\nquit\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "[1] Approve (primary)   [2] Deny (danger)" in out
    assert "Deny request (a form; Enter skips an optional field)\nWhy? (optional): " in out
    assert "(in #console, in a thread)\nDenied by @U0SECOND: The stock count is wrong" in out


# ---- at a terminal ---------------------------------------------------------------------------


def _own_terminal() -> None:
    """In the child: a session of its own whose controlling terminal is the pty (its stdin),
    so Ctrl-C typed there reaches it as SIGINT, as at a real terminal."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """`oms-bot shell` on a pseudo-terminal: what a user types, what the screen shows."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.surface.cli", "shell"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=env | {"TERM": "xterm"},
            close_fds=True,
            preexec_fn=_own_terminal,
        )
        os.close(slave)
        self.screen = ""

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if ready:
            try:
                self.screen += os.read(self.master, 65536).decode(errors="replace")
            except OSError:  # the process closed the terminal
                time.sleep(timeout)

    def wait_for(self, text: str, after: int = 0, timeout: float = 60) -> int:
        """Where `text` shows up on the screen after position `after`."""
        deadline = time.monotonic() + timeout
        while (found := self.screen.find(text, after)) < 0:
            assert time.monotonic() < deadline, f"{text!r} not shown:\n{self.screen[-3000:]}"
            self._read(0.1)
        return found

    def close(self) -> None:
        try:
            self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.close(self.master)


def test_terminal_has_line_editing_history_and_a_prompt_during_runs(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    # Slow imports: the refresh's run goes on well after the prompt has come back.
    sandbox.state.sync_delay_seconds = 6.0
    history = tmp_path / "state" / "oms-bot" / "console_history"
    history.parent.mkdir(parents=True)
    history.write_text("/oms help history\n")
    env = _env(
        tmp_path,
        OMS_BASE_URL=sandbox.url,
        OMS_USERNAME=DEMO_USERNAME,
        OMS_PASSWORD=DEMO_PASSWORD,
        OMSBOT_POLICY=str(write_policy(tmp_path, two_person=False)),
    )
    term = Terminal(env, tmp_path)
    try:
        at = term.wait_for("oms> ")
        term.type("/oms nonsense")
        at = term.wait_for("/oms nonsense", at)
        term.type("\x03")  # Ctrl-C drops the line, as a shell does
        at = term.wait_for("oms> ", at)
        term.type("\x1b[A\r")  # up arrow: the history file's line
        at = term.wait_for("/oms history", at)
        at = term.wait_for("oms> ", at)
        # A typo fixed in place: six steps left (past " order"), two deleted, two typed.
        term.type("/oms hepl order" + "\x1b[D" * 6 + "\x7f\x7f" + "lp\r")
        at = term.wait_for("/oms order <order>", at)
        at = term.wait_for("oms> ", at)
        term.type("\x1b[A\r")  # up arrow: the line just run, as edited
        at = term.wait_for("/oms order <order>", at)
        assert "^[[A" not in term.screen and "Type a command such as" not in term.screen
        at = term.wait_for("oms> ", at)
        term.type("/oms refresh 10002\r")
        at = term.wait_for("[1] Refresh from Shopify", at)
        term.type("click 1\r")
        at = term.wait_for("Refresh? [y/N] ", at)
        term.type("y\r")
        running = term.wait_for("Refresh order 10002 from Shopify", at)
        # The prompt is back while the run goes on, and a command typed now is answered
        # before the run ends; the run's updates still print.
        prompt = term.wait_for("oms> ", running)
        assert "· finished ·" not in term.screen[running:prompt]
        term.type("/oms help order\r")
        answered = term.wait_for("/oms order <order>", prompt)
        # Quitting while the run goes on waits for it, and its end still prints.
        term.wait_for("oms> ", answered)
        term.type("quit\r")
        waiting = term.wait_for("s for the work still running)", answered)
        finished = term.wait_for("· finished ·", running)
        assert answered < waiting < finished, term.screen[running:]
    finally:
        term.close()
    assert term.proc.returncode == 0
    kept = history.read_text().splitlines()
    # The old history is kept and the session's lines added (a recalled line once); the y/N
    # answer is not a command to recall.
    assert kept == [
        "/oms help history",
        "/oms help order",
        "/oms refresh 10002",
        "click 1",
        "/oms help order",
        "quit",
    ]
