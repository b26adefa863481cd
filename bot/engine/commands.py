"""The /oms grammar: a registry of commands and a parser from slash-command text to a command.

The runbooks' commands (`CommandSpec`, bot/engine/contract.py) are added to a `Registry`;
the parser turns `/oms <text>` into a `ParsedCommand` or raises `UsageError` with what was
wrong and the correct usage. Help text is generated from the same registry, so it cannot
drift from what the parser accepts.
"""

from __future__ import annotations

import difflib
import shlex
import unicodedata
from typing import Any

from bot.engine.contract import CommandSpec, ParsedCommand, UsageError, ValueParser
from bot.kit import suggest

MAX_TEXT_LENGTH = 1000
_REFUSED_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
# Typographic double quotes (Slack and phones turn "x" into “x”) quote like the plain one;
# single ones are left alone, as an apostrophe (don’t) must not open a quote.
_DOUBLE_QUOTES = str.maketrans(dict.fromkeys("\u201c\u201d\u201e\u00ab\u00bb", '"'))
# Multi-word commands ("rollback undo", "webhooks subscribe") are matched longest first.
MAX_NAME_WORDS = 3


class Registry:
    """Every /oms command, by name (the Slack surface adds the ones the runbooks provide)."""

    def __init__(self) -> None:
        self._commands: dict[str, CommandSpec] = {}

    def add(self, spec: CommandSpec) -> CommandSpec:
        if spec.name in self._commands:
            raise ValueError(f"command {spec.name!r} registered twice")
        words = spec.name.split()
        if not words or len(words) > MAX_NAME_WORDS or spec.name != " ".join(words):
            raise ValueError(f"bad command name {spec.name!r}")
        self._commands[spec.name] = spec
        return spec

    def get(self, name: str) -> CommandSpec | None:
        return self._commands.get(name)

    def all(self) -> list[CommandSpec]:
        return sorted(self._commands.values(), key=lambda s: s.name)

    def closest(self, word: str) -> str | None:
        names = list(self._commands)
        firsts = sorted({n.split()[0] for n in names})
        match = difflib.get_close_matches(word, names + firsts, n=1, cutoff=0.5)
        return match[0] if match else None

    def parse(self, text: str) -> ParsedCommand:
        """Turn the text after `/oms` into a command, or raise UsageError.

        The text is checked as typed (a zero-width or control character is refused before
        anything could fold it away), then normalised with Unicode NFKC, so full-width
        digits, letters and signs (`＃１００２`, `－－ｍｉｎｅ`) and other compatibility forms
        reach every argument as their plain characters, and typographic double quotes quote;
        the result is checked again (NFKC can lengthen text)."""
        check_text(text)
        text = unicodedata.normalize("NFKC", text).translate(_DOUBLE_QUOTES)
        check_text(text)
        try:
            tokens = shlex.split(text)
        except ValueError as exc:
            raise UsageError(f"Could not read the command: {exc} (check your quotes).") from None
        if not tokens:
            tokens = ["help"]
        spec, rest = self._match(tokens)
        try:
            return _bind(spec, rest, text)
        except UsageError as err:
            raise self._subcommand_typo(spec, rest) or err from None

    def _subcommand_typo(self, spec: CommandSpec, rest: list[str]) -> UsageError | None:
        """`/oms webhooks subscrib returns` matched `webhooks`, which takes no such
        arguments: when the first one is close to a subcommand, that is the likely mistake."""
        if not rest or rest[0].startswith("--"):
            return None
        prefix = spec.name + " "
        subwords = {n[len(prefix) :].split()[0] for n in self._commands if n.startswith(prefix)}
        guess = suggest.closest(rest[0].lower(), subwords)
        if guess is None:
            return None
        sub = self._commands.get(prefix + guess)
        shown = rest[0] if len(rest[0]) <= 40 else rest[0][:40] + "…"
        return UsageError(
            f"`/oms {spec.name}` has no `{shown}`.", spec=sub or spec, suggestion=prefix + guess
        )

    def _match(self, tokens: list[str]) -> tuple[CommandSpec, list[str]]:
        for size in range(min(MAX_NAME_WORDS, len(tokens)), 0, -1):
            spec = self._commands.get(" ".join(tokens[:size]).lower())
            if spec is not None:
                return spec, tokens[size:]
        word = tokens[0]
        shown = word if len(word) <= 40 else word[:40] + "…"
        guess = self.closest(word.lower())
        spec = self._commands.get(guess) if guess else None
        raise UsageError(f"Unknown command `{shown}`.", spec=spec, suggestion=guess)


