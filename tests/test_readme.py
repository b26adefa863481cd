"""The README's command table is the registry's: adding a command without documenting it fails."""

from pathlib import Path

from bot.engine.usage import markdown_command_list
from bot.surface.wiring import build_registry

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_command_list_matches_registry() -> None:
    text = README.read_text()
    start = text.index("<!-- commands:start")
    start = text.index("\n", start) + 1
    end = text.index("<!-- commands:end -->")
    assert text[start:end].strip() == markdown_command_list(build_registry())
