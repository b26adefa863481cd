"""The README is the setup a new user follows: its command table is the registry's, its
settings table has every setting, its `.env` examples load, its steps are there; the manifest
asks for no scope the code does not use; `make` says what to install when it cannot make
`.venv`."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.engine.usage import markdown_command_list
from bot.kit.config import PREFIXES, Settings, load_settings, unknown_settings
from bot.surface.wiring import build_registry

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_command_list_matches_registry() -> None:
    text = README.read_text()
    start = text.index("<!-- commands:start")
    start = text.index("\n", start) + 1
    end = text.index("<!-- commands:end -->")
    assert text[start:end].strip() == markdown_command_list(build_registry())


# ---- the setup a new user follows (issue 13) ---------------------------------------------------

ROOT = README.parent
# Each bot scope of manifest.yml, and a Web API method of the code that needs it.
SCOPE_USES = {
    "chat:write": "chat_postMessage",
    "chat:write.public": "chat_postMessage",
    "users:read": "users_info",
    "usergroups:read": "usergroups_users_list",
    "channels:read": "conversations_info",
    "groups:read": "conversations_info",
    "files:write": "files_upload_v2",
    # link_shared events come with links:read; the unfurl they lead to is chat.unfurl.
    "links:read": "chat_unfurl",
    "links:write": "chat_unfurl",
    "channels:history": "conversations_history",
    "groups:history": "conversations_history",
}


def _manifest_scopes() -> list[str]:
    lines = (ROOT / "manifest.yml").read_text().splitlines()
    start = lines.index("    bot:") + 1
    scopes = []
    for line in lines[start:]:
        if not line.startswith("      "):
            break
        item = line.split("#", 1)[0].strip()
        if item.startswith("- "):
            scopes.append(item.removeprefix("- "))
    return scopes


def test_the_manifest_asks_only_for_scopes_the_code_uses() -> None:
    scopes = _manifest_scopes()
    assert "commands" in scopes and "/oms" in (ROOT / "manifest.yml").read_text()
    assert sorted(s for s in scopes if s != "commands") == sorted(SCOPE_USES)
    code = "\n".join(
        path.read_text() for folder in ("bot", "handlers") for path in (ROOT / folder).rglob("*.py")
    )
    for scope, method in SCOPE_USES.items():
        assert f".{method}(" in code, f"{scope}: no {method} call in the code"


def test_every_setting_is_in_the_readme_table() -> None:
    first_cells = [
        line.split("|")[1] for line in README.read_text().splitlines() if line.startswith("| `")
    ]
    for name in Settings.model_fields:
        assert any(f"`{name.upper()}`" in cell for cell in first_cells), name


def _clean_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(PREFIXES):
            monkeypatch.delenv(key)


def test_the_env_examples_are_valid_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`.env.example` (HTTP mode) and the README's Socket Mode `.env` load as they are."""
    _clean_settings_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "policy.toml").write_text("")
    http = load_settings(_env_file=ROOT / ".env.example")
    assert http.slack_signing_secret is not None and not http.socket_mode
    assert not http.uses_sandbox and http.slack_sandbox_refusal() is None
    assert unknown_settings({}, ROOT / ".env.example") == []
    commented = re.findall(r"^# ?([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M)
    assert commented and all(key.lower() in Settings.model_fields for key in commented)

    text = README.read_text()
    start = text.index("```sh", text.index("Socket Mode `.env`")) + len("```sh")
    socket_env = tmp_path / ".env"
    socket_env.write_text(text[start : text.index("```", start)])
    socket = load_settings(_env_file=socket_env)
    assert socket.socket_mode and socket.slack_signing_secret is None
    assert not socket.uses_sandbox and socket.omsbot_policy == Path("policy.toml")
    assert unknown_settings({}, socket_env) == []


def test_the_readme_names_the_setup_steps() -> None:
    text = README.read_text()
    for step in (
        "sudo apt install python3-venv",  # Debian and Ubuntu
        "/invite @oms-bot",  # private approval and digest channels
        "*Copy member ID*",  # user ids
        "`usergroups.list`",  # user-group ids
        "oms-bot check-config` names every",  # the first check after setup
        "`[stores]` is required for the order runbooks",
        "`OMSBOT_SANDBOX=1`",
    ):
        assert step in text, step


def test_make_says_how_to_get_venv_when_it_cannot_create_one(tmp_path: Path) -> None:
    """Debian and Ubuntu without python3-venv: `python3 -m venv` fails half-way, leaving a
    .venv without pip; make says what to install and removes the half-made .venv."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("")
    python = tmp_path / "python3"
    python.write_text(
        "#!/bin/sh\n"
        'echo "The virtual environment was not created successfully because ensurepip is '
        'not available." >&2\n'
        "mkdir -p .venv/bin && touch .venv/bin/python\nexit 1\n"
    )
    python.chmod(0o755)
    for target in ("run", "test"):
        made = subprocess.run(
            ["make", target, f"PYTHON={python}"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode != 0
        assert "sudo apt install python3-venv" in made.stderr, made.stderr
        assert not (tmp_path / ".venv").exists()