def check_text(text: str) -> None:
    """Refuse text no command could mean: too long, or carrying control characters."""
    if len(text) > MAX_TEXT_LENGTH:
        raise UsageError(
            f"The command text is {len(text)} characters long; the limit is {MAX_TEXT_LENGTH}."
        )
    for ch in text:
        # Zl/Zp (U+2028, U+2029) break a line as surely as a newline does.
        if ch != " " and unicodedata.category(ch) in _REFUSED_CATEGORIES:
            raise UsageError(
                f"The command text contains a control character (U+{ord(ch):04X}); "
                "type the command on one line with plain characters."
            )


def _bind(spec: CommandSpec, tokens: list[str], text: str) -> ParsedCommand:
    flags_by_name = {f.name: f for f in spec.flags}
    positionals: list[str] = []
    flags: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token.startswith("--") and len(token) > 2:
            name, _, inline = token[2:].partition("=")
            flag = flags_by_name.get(name)
            if flag is None:
                known = ", ".join(f"--{f}" for f in flags_by_name) or "none"
                guess = suggest.closest(name, flags_by_name)
                raise UsageError(
                    f"Unknown option `--{name}` (options here: {known}).",
                    spec,
                    suggestion=f"--{guess}" if guess else None,
                )
            if name in flags:
                raise UsageError(f"Option `--{name}` is given twice.", spec)
            if not flag.takes_value:
                if inline:
                    raise UsageError(f"Option `--{name}` takes no value.", spec)
                flags[name] = True
                continue
            value = inline
            if not value:
                if i >= len(tokens) or tokens[i].startswith("--"):
                    raise UsageError(f"Option `--{name}` needs a value: {flag.usage()}.", spec)
                value = tokens[i]
                i += 1
            flags[name] = _convert(spec, f"--{name}", flag.parse, value)
        else:
            positionals.append(token)
    args = _bind_positionals(spec, positionals)
    return ParsedCommand(spec=spec, args=args, flags=flags, text=text)


def _bind_positionals(spec: CommandSpec, values: list[str]) -> dict[str, Any]:
    bound: dict[str, Any] = {}
    remaining = list(values)
    for arg in spec.args:
        if arg.repeat:
            if not remaining and arg.required:
                raise UsageError(f"Missing <{arg.name}>: {arg.help}.", spec)
            if arg.max_count is not None and len(remaining) > arg.max_count:
                raise UsageError(
                    f"At most {arg.max_count} <{arg.name}> values in one command; you gave "
                    f"{len(remaining)}.",
                    spec,
                )
            bound[arg.name] = [_convert(spec, f"<{arg.name}>", arg.parse, v) for v in remaining]
            remaining = []
        elif remaining:
            bound[arg.name] = _convert(spec, f"<{arg.name}>", arg.parse, remaining.pop(0))
        elif arg.required:
            raise UsageError(f"Missing <{arg.name}>: {arg.help}.", spec)
    if remaining:
        extra = " ".join(remaining)
        if len(extra) > 60:
            extra = extra[:60] + "…"
        expected = len(spec.args)
        raise UsageError(
            f"Too many arguments: `{extra}` is more than `/oms {spec.name}` takes "
            f"({expected} at most).",
            spec,
        )
    return bound


def _convert(spec: CommandSpec, what: str, parse: ValueParser, value: str) -> Any:
    try:
        return parse(value)
    except suggest.NotAChoice as exc:
        raise UsageError(f"{what}: {exc}", spec, suggestion=exc.suggestion) from None
    except ValueError as exc:
        raise UsageError(f"{what}: {exc}", spec) from None
