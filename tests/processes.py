"""Running real `oms-bot` processes in tests: a clean environment, one-shot commands,
`oms-bot run` servers and a free port for them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any bot setting, plus `extra`."""
    prefixes = ("SLACK_", "OMS_", "OMSBOT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env


def oms_bot(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.surface.cli", *args],
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def spawn_bot(
    env: dict[str, str],
    cwd: Path,
    *,
    stdout: Any = subprocess.DEVNULL,
    stderr: Any = subprocess.DEVNULL,
) -> subprocess.Popen[str]:
    """A real `oms-bot run` process (HTTP or Socket Mode, as `env` says)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot.surface.cli", "run"],
        cwd=cwd,
        env=env,
        stdout=stdout,
        stderr=stderr,
        text=True,
    )


def wait_healthy(url: str, proc: subprocess.Popen[str]) -> None:
    """Wait for a bot process to answer /healthz (failing if it exits first)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline and proc.poll() is None, "bot did not start"
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
