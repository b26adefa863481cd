"""The /oms grammar: parsing, binding and usage errors, on the real registry."""

from __future__ import annotations

import pytest

from bot.engine.commands import Registry
from bot.engine.contract import Arg, CommandSpec, Flag, UsageError
from bot.oms.refs import OrderRef
from bot.surface.wiring import build_registry


async def _noop(_: object) -> None:
    return None


def _registry() -> Registry:
    registry = Registry()
    registry.add(
        CommandSpec(
            name="history",
            summary="audit",
            handler=_noop,
            args=(Arg("order", "an order", required=False),),
            flags=(Flag("mine", "only mine"), Flag("since", "window", metavar="7d")),
        )
    )
    registry.add(CommandSpec(name="rollback", summary="r", handler=_noop))
    registry.add(CommandSpec(name="rollback undo", summary="u", handler=_noop))
    registry.add(
        CommandSpec(
            name="import",
            summary="i",
            handler=_noop,
            args=(Arg("orders", "orders", repeat=True),),
        )
    )
    return registry


def test_flags_and_optional_argument() -> None:
    cmd = _registry().parse("history 10002 --mine --since 7d")
    assert cmd.spec.name == "history"
    assert cmd.arg("order") == "10002"
    assert cmd.flags == {"mine": True, "since": "7d"}
    cmd = _registry().parse("history --since=24h")
    assert cmd.arg("order") is None and cmd.flag("since") == "24h"


def test_multi_word_commands_match_longest_first() -> None:
    assert _registry().parse("rollback undo").spec.name == "rollback undo"
    assert _registry().parse("rollback").spec.name == "rollback"
    assert _registry().parse("ROLLBACK Undo").spec.name == "rollback undo"


def test_repeated_argument() -> None:
    assert _registry().parse("import #1 #2 #3").arg("orders") == ["#1", "#2", "#3"]
    with pytest.raises(UsageError, match="Missing <orders>"):
        _registry().parse("import")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("history --since", "needs a value"),
        ("history --mine=yes", "takes no value"),
        ("history --mine --mine", "given twice"),
        ("history --nope", "Unknown option `--nope`"),
        ("history a b", "Too many arguments"),
        ("rollbak", "Unknown command `rollbak`"),
        ("history \x1b[31m", "control character (U+001B)"),
        ("history \u200b", "control character (U+200B)"),
        ("x" * 1001, "limit is 1000"),
        ("history 'open", "check your quotes"),
    ],
)
def test_usage_errors(text: str, problem: str) -> None:
    with pytest.raises(UsageError) as info:
        _registry().parse(text)
    assert problem in info.value.problem


def test_unknown_command_suggests_closest() -> None:
    with pytest.raises(UsageError) as info:
        _registry().parse("rollbak now")
    assert info.value.suggestion == "rollback"
    assert info.value.spec is not None and info.value.spec.name == "rollback"


def test_empty_text_is_help() -> None:
    assert build_registry().parse("").spec.name == "help"
    assert build_registry().parse("   ").spec.name == "help"


def test_order_argument_is_parsed_into_a_reference() -> None:
    cmd = build_registry().parse("order #1004")
    assert cmd.arg("order") == OrderRef(kind="shopify_name", value="#1004")


def test_a_command_needs_exactly_one_way_to_answer() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        CommandSpec(name="x", summary="x")


def test_duplicate_registration_is_refused() -> None:
    registry = _registry()
    with pytest.raises(ValueError, match="twice"):
        registry.add(CommandSpec(name="rollback", summary="again", handler=_noop))


def test_full_width_text_is_normalised_before_parsing() -> None:
    """NFKC at the parser's entry: full-width digits, signs and letters reach every
    argument and option as their plain characters (issue 13)."""
    cmd = _registry().parse("ｈｉｓｔｏｒｙ　＃１００２　－－ｓｉｎｃｅ＝７ｄ")
    assert cmd.spec.name == "history"
    assert cmd.arg("order") == "#1002" and cmd.flag("since") == "7d"
    assert cmd.text == "history #1002 --since=7d"
    assert build_registry().parse("order ＃１００２").arg("order") == OrderRef(
        kind="shopify_name", value="#1002"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("history \u2028#1002", "control character (U+2028)"),  # a line separator
        ("history \u00ad#1002", "control character (U+00AD)"),  # NFKC keeps it: still refused
        ("history #1002\ufeff", "control character (U+FEFF)"),
        ("\ufdfa" * 60, "limit is 1000"),  # NFKC makes each 18 characters long
    ],
)
def test_text_is_checked_before_and_after_normalising(text: str, problem: str) -> None:
    with pytest.raises(UsageError) as info:
        _registry().parse(text)
    assert problem in info.value.problem


def test_a_mistyped_option_gets_the_closest_one() -> None:
    with pytest.raises(UsageError) as info:
        _registry().parse("history --sinse 7d")
    assert info.value.suggestion == "--since"
    with pytest.raises(UsageError) as info:
        _registry().parse("history --zzz")
    assert info.value.suggestion is None


def test_a_mistyped_choice_in_an_argument_gets_the_closest_one() -> None:
    with pytest.raises(UsageError) as info:
        build_registry().parse("webhooks subscribe refunds")
    assert "unknown webhook topic `refunds`" in info.value.problem
    assert info.value.suggestion == "returns"


def test_a_mistyped_subcommand_gets_the_closest_one() -> None:
    with pytest.raises(UsageError) as info:
        build_registry().parse("webhooks subscrib returns")
    assert info.value.suggestion == "webhooks subscribe"
    assert info.value.spec is not None and info.value.spec.name == "webhooks subscribe"
    with pytest.raises(UsageError) as info:
        build_registry().parse("job resum new-orders")
    assert info.value.suggestion == "job resume"
    with pytest.raises(UsageError) as info:  # no close subcommand: the usual error
        _registry().parse("history a b")
    assert "Too many arguments" in info.value.problem and info.value.suggestion is None


def test_typographic_double_quotes_quote() -> None:
    cmd = build_registry().parse("jobs \u201cInitial load\u201d")
    assert cmd.arg("category") == "Initial load"
